# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_summary_lines: the role's console summary reads as lines, not as a Python dict."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import (
    oom_protection_compliance,
    oom_protection_plan,
    oom_protection_summary_lines,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.compliance import STATUSES


def compliance(records, skipped=(), state="present"):
    summary = {status: 0 for status in STATUSES}
    for record in records:
        summary[record["status"]] += 1
    return {"schema": 1, "state": state, "records": records, "summary": summary, "skipped_units": list(skipped)}


def record(target, status, reasons=(), kind="unit"):
    return {"kind": kind, "target": target, "status": status, "reasons": list(reasons)}


def test_counts_then_one_line_per_record_that_is_not_ok():
    lines = oom_protection_summary_lines(compliance([
        record("ssh.service", "ok"), record("cron.service", "ok"), record("nginx.service", "ok"),
        record("postgresql.service", "denied",
               ["pid 812 (postgres): the kernel keeps 0, policy -500 (lowering needs CAP_SYS_RESOURCE)"]),
    ]))
    assert lines == [
        "oom_protection: 3 ok, 1 denied",
        "unit postgresql.service: denied (pid 812 (postgres): the kernel keeps 0, policy -500 "
        "(lowering needs CAP_SYS_RESOURCE))",
    ]


def test_no_python_dict_or_list_on_any_line():
    worker = record("name=worker", "missing", ["no process matches name=worker"], kind="process")
    lines = oom_protection_summary_lines(compliance([worker], skipped=["a.service", "b.service"]))
    assert lines == ["oom_protection: 1 missing",
                     "process name=worker: missing (no process matches name=worker)",
                     "no systemd on this host: skipped the unit assignments a.service, b.service"]
    assert not any(char in line for line in lines for char in "{}[]")


def test_a_host_without_assignments_says_so():
    assert oom_protection_summary_lines(compliance([])) == ["oom_protection: nothing assigned to this host"]


def test_state_absent_says_removed():
    assert oom_protection_summary_lines(compliance([], state="absent")) == ["oom_protection: removed (state absent)"]


def test_the_statuses_keep_their_names_and_order():
    not_running = record("a.service", "not_running", ["a.service has no running process"])
    lines = oom_protection_summary_lines(compliance([not_running, record("b.service", "drift"),
                                                     record("c.service", "ok")]))
    assert lines[0] == "oom_protection: 1 ok, 1 drift, 1 not_running"
    assert lines[1:] == ["unit a.service: not_running (a.service has no running process)", "unit b.service: drift"]


def test_works_on_the_real_compliance_fact():
    plan = oom_protection_plan({"standard": 0}, units={"x.service": "standard"})
    info = {"units": {"x.service": {"load_state": "loaded", "declared_oom_score_adj": 0, "declared_set": True,
                                    "processes": []}}}
    fact = oom_protection_compliance(plan, info=info)
    assert oom_protection_summary_lines(fact) == ["oom_protection: 1 not_running",
                                                  "unit x.service: not_running (x.service has no running process)"]


def test_refuses_what_is_not_the_compliance_fact():
    with pytest.raises(AnsibleFilterError, match="expects the oom_protection_compliance fact"):
        oom_protection_summary_lines({"ok": 3})
