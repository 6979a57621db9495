# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A unit name of 255 bytes, systemd's longest (UNIT_NAME_MAX is 256 with the terminating NUL, in
src/basic/unit-name.h), is accepted by every option that takes a unit name, and one of 256 bytes is refused
with the same one-line reason. A drop-in directory is the name plus '.d', one file name of at most 255 bytes:
a unit of 254 or 255 bytes cannot have one, and the modules that write drop-ins say so instead of failing on
the file system."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import oom_protection_plan
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import info as _info_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import leaks as _leaks_task
from ansible_collections.oomguard.fleet.plugins.modules import (
    oom_dropins, oom_protection_apply, oom_protection_leaks, oom_score_adj, oom_score_info,
)

from modrun import run_module

LONGEST = "u" * 247 + ".service"      # 255 bytes
TOO_LONG = "u" * 248 + ".service"     # 256 bytes
WITH_DROPIN = "u" * 245 + ".service"  # 253 bytes: with '.d', the longest directory name there can be
TOO_LONG_REASON = "a .service unit name is at most 255 bytes, this one has 256"


def test_the_names_are_as_long_as_they_say():
    assert [len(name.encode()) for name in (LONGEST, TOO_LONG, WITH_DROPIN)] == [255, 256, 253]


@pytest.fixture
def host(fakeproc, monkeypatch):
    """A process in the cgroup of the longest unit, with a lowered value; no systemd (its settings are not read)."""
    monkeypatch.setattr(_info_task, "systemd_running", lambda *args: False)
    monkeypatch.setattr(_leaks_task, "systemd_running", lambda *args: False)
    fakeproc.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
    fakeproc.add(700, name=b"longd", oom_score_adj=-500, cgroup="/system.slice/" + LONGEST)
    return fakeproc


def test_oom_score_info_units_accepts_255_bytes(host):
    result, failed = run_module(oom_score_info.main, {"proc_path": host.root, "units": [LONGEST]})
    assert not failed, result["msg"]
    assert [row["pid"] for row in result["processes"]] == [700]
    assert [proc["pid"] for proc in result["units"][LONGEST]["processes"]] == [700]


def test_oom_score_info_units_refuses_256_bytes(host):
    result, failed = run_module(oom_score_info.main, {"proc_path": host.root, "units": [TOO_LONG]})
    assert failed and TOO_LONG_REASON in result["msg"] and result["msg"].startswith("units: ")


def test_oom_score_adj_unit_accepts_255_bytes(host):
    result, failed = run_module(oom_score_adj.main, {"proc_path": host.root, "unit": LONGEST, "value": -400},
                                check_mode=True)
    assert not failed, result["msg"]
    assert [change["pid"] for change in result["changes"]] == [700]


def test_oom_score_adj_unit_refuses_256_bytes(host):
    before = host.digest()
    result, failed = run_module(oom_score_adj.main, {"proc_path": host.root, "unit": TOO_LONG, "value": -400})
    assert failed and TOO_LONG_REASON in result["msg"]
    assert host.digest() == before


def test_oom_protection_leaks_units_accepts_255_bytes(host):
    result, failed = run_module(oom_protection_leaks.main, {"proc_path": host.root, "units": [LONGEST]})
    assert not failed, result["msg"]
    assert result["leaks"] == []  # the unit is assigned: its lowered process is no leak


def test_oom_protection_leaks_units_refuses_256_bytes(host):
    result, failed = run_module(oom_protection_leaks.main, {"proc_path": host.root, "units": [TOO_LONG]})
    assert failed and TOO_LONG_REASON in result["msg"]


def test_the_role_plan_accepts_255_bytes_and_refuses_256():
    tiers = {"expendable": {"oom_score_adj": 500}}
    plan = oom_protection_plan(tiers, units={LONGEST: "expendable"}, processes=[{"unit": LONGEST, "tier": "expendable"}])
    assert plan["unit_names"] == [LONGEST]
    with pytest.raises(AnsibleFilterError, match=TOO_LONG_REASON):
        oom_protection_plan(tiers, units={TOO_LONG: "expendable"})
    with pytest.raises(AnsibleFilterError, match=TOO_LONG_REASON):
        oom_protection_plan(tiers, processes=[{"unit": TOO_LONG, "tier": "expendable"}])


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "system"
    path.mkdir()
    return path


def dropins(root, name, **args):
    args = dict({"root": str(root), "units": [{"name": name, "oom_score_adj": 500}]}, **args)
    return run_module(oom_dropins.main, args)


def test_a_drop_in_is_written_for_the_longest_name_whose_directory_fits(root):
    result, failed = dropins(root, WITH_DROPIN)
    assert not failed, result["msg"]
    assert os.listdir(str(root)) == [WITH_DROPIN + ".d"]


@pytest.mark.parametrize("name, words", [
    (LONGEST, ["unit %s: its drop-in directory (the name and '.d', 257 bytes)" % LONGEST, "unit file",
               "process rule"]),
    (TOO_LONG, [TOO_LONG_REASON]),
])
def test_oom_dropins_says_why_there_is_no_drop_in_and_writes_nothing(root, name, words):
    result, failed = dropins(root, name)
    assert failed
    for word in words:
        assert word in result["msg"]
    assert "\n" not in result["msg"] and "Errno" not in result["msg"]
    assert os.listdir(str(root)) == []


def test_removing_the_drop_in_of_a_255_byte_unit_finds_nothing_to_remove(root):
    result, failed = run_module(oom_dropins.main, {"root": str(root), "state": "absent", "units": [{"name": LONGEST}]})
    assert not failed, result["msg"]
    assert result["changed"] is False


def test_oom_protection_apply_says_why_and_changes_nothing(host, root, tmp_path):
    marker = tmp_path / "run-systemd-system"
    marker.mkdir()
    before = host.digest()
    result, failed = run_module(oom_protection_apply.main, {
        "units": [{"name": LONGEST, "oom_score_adj": 500}], "root": str(root), "systemd_marker": str(marker),
        "proc_path": host.root})
    assert failed
    assert "its drop-in directory (the name and '.d', 257 bytes)" in result["msg"]
    assert "nothing was written" in result["msg"]
    assert host.digest() == before and os.listdir(str(root)) == []
