# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 22 in the reports: one rank everywhere (the kernel's), the audit's own processes said when they are
left out, a host whose only failures are `denied` has a status of its own in every format, no `None` in
JUnit, and the kill history's window in English."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as _kernel_log
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import html as _report_html
from ansible_collections.oomguard.fleet.plugins.module_utils._report import merge as _report_merge
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus as _prometheus
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render
from ansible_collections.oomguard.fleet.plugins.module_utils._report import text as _text

HERE = os.path.dirname(__file__)
ROOT = os.path.join(HERE, "..", "..", "..", "..", "..")
SCHEMA = json.load(open(os.path.join(ROOT, "docs", "oom-audit.schema.json")))
NOW = "2026-12-03T23:00:00Z"
HOST_FACTS = {"kernel_release": "6.1.0", "mem_total_kb": 4000000, "swap_total_kb": 0, "total_pages": 1000000,
              "page_size": 4096, "can_lower_adj": False}
LONG_NAME = "kworker-exporter-with-a-name-far-too-long-for-a-table-cell"


def victim(rank, pid, name, share):
    return {"rank": rank, "pid": pid, "name": name, "unit": "app.service", "badness": 1000, "share_percent": share,
            "oom_score": 500, "oom_score_adj": 0,
            "reason": "%s: %.2f%% of RAM+swap, adj 0, badness 1000 pages" % (
                "first victim" if rank == 1 else "#%d" % rank, share)}


# oom_score_info left out ranks 1-3 (the audit's python, its shell, ansible) and rank 6 is not in the list.
GAPPY = {
    "name": "gappy", "host": HOST_FACTS,
    "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present", "records": []},
    "kill_order": [victim(4, 400, LONG_NAME, 0.02), victim(5, 500, "java", 12.5), victim(7, 700, "bash", 0.01)],
    "kill_order_excluded": [{"rank": 1, "pid": 101, "name": "python3"}, {"rank": 2, "pid": 102, "name": "sh"},
                            {"rank": 3, "pid": 103, "name": "ansible-playboo"}],
    "events": [], "events_source": "journal",
}


def record(target, status, policy=-900):
    return {"kind": "unit", "target": target, "tier": "critical", "policy_oom_score_adj": policy,
            "policy_oom_policy": None, "declared_oom_score_adj": policy, "declared_set": True,
            "declared_oom_policy": None, "processes": [{"pid": 612, "name": "sshd", "oom_score_adj": 0}],
            "status": status, "reasons": ["kernel keeps 0 for pid 612 (sshd)"] if status != "ok" else []}


def host_with(name, *statuses):
    return {"name": name, "host": HOST_FACTS, "events": [], "events_source": "journal",
            "compliance": {"schema": 1, "systemd": True, "can_lower_adj": False, "state": "present",
                           "records": [record("u%d.service" % i, s) for i, s in enumerate(statuses)]}}


def report_of(*hosts):
    return _report.build_report(list(hosts), generated_at=NOW, events_since="7d")


def valid(report):
    document = json.loads(_render.render_json(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return document


# --- ranks ------------------------------------------------------------------------------------------------


def test_json_keeps_the_kernels_ranks_and_the_left_out_processes():
    host = valid(report_of(GAPPY))["hosts"][0]
    assert [v["rank"] for v in host["kill_order"]] == [4, 5, 7]
    assert [v["reason"].split(":")[0] for v in host["kill_order"]] == ["#4", "#5", "#7"]
    assert host["kill_order_excluded"] == GAPPY["kill_order_excluded"]


def test_an_input_without_ranks_falls_back_to_the_position():
    old = dict(GAPPY, kill_order=[dict(v, rank=None) for v in GAPPY["kill_order"]], kill_order_excluded=None)
    host = valid(report_of(old))["hosts"][0]
    assert [v["rank"] for v in host["kill_order"]] == [1, 2, 3]
    assert host["kill_order_excluded"] == []


def test_html_shows_the_kernels_ranks_and_says_what_was_left_out():
    page = _report_html.render_html(report_of(GAPPY))
    section = page[page.index("<h3>Next victims</h3>"):]
    ranks = re.findall(r'<tr><td class="num">(\d+)</td><td><code class="name">', section)
    assert ranks == ["4", "5", "7"]
    assert "Ranks 1-3 are the audit&#39;s own processes, left out:" in section
    assert "#1 <code class=\"name\">python3</code> (101)" in section


def test_console_summary_names_the_kernels_rank_and_the_left_out_ranks():
    (line,) = [line for line in _console.summary_lines(report_of(GAPPY)) if " gappy " in line]
    assert "next victim #4 %s (pid 400, 0.02%% of memory)" % LONG_NAME in line
    assert line.endswith("ranks 1-3 are the audit's own processes, left out")


def test_junit_lists_the_next_victims_by_the_kernels_rank():
    root = ET.fromstring(_junit.render_junit(report_of(GAPPY)))
    lines = root.find(".//testcase[@name='next-victims']/system-out").text.splitlines()
    assert lines[0] == "ranks 1-3 are the audit's own processes, left out:"
    assert [line.split()[0] for line in lines[1:]] == ["#4", "#5", "#7"]
    assert lines[2] == "  #5 java (pid 500, app.service, oom_score 500): 12.50% of RAM+swap, adj 0, badness 1000 pages"


def test_all_formats_show_the_same_ranks():
    report = report_of(GAPPY)
    json_ranks = [v["rank"] for v in json.loads(_render.render_json(report))["hosts"][0]["kill_order"]]
    page = _report_html.render_html(report)
    html_ranks = [int(r) for r in re.findall(r'<tr><td class="num">(\d+)</td><td><code class="name">',
                                             page[page.index("<h3>Next victims</h3>"):])]
    junit = ET.fromstring(_junit.render_junit(report)).find(".//testcase[@name='next-victims']/system-out").text
    junit_ranks = [int(r) for r in re.findall(r"^\s*#(\d+) ", junit, re.M)]
    prom_ranks = sorted(int(r) for r in re.findall(r'rank="(\d+)"', _prometheus.render_prometheus_fleet(report)))
    summary_rank = int(re.search(r"next victim #(\d+) ", "\n".join(_console.summary_lines(report))).group(1))
    assert json_ranks == html_ranks == junit_ranks == prom_ranks == [4, 5, 7]
    assert summary_rank == 4


@pytest.mark.parametrize("ranks, text", [
    ([1], "rank 1 is the audit's own process, left out"),
    ([1, 2, 3], "ranks 1-3 are the audit's own processes, left out"),
    ([1, 3, 4, 9], "ranks 1, 3-4, 9 are the audit's own processes, left out"),
])
def test_the_left_out_ranks_read_as_ranges(ranks, text):
    assert _text.excluded_text([{"rank": r, "pid": r, "name": "x"} for r in ranks]) == text


def test_nothing_is_said_when_nothing_was_left_out():
    report = report_of(dict(GAPPY, kill_order_excluded=[]))
    assert "own process" not in "\n".join(_console.summary_lines(report))
    assert "own process" not in _report_html.render_html(report)
    assert "own process" not in _junit.render_junit(report)


# --- denied hosts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("statuses, expected", [
    (("denied",), "denied"),
    (("denied", "ok", "not_running"), "denied"),
    (("denied", "drift"), "drifting"),
    (("denied", "missing"), "drifting"),
    (("drift",), "drifting"),
    (("ok",), "compliant"),
])
def test_a_host_whose_only_failures_are_denied_has_its_own_status(statuses, expected):
    assert report_of(host_with("h", *statuses))["hosts"][0]["status"] == expected


def test_json_counts_denied_hosts_and_validates():
    document = valid(report_of(host_with("c1", "denied"), host_with("d1", "denied", "drift"), host_with("ok1", "ok")))
    assert document["summary"]["by_status"] == {"unreachable": 0, "failed": 0, "drifting": 1, "denied": 1,
                                                "no_assignments": 0, "compliant": 1}
    assert [h["name"] for h in document["hosts"]] == ["d1", "c1", "ok1"]


def test_console_summary_calls_a_denied_host_denied_with_advice_that_is_not_harden():
    lines = _console.summary_lines(report_of(host_with("c1", "denied")))
    assert lines[0].startswith("oomguard audit: 1 host: 1 denied;")
    assert lines[1].split()[:2] == ["DENIED", "c1"]
    assert "needs CAP_SYS_RESOURCE for the negative values, harden cannot fix it" in lines[1]


def test_html_has_a_denied_card_and_advice_that_is_not_harden():
    page = _report_html.render_html(report_of(host_with("c1", "denied")))
    assert '<div class="card denied" title="' in page
    assert "denied (no CAP_SYS_RESOURCE)<b>1</b>" in page
    assert "1 host is <b>denied</b>" in page
    assert "running oomguard.fleet.harden will not fix it" in page
    assert '<span class="badge s-denied">denied</span>' in page
    assert ".s-denied { background: #bc4c00; }" in page


def test_junit_names_the_denied_status_and_says_harden_will_not_fix_it():
    root = ET.fromstring(_junit.render_junit(report_of(host_with("c1", "denied"))))
    assert root.find(".//property[@name='status']").get("value") == "denied"
    failure = root.find(".//testcase[@name='unit:u0.service']/failure")
    assert failure.get("type") == "denied"
    assert "lacks CAP_SYS_RESOURCE; running oomguard.fleet.harden will not fix it" in failure.get("message")


def test_prometheus_has_the_host_status_one_hot():
    text = _prometheus.render_prometheus_fleet(report_of(host_with("c1", "denied")))
    assert 'oomguard_host_status{host="c1",status="denied"} 1' in text
    assert 'oomguard_host_status{host="c1",status="drifting"} 0' in text
    assert 'oomguard_compliant{host="c1"} 0' in text


def test_a_merge_judges_an_entry_of_an_earlier_release_again():
    current = valid(report_of(host_with("c1", "denied"), host_with("d1", "denied", "drift")))
    earlier = json.loads(json.dumps(current))
    for entry in earlier["hosts"]:
        entry["status"] = "drifting"        # as the earlier release wrote a denied-only host
        del entry["kill_order_excluded"]    # nor did it have this key
    del earlier["summary"]["by_status"]["denied"]
    merged, notes = _report_merge.merge_reports([("earlier.json", earlier)], generated_at=NOW)
    document = valid(merged)
    assert {h["name"]: h["status"] for h in document["hosts"]} == {"c1": "denied", "d1": "drifting"}
    assert document["summary"]["by_status"]["denied"] == 1
    assert notes["warnings"] == []


def test_a_merge_of_current_reports_keeps_the_denied_status_and_the_left_out_ranks():
    first = valid(report_of(host_with("c1", "denied")))
    second = valid(report_of(GAPPY))
    merged, _notes = _report_merge.merge_reports([("a.json", first), ("b.json", second)], generated_at=NOW)
    by_name = {h["name"]: h for h in valid(merged)["hosts"]}
    assert by_name["c1"]["status"] == "denied"
    assert by_name["gappy"]["kill_order_excluded"] == GAPPY["kill_order_excluded"]
    assert [v["rank"] for v in by_name["gappy"]["kill_order"]] == [4, 5, 7]


# --- JUnit never says None ----------------------------------------------------------------------------------


SPARSE = {
    # What a partial gathering can leave: every value the contract allows to be missing is missing.
    "name": "sparse", "host": {"kernel_release": None},
    "compliance": {"schema": 1, "records": [
        {"kind": "unit", "target": "a.service", "status": "drift", "processes": [{"pid": None, "name": None}],
         "settings": [{"setting": "MemoryMin", "status": "drift"}], "oom_kills": 1},
        {"kind": "process", "target": "name=b", "status": "denied", "declared_set": None},
        {"kind": "unit", "target": "c.service", "status": "ok", "oomd_kills": 2},
        {"status": "not_running"},
    ]},
    "kill_order": [{"name": "x"}, {}],
    "kill_order_excluded": [{"pid": 5}],
    "events": [{"time": None}, {"name": "y", "scope": "memcg"}], "events_source": "dmesg",
    "headroom": {"mem_total_kb": 100, "pressure": {"some": {}}},
    "leaks": [{"name": None, "source": {}}, {"pid": 3}],
}


def fixture_reports():
    """Reports from every kind of input the unit and integration tests use, and the sparse host above."""
    corpus = os.path.join(HERE, "..", "..", "..", "fixtures", "kernel_log", "corpus")
    events = []
    for name in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, name), encoding="utf-8", errors="replace") as handle:
            events.extend(_kernel_log.parse_text(handle.read(), ref_time=1764000000))
    yield "kernel log corpus", _report.build_report([{"name": "k", "events": events, "events_source": "file",
                                                      "compliance": {"records": []}}])
    with open(os.path.join(ROOT, "tests", "integration", "fixtures", "audit_host_records.json")) as handle:
        for index, recorded in enumerate(json.load(handle)["recorded"]):
            yield "recorded hosts %d" % index, _report.build_report(recorded["hosts"], generated_at=NOW)
    yield "sparse host", report_of(SPARSE)
    yield "ranks and denied", report_of(GAPPY, host_with("c1", "denied"), {"name": "gone", "reachable": False},
                                        {"name": "nothing"})


@pytest.mark.parametrize("name, report", list(fixture_reports()), ids=lambda value: value if isinstance(value, str) else "")
def test_junit_never_prints_none(name, report):
    text = _junit.render_junit(report)
    assert "None" not in text, [line for line in text.splitlines() if "None" in line][:5]


# --- the kill history's window ------------------------------------------------------------------------------


@pytest.mark.parametrize("since, text", [
    ("7d", "in the last 7 days"),
    ("24h", "in the last 24 hours"),
    ("2w", "in the last 2 weeks"),
    ("1d", "in the last day"),
    ("1h30m", "in the last 1 hour 30 minutes"),
    ("90s", "in the last 90 seconds"),
    ("2026-11-01", "since 2026-11-01"),
    ("2026-11-01T08:00:00Z", "since 2026-11-01 08:00:00 UTC"),
    (None, ""),
])
def test_the_window_of_the_kill_history_reads_as_english(since, text):
    assert _text.since_text(since) == text


def test_html_says_the_window_in_english():
    page = _report_html.render_html(_report.build_report([GAPPY], generated_at=NOW, events_since="24h"))
    assert "OOM kills in the last 24 hours." in page
    assert "since 24h" not in page and "since 7d" not in page


# --- the HTML's next victims ------------------------------------------------------------------------------


def test_html_next_victims_have_a_reason_column_and_two_decimal_shares():
    page = _report_html.render_html(report_of(GAPPY))
    section = page[page.index("<h3>Next victims</h3>"):page.index("<h3>Recent OOM kills")]
    assert "<th>reason</th>" in section
    assert '<td class="reason">#4: 0.02% of RAM+swap, adj 0, badness 1000 pages</td>' in section
    assert "</span> 0.02%</td>" in section and "</span> 12.50%</td>" in section
    assert "0.0%<" not in section


def test_html_summary_gives_the_full_next_victim_name_in_a_tooltip():
    page = _report_html.render_html(report_of(GAPPY))
    summary = page[page.index('<section class="summary"'):page.index("</section>")]
    assert 'title="#4 %s (pid 400)"' % LONG_NAME in summary
