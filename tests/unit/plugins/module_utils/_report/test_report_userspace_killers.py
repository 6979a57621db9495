# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which userspace killers guard each host, in every format of the audit: JSON (validated by the shipped schema),
the console line, the HTML host section, Prometheus and merged reports; and the fleet cards' protected-but-killed
count. The host facts come from the engine reading a fake /proc tree, as oom_score_info returns them."""

from __future__ import annotations

import copy
import html as htmllib
import json
import os

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import merge as _report_merge
from ansible_collections.oomguard.fleet.plugins.module_utils._host.userspace_killers import host_facts
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus as _prometheus
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "docs", "oom-audit.schema.json")
WHEN = "earlyoom sends SIGTERM when MemAvailable <= 4% and free swap (none on this host: always true) <= 10%; SIGKILL at 2%/5%"


def compliance(*records):
    return {"schema": 1, "systemd": True, "can_lower_adj": False, "state": "present", "records": list(records)}


def protected_record():
    return {"kind": "unit", "target": "postgresql.service", "tier": "essential", "policy_oom_score_adj": -500,
            "policy_oom_policy": None, "declared_oom_score_adj": -500, "declared_set": True,
            "declared_oom_policy": None, "processes": [{"pid": 812, "name": "postgres", "oom_score_adj": -500}],
            "status": "ok", "reasons": []}


@pytest.fixture
def killers(fakeproc):
    """earlyoom with -m 4 --prefer 'my app', and a nohang whose config is gone."""
    fakeproc.add(500, name=b"earlyoom", cmdline=[b"/usr/bin/earlyoom", b"-m", b"4", b"--prefer", b"^my app$"])
    fakeproc.add(700, name=b"nohang", cmdline=[b"/usr/sbin/nohang", b"--monitor", b"-c", b"/etc/nohang/gone.conf"])
    procs, _warnings = _procfs.scan(fakeproc.root)
    return host_facts(fakeproc.root, procs, 4000000, 0)


def host_entry(name, killers, events=()):
    return {"name": name, "compliance": compliance(protected_record()), "events": list(events),
            "events_source": "journal",
            "host": {"kernel_release": "6.1.0", "mem_total_kb": 4000000, "swap_total_kb": 0,
                     "earlyoom_running": True, "systemd_oomd_running": False, "userspace_killers": killers}}


@pytest.fixture
def report(killers):
    kill = {"time": "2026-11-25T03:12:00+00:00", "pid": 812, "name": "postgres", "unit": "postgresql.service",
            "killer": "earlyoom", "signal": "SIGTERM", "reason": "memory"}
    return _report.build_report([host_entry("db1", killers, [kill]), host_entry("web1", [])],
                                generated_at="2026-11-25T21:52:30Z")


def test_json_carries_each_killer_and_validates_against_the_schema(report):
    document = json.loads(_render.render_json(report))
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(document)
    db1 = next(h for h in document["hosts"] if h["name"] == "db1")
    earlyoom, nohang = db1["userspace_killers"]
    assert (earlyoom["killer"], earlyoom["pid"], earlyoom["acts_before_kernel"]) == ("earlyoom", 500, True)
    assert earlyoom["when"] == WHEN
    assert earlyoom["settings"]["prefer"] == "^my app$" and earlyoom["settings"]["mem_term_percent"] == 4
    assert "swap_term_percent" in earlyoom["defaults_applied"]
    assert nohang["settings_unknown"] is True and nohang["acts_before_kernel"] is None
    assert nohang["reason"].startswith("cannot read its config /etc/nohang/gone.conf")
    assert "userspace_killers" not in db1["host"]  # once, in its own key
    web1 = next(h for h in document["hosts"] if h["name"] == "web1")
    assert web1["userspace_killers"] == []


def test_console_line_says_which_killer_acts_before_the_kernel(report):
    lines = _console.summary_lines(report)
    db1 = next(line for line in lines if " db1 " in line)
    assert "earlyoom acts before the kernel; nohang settings unknown" in db1
    web1 = next(line for line in lines if " web1 " in line)
    assert "before the kernel" not in web1


def test_html_host_section_lists_the_killers_and_says_when_none_runs(report):
    html = _render.render_html(report)
    assert "Userspace killers" in html
    assert htmllib.escape(WHEN, quote=False) in html  # "<=" escaped as every value is
    assert "unknown: cannot read its config /etc/nohang/gone.conf" in html
    assert "No earlyoom, nohang or systemd-oomd runs on this host: the kernel&#39;s OOM killer acts alone." in html


def test_html_fleet_cards_count_protected_but_killed(report):
    assert report["summary"]["protected_but_killed"] == 1
    html = _render.render_html(report)
    assert '<div class="card protected-but-killed bad">protected but killed<b>1</b></div>' in html


def test_html_fleet_card_is_zero_and_ok_without_such_kills(killers):
    report = _report.build_report([host_entry("db1", killers)])
    assert '<div class="card protected-but-killed ok">protected but killed<b>0</b></div>' in _render.render_html(report)


def test_prometheus_has_a_bounded_gauge_per_killer(report):
    text = _prometheus.render_prometheus(next(h for h in report["hosts"] if h["name"] == "db1"))
    assert 'oomguard_userspace_killer_running{killer="earlyoom"} 1' in text
    assert 'oomguard_userspace_killer_running{killer="nohang"} 1' in text
    assert 'oomguard_userspace_killer_running{killer="systemd-oomd"} 0' in text
    assert 'oomguard_userspace_killer_acts_before_kernel{killer="earlyoom"} 1' in text
    assert 'oomguard_userspace_killer_acts_before_kernel{killer="nohang"}' not in text  # unknown: no sample


def test_prometheus_says_nothing_about_killers_a_host_did_not_gather():
    old = _report.build_report([{"name": "old", "compliance": compliance(), "host": {"mem_total_kb": 1}}])
    assert old["hosts"][0]["userspace_killers"] is None
    samples = [line for line in _prometheus.render_prometheus(old["hosts"][0]).splitlines() if not line.startswith("#")]
    assert samples and not [line for line in samples if line.startswith("oomguard_userspace_killer")]


def test_an_unknown_killer_name_is_bounded():
    entry = dict(killer="<b>mykiller</b>", pid=3, acts_before_kernel=True, when="x")
    (normalized,) = _report.normalize_userspace_killers([entry])
    assert normalized["killer"] == "unknown"


def test_merge_keeps_the_killers_and_brings_older_entries_up_to_date(report):
    document = json.loads(_render.render_json(report))
    old = copy.deepcopy(document)
    old["generated_at"] = "2026-11-20T00:00:00Z"
    for host in old["hosts"]:
        del host["userspace_killers"]
        host["name"] = host["name"] + "-old"
    merged, _notes = _report_merge.merge_reports([("old", old), ("new", document)])
    by_name = dict((h["name"], h) for h in merged["hosts"])
    assert by_name["db1"]["userspace_killers"] == next(
        h for h in document["hosts"] if h["name"] == "db1")["userspace_killers"]
    assert by_name["db1-old"]["userspace_killers"] is None
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(json.loads(_render.render_json(merged)))
