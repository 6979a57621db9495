# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory cgroup helper finds the controller on v1, hybrid and v2 layouts, and says why when it cannot."""

from __future__ import annotations

import pytest

import memcg

V1_MOUNT = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
V2_MOUNT = "41 31 0:38 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
HYBRID_UNIFIED = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"


def write_files(tmp_path, mountinfo, cgroup):
    (tmp_path / "mountinfo").write_text(mountinfo)
    (tmp_path / "cgroup").write_text(cgroup)
    return str(tmp_path / "mountinfo"), str(tmp_path / "cgroup")


def test_v1_memory_hierarchy_is_found_with_this_process_cgroup(tmp_path):
    controller = memcg.find_memory_controller(*write_files(
        tmp_path, V1_MOUNT + HYBRID_UNIFIED, "4:memory:/runner/job-7\n0::/\n"))
    assert (controller.version, controller.cgroup_dir, controller.cgroup_path) == (
        1, "/sys/fs/cgroup/memory/runner/job-7", "/runner/job-7")


def test_v1_mount_of_a_sub_tree_maps_the_cgroup_path_below_its_root(tmp_path):
    mount = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
    controller = memcg.find_memory_controller(*write_files(tmp_path, mount, "4:memory:/docker/abc/inner\n"))
    assert controller.cgroup_dir == "/sys/fs/cgroup/memory/inner"


def test_v2_is_used_when_its_root_offers_the_memory_controller(tmp_path):
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mount = V2_MOUNT.replace("/sys/fs/cgroup", str(root))
    controller = memcg.find_memory_controller(*write_files(tmp_path, mount, "0::/user.slice/session-3.scope\n"))
    assert (controller.version, controller.cgroup_dir) == (2, str(root / "user.slice/session-3.scope"))


def test_no_memory_controller_is_none(tmp_path):
    assert memcg.find_memory_controller(*write_files(tmp_path, HYBRID_UNIFIED, "0::/\n")) is None


def test_memory_cgroup_without_controller_raises_a_reason_to_skip(monkeypatch):
    monkeypatch.setattr(memcg, "oom_panics", lambda: False)
    monkeypatch.setattr(memcg, "find_memory_controller", lambda: None)
    with pytest.raises(memcg.MemcgUnavailable, match="no memory cgroup controller is mounted"):
        with memcg.memory_cgroup(64 << 20):
            pass


def test_memory_cgroup_refuses_when_an_oom_would_panic_the_machine(monkeypatch):
    monkeypatch.setattr(memcg, "oom_panics", lambda: True)
    with pytest.raises(memcg.MemcgUnavailable, match="panic_on_oom=2"):
        with memcg.memory_cgroup(64 << 20):
            pass
