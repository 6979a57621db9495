# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_compliance: one record per assignment with a truthful status, in the documented shape."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import (
    oom_protection_compliance,
    oom_protection_plan,
    oom_protection_reset_rules,
)

TIERS = {"essential": -500, "standard": 0, "expendable": 500, "batch": 300}
RECORD_KEYS = {"kind", "target", "tier", "policy_oom_score_adj", "policy_oom_policy", "declared_oom_score_adj",
               "declared_set", "declared_oom_policy", "processes", "status", "reasons", "settings", "oom_kills",
               "oomd_kills"}


def plan_for(units=None, processes=None):
    return oom_protection_plan(TIERS, units=units, processes=processes)


def unit_info(declared=None, procs=(), load_state="loaded", policy=None):
    return {
        "declared_oom_score_adj": declared, "declared_set": declared is not None,
        "declared_source": "/etc/systemd/system/x.service.d/60-oomguard.conf" if declared is not None else None,
        "declared_oom_policy": policy, "systemctl_oom_score_adj": declared or 0, "oom_policy": "stop",
        "main_pid": procs[0][0] if procs else 0, "load_state": load_state,
        "active_state": "active" if procs else "inactive",
        "processes": [{"pid": pid, "name": "p%d" % pid, "oom_score_adj": adj} for pid, adj in procs],
    }


def info(units, can_lower_adj=False):
    return {"host": {"can_lower_adj": can_lower_adj}, "units": units}


def single(plan, info_result, **kwargs):
    fact = oom_protection_compliance(plan, info=info_result, **kwargs)
    (record,) = fact["records"]
    return record, fact


def test_fact_has_the_documented_shape():
    record, fact = single(plan_for(units={"web.service": "expendable"}),
                          info({"web.service": unit_info(500, [(10, 500)])}))
    assert set(fact) >= {"schema", "systemd", "can_lower_adj", "state", "records", "summary"}
    assert fact["schema"] == 1
    assert set(record) == RECORD_KEYS
    assert fact["summary"] == {"ok": 1, "drift": 0, "denied": 0, "missing": 0, "not_running": 0, "not_effective": 0}


def test_unit_is_ok_when_declared_and_every_process_match_the_policy():
    record, _unused = single(plan_for(units={"web.service": "expendable"}),
                             info({"web.service": unit_info(500, [(10, 500), (11, 500)])}))
    assert record["status"] == "ok" and record["reasons"] == []
    assert record["processes"] == [{"pid": 10, "name": "p10", "oom_score_adj": 500},
                                   {"pid": 11, "name": "p11", "oom_score_adj": 500}]


def test_one_process_with_another_live_value_is_drift():
    record, _unused = single(plan_for(units={"web.service": "expendable"}),
                             info({"web.service": unit_info(500, [(10, 500), (11, 100)])}))
    assert record["status"] == "drift"
    assert record["reasons"] == ["pid 11 (p11) has oom_score_adj 100, policy 500"]


def test_edited_dropin_value_is_drift_naming_the_file():
    record, _unused = single(plan_for(units={"web.service": "expendable"}),
                             info({"web.service": unit_info(200, [(10, 500)])}))
    assert record["status"] == "drift"
    assert "OOMScoreAdjust=200" in record["reasons"][0] and "60-oomguard.conf" in record["reasons"][0]


def test_nothing_declared_is_drift():
    record = single(plan_for(units={"web.service": "expendable"}), info({"web.service": unit_info(None, [(10, 500)])}))[0]
    assert record["status"] == "drift"
    assert record["declared_set"] is False


def test_negative_tier_without_cap_sys_resource_is_denied_never_ok():
    record, fact = single(plan_for(units={"db.service": "essential"}),
                          info({"db.service": unit_info(-500, [(20, 0)])}, can_lower_adj=False))
    assert record["status"] == "denied"
    assert "CAP_SYS_RESOURCE" in record["reasons"][0] and "pid 20" in record["reasons"][0]
    assert fact["can_lower_adj"] is False


def test_negative_tier_with_cap_sys_resource_is_plain_drift():
    record, _unused = single(plan_for(units={"db.service": "essential"}),
                             info({"db.service": unit_info(-500, [(20, 0)])}, can_lower_adj=True))
    assert record["status"] == "drift"


def test_pid_the_adj_module_reported_denied_is_denied():
    adj = {"denied": [{"pid": 20, "name": "p20", "rule": {"index": 0, "description": "unit=db.service"},
                       "before": 200, "requested": 100, "reason": "floor"}]}
    record, _unused = single(plan_for(units={"db.service": "batch"}),
                             info({"db.service": unit_info(300, [(20, 200)])}, can_lower_adj=False), adj=adj)
    assert record["status"] == "denied"


def test_fixable_drift_outranks_denied():
    record, _unused = single(plan_for(units={"db.service": "essential"}),
                             info({"db.service": unit_info(None, [(20, 0)])}))
    assert record["status"] == "drift"
    assert len(record["reasons"]) == 2


def test_unit_not_loaded_is_missing():
    record, _unused = single(plan_for(units={"ghost.service": "standard"}),
                             info({"ghost.service": unit_info(None, [], load_state="not-found")}))
    assert record["status"] == "missing"
    assert "not-found" in record["reasons"][0]


def test_unit_absent_from_the_info_result_is_missing():
    record = single(plan_for(units={"ghost.service": "standard"}), info({}))[0]
    assert record["status"] == "missing"


def test_loaded_unit_without_processes_is_not_running():
    record = single(plan_for(units={"idle.service": "expendable"}), info({"idle.service": unit_info(500, [])}))[0]
    assert record["status"] == "not_running"


def test_oom_policy_mismatch_is_drift():
    tiers = {"kill500": {"oom_score_adj": 500, "oom_policy": "kill"}}
    plan = oom_protection_plan(tiers, units={"w.service": "kill500"})
    record = single(plan, info({"w.service": unit_info(500, [(1, 500)], policy="stop")}))[0]
    assert record["status"] == "drift"
    assert record["policy_oom_policy"] == "kill" and record["declared_oom_policy"] == "stop"


def rule(index, description="name=batchd"):
    return {"index": index, "description": description}


def adj_result(changes=(), denied=(), rules=()):
    return {"changes": list(changes), "denied": list(denied),
            "rules": [{"index": i, "description": "", "value": 0, "matched": m, "won": m} for i, m in rules]}


def change(pid, index, before, after, name="batchd"):
    return {"pid": pid, "name": name, "unit": None, "rule": rule(index), "before": before, "after": after}


def test_host_without_systemd_has_only_process_records_and_lists_skipped_units():
    plan = plan_for(units={"web.service": "expendable"}, processes=[{"name": "batchd", "tier": "batch"}])
    adj = adj_result(changes=[change(7, 0, 0, 300)], rules=[(0, 1)])
    fact = oom_protection_compliance(plan, info=info({}), adj=adj, systemd=False)
    assert [r["kind"] for r in fact["records"]] == ["process"]
    assert fact["skipped_units"] == ["web.service"]
    assert fact["systemd"] is False


def test_process_record_after_apply_uses_the_value_written():
    plan = plan_for(processes=[{"name": "batchd", "tier": "batch"}])
    record = single(plan, info({}), adj=adj_result(changes=[change(7, 0, 0, 300)], rules=[(0, 1)]), systemd=False)[0]
    assert record["status"] == "ok"
    assert record["target"] == "name=batchd"
    assert record["processes"] == [{"pid": 7, "name": "batchd", "oom_score_adj": 300}]


def test_process_record_whose_processes_already_had_the_value_is_ok():
    plan = plan_for(processes=[{"name": "batchd", "tier": "batch"}])
    record = single(plan, info({}), adj=adj_result(rules=[(0, 3)]), systemd=False)[0]
    assert record["status"] == "ok"


def test_an_ok_process_record_lists_the_processes_kept_at_the_value():
    # Issue 22: the audit (check mode) showed "live processes: none" for a rule whose process ran at the value.
    plan = plan_for(processes=[{"name": "batchd", "tier": "batch"}])
    adj = dict(adj_result(rules=[(0, 1)]), kept=[{"pid": 7, "name": "batchd", "rule": rule(0), "oom_score_adj": 300}])
    for check_mode in (False, True):
        record = single(plan, info({}), adj=adj, systemd=False, check_mode=check_mode)[0]
        assert record["status"] == "ok"
        assert record["processes"] == [{"pid": 7, "name": "batchd", "oom_score_adj": 300}]


def test_process_record_in_check_mode_shows_the_live_value_as_drift():
    plan = plan_for(processes=[{"name": "batchd", "tier": "batch"}])
    record, _unused = single(plan, info({}), adj=adj_result(changes=[change(7, 0, 0, 300)], rules=[(0, 1)]),
                             systemd=False, check_mode=True)
    assert record["status"] == "drift"
    assert record["processes"] == [{"pid": 7, "name": "batchd", "oom_score_adj": 0}]


def test_process_record_with_a_refused_negative_value_is_denied():
    plan = plan_for(processes=[{"name": "pgbouncer", "tier": "essential"}])
    denied = [{"pid": 9, "name": "pgbouncer", "unit": None, "rule": rule(0), "before": 0, "requested": -500,
               "reason": "lowering needs CAP_SYS_RESOURCE"}]
    record = single(plan, info({}), adj=adj_result(denied=denied, rules=[(0, 1)]), systemd=False)[0]
    assert record["status"] == "denied"


def test_predicted_denial_of_a_lowering_to_a_positive_value_is_drift_not_denied():
    plan = plan_for(processes=[{"name": "batchd", "tier": "batch"}])
    denied = [{"pid": 7, "name": "batchd", "unit": None, "rule": rule(0), "before": 700, "requested": 300,
               "reason": "predicted: lowering ...", "predicted": True}]
    record = single(plan, info({}), adj=adj_result(denied=denied, rules=[(0, 1)]), systemd=False, check_mode=True)[0]
    assert record["status"] == "drift"
    assert record["processes"] == [{"pid": 7, "name": "batchd", "oom_score_adj": 700}]


def test_predicted_denial_of_a_negative_value_is_denied():
    plan = plan_for(processes=[{"name": "pgbouncer", "tier": "essential"}])
    denied = [{"pid": 9, "name": "pgbouncer", "unit": None, "rule": rule(0), "before": 0, "requested": -500,
               "reason": "predicted", "predicted": True}]
    record = single(plan, info({}), adj=adj_result(denied=denied, rules=[(0, 1)]), systemd=False, check_mode=True)[0]
    assert record["status"] == "denied"


def test_process_rules_are_found_after_the_unit_rules_by_offset():
    plan = plan_for(units={"a.service": "standard"}, processes=[{"name": "batchd", "tier": "batch"}])
    adj = adj_result(changes=[change(7, 1, 0, 300), change(8, 0, 5, 0, name="a")], rules=[(0, 1), (1, 1)])
    fact = oom_protection_compliance(plan, info=info({"a.service": unit_info(0, [(8, 0)])}), adj=adj, rule_offset=1)
    assert [r["processes"] for r in fact["records"] if r["kind"] == "process"] == [
        [{"pid": 7, "name": "batchd", "oom_score_adj": 300}]]


def test_process_rule_without_match_is_not_running_or_missing_when_required():
    plan = plan_for(processes=[{"name": "a", "tier": "batch"}, {"name": "b", "tier": "batch", "required": True}])
    fact = oom_protection_compliance(plan, info=info({}), adj=adj_result(rules=[(0, 0), (1, 0)]))
    assert [r["status"] for r in fact["records"]] == ["not_running", "missing"]


def test_absent_state_has_no_records():
    fact = oom_protection_compliance(plan_for(units={"a.service": "standard"}), info=info({}), state="absent")
    assert fact["records"] == [] and fact["state"] == "absent"


def test_input_that_is_not_a_plan_is_refused():
    with pytest.raises(AnsibleFilterError, match="result of oom_protection_plan"):
        oom_protection_compliance({"records": []})


def test_reset_rules_use_what_systemd_applies_now():
    result = {"units": {"b.service": {"systemctl_oom_score_adj": 100}, "a.service": {"systemctl_oom_score_adj": 0}}}
    assert oom_protection_reset_rules(result) == [{"unit": "a.service", "value": 0}, {"unit": "b.service", "value": 100}]


def test_reset_rules_of_a_skipped_task_are_empty():
    assert oom_protection_reset_rules({"skipped": True, "changed": False}) == []


def test_a_template_is_judged_without_the_processes_of_instances_assigned_on_their_own():
    """job@.service (500) covers every instance; job@b.service has its own tier (300), which wins. The
    template's record must not call b's processes drift, and b's record must judge them by 300."""
    plan = plan_for(units={"job@.service": "expendable", "job@b.service": "batch"})
    fact = oom_protection_compliance(plan, info=info({
        # What oom_score_info reports: a template's processes are those of all its instances.
        "job@.service": unit_info(500, [(10, 500), (20, 300)]),
        "job@b.service": unit_info(300, [(20, 300)]),
    }))
    records = dict((record["target"], record) for record in fact["records"])
    assert records["job@.service"]["status"] == "ok", records["job@.service"]["reasons"]
    assert [proc["pid"] for proc in records["job@.service"]["processes"]] == [10]
    assert records["job@b.service"]["status"] == "ok"
    # Without its own assignment the instance is the template's: a process at 300 is then drift.
    alone = oom_protection_compliance(plan_for(units={"job@.service": "expendable"}), info=info({
        "job@.service": unit_info(500, [(10, 500), (20, 300)])}))
    (record,) = alone["records"]
    assert record["status"] == "drift" and "pid 20" in " ".join(record["reasons"])


def test_a_process_rule_whose_matches_are_all_in_containers_says_they_are_left_to_their_runtime():
    plan = plan_for(processes=[{"name": "java", "tier": "batch"}, {"name": "sshd", "tier": "batch"}])
    adj = adj_result(rules=[(0, 0), (1, 0)])
    adj["excluded"] = [{"pid": 20, "name": "java", "rule": {"index": 0, "description": "name=java"},
                        "runtime_owned": True, "reason": "managed by containerd (container web, pod shop/web-7f9c)"},
                       {"pid": 1, "name": "systemd", "reason": "PID 1 (init) is never touched"}]
    fact = oom_protection_compliance(plan, info=info({}), adj=adj)
    java, sshd = fact["records"]
    assert java["status"] == "not_running" and java["processes"] == []
    assert java["reasons"] == ["no process this assignment may change matches name=java: 1 matching process(es) "
                               "run in containers and are left to their runtime (containers: include changes them)"]
    assert sshd["reasons"] == ["no process matches name=sshd"]
