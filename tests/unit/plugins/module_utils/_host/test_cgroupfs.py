# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cgroupfs reader and the systemd memory syntax. The real v1 kernel is read in
tests/integration/test_cgroupfs_live.py and v2 in the guests; these cover the mount table and the values."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import cgroupfs as _cgroupfs
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import cgroup_settings as _cgroup_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings as _memory_settings

HYBRID = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def proc_with(tmp_path, mountinfo):
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(mountinfo)
    return str(tmp_path)


def test_a_hybrid_host_reaches_memory_through_the_v1_controller(tmp_path):
    found = _cgroupfs.mounts(proc_with(tmp_path, HYBRID))
    assert found["v1_memory"] == "/sys/fs/cgroup/memory"
    assert _cgroupfs.layout_of(found) == "v1"


def test_a_unified_host_without_the_memory_controller_has_none(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io pids\n")
    proc = proc_with(tmp_path, "41 23 0:38 / %s rw - cgroup2 cgroup2 rw\n" % root)
    assert _cgroupfs.layout_of(_cgroupfs.mounts(proc)) is None


@pytest.mark.parametrize("value, expected", [("64M", 64 << 20), ("1G", 1 << 30), ("12345", 12288), ("infinity", "max"),
                                             ("50%", 2 << 30)])
def test_expected_bytes_are_what_the_kernel_shows(value, expected):
    assert _memory_settings.expected_bytes(value, 4 << 30, 4096) == expected


def test_a_v2_cgroup_record_has_limits_counters_and_pressure(tmp_path):
    files = {"memory.min": "67108864", "memory.low": "0", "memory.high": "max", "memory.max": "268435456",
             "memory.current": "1048576", "memory.swap.current": "0", "memory.oom.group": "0",
             "memory.events": "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n",
             "memory.pressure": "some avg10=1.50 avg60=0.20 avg300=0.00 total=1200\n"
                                "full avg10=0.50 avg60=0.10 avg300=0.00 total=600\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    record = _cgroupfs.read_cgroup(str(tmp_path), "v2")
    assert record["memory.min"] == 64 << 20 and record["memory.high"] == "max"
    assert record["oom_kills"] == 1 and record["ooms"] == 1
    assert record["memory.pressure"]["full"]["avg10"] == 0.5
    assert _cgroup_settings.live_mismatches({"memory_max": "512M"}, record, 4 << 30, 4096) == [("memory_max", 512 << 20,
                                                                                                256 << 20)]


def test_a_v1_cgroup_counts_kills_from_oom_control_and_shows_no_limit_as_max(tmp_path):
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
    record = _cgroupfs.read_cgroup(str(tmp_path), "v1")
    assert record["memory.limit_in_bytes"] == "max"
    assert record["oom_kills"] == 4


def test_a_stopped_unit_has_no_cgroup_and_no_counts():
    record = _cgroupfs.read_cgroup(None, "v2")
    assert record["exists"] is False and record["oom_kills"] is None
