# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_apply and a unit's memory settings: a running cgroup that lost a value systemd still declares
(changed by hand) makes the call changed and asks for the reload that makes systemd write it again.

The cgroup tree is a directory under tmp_path mounted as cgroup2 in the fake mountinfo; the guests show the
same on the real kernel (tests/guests/test_memory_stack.py)."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import info as _info_task
from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_apply

from fakeproc import FakeProc
from modrun import run_module

MiB = 1024 * 1024
UNIT = {"name": "db.service", "oom_score_adj": 0, "cgroup": {"memory_max": "256M"}}


def fake_host(tmp_path, monkeypatch, memory_max):
    cgroup = tmp_path / "cg"
    (cgroup / "system.slice" / "db.service").mkdir(parents=True)
    (cgroup / "cgroup.controllers").write_text("cpu io memory pids\n")
    (cgroup / "system.slice" / "db.service" / "memory.max").write_text("%d\n" % memory_max)
    proc = FakeProc(tmp_path / "proc", mountinfo="30 1 0:26 / %s rw - cgroup2 cgroup2 rw\n" % cgroup)
    proc.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
    proc.add(50, name=b"db", cgroup="/system.slice/db.service")
    (tmp_path / "etc").mkdir()
    (tmp_path / "marker").mkdir()

    def show(_run, units, systemctl="systemctl"):
        return dict((unit, {"Id": unit, "LoadState": "loaded", "ActiveState": "active", "MainPID": "50",
                            "OOMScoreAdjust": "0", "OOMPolicy": "stop", "FragmentPath": "", "DropInPaths": "",
                            "ControlGroup": "/system.slice/db.service", "MemoryMax": str(256 * MiB)})
                    for unit in units)

    monkeypatch.setattr(_info_task, "show_units", show)
    args = {"units": [UNIT], "root": str(tmp_path / "etc"), "systemd_marker": str(tmp_path / "marker"),
            "proc_path": proc.root}
    return cgroup / "system.slice" / "db.service" / "memory.max", args


def test_a_cgroup_that_lost_its_memory_max_asks_for_a_reload_and_is_changed(tmp_path, monkeypatch):
    memory_max, args = fake_host(tmp_path, monkeypatch, 512 * MiB)
    run_module(oom_protection_apply.main, args)  # writes the drop-in
    result, failed = run_module(oom_protection_apply.main, args, check_mode=True)
    assert not failed, result
    assert result["dropins"]["changed"] is False
    assert result["cgroup_drift"] == [{"unit": "db.service", "setting": "memory_max", "expected": 256 * MiB,
                                       "held": 512 * MiB}]
    assert result["reload_needed"] is True and result["changed"] is True
    assert memory_max.read_text() == "%d\n" % (512 * MiB), "the module itself never writes cgroupfs"


def test_a_cgroup_holding_its_values_changes_nothing(tmp_path, monkeypatch):
    _memory_max, args = fake_host(tmp_path, monkeypatch, 256 * MiB)
    run_module(oom_protection_apply.main, args)
    result, failed = run_module(oom_protection_apply.main, args)
    assert not failed, result
    assert (result["changed"], result["reload_needed"], result["cgroup_drift"]) == (False, False, [])
