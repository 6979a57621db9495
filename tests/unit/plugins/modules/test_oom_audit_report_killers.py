# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every killer in the audit's reports: host records whose kills come from a log with the kernel's, systemd-oomd's,
earlyoom's and kubelet's lines (read by the same engine as oom_events_info) show the killer in JSON, HTML, JUnit,
Prometheus, the console and merged reports; a kill without a victim pid is named by its unit, pod or cgroup; a
protected unit that systemd-oomd killed is "protected but killed" in every format; the JSON validates."""

from __future__ import annotations

import calendar
import copy
import json
import os
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.filter import oom_audit as oom_audit_filter
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import sources as ks
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import merge as _report_merge
from ansible_collections.oomguard.fleet.plugins.modules import oom_audit_report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

from modrun import run_module

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "oom-audit.schema.json")
ALL = ["json", "junit", "html", "prometheus"]
REF = calendar.timegm((2026, 12, 31, 0, 0, 0))
KLOG = "I1125 21:48:05.123456    2231 eviction_manager.go:374] "


def syslog(ident, message, second=0, pid=612):
    tag = ident if pid is None else "%s[%d]" % (ident, pid)
    return "Nov 25 21:48:%02d fedora %s: %s" % (second, tag, message)


# One log of a host where four killers acted: systemd-oomd killed mariadb.service (PID 1 logs it too), earlyoom
# sent SIGTERM to a browser, kubelet evicted a pod and the kernel killed a batch job.
LOG = [
    syslog("kubelet", KLOG + '"Eviction manager: pod is evicted successfully" pod="shop/web-7d9f8"', 5, pid=2231),
    syslog("systemd-oomd", "Killed /system.slice/mariadb.service due to memory pressure for /system.slice being "
                           "81.00% > 80.00% for > 30s with reclaim activity", 10),
    syslog("systemd", "mariadb.service: systemd-oomd killed 3 process(es) in this unit.", 11, pid=1),
    syslog("systemd", "mariadb.service: Failed with result 'oom-kill'.", 11, pid=1),
    syslog("earlyoom", 'sending SIGTERM to process 4243 uid 1000 "chrome": oom_score 870, oom_score_adj 200, '
                       'VmRSS 3012 MiB, cmdline "chrome"', 20),
    syslog("kernel", "Out of memory: Killed process 4242 (stress-ng) total-vm:3100000kB, anon-rss:3000000kB, "
                     "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:6000kB oom_score_adj:200", 30, pid=None),
]


@pytest.fixture
def events(utc):  # noqa: F811  pylint: disable=unused-argument,redefined-outer-name
    found = ks.parse_text("\n".join(LOG) + "\n", killers=ks.KILLERS, ref_time=REF)
    assert sorted(e["killer"] for e in found) == ["earlyoom", "kernel", "kubelet", "systemd-oomd"]
    return found


def record(target, tier, adj, kind="unit", processes=(), settings=()):
    return {"kind": kind, "target": target, "tier": tier, "policy_oom_score_adj": adj, "declared_oom_score_adj": adj,
            "declared_set": True, "processes": list(processes), "settings": list(settings), "status": "ok",
            "reasons": []}


def host_record(name, events, records):  # pylint: disable=redefined-outer-name
    return {"name": name, "reachable": True, "errors": [],
            "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present",
                           "records": records, "skipped_units": []},
            "host": {"kernel_release": "6.8.0", "mem_total_kb": 1 << 22},
            "kill_order": [], "events": events, "events_source": "journal",
            "sources_read": ["journal"], "killers_looked_for": list(ks.KILLERS)}


PROTECTED_DB = record("mariadb.service", "essential", -500)
UNPROTECTED_BATCH = record("batch.service", "expendable", 500)


def report_of(hosts):
    return _report.build_report(hosts, generated_at="2026-12-01T10:00:00Z", events_since="7d")


def validate(report):
    with open(SCHEMA_PATH) as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator(schema).validate(json.loads(_render.render_json(report)))


def test_json_keeps_every_killers_fields_and_counts_the_kills_by_killer(events):  # pylint: disable=redefined-outer-name
    report = report_of([host_record("node1", events, [UNPROTECTED_BATCH])])
    validate(report)
    host = json.loads(_render.render_json(report))["hosts"][0]
    kills = {ev["killer"]: ev for ev in host["events"]}
    assert (kills["systemd-oomd"]["cgroup"], kills["systemd-oomd"]["unit"], kills["systemd-oomd"]["pid"],
            kills["systemd-oomd"]["reason"], kills["systemd-oomd"]["signal"]) == \
        ("/system.slice/mariadb.service", "mariadb.service", None, "pressure", "SIGKILL")
    assert (kills["kubelet"]["pod"], kills["kubelet"]["reason"], kills["kubelet"]["signal"]) == \
        ("shop/web-7d9f8", "eviction", None)
    assert (kills["earlyoom"]["pid"], kills["earlyoom"]["name"], kills["earlyoom"]["signal"]) == \
        (4243, "chrome", "SIGTERM")
    assert (kills["kernel"]["pid"], kills["kernel"]["reason"], kills["kernel"]["signal"]) == (4242, "memory", "SIGKILL")
    assert host["kills_by_killer"] == {"earlyoom": 1, "kernel": 1, "kubelet": 1, "systemd-oomd": 1}
    assert host["sources_read"] == ["journal"] and host["killers_looked_for"] == list(ks.KILLERS)
    assert report["summary"]["kills_by_killer"] == {"earlyoom": 1, "kernel": 1, "kubelet": 1, "systemd-oomd": 1}
    assert host["protected_but_killed"] == [] and report["summary"]["protected_but_killed"] == 0


def test_the_schema_rejects_an_unknown_killer_and_reason(events):  # pylint: disable=redefined-outer-name
    document = json.loads(_render.render_json(report_of([host_record("node1", events, [])])))
    with open(SCHEMA_PATH) as handle:
        validator = jsonschema.Draft202012Validator(json.load(handle))
    for key, value in (("killer", "sysrq"), ("reason", "boredom"), ("signal", "SIGHUP")):
        bad = copy.deepcopy(document)
        bad["hosts"][0]["events"][0][key] = value
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(bad)


def test_an_event_without_killer_is_a_kernel_kill_and_an_unknown_killer_is_unknown():
    old = _report.normalize_event({"pid": 1, "name": "x", "line": "kill"})
    assert (old["killer"], old["reason"], old["signal"], old["cgroup"], old["pod"]) == \
        ("kernel", "memory", "SIGKILL", None, None)
    odd = _report.normalize_event({"pid": 1, "killer": "sysrq", "reason": "boredom", "signal": "SIGHUP"})
    assert (odd["killer"], odd["reason"], odd["signal"]) == ("unknown", "unknown", None)


def test_junit_and_html_name_the_killer_and_a_victim_without_pid_by_unit_or_pod(events):  # noqa: E501  pylint: disable=redefined-outer-name
    report = report_of([host_record("node1", events, [])])
    suite = ET.fromstring(_junit.render_junit(report)).find("testsuite")
    lines = suite.find("system-out").text.splitlines()
    assert "OOM kill by systemd-oomd 2026-11-25T21:48:10+00:00: unit mariadb.service, " \
           "cgroup /system.slice/mariadb.service, reason pressure, SIGKILL" in lines
    assert "OOM kill by kubelet 2026-11-25T21:48:05+00:00: pod shop/web-7d9f8, reason eviction" in lines
    assert any(line.startswith("OOM kill by earlyoom 2026-11-25T21:48:20+00:00: pid 4243 (chrome)") for line in lines)
    assert any(line.startswith("OOM kill by kernel 2026-11-25T21:48:30+00:00: pid 4242 (stress-ng)") for line in lines)
    assert "None" not in "\n".join(lines)
    page = _render.render_html(report)
    assert "<th>killer</th>" in page
    for killer in ("systemd-oomd", "earlyoom", "kubelet", "kernel"):
        assert "<td>%s</td>" % killer in page
    assert "<td>unit mariadb.service</td>" in page and "<td>pod shop/web-7d9f8</td>" in page
    assert "Read: journal;" in page and "killers looked for: kernel, systemd-oomd" in page
    assert "kills by killer: earlyoom 1, kernel 1, kubelet 1, systemd-oomd 1." in page
    assert "None" not in page


def test_console_counts_the_kills_by_killer_when_not_all_are_the_kernels(events):  # noqa: E501  pylint: disable=redefined-outer-name
    kernel_only = [ev for ev in events if ev["killer"] == "kernel"]
    report = report_of([host_record("node1", events, []), host_record("node2", kernel_only, [])])
    lines = dict((name, line) for line in _console.summary_lines(report)[1:] for name in ("node1", "node2")
                 if " %s " % name in line)
    assert "4 recent OOM kills (1 earlyoom, 1 kernel, 1 kubelet, 1 systemd-oomd)" in lines["node1"]
    assert "1 recent OOM kill;" in lines["node2"] + ";" and "(1 kernel)" not in lines["node2"]


def test_a_protected_unit_killed_by_systemd_oomd_is_protected_but_killed_in_every_format(events):  # noqa: E501  pylint: disable=redefined-outer-name
    report = report_of([host_record("node1", events, [PROTECTED_DB, UNPROTECTED_BATCH])])
    validate(report)
    host = json.loads(_render.render_json(report))["hosts"][0]
    assert host["protected_but_killed"] == [{
        "killer": "systemd-oomd", "target": "mariadb.service", "kind": "unit", "tier": "essential",
        "protection": "oom_score_adj -500", "pid": None, "name": None, "unit": "mariadb.service",
        "time": "2026-11-25T21:48:10+00:00"}]
    assert report["summary"]["protected_but_killed"] == 1
    # Console: the fleet line counts it, the host line names it.
    lines = _console.summary_lines(report)
    assert "1 protected but killed" in lines[0]
    assert "PROTECTED BUT KILLED: mariadb.service by systemd-oomd" in lines[1]
    # JUnit: a failing test case of its own.
    suite = ET.fromstring(_junit.render_junit(report)).find("testsuite")
    (case,) = [c for c in suite.findall("testcase") if c.get("name").startswith("protected-but-killed:")]
    assert case.get("name") == "protected-but-killed:mariadb.service:systemd-oomd"
    failure = case.find("failure")
    assert failure.get("type") == "protected_but_killed"
    assert failure.get("message") == ("systemd-oomd killed unit mariadb.service of protected unit mariadb.service "
                                      "(tier essential, oom_score_adj -500) 2026-11-25T21:48:10+00:00")
    assert suite.get("failures") == "1"
    # HTML: the host section has the table.
    page = _render.render_html(report)
    section = page.split('<h3 class="protected-but-killed">Protected but killed</h3>', 1)[1].split("</table>", 1)[0]
    assert "<td>systemd-oomd</td>" in section and "<code>mariadb.service</code>" in section
    assert "oom_score_adj -500" in section


def test_an_unprotected_or_unkilled_assignment_is_no_finding(events):  # pylint: disable=redefined-outer-name
    # batch.service (adj +500) is not protected; sshd's protected processes were not killed.
    sshd = record("sshd", "critical", -900, kind="process", processes=[{"pid": 700, "name": "sshd", "oom_score_adj": -900}])
    report = report_of([host_record("node1", events, [UNPROTECTED_BATCH, sshd])])
    assert report["hosts"][0]["protected_but_killed"] == []
    assert "protected" not in _console.summary_lines(report)[0]
    assert "protected-but-killed" not in _junit.render_junit(report)
    assert "Protected but killed" not in _render.render_html(report)


def test_a_process_record_is_matched_by_pid_and_an_oomd_preference_protects(events):  # noqa: E501  pylint: disable=redefined-outer-name
    browser = record("chrome", "desktop", 0, kind="process",
                     processes=[{"pid": 4243, "name": "chrome", "oom_score_adj": 0}],
                     settings=[{"setting": "managed_oom_preference", "policy": "avoid", "declared": "avoid",
                                "effective": "avoid", "status": "ok"}])
    report = report_of([host_record("node1", events, [browser])])
    (entry,) = report["hosts"][0]["protected_but_killed"]
    assert (entry["killer"], entry["pid"], entry["name"], entry["protection"]) == \
        ("earlyoom", 4243, "chrome", "ManagedOOMPreference=avoid")
    validate(report)


def prom_lines(text, prefix):
    return sorted(line for line in text.splitlines() if line.startswith(prefix))


def test_prometheus_counts_the_recent_kills_by_killer_label(events):  # pylint: disable=redefined-outer-name
    text = oom_audit_filter.oom_audit_prometheus(host_record("node1", events, [PROTECTED_DB]))
    assert prom_lines(text, "oomguard_recent_oom_kills{") == [
        'oomguard_recent_oom_kills{killer="earlyoom"} 1', 'oomguard_recent_oom_kills{killer="kernel"} 1',
        'oomguard_recent_oom_kills{killer="kubelet"} 1', 'oomguard_recent_oom_kills{killer="nohang"} 0',
        'oomguard_recent_oom_kills{killer="oomd"} 0', 'oomguard_recent_oom_kills{killer="systemd-oomd"} 1']
    assert prom_lines(text, "oomguard_protected_but_killed{") == ['oomguard_protected_but_killed{killer="systemd-oomd"} 1']
    # A host whose kernel alone was looked for (dmesg) says nothing about the others.
    kernel_only = dict(host_record("node2", [], []), sources_read=["dmesg"], killers_looked_for=["kernel"])
    assert prom_lines(oom_audit_filter.oom_audit_prometheus(kernel_only), "oomguard_recent_oom_kills") == [
        'oomguard_recent_oom_kills{killer="kernel"} 0']


def write_report(dest, hosts):
    result, failed = run_module(oom_audit_report.main, {"dest": str(dest), "hosts": hosts,
                                                        "targets": [h["name"] for h in hosts],
                                                        "events_since": "7d", "formats": ALL})
    assert not failed, result["msg"]
    return result


def test_the_merged_report_and_its_prometheus_file_keep_the_killer(tmp_path, events):  # noqa: E501  pylint: disable=redefined-outer-name
    kernel_only = [ev for ev in events if ev["killer"] == "kernel"]
    write_report(tmp_path / "slice-1", [host_record("node1", events, [PROTECTED_DB])])
    write_report(tmp_path / "slice-2", [host_record("node2", kernel_only, [])])
    result, failed = run_module(oom_audit_report.main, {
        "dest": str(tmp_path / "fleet"), "formats": ALL,
        "merge_reports": [str(tmp_path / s / "oom-audit.json") for s in ("slice-1", "slice-2")]})
    assert not failed, result["msg"]
    with open(str(tmp_path / "fleet" / "oom-audit.json")) as handle:
        merged = json.load(handle)
    with open(SCHEMA_PATH) as handle:
        jsonschema.Draft202012Validator(json.load(handle)).validate(merged)
    node1 = [h for h in merged["hosts"] if h["name"] == "node1"][0]
    assert sorted(ev["killer"] for ev in node1["events"]) == ["earlyoom", "kernel", "kubelet", "systemd-oomd"]
    assert node1["protected_but_killed"][0]["killer"] == "systemd-oomd"
    assert merged["summary"]["kills_by_killer"] == {"earlyoom": 1, "kernel": 2, "kubelet": 1, "systemd-oomd": 1}
    assert result["counts"]["protected_but_killed"] == 1
    with open(str(tmp_path / "fleet" / "oom-audit.prom")) as handle:
        prom = handle.read()
    assert 'oomguard_recent_oom_kills{host="node1",killer="systemd-oomd"} 1' in prom
    assert 'oomguard_recent_oom_kills{host="node2",killer="kernel"} 1' in prom
    assert 'oomguard_protected_but_killed{host="node1",killer="systemd-oomd"} 1' in prom


def test_a_merged_entry_written_before_killers_is_read_as_kernel_kills(events):  # pylint: disable=redefined-outer-name
    kernel = [ev for ev in events if ev["killer"] == "kernel"]
    entry = json.loads(_render.render_json(report_of([host_record("old", kernel, [])])))["hosts"][0]
    for key in ("sources_read", "killers_looked_for", "kills_by_killer", "protected_but_killed"):
        del entry[key]
    for event in entry["events"]:
        for key in ("killer", "cgroup", "pod", "reason", "signal"):
            del event[key]
    report, _notes = _report_merge.merge_reports([("old.json", {"schema_version": 1, "hosts": [entry]})])
    host = report["hosts"][0]
    assert [ev["killer"] for ev in host["events"]] == ["kernel"]
    assert host["kills_by_killer"] == {"kernel": 1} and host["sources_read"] is None
    validate(report)
