# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance of a process that protects itself at -1000 (OpenSSH's sshd listener): under a negative policy it
is more protected than asked, so it is `ok` with a reason saying so, never drift; under a killable policy it
is drift like any other value. Removing the role leaves it as it is."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import (
    oom_protection_compliance,
    oom_protection_plan,
    oom_protection_reset_rules,
)

TIERS = {"critical": -900, "expendable": 500}


def unit(declared, procs):
    return {"declared_oom_score_adj": declared, "declared_set": True, "declared_source": None,
            "declared_oom_policy": None, "load_state": "loaded", "active_state": "active",
            "processes": [{"pid": pid, "name": "sshd", "oom_score_adj": adj} for pid, adj in procs]}


def record_for(tier, procs):
    plan = oom_protection_plan(TIERS, units={"ssh.service": tier})
    fact = oom_protection_compliance(plan, info={"host": {"can_lower_adj": True},
                                                 "units": {"ssh.service": unit(TIERS[tier], procs)}})
    (record,) = fact["records"]
    return record


def test_a_listener_at_minus_1000_under_critical_is_ok_and_says_it_protects_itself():
    record = record_for("critical", [(100, -1000), (101, -900)])
    assert record["status"] == "ok"
    assert record["reasons"] == ["pid 100 (sshd) protects itself at -1000 (never OOM-killed), more than policy -900: "
                                 "left as it is"]


def test_a_session_below_the_policy_is_still_drift():
    record = record_for("critical", [(100, -1000), (101, 0)])
    assert record["status"] == "drift"
    assert "pid 101 (sshd) has oom_score_adj 0, policy -900" in record["reasons"]


def test_minus_1000_under_a_killable_policy_is_drift():
    record = record_for("expendable", [(100, -1000)])
    assert record["status"] == "drift"
    assert record["reasons"] == ["pid 100 (sshd) has oom_score_adj -1000, policy 500"]


def test_removing_the_role_resets_the_units_but_excludes_a_self_protected_listener():
    removed = {"units": {"ssh.service": dict(unit(None, [(100, -1000), (101, -900)]), systemctl_oom_score_adj=0)}}
    assert oom_protection_reset_rules(removed) == [{"unit": "ssh.service", "value": 0}]
    assert oom_protection_reset_rules(removed, excludes=True) == [{"pid": 100}]
    assert oom_protection_reset_rules({"skipped": True}, excludes=True) == []
