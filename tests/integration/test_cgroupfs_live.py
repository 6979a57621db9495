# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cgroupfs reader against this machine's real memory controller (v1 on hybrid hosts, v2 elsewhere):
the limit it reports is the kernel's, and the kill counter it reads counts a real OOM kill in the cgroup
-- the history oom_score_info gives a unit without the kernel log."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import cgroupfs as _cgroupfs
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import cgroup_settings as _cgroup_settings

from memcg import MemcgUnavailable, memory_cgroup

MiB = 1024 * 1024
HOG = "import time\nchunks = []\nwhile True:\n    chunks.append(bytearray(4 * 1024 * 1024))\n    time.sleep(0.01)\n"


@pytest.fixture
def memcg():
    try:
        with memory_cgroup(48 * MiB) as cgroup:
            yield cgroup
    except MemcgUnavailable as exc:
        pytest.skip(str(exc))


def layout(cgroup):
    found = _cgroupfs.layout_of(_cgroupfs.mounts())
    if found != ("v1" if cgroup.version == 1 else "v2"):
        pytest.skip("the test cgroup is v%d but the reader sees the memory controller as %s" % (cgroup.version, found))
    return found


def test_the_reader_reports_the_kernel_limit_of_a_memory_cgroup(memcg):
    record = _cgroupfs.read_cgroup(memcg.path, layout(memcg))
    assert record["exists"]
    assert _cgroup_settings.effective(record, "memory_max") == 48 * MiB


def test_a_real_oom_kill_in_the_cgroup_is_counted_without_the_kernel_log(memcg):
    kind = layout(memcg)
    before = _cgroupfs.read_cgroup(memcg.path, kind)["oom_kills"]
    if before is None:
        pytest.skip("this kernel does not count OOM kills per memory cgroup (Linux < 4.13 on v1)")
    hog = subprocess.Popen([sys.executable, "-c", "import os, sys; sys.stdin.readline(); exec(%r)" % HOG],
                           stdin=subprocess.PIPE)
    try:
        memcg.add(hog.pid)
        hog.stdin.write(b"go\n")
        hog.stdin.flush()
        assert hog.wait(timeout=60) == -9
    finally:
        if hog.poll() is None:
            hog.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = _cgroupfs.read_cgroup(memcg.path, kind)["oom_kills"]
        if after == before + 1:
            break
        time.sleep(0.1)
    assert after == before + 1
