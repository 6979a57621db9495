# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit playbook's own expressions, templated by ansible-core as the play does: the per-host lines of
the next victims (the kernel's ranks, the left-out ranks said) and the fail-on-findings assertion (a denied
host is a finding)."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.audit import argument_spec as audit_argument_spec

PLAYBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "..", "playbooks", "audit.yml")


def tasks():
    with open(PLAYBOOK) as handle:
        plays = yaml.safe_load(handle)
    return [task for play in plays for task in play["tasks"]]


def task_named(prefix):
    (task,) = [task for task in tasks() if task.get("name", "").startswith(prefix)]
    return task


def template(text, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))


SCORE = {"kill_order": [{"name": "java", "pid": 500, "unit": "app.service", "reason": "#4: 12.50% of RAM+swap, adj 0"},
                        {"name": "bash", "pid": 700, "unit": None, "reason": "#7: 0.01% of RAM+swap, adj 0"}]}


def victim_lines(score):
    task = task_named("Show this host's next victims")
    variables = {"__oom_audit_score": score}
    for name in ("__oom_audit_excluded", "__oom_audit_left_out"):
        variables[name] = template(task["vars"][name], **variables)
    return template(task["vars"]["__oom_audit_victims"], **variables).strip().splitlines()


def test_the_host_lines_say_which_ranks_the_audits_own_processes_had():
    score = dict(SCORE, own_processes_excluded=[{"rank": 1, "pid": 101, "name": "python3"},
                                                {"rank": 2, "pid": 102, "name": "sh"}])
    assert victim_lines(score) == [
        "next victims, by the kernel's rank (#1, #2: the audit's own processes, left out):",
        "java (pid 500, app.service) #4: 12.50% of RAM+swap, adj 0",
        "bash (pid 700) #7: 0.01% of RAM+swap, adj 0",
    ]


def test_the_host_lines_have_no_heading_when_nothing_was_left_out():
    # Also the shape of oom_score_info's result before it returned own_processes_excluded.
    assert victim_lines(SCORE)[0] == "java (pid 500, app.service) #4: 12.50% of RAM+swap, adj 0"
    assert victim_lines(dict(SCORE, own_processes_excluded=[]))[0].startswith("java ")


def test_the_host_record_passes_the_left_out_processes_to_the_report():
    record = task_named("Keep what the audit found on this host")["ansible.builtin.set_fact"]["oom_audit_result"]
    excluded = [{"rank": 1, "pid": 101, "name": "python3"}]
    assert template(record["kill_order_excluded"], __oom_audit_score={"own_processes_excluded": excluded}) == excluded
    assert template(record["kill_order_excluded"], __oom_audit_score={}) == []


@pytest.mark.parametrize("by_status, fails", [
    ({"compliant": 2}, False),
    ({"compliant": 1, "no_assignments": 1}, False),
    ({"compliant": 1, "denied": 1}, True),     # not compliant, though harden cannot fix it
    ({"compliant": 1, "drifting": 1}, True),
])
def test_fail_on_findings_fails_on_a_denied_host(by_status, fails):
    statuses = dict.fromkeys(("unreachable", "failed", "drifting", "denied", "no_assignments", "compliant"), 0)
    statuses.update(by_status)
    report = {"counts": {"hosts": sum(statuses.values()), "by_status": statuses, "at_risk": 0, "leaks": 0}}
    conditions = task_named("Fail on findings when asked to")["ansible.builtin.assert"]["that"]
    results = [template("{{ %s }}" % condition, oom_audit_report=report) for condition in conditions]
    assert all(results) is not fails


@pytest.mark.parametrize("protected, fails", [(0, False), (1, True)])
def test_fail_on_findings_fails_on_a_protected_but_killed_assignment(protected, fails):
    statuses = dict.fromkeys(("unreachable", "failed", "drifting", "denied", "no_assignments", "compliant"), 0)
    statuses["compliant"] = 1
    report = {"counts": {"hosts": 1, "by_status": statuses, "at_risk": 0, "leaks": 0,
                         "protected_but_killed": protected}}
    conditions = task_named("Fail on findings when asked to")["ansible.builtin.assert"]["that"]
    results = [template("{{ %s }}" % condition, oom_audit_report=report) for condition in conditions]
    assert all(results) is not fails


def test_the_host_record_passes_what_the_kill_history_read():
    record = task_named("Keep what the audit found on this host")["ansible.builtin.set_fact"]["oom_audit_result"]
    events = {"sources_read": ["journal"], "killers_looked_for": ["kernel", "systemd-oomd"]}
    assert template(record["sources_read"], __oom_audit_events=events) == ["journal"]
    assert template(record["killers_looked_for"], __oom_audit_events=events) == ["kernel", "systemd-oomd"]
    assert template(record["sources_read"], __oom_audit_events={}) is None


def test_the_audit_reads_the_kills_of_every_killer():
    def walk(items):
        for item in items:
            yield item
            for key in ("block", "rescue"):
                yield from walk(item.get(key) or [])
    (task,) = [t for t in walk(tasks()) if "oomguard.fleet.oom_audit_facts" in t]
    # oom_audit_facts reads every killer's kills (it has no `killers` filter, which would hide userspace kills).
    assert "killers" not in task["oomguard.fleet.oom_audit_facts"]
    assert "killers" not in audit_argument_spec()
