# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_compliance for the memory and systemd-oomd settings of a tier: policy vs what systemd
declares vs what the cgroup holds, and not_effective (never ok) where the host cannot give a setting effect.

The facts here have the shape oom_score_info returns; the real kernel and systemd produce them in the guest
tests (tests/guests/test_memory_stack.py) and the cgroup v1 fleet (molecule scenario memory_stack)."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import oom_protection_compliance, oom_protection_plan

MiB = 1024 * 1024
TIERS = {"db": {"oom_score_adj": -500, "memory_min": "64M", "memory_max": "1G", "managed_oom_preference": "omit"},
         "watched": {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "40%"},
         "quarter": {"oom_score_adj": 0, "memory_high": "25%"}}
DECLARED = {"memory_min": 64 * MiB, "memory_low": 0, "memory_high": "max", "memory_max": 1024 * MiB,
            "managed_oom_preference": "omit", "managed_oom_swap": "auto", "managed_oom_memory_pressure": "auto",
            "managed_oom_memory_pressure_limit": 0.0}


def v2_cgroup(path="/system.slice/db.service", **files):
    facts = {"control_group": path, "path": "/sys/fs/cgroup" + path, "exists": True, "layout": "v2",
             "declared": dict(DECLARED), "memory.min": 64 * MiB, "memory.low": 0, "memory.high": "max",
             "memory.max": 1024 * MiB, "xattrs": {"user.oomd_omit": "1", "user.oomd_avoid": None}}
    facts.update(files)
    return facts


def v1_cgroup(limit):
    return {"control_group": "/system.slice/db.service", "exists": True, "layout": "v1", "declared": dict(DECLARED),
            "memory.limit_in_bytes": limit}


def host(oomd_running=True, monitored=None):
    return {"can_lower_adj": True, "mem_total_kb": 4 * 1024 * 1024, "page_size": 4096,
            "systemd_oomd": {"running": oomd_running,
                             "monitored": (monitored or {"swap": [], "memory_pressure": []}) if oomd_running else None}}


def record_for(unit, tier, cgroup, host_facts, procs=((10, -500),)):
    plan = oom_protection_plan(TIERS, units={unit: tier})
    info = {"host": host_facts, "units": {unit: {
        "declared_oom_score_adj": plan["units"][0]["oom_score_adj"],
        "declared_set": plan["units"][0]["oom_score_adj"] is not None, "declared_oom_policy": None,
        "load_state": "loaded", "active_state": "active", "cgroup": cgroup,
        "processes": [{"pid": pid, "name": "p", "oom_score_adj": adj} for pid, adj in procs]}}}
    (record,) = oom_protection_compliance(plan, info=info)["records"]
    return record


def by_setting(record):
    return {entry["setting"]: entry for entry in record["settings"]}


def test_v2_unit_with_exact_values_and_the_omit_mark_is_ok():
    record = record_for("db.service", "db", v2_cgroup(), host())
    assert record["status"] == "ok", record["reasons"]
    assert by_setting(record)["memory_min"] == {"setting": "memory_min", "policy": "64M", "declared": 64 * MiB,
                                                "effective": 64 * MiB, "status": "ok", "reason": None}


def test_a_hand_change_in_cgroupfs_is_drift_naming_the_file():
    record = record_for("db.service", "db", v2_cgroup(**{"memory.max": 2048 * MiB}), host())
    assert record["status"] == "drift"
    assert record["reasons"] == ["the cgroup of db.service holds memory.max 2147483648, policy 1G"]


def test_a_missing_omit_mark_is_drift():
    record = record_for("db.service", "db", v2_cgroup(xattrs={"user.oomd_omit": None, "user.oomd_avoid": None}), host())
    assert record["status"] == "drift"
    assert "holds the systemd-oomd mark none, policy omit" in record["reasons"][0]


def test_systemd_declaring_another_value_is_drift():
    cgroup = v2_cgroup()
    cgroup["declared"]["memory_min"] = 0
    record = record_for("db.service", "db", cgroup, host())
    assert record["reasons"] == ["systemd declares MemoryMin=0, policy 64M"]


def test_the_preference_without_a_running_oomd_is_not_effective_not_ok():
    record = record_for("db.service", "db", v2_cgroup(), host(oomd_running=False))
    assert record["status"] == "not_effective"
    assert record["reasons"] == ["managed_oom_preference: systemd-oomd is not running, so ManagedOOMPreference= has "
                                 "no effect"]


def test_on_cgroup_v1_memory_min_is_not_effective_with_the_reason():
    record = record_for("db.service", "db", v1_cgroup(1024 * MiB), host(oomd_running=False))
    settings = by_setting(record)
    assert record["status"] == "not_effective"
    assert settings["memory_min"]["reason"] == ("memory_min: on a cgroup v1 memory controller systemd applies only "
                                                "MemoryMax=, not MemoryMin=")
    assert settings["memory_max"]["status"] == "ok"
    assert settings["managed_oom_preference"]["reason"].startswith("managed_oom_preference: systemd-oomd needs the "
                                                                   "unified cgroup hierarchy")


def test_on_cgroup_v1_a_memory_max_systemd_could_not_write_is_not_effective():
    record = record_for("db.service", "db", v1_cgroup("max"), host(oomd_running=False))
    assert by_setting(record)["memory_max"]["status"] == "not_effective"
    assert "holds memory.limit_in_bytes max, not 1073741824" in by_setting(record)["memory_max"]["reason"]


def test_a_systemd_too_old_for_a_setting_is_not_effective():
    cgroup = v2_cgroup()
    cgroup["declared"]["managed_oom_preference"] = None
    record = record_for("db.service", "db", cgroup, host())
    assert record["status"] == "not_effective"
    assert "systemd on this host has no ManagedOOMPreference= setting (too old)" in record["reasons"][0]


def test_a_percentage_is_compared_in_the_bytes_systemd_computes_from_ram():
    quarter = 1024 * MiB  # 25% of 4 GiB
    cgroup = v2_cgroup(**{"memory.high": quarter})
    cgroup["declared"]["memory_high"] = quarter
    record = record_for("web.service", "quarter", cgroup, host(), procs=((10, 0),))
    assert record["status"] == "ok", record["reasons"]


def test_a_monitored_slice_is_ok_when_oomd_monitors_it_with_the_limit():
    cgroup = v2_cgroup("/batch.slice")
    cgroup["declared"].update(managed_oom_memory_pressure="kill", managed_oom_memory_pressure_limit=40.0)
    monitored = {"swap": [], "memory_pressure": [{"path": "/batch.slice", "limit_percent": 40.0}]}
    record = record_for("batch.slice", "watched", cgroup, host(monitored=monitored), procs=())
    assert record["status"] == "ok", record["reasons"]
    assert by_setting(record)["managed_oom_memory_pressure"]["effective"] == "kill"


def test_a_slice_oomd_does_not_monitor_is_drift():
    cgroup = v2_cgroup("/batch.slice")
    cgroup["declared"].update(managed_oom_memory_pressure="kill", managed_oom_memory_pressure_limit=40.0)
    record = record_for("batch.slice", "watched", cgroup, host(), procs=())
    assert record["status"] == "drift"
    assert "holds systemd-oomd monitoring auto, policy kill" in record["reasons"][0]


def test_on_cgroup_v1_a_unit_without_its_own_memory_cgroup_has_no_memory_max_in_force():
    cgroup = dict(v1_cgroup(None), exists=False)
    record = record_for("db.service", "db", cgroup, host(oomd_running=False))
    assert by_setting(record)["memory_max"]["status"] == "not_effective"
    assert "no cgroup of its own in the v1 memory hierarchy" in by_setting(record)["memory_max"]["reason"]
