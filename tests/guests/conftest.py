# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the real-host lane. hack/guests/run-lane (`make guests`) builds the images, holds the
machine-wide lock, gives this session a run directory and stops whatever is left at the end.

Session fixtures (a stable interface for every test file in tests/guests/):
  guests      {"bookworm": Guest, "trixie": Guest}: both guests, booted in parallel once per session and
              always stopped at its end (also when a test fails or pytest is interrupted with Ctrl-C).
  inventory   path of the Ansible inventory: group `guests` with hosts `bookworm` and `trixie` (root over SSH).
  ansible     guestlib.Ansible for that inventory: .module(), .module_results(), .playbook().
Tests must leave the guests as they found them (remove their units, files and processes), since the other
test files share the same boot.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from guestlib import Ansible, Guest, write_inventory  # noqa: E402  pylint: disable=wrong-import-position

NOTE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "hack", "note")
# Where the lane's own time went (the boot and the shutdown of both guests), for the summary at the end.
TIMES = {}


def _lane():
    run_dir = os.environ.get("OOMGUARD_GUEST_RUN_DIR")
    images = dict(item.split("=", 1) for item in os.environ.get("OOMGUARD_GUEST_IMAGES", "").split())
    if not run_dir or not images:
        pytest.fail("tests/guests runs through `make guests` (hack/guests/run-lane), which builds the guest "
                    "images and owns the guests' lifetime", pytrace=False)
    return run_dir, images


@pytest.fixture(scope="session")
def guests():
    run_dir, images = _lane()
    started = [Guest(suite, suite, run_dir, image) for suite, image in sorted(images.items())]
    begin = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(len(started)) as pool:
            futures = [pool.submit(guest.start) for guest in started]
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()
            except Exception:
                # One guest failed: end the others' boots now instead of waiting for them to come up.
                list(pool.map(lambda guest: guest.stop(), started))
                raise
        for guest in started:
            guest.wait_system()
        TIMES["boot"] = time.monotonic() - begin
        yield {guest.name: guest for guest in started}
    finally:
        begin = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(lambda guest: guest.stop(), started))
        TIMES["stop"] = time.monotonic() - begin


@pytest.fixture(scope="session")
def inventory(guests):
    run_dir = _lane()[0]
    return write_inventory(os.path.join(run_dir, "inventory.json"), guests.values())


@pytest.fixture(scope="session")
def ansible(inventory):
    run_dir = _lane()[0]
    return Ansible(inventory, run_dir)


def pytest_terminal_summary(terminalreporter):
    """The boot and shutdown of both guests (at once), which --durations hides inside the first test's setup and
    the last one's teardown; also a note in make test's summary."""
    # Nothing booted (a run that fails before its guests are up, as fleet-cleanup's deliberate one): no line.
    if "boot" in TIMES:
        line = "guests: booted in %s, stopped in %s (both at once)" % tuple(
            "%d s" % TIMES[key] if key in TIMES else "-" for key in ("boot", "stop"))
        terminalreporter.write_line(line)
        subprocess.run([NOTE, line], check=False, stderr=subprocess.DEVNULL)
