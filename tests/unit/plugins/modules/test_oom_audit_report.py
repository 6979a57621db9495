# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_audit_report: the three reports agree, validate, parse, escape, and are written idempotently."""

from __future__ import annotations

import copy
import json
import os
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.filter import oom_audit as oom_audit_filter
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.modules import oom_audit_report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import judge as _judge
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render
from ansible_collections.oomguard.fleet.plugins.module_utils._report import text as _text

from modrun import run_module

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "oom-audit.schema.json")
HOSTILE = "<script>x</script>"
NOW = "2026-11-25T21:52:30Z"


def record(target, status, policy=-500, tier="essential", kind="unit", procs=None, reasons=None):
    return {
        "kind": kind, "target": target, "tier": tier, "policy_oom_score_adj": policy, "policy_oom_policy": None,
        "declared_oom_score_adj": policy if status != "missing" else None, "declared_set": status != "missing",
        "declared_oom_policy": None, "processes": procs if procs is not None else [{"pid": 812, "name": "postgres",
                                                                                   "oom_score_adj": policy}],
        "status": status, "reasons": reasons or ([] if status == "ok" else ["%s found by the role" % status]),
    }


def compliance(*records):
    counts = {s: 0 for s in ("ok", "drift", "denied", "missing", "not_running")}
    for rec in records:
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    return {"schema": 1, "systemd": True, "can_lower_adj": False, "state": "present", "records": list(records),
            "summary": counts}


HOST_FACTS = {
    "kernel_release": "6.1.0-26-amd64", "score_scale": "0-2000", "mem_total_kb": 4000000, "swap_total_kb": 0,
    "total_pages": 1000000, "page_size": 4096, "can_lower_adj": False, "systemd_running": True,
    "cgroup_version": "v2", "sysctls": {"vm.panic_on_oom": 0, "vm.overcommit_memory": 0}, "oom_kill_count": 2,
    "cgroup_limit_bytes": None,
}


def victim(rank, pid, name, badness, adj=0, share=None):
    return {"rank": rank, "pid": pid, "name": name, "unit": "batch.service", "badness": badness,
            "share_percent": share if share is not None else round(100.0 * (badness - adj * 1000) / 1000000, 2),
            "oom_score": 900, "oom_score_adj": adj, "reason": "#%d" % rank}


def kill(pid, name, time="2026-11-24T03:12:00Z", adj=0):
    return {"time": time, "pid": pid, "name": name, "uid": 0, "oom_score_adj": adj, "total_vm_kb": 900000,
            "anon_rss_kb": 600000, "file_rss_kb": 4, "shmem_rss_kb": 0, "pgtables_kb": 1264, "scope": "memcg",
            "constraint": "CONSTRAINT_MEMCG", "oom_memcg": "/system.slice/batch.service",
            "task_memcg": "/system.slice/batch.service", "unit": "batch.service",
            "reaped": True, "trigger": {"name": "java", "gfp_mask": "0xcc0(GFP_KERNEL)", "order": 0, "oom_score_adj": 0}}


@pytest.fixture
def fleet():
    """db1 compliant, db2 drifting (drift + denied), web1 missing a unit, plain1 unmanaged with a hostile
    process name in its kill order and kill history, gone unreachable; ghost was targeted but sent nothing."""
    return {
        "targets": ["db1", "db2", "web1", "plain1", "gone", "ghost"],
        "hosts": [
            {"name": "db1", "compliance": compliance(record("postgresql.service", "ok"),
                                                     record("ssh.service", "not_running", -900, "critical", procs=[])),
             "host": HOST_FACTS, "kill_order": [victim(1, 300, "java", 230000)], "events": [], "events_source": "journal"},
            {"name": "db2", "compliance": compliance(record("postgresql.service", "drift"),
                                                     record("ssh.service", "denied", -900, "critical"),
                                                     record("name=batchd", "ok", 500, "expendable", kind="process")),
             "host": HOST_FACTS, "kill_order": [], "events": [kill(4242, "java")], "events_source": "dmesg"},
            {"name": "web1", "compliance": compliance(record("nginx.service", "missing", procs=[])), "host": HOST_FACTS},
            {"name": "plain1", "compliance": compliance(), "host": HOST_FACTS,
             "kill_order": [victim(1, 666, HOSTILE, 400000), victim(2, 667, "bash", 1000, adj=-1, share=0.5)],
             "events": [kill(666, HOSTILE, time="2026-11-25T01:00:00Z")], "events_source": "file"},
            {"name": "gone", "reachable": False, "errors": ["Failed to connect to the host via ssh: Connection refused"]},
        ],
    }


def report_of(fleet, **kwargs):
    return _report.build_report(fleet["hosts"], targets=fleet["targets"], generated_at=NOW, events_since="7d", **kwargs)


def junit_cases(xml_text):
    """{(suite, case): (outcome, type)} with outcome in pass/failure/error/skipped."""
    root = ET.fromstring(xml_text)
    cases = {}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            outcome, kind = "pass", None
            for tag in ("failure", "error", "skipped"):
                child = case.find(tag)
                if child is not None:
                    outcome, kind = tag, child.get("type")
            cases[(suite.get("name"), case.get("name"))] = (outcome, kind)
    return root, cases


# --- JSON ------------------------------------------------------------------------------------------------


def test_json_report_validates_against_the_shipped_schema(fleet):
    schema = json.load(open(SCHEMA_PATH))
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(_render.render_json(report_of(fleet)))
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema_version"] == _report.SCHEMA_VERSION == 1


def test_schema_rejects_a_host_status_it_does_not_define(fleet):
    schema = json.load(open(SCHEMA_PATH))
    document = json.loads(_render.render_json(report_of(fleet)))
    document["hosts"][0]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)


def test_json_counts_hosts_and_assignments_by_status(fleet):
    summary = report_of(fleet)["summary"]
    assert summary["hosts"] == 6
    assert summary["by_status"] == {"unreachable": 1, "failed": 1, "drifting": 2, "denied": 0, "no_assignments": 1,
                                    "compliant": 1}
    assert summary["assignments"] == {"ok": 2, "drift": 1, "denied": 1, "missing": 1, "not_running": 1,
                                      "not_effective": 0, "unknown": 0, "total": 6}
    assert summary["recent_kills"] == 2


def test_hosts_are_listed_worst_first(fleet):
    names = [h["name"] for h in report_of(fleet)["hosts"]]
    # unreachable, failed, drifting (db2 has two failing assignments, web1 one), unmanaged, compliant
    assert names == ["gone", "ghost", "db2", "web1", "plain1", "db1"]


def test_a_targeted_host_that_sent_nothing_is_reported_failed(fleet):
    ghost = [h for h in report_of(fleet)["hosts"] if h["name"] == "ghost"][0]
    assert ghost["status"] == "failed" and ghost["reachable"] is True and ghost["compliance"] is None
    assert "no audit data" in ghost["errors"][0]


def test_a_reachable_host_without_a_compliance_record_is_failed_with_the_gathering_errors():
    report = _report.build_report([{"name": "db3", "errors": ["compliance check: role failed"]}], generated_at=NOW)
    assert report["hosts"][0]["status"] == "failed"
    assert report["hosts"][0]["errors"] == ["compliance check: role failed"]


def test_a_record_with_a_status_the_contract_does_not_know_is_unknown_and_failing():
    rec = record("x.service", "ok")
    rec["status"] = "weird"
    host = _report.build_report([{"name": "h", "compliance": compliance(rec)}], generated_at=NOW)["hosts"][0]
    assert host["status"] == "drifting"
    assert host["compliance"]["records"][0]["status"] == "unknown"
    assert "weird" in host["compliance"]["records"][0]["reasons"][-1]


def test_victim_memory_is_the_badness_without_the_adj_shift(fleet):
    plain1 = [h for h in report_of(fleet)["hosts"] if h["name"] == "plain1"][0]
    first, second = plain1["kill_order"]
    assert first["memory_kb"] == 400000 * 4  # adj 0: badness pages are the memory pages
    assert first["memory_share_percent"] == 40.0
    assert second["memory_kb"] == (1000 + 1 * 1000) * 4  # adj -1 lowered badness by total_pages/1000 pages


def test_victim_memory_is_not_derived_on_kernels_with_the_root_bonus():
    host = dict(HOST_FACTS, kernel_release="4.9.0-19-amd64")
    report = _report.build_report([{"name": "old", "host": host, "kill_order": [victim(1, 5, "java", 1000)],
                                    "compliance": compliance()}], generated_at=NOW)
    assert report["hosts"][0]["kill_order"][0]["memory_kb"] is None


def test_an_event_whose_trigger_line_was_ratelimited_has_a_null_trigger(fleet):
    event = kill(1, "java")
    event["trigger"] = None
    fleet["hosts"][1]["events"] = [event]
    report = report_of(fleet)
    db2 = [h for h in report["hosts"] if h["name"] == "db2"][0]
    assert db2["events"][0]["trigger"] is None
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(json.loads(_render.render_json(report)))
    _render.render_html(report)


def test_html_shows_utc_times_as_people_read_them():
    assert _text.display_time("2026-11-25T21:56:46.047064+00:00") == "2026-11-25 21:56:46 UTC"
    assert _text.display_time("2026-11-25T21:56:46Z") == "2026-11-25 21:56:46 UTC"
    assert _text.display_time("2026-11-25T21:56:46+01:00") == "2026-11-25T21:56:46+01:00"


def test_events_are_newest_first(fleet):
    fleet["hosts"][1]["events"] = [kill(1, "old", time="2026-11-01T00:00:00Z"), kill(2, "new", time="2026-11-20T00:00:00Z"),
                                   kill(3, "undated", time=None)]
    db2 = [h for h in report_of(fleet)["hosts"] if h["name"] == "db2"][0]
    assert [e["name"] for e in db2["events"]] == ["new", "old", "undated"]


def test_a_host_whose_kernel_log_could_not_be_read_has_an_unknown_history_not_an_empty_one(fleet):
    web1 = [h for h in fleet["hosts"] if h["name"] == "web1"][0]
    assert "events_source" not in web1  # oom_events_info said source_used: null
    report = report_of(fleet)
    line = [line for line in _console.summary_lines(report) if " web1 " in line][0]
    assert "kill history unknown" in line
    page = _render.render_html(report)
    section = page[page.index(">web1 <"):]
    assert "Unknown: no kernel log could be read on this host." in section.split("</section>", 1)[0]
    db1 = page[page.index(">db1 <"):].split("</section>", 1)[0]
    assert "No OOM kills found." in db1
    fleet_part = page[:page.index('<section class="host"')]
    assert "Kill history unknown" in fleet_part and ">web1</a>" in fleet_part.split("Kill history unknown", 1)[1]


def test_unit_assignments_skipped_on_a_host_without_systemd_are_skipped_test_cases():
    comp = compliance(record("name=batchd", "ok", 500, "expendable", kind="process"))
    comp["systemd"] = False
    comp["skipped_units"] = ["oomguard-batch.service"]
    report = _report.build_report([{"name": "plain1", "compliance": comp}], generated_at=NOW)
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(json.loads(_render.render_json(report)))
    assert report["hosts"][0]["status"] == "compliant"
    _root, cases = junit_cases(_junit.render_junit(report))
    assert cases == {("plain1", "process:name=batchd"): ("pass", None),
                     ("plain1", "unit:oomguard-batch.service"): ("skipped", None)}
    assert "Not applied, because this host has no systemd: <code>oomguard-batch.service</code>" in \
        _render.render_html(report)


# --- JUnit -----------------------------------------------------------------------------------------------


def test_junit_fails_exactly_the_drift_denied_and_missing_assignments(fleet):
    _root, cases = junit_cases(_junit.render_junit(report_of(fleet)))
    failures = {key: kind for key, (outcome, kind) in cases.items() if outcome == "failure"}
    assert failures == {
        ("db2", "unit:postgresql.service"): "drift",
        ("db2", "unit:ssh.service"): "denied",
        ("web1", "unit:nginx.service"): "missing",
    }


def test_junit_reports_unreachable_and_failed_hosts_as_errors(fleet):
    _root, cases = junit_cases(_junit.render_junit(report_of(fleet)))
    errors = {key: kind for key, (outcome, kind) in cases.items() if outcome == "error"}
    assert errors == {("gone", "audit"): "unreachable", ("ghost", "audit"): "failed"}


def test_junit_has_one_case_per_host_and_assignment(fleet):
    root, cases = junit_cases(_junit.render_junit(report_of(fleet)))
    assert sorted(cases) == sorted([
        ("db1", "unit:postgresql.service"), ("db1", "unit:ssh.service"),
        ("db2", "unit:postgresql.service"), ("db2", "unit:ssh.service"), ("db2", "process:name=batchd"),
        ("web1", "unit:nginx.service"), ("plain1", "assignments"), ("gone", "audit"), ("ghost", "audit"),
        ("db1", "next-victims"), ("plain1", "next-victims"),
    ])
    assert cases[("db1", "unit:ssh.service")] == ("skipped", None)
    assert cases[("db1", "unit:postgresql.service")] == ("pass", None)
    assert [s.get("name") for s in root.iter("testsuite")] == ["gone", "ghost", "db2", "web1", "plain1", "db1"]


def test_junit_totals_agree_with_the_test_cases(fleet):
    root, cases = junit_cases(_junit.render_junit(report_of(fleet)))
    outcomes = [outcome for outcome, _kind in cases.values()]
    assert root.get("tests") == str(len(cases))
    assert root.get("failures") == str(outcomes.count("failure"))
    assert root.get("errors") == str(outcomes.count("error"))
    assert root.get("skipped") == str(outcomes.count("skipped"))
    for suite in root.iter("testsuite"):
        assert suite.get("tests") == str(len(suite.findall("testcase")))


def test_control_characters_and_broken_unicode_from_hosts_never_break_the_xml():
    nasty = "evil\x00\x1b[31m\udcff\ufffe"
    rec = record(nasty + ".service", "drift", reasons=[nasty])
    rec["processes"] = [{"pid": 1, "name": nasty, "oom_score_adj": 0}]
    report = _report.build_report([{"name": "h", "compliance": compliance(rec)}], generated_at=NOW)
    root = ET.fromstring(_junit.render_junit(report))
    failure = root.find(".//failure")
    assert failure.get("message").startswith("drift: evil\ufffd\ufffd[31m\ufffd\ufffd")
    _render.render_json(report).encode("utf-8")
    _render.render_html(report).encode("utf-8")


# --- HTML ------------------------------------------------------------------------------------------------


def test_html_shows_hostile_process_names_as_escaped_text(fleet):
    page = _render.render_html(report_of(fleet))
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script" not in page.lower()


def test_html_escapes_every_host_supplied_field():
    rec = record('a"b<i>.service', "drift", tier="<b>tier</b>", reasons=["<img src=x onerror=alert(1)>"])
    hosts = [{"name": "<h1>host</h1>", "compliance": compliance(rec), "host": {"kernel_release": "<u>6.1</u>"},
              "errors": ["<marquee>err</marquee>"], "events_source": "<s>journal</s>"}]
    page = _render.render_html(_report.build_report(hosts, generated_at=NOW))
    for raw in ("<h1>host", "<i>", "<b>tier", "<img", "<u>", "<marquee", "<s>journal"):
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_html_is_self_contained_and_has_no_script(fleet):
    page = _render.render_html(report_of(fleet)).lower()
    for marker in ("<script", "<link", "src=", "@import", "url(", "http://", "https://"):
        assert marker not in page
    assert "<style>" in page


def test_html_puts_the_fleet_summary_before_the_hosts(fleet):
    page = _render.render_html(report_of(fleet))
    assert page.index("Fleet summary") < page.index("Recent OOM kills in the fleet") < page.index('id="host-1"')


def test_html_draws_a_share_bar_per_victim(fleet):
    page = _render.render_html(report_of(fleet))
    assert '<span style="width:40.0%"></span>' in page


# --- all three -------------------------------------------------------------------------------------------


def test_unreachable_hosts_appear_in_all_three_reports(fleet):
    contents = _render.render_all(report_of(fleet))
    document = json.loads(contents["json"])
    assert [h["status"] for h in document["hosts"] if h["name"] == "gone"] == ["unreachable"]
    _root, cases = junit_cases(contents["junit"])
    assert cases[("gone", "audit")] == ("error", "unreachable")
    assert ">gone</a>" in contents["html"] and "unreachable</span>" in contents["html"]
    assert "Connection refused" in contents["html"]


def test_summary_lines_name_the_fleet_then_the_worst_hosts(fleet):
    lines = _console.summary_lines(report_of(fleet), limit=3)
    assert lines[0] == ("oomguard audit: 6 hosts: 1 unreachable, 1 audit failed, 2 drifting, 1 no assignments, "
                        "1 compliant; 0 at risk; 0 protection leaks; 2 recent OOM kills")
    assert lines[1].split()[:2] == ["UNREACHABLE", "gone"]
    assert lines[2].split()[:3] == ["AUDIT", "FAILED", "ghost"]
    assert lines[3].split()[:2] == ["DRIFTING", "db2"] and "2 of 3 assignments not ok (1 drift, 1 denied)" in lines[3]
    assert lines[4] == "... and 3 more hosts: see the reports"


def test_the_next_victim_line_names_an_adj_that_puts_it_first():
    small = {"name": "small", "compliance": compliance(), "host": HOST_FACTS,
             "kill_order": [victim(1, 77, "memfd:sealed", 1000000, adj=1000, share=0.0)]}
    plain = {"name": "plain", "compliance": compliance(), "host": HOST_FACTS, "kill_order": [victim(1, 78, "java", 230000)]}
    lines = _console.summary_lines(_report.build_report([small, plain]))
    assert [line for line in lines if " small " in line][0].endswith(
        "next victim #1 memfd:sealed (pid 77, 0.00% of memory, oom_score_adj 1000)")
    assert [line for line in lines if " plain " in line][0].endswith("next victim #1 java (pid 78, 23.00% of memory)")


def test_rendering_is_deterministic(fleet):
    first = _render.render_all(report_of(fleet))
    assert _render.render_all(report_of(copy.deepcopy(fleet))) == first


# --- the module ------------------------------------------------------------------------------------------


def run(fleet, dest, check_mode=False, **extra):
    args = {"dest": str(dest), "hosts": fleet["hosts"], "targets": fleet["targets"], "events_since": "7d"}
    args.update(extra)
    return run_module(oom_audit_report.main, args, check_mode=check_mode)


@pytest.fixture
def clock(monkeypatch):
    times = iter(["2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z", "2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z"])
    monkeypatch.setattr(oom_audit_report, "utc_now", lambda: next(times))


def test_module_writes_the_three_reports_and_returns_their_paths(fleet, tmp_path, clock):
    dest = tmp_path / "reports"
    result, failed = run(fleet, dest)
    assert not failed and result["changed"] is True
    assert result["paths"] == {"json": str(dest / "oom-audit.json"), "junit": str(dest / "oom-audit.xml"),
                               "html": str(dest / "oom-audit.html")}
    assert sorted(os.listdir(str(dest))) == ["oom-audit.html", "oom-audit.json", "oom-audit.xml"]
    assert json.loads((dest / "oom-audit.json").read_text())["generated_at"] == "2026-11-25T10:00:00Z"
    assert result["counts"]["by_status"]["unreachable"] == 1
    assert result["summary"][1].split()[:2] == ["UNREACHABLE", "gone"]


def test_module_is_idempotent_although_the_clock_moves(fleet, tmp_path, clock):
    run(fleet, tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(str(tmp_path))}
    result, _failed = run(fleet, tmp_path)
    assert result["changed"] is False
    assert result["generated_at"] == "2026-11-25T10:00:00Z"
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(str(tmp_path))} == before


def test_module_rewrites_all_reports_when_the_findings_change(fleet, tmp_path, clock):
    run(fleet, tmp_path)
    fleet["hosts"][0]["compliance"]["records"][0]["status"] = "drift"
    result, _failed = run(fleet, tmp_path)
    assert result["changed"] is True and result["generated_at"] == "2026-11-25T11:00:00Z"
    for name in ("oom-audit.json", "oom-audit.xml", "oom-audit.html"):
        assert "2026-11-25T11:00:00" in (tmp_path / name).read_text()


def test_module_in_check_mode_predicts_the_change_and_writes_nothing(fleet, tmp_path, clock):
    dest = tmp_path / "reports"
    result, failed = run(fleet, dest, check_mode=True)
    assert not failed and result["changed"] is True
    assert not dest.exists()


def test_module_writes_only_the_formats_asked_for(fleet, tmp_path, clock):
    result, _failed = run(fleet, tmp_path, formats=["junit"])
    assert list(result["paths"]) == ["junit"]
    assert os.listdir(str(tmp_path)) == ["oom-audit.xml"]
    result, _failed = run(fleet, tmp_path, formats=["junit"])
    assert result["changed"] is False


def test_module_refuses_a_dest_that_is_a_file(fleet, tmp_path):
    target = tmp_path / "reports"
    target.write_text("")
    result, failed = run(fleet, target)
    assert failed and "is not a directory" in result["msg"]


def test_module_leaves_no_temporary_files(fleet, tmp_path, clock):
    run(fleet, tmp_path)
    fleet["hosts"][0]["events"] = [kill(1, "new")]
    run(fleet, tmp_path)
    assert sorted(os.listdir(str(tmp_path))) == ["oom-audit.html", "oom-audit.json", "oom-audit.xml"]


# --- Prometheus textfile ---------------------------------------------------------------------------------

PROM_SAMPLE = re.compile(r'^([a-z_][a-z0-9_]*)(\{([a-z_]+="(?:[^"\\\n]|\\["\\n])*",?)*\})? -?[0-9]+$')


def prom_of(fleet, name):
    raw = [h for h in fleet["hosts"] if h["name"] == name][0]
    return oom_audit_filter.oom_audit_prometheus(raw)


def test_prometheus_file_is_valid_exposition_format_with_one_help_and_type_per_family(fleet):
    text = prom_of(fleet, "db2")
    families = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.append(line.split()[2])
        elif not line.startswith("# HELP "):
            match = PROM_SAMPLE.match(line)
            assert match, line
            assert match.group(1) == families[-1]
    assert len(families) == len(set(families))


def test_prometheus_status_is_one_hot_per_assignment(fleet):
    lines = prom_of(fleet, "db2").splitlines()
    ssh = [line for line in lines if line.startswith("oomguard_assignment_status{") and 'target="ssh.service"' in line]
    assert len(ssh) == len(_judge.RECORD_STATUSES)
    assert [line for line in ssh if line.endswith(" 1")] == [
        'oomguard_assignment_status{kind="unit",target="ssh.service",tier="critical",status="denied"} 1']
    assert "oomguard_compliant 0" in lines
    assert 'oomguard_assignments{status="drift"} 1' in lines
    assert "oomguard_kernel_oom_kills_total 2" in lines
    assert 'oomguard_recent_oom_kills{killer="kernel"} 1' in lines


def test_prometheus_reports_declared_and_effective_values_per_assignment(fleet):
    lines = prom_of(fleet, "db1").splitlines()
    labels = '{kind="unit",target="postgresql.service",tier="essential"}'
    assert "oomguard_assignment_policy_oom_score_adj%s -500" % labels in lines
    assert "oomguard_assignment_declared_oom_score_adj%s -500" % labels in lines
    assert "oomguard_assignment_effective_oom_score_adj_min%s -500" % labels in lines
    assert "oomguard_assignment_processes%s 1" % labels in lines
    # ssh.service is not running: no effective value at all, rather than a made-up one
    assert not [line for line in lines if "oomguard_assignment_effective" in line and "ssh.service" in line]
    assert "oomguard_compliant 1" in lines


def test_prometheus_escapes_label_values():
    rec = record('we"ird\\unit\nname.service', "ok")
    text = oom_audit_filter.oom_audit_prometheus({"name": "h", "compliance": compliance(rec)})
    assert 'target="we\\"ird\\\\unit\\nname.service"' in text
    for line in text.splitlines():
        assert line.startswith("#") or PROM_SAMPLE.match(line), line


def test_prometheus_output_is_stable(fleet):
    assert prom_of(fleet, "db2") == prom_of(copy.deepcopy(fleet), "db2")
