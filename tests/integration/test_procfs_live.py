# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proc reader's fast paths against the running kernel: what one read() of a per-process file returns."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils import _procfs

# The kernel takes single arguments of up to 32 pages (MAX_ARG_STRLEN); two of 100,000 bytes make a command
# line three times the size of one read.
LONG_ARG = "a" * 100000


@pytest.fixture
def long_command_line():
    argv = [sys.executable, "-c", "import sys; sys.stdin.read()", LONG_ARG, "b" + LONG_ARG, "last"]
    child = subprocess.Popen(argv, stdin=subprocess.PIPE)
    try:
        yield child.pid, argv
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_a_command_line_longer_than_one_read_is_read_whole_from_the_kernel(long_command_line):
    pid, argv = long_command_line
    procs, _warnings = _procfs.scan("/proc", {"cmdline"}, pids=[pid])
    assert [proc.cmdline for proc in procs] == [argv]


def test_one_read_of_a_cgroup_file_returns_all_of_it():
    # Every line the kernel has for this process, whichever hierarchies the host mounts (v1, hybrid or v2).
    with open("/proc/self/cgroup", "rb") as handle:
        whole = handle.read()
    assert _procfs.read_record("/proc/self/cgroup") == whole
    assert _procfs.parse_cgroup(whole)[1]
