# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proc reader's fast paths against the running kernel: what one read() of a per-process file returns."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs

# The kernel takes single arguments of up to 32 pages (MAX_ARG_STRLEN); two of 100,000 bytes make a command
# line three times the size of one read.
LONG_ARG = "a" * 100000


@pytest.fixture
def long_command_line():
    argv = [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()", LONG_ARG, "b" + LONG_ARG,
            "last"]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        # Popen returns once the exec has begun; the command line exists only after the new image is set up.
        assert child.stdout.readline() == b"ready\n"
        yield child.pid, argv
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_a_command_line_longer_than_one_read_is_read_whole_from_the_kernel(long_command_line):
    pid, argv = long_command_line
    procs, _warnings = _procfs.scan("/proc", {"cmdline"}, pids=[pid])
    assert [proc.cmdline for proc in procs] == [argv]


@pytest.fixture
def member_of_many_groups():
    if os.geteuid() != 0:
        pytest.skip("setting supplementary groups needs root")
    # 15,000 groups make a Groups: line of about 90 KiB, above the memory lines of status.
    code = "import os, sys; os.setgroups(list(range(100000, 115000))); print('ready', flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"
        yield child.pid
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_a_status_longer_than_one_read_is_read_whole_from_the_kernel(member_of_many_groups):
    with open("/proc/%d/status" % member_of_many_groups, "rb") as handle:
        whole = handle.read()
    assert len(whole) > 65536
    proc = _procfs.read_process("/proc", member_of_many_groups)
    assert proc.has_mm and proc.rss_anon_kb > 0
    assert _procfs.parse_status(whole)["rss_anon_kb"] == proc.rss_anon_kb


def test_one_read_of_a_cgroup_file_returns_all_of_it():
    # Every line the kernel has for this process, whichever hierarchies the host mounts (v1, hybrid or v2).
    with open("/proc/self/cgroup", "rb") as handle:
        whole = handle.read()
    assert _procfs.read_record("/proc/self/cgroup") == whole
    assert _procfs.parse_cgroup(whole)[1]


def test_the_fast_status_parse_agrees_with_the_line_by_line_one_on_every_process_of_this_kernel():
    parsed = fast = 0
    for pid in _procfs.list_pids("/proc"):
        try:
            data = _procfs.read_record("/proc/%d/status" % pid)
        except OSError:
            continue  # it ended meanwhile
        parsed += 1
        whole = _procfs._status_values_any(data)
        quick = _procfs._status_values_fast(data)
        if quick is not None:
            fast += 1
            assert quick == whole, pid
        elif whole[1] is not None:
            pytest.fail("pid %d has memory lines but the fast parse did not take its status: %r" % (pid, data))
    # This process and the test runner have memory: the fast parse was taken at least for them.
    assert parsed and fast >= 2
