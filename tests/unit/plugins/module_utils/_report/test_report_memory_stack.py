# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit reports and the memory stack: per-setting findings, not_effective, the kills counted by the
units' cgroups (a history without the kernel log) and systemd-oomd's predicted first kill, in every format."""

from __future__ import annotations

import json
import pathlib
import xml.etree.ElementTree as ET

import jsonschema

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus as _prometheus
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

SCHEMA = json.loads((pathlib.Path(__file__).parents[5] / "docs" / "oom-audit.schema.json").read_text())


def record(status="ok", settings=(), oom_kills=None, oomd_kills=None):
    return {"kind": "unit", "target": "db.service", "tier": "guarded", "policy_oom_score_adj": 0,
            "policy_oom_policy": None, "declared_oom_score_adj": 0, "declared_set": True, "declared_oom_policy": None,
            "processes": [{"pid": 7, "name": "db", "oom_score_adj": 0}], "status": status, "reasons": [],
            "settings": list(settings), "oom_kills": oom_kills, "oomd_kills": oomd_kills}


V1_MIN = {"setting": "memory_min", "policy": "32M", "declared": 33554432, "effective": None, "status": "not_effective",
          "reason": "memory_min: on a cgroup v1 memory controller systemd applies only MemoryMax=, not MemoryMin="}
OOMD = {"running": True, "config": {"swap_used_limit_percent": 90.0}, "settings": {"swap_used_limit_percent": 90.0},
        "monitored": {"swap": [], "memory_pressure": [{"path": "/batch.slice", "limit_percent": 20.0}]},
        "prediction": {
            "swap": {"first": None, "first_unit": None, "candidates": [], "omitted": [],
                     "reason": "no cgroup is monitored with ManagedOOMSwap=kill"},
            "memory_pressure": [{"monitored": "/batch.slice", "limit_percent": 20.0,
                                 "first": "/batch.slice/etl.service", "first_unit": "etl.service",
                                 "omitted": ["/batch.slice/keep.service"], "reason": None,
                                 "candidates": [{"cgroup": "/batch.slice/etl.service", "unit": "etl.service",
                                                 "preference": "none", "memory_current": 1 << 20,
                                                 "swap_current": 0, "pgscan_rate": 10.0, "eligible": True,
                                                 "reason": None}]}]},
        "error": None}


def host(records, events_source=None, oomd=None):
    return {"name": "h1", "reachable": True, "errors": [],
            "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present",
                           "records": records, "skipped_units": []},
            "host": {"kernel_release": "6.1.0", "mem_total_kb": 1 << 20, "systemd_oomd": oomd},
            "kill_order": [], "events": [], "events_source": events_source}


def test_not_effective_is_counted_reported_and_valid_but_not_a_failure():
    report = _report.build_report([host([record("not_effective", [V1_MIN])])])
    jsonschema.validate(report, SCHEMA)
    (normalized,) = report["hosts"]
    assert normalized["status"] == "compliant"
    assert normalized["assignments"]["not_effective"] == 1
    assert normalized["compliance"]["records"][0]["settings"] == [V1_MIN]
    case = ET.fromstring(_junit.render_junit(report)).find(".//testcase[@name='unit:db.service']")
    assert case.find("skipped") is not None
    assert "memory_min: not_effective (policy 32M" in case.find("skipped").text
    assert 'oomguard_assignment_setting_status{kind="unit",target="db.service",tier="guarded",' \
           'setting="memory_min",status="not_effective"} 1' in _prometheus.render_prometheus(normalized)


def test_a_kill_history_counted_by_cgroups_is_not_unknown_without_a_kernel_log():
    report = _report.build_report([host([record(oom_kills=2, oomd_kills=1)])])
    jsonschema.validate(report, SCHEMA)
    (normalized,) = report["hosts"]
    assert normalized["cgroup_oom_kills"] == 2
    lines = "\n".join(_console.summary_lines(report))
    assert "kill history unknown" not in lines
    assert "2 OOM kills counted by the units' cgroups" in lines
    assert "the assigned units' cgroups counted 2 OOM kill(s)" in _render.render_html(report)
    prom = _prometheus.render_prometheus(normalized)
    assert 'oomguard_assignment_cgroup_oom_kills{kind="unit",target="db.service",tier="guarded"} 2' in prom
    assert 'oomguard_assignment_oomd_kills{kind="unit",target="db.service",tier="guarded"} 1' in prom


def test_without_counts_and_without_a_kernel_log_the_history_stays_unknown():
    report = _report.build_report([host([record()])])
    assert "kill history unknown" in "\n".join(_console.summary_lines(report))


def test_the_predicted_first_oomd_kill_is_in_every_report():
    report = _report.build_report([host([record()], events_source="journal", oomd=OOMD)])
    jsonschema.validate(report, SCHEMA)
    (normalized,) = report["hosts"]
    rule = normalized["oomd"]["prediction"]["memory_pressure"][0]
    assert (rule["first"], rule["omitted"]) == ("/batch.slice/etl.service", ["/batch.slice/keep.service"])
    assert "systemd_oomd" not in normalized["host"]
    junit = ET.fromstring(_junit.render_junit(report)).find(".//testcase[@name='systemd-oomd']/system-out").text
    assert "memory pressure of /batch.slice above 20.0%: first /batch.slice/etl.service" in junit
    html = _render.render_html(report)
    assert "<code>/batch.slice/etl.service</code>" in html and "<code>/batch.slice/keep.service</code>" in html
    assert "oomguard_systemd_oomd_running 1" in _prometheus.render_prometheus(normalized)
