# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's findings beyond compliance in every report: `at risk` hosts and protection leaks.

A host at risk or leaking protection is a finding in the JSON (schema-valid), a failed JUnit test case,
a badge and a red headroom bar in the HTML, a word in the console summary, and it sorts first.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.modules import oom_audit_report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

from modrun import run_module

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "oom-audit.schema.json")
NOW = "2026-11-25T21:52:30Z"
COMPLIANT = {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present", "records": []}


def headroom(available_kb, total_kb=16000000, kills=4, some_avg60=0.0):
    psi = {"avg10": 0.0, "avg60": some_avg60, "avg300": 0.0, "total": 10}
    return {"mem_total_kb": total_kb, "mem_available_kb": available_kb, "swap_total_kb": 0, "swap_free_kb": 0,
            "committed_kb": 4000000, "commit_limit_kb": 8000000, "overcommit_memory": 0, "oom_kill_count": kills,
            "pressure": {"some": psi, "full": dict(psi, avg60=0.0)}}


LEAK = {"pid": 4242, "name": "bash", "unit": "session-3.scope", "oom_score_adj": -900, "memory_kb": 5120,
        "source": {"pid": 612, "name": "sshd", "unit": "ssh.service", "oom_score_adj": -900},
        "reason": "inherited from sshd (pid 612, ssh.service), which ssh.service's OOMScoreAdjust= protects"}


@pytest.fixture
def fleet():
    return [
        {"name": "idle1", "compliance": COMPLIANT, "headroom": headroom(available_kb=12000000)},
        {"name": "hog1", "compliance": COMPLIANT, "headroom": headroom(available_kb=800000)},  # 95 % used
        {"name": "ssh1", "compliance": COMPLIANT, "headroom": headroom(available_kb=12000000), "leaks": [LEAK]},
    ]


def valid(report):
    document = json.loads(_render.render_json(report))
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(document)
    return document


def test_a_host_over_the_memory_threshold_is_at_risk_with_the_figure_that_crossed_it(fleet):
    document = valid(_report.build_report(fleet, generated_at=NOW))
    hosts = dict((h["name"], h) for h in document["hosts"])
    assert hosts["hog1"]["risk"]["at_risk"] is True
    assert hosts["hog1"]["risk"]["findings"] == [{
        "figure": "memory_used_percent", "value": 95.0, "level": "at_risk", "threshold": 90.0,
        "text": "memory used 95.0% >= 90.0% (at risk)"}]
    assert hosts["idle1"]["risk"]["at_risk"] is False and hosts["idle1"]["risk"]["findings"] == []
    assert document["summary"]["at_risk"] == 1 and document["summary"]["leaks"] == 1


def test_at_risk_hosts_sort_first_among_hosts_of_the_same_status(fleet):
    assert [h["name"] for h in _report.build_report(fleet, generated_at=NOW)["hosts"]] == ["hog1", "ssh1", "idle1"]


def test_inventory_thresholds_of_one_host_apply_to_that_host_only(fleet):
    fleet[0]["thresholds"] = {"memory_used_percent": {"at_risk": 20}}
    hosts = dict((h["name"], h) for h in _report.build_report(fleet, generated_at=NOW)["hosts"])
    assert hosts["idle1"]["risk"]["at_risk"] is True  # 25 % used
    assert hosts["ssh1"]["risk"]["at_risk"] is False


def test_junit_fails_the_headroom_case_of_a_host_at_risk_and_each_leak(fleet):
    root = ET.fromstring(_junit.render_junit(_report.build_report(fleet, generated_at=NOW)))
    cases = {}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            failure = case.find("failure")
            cases[(suite.get("name"), case.get("name"))] = None if failure is None else (
                failure.get("type"), failure.get("message"))
    assert cases[("hog1", "headroom")] == ("at_risk", "at risk: memory used 95.0% >= 90.0% (at risk)")
    assert cases[("idle1", "headroom")] is None
    assert cases[("ssh1", "leak:bash[4242]")] == (
        "leak", "bash (pid 4242, session-3.scope) holds oom_score_adj -900 that nothing assigns: "
                "from sshd (pid 612, ssh.service, -900)")
    assert root.get("failures") == "2"


def test_html_shows_the_at_risk_badge_the_headroom_bar_and_the_leak_with_its_source(fleet):
    page = _render.render_html(_report.build_report(fleet, generated_at=NOW))
    hog = page[page.index(">hog1 <"):].split("</section>", 1)[0]
    assert '<span class="badge s-at_risk">at risk</span>' in hog
    assert '<span class="bar l-at_risk" title="95.0%"><span style="width:95.0%"></span></span> 95.0%' in page
    assert "memory used 95.0% &gt;= 90.0% (at risk)" in hog
    ssh = page[page.index(">ssh1 <"):].split("</section>", 1)[0]
    assert "<code class=\"name\">sshd</code> (612, ssh.service, -900)" in ssh
    assert "No process holds a negative oom_score_adj" in page[page.index(">idle1 <"):]


def test_console_summary_says_at_risk_and_names_the_leaks(fleet):
    lines = _console.summary_lines(_report.build_report(fleet, generated_at=NOW))
    assert lines[0].endswith("; 1 at risk; 1 protection leak; 0 recent OOM kills")
    assert "AT RISK: memory used 95.0% >= 90.0% (at risk)" in lines[1]
    assert "1 protection leak" in [line for line in lines if " ssh1 " in line][0]


def test_kills_since_a_previous_report_make_a_host_at_risk(fleet):
    earlier = json.loads(_render.render_json(_report.build_report(fleet, generated_at=NOW)))
    fleet[0]["headroom"] = headroom(available_kb=12000000, kills=6)
    idle = [h for h in _report.build_report(fleet, generated_at=NOW, previous=earlier)["hosts"]
            if h["name"] == "idle1"][0]
    assert idle["risk"]["figures"]["oom_kills_since_previous"] == 2
    assert [f["figure"] for f in idle["risk"]["findings"]] == ["oom_kills_since_previous"]


def test_the_module_fails_on_a_bad_threshold_in_one_line_and_writes_nothing(tmp_path):
    host = {"name": "h1", "compliance": COMPLIANT, "headroom": headroom(1), "thresholds": {"memory_used": 90}}
    result, failed = run_module(oom_audit_report.main, {"dest": str(tmp_path / "r"), "hosts": [host]})
    assert failed
    assert result["msg"].startswith("Invalid audit input, no report was written: unknown threshold 'memory_used'")
    assert "\n" not in result["msg"]
    assert not (tmp_path / "r").exists()


def test_the_module_fails_on_a_previous_report_that_is_not_json(tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text("<html>")
    args = {"dest": str(tmp_path / "r"), "previous_report": str(bad), "hosts": [{"name": "h1", "compliance": COMPLIANT}]}
    result, failed = run_module(oom_audit_report.main, args)
    assert failed and result["msg"].startswith("previous_report %s is not a JSON audit report" % bad)
    assert not (tmp_path / "r").exists()
