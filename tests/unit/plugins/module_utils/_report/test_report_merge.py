# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the audit reports of parts of a fleet: equal to the whole fleet's report, duplicates kept once,
conflicts won by the newer report, and every input that is not a report refused with one line.

The hosts are the audit report tests' fleet (tests/unit/plugins/modules/test_oom_audit_report.py); the
real-host version of the equality is tests/integration/test_report_merge_live.py."""

from __future__ import annotations

import copy
import json
import os
import sys

import jsonschema
import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report.merge import merge_reports
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus as _prometheus
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "modules"))
from test_oom_audit_report import SCHEMA_PATH, fleet  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

T1 = "2026-11-25T21:52:30Z"
T2 = "2026-11-25T22:10:00Z"
MERGED_AT = "2026-11-26T08:00:00Z"


def written(hosts, targets, generated_at=T1, events_since="7d"):
    """A report as a run writes it and the merge reads it: rendered to JSON and parsed again."""
    report = _report.build_report(hosts, targets=targets, generated_at=generated_at, events_since=events_since)
    return json.loads(_render.render_json(report))


def slices(fleet):
    first, second = fleet["targets"][:3], fleet["targets"][3:]
    return [
        ("slice-1", written([h for h in fleet["hosts"] if h["name"] in first], first)),
        ("slice-2", written([h for h in fleet["hosts"] if h["name"] in second], second, generated_at=T2)),
    ]


def test_the_merge_of_two_slices_is_the_report_of_the_whole_fleet_in_every_format(fleet):
    whole = _report.build_report(fleet["hosts"], targets=fleet["targets"], generated_at=MERGED_AT, events_since="7d")
    merged, notes = merge_reports(slices(fleet), MERGED_AT)
    formats = ("json", "junit", "html", "prometheus")
    assert _render.render_all(merged, formats) == _render.render_all(whole, formats)
    assert "merge" not in merged and notes["warnings"] == []
    assert [s["source"] for s in notes["sources"]] == ["slice-1", "slice-2"]


def test_slices_given_newest_first_merge_the_same(fleet):
    forward = merge_reports(slices(fleet), MERGED_AT)[0]
    backward = merge_reports(list(reversed(slices(fleet))), MERGED_AT)[0]
    assert _render.render_json(forward) == _render.render_json(backward)


def test_an_identical_host_entry_in_two_reports_is_kept_once_and_reported(fleet):
    parts = slices(fleet)
    parts[1][1]["hosts"].append(copy.deepcopy(parts[0][1]["hosts"][0]))
    name = parts[0][1]["hosts"][0]["name"]
    merged, notes = merge_reports(parts, MERGED_AT)
    assert [h["name"] for h in merged["hosts"]].count(name) == 1
    assert merged["summary"]["hosts"] == len(fleet["targets"])
    assert merged["merge"]["duplicates"] == [{"host": name, "sources": ["slice-1", "slice-2"]}]
    assert merged["merge"]["conflicts"] == []
    assert notes["warnings"] == ["%s: the same entry is in slice-1, slice-2; kept once" % name]


def conflicting(fleet, first_time, second_time):
    """db1 in both reports: compliant in the first, unreachable in the second."""
    db1 = [h for h in fleet["hosts"] if h["name"] == "db1"]
    down = [{"name": "db1", "reachable": False, "errors": ["Failed to connect to the host via ssh"]}]
    return [("early", written(db1, ["db1"], generated_at=first_time)),
            ("late", written(down, ["db1"], generated_at=second_time))]


@pytest.mark.parametrize("order", [1, -1], ids=["given-in-time-order", "given-newest-first"])
def test_conflicting_entries_keep_the_one_of_the_report_generated_last(fleet, order):
    merged, notes = merge_reports(conflicting(fleet, T1, T2)[::order], MERGED_AT)
    assert [(h["name"], h["status"]) for h in merged["hosts"]] == [("db1", "unreachable")]
    assert merged["merge"]["conflicts"] == [{"host": "db1", "kept": "late", "dropped": ["early"]}]
    assert notes["warnings"] == ["db1: different entries in early and late; kept the one of late, generated last"]


def test_conflicting_entries_of_the_same_time_keep_the_one_of_the_report_given_later(fleet):
    early, late = conflicting(fleet, T1, T1)
    merged = merge_reports([late, early], MERGED_AT)[0]
    assert merged["hosts"][0]["status"] == "compliant"
    assert merged["merge"]["conflicts"] == [{"host": "db1", "kept": "early", "dropped": ["late"]}]


def test_reports_with_different_kill_history_windows_take_the_newest_and_say_so(fleet):
    parts = slices(fleet)
    parts[1][1]["events_since"] = "12h"
    merged, notes = merge_reports(parts, MERGED_AT)
    assert merged["events_since"] == "12h"
    assert merged["merge"]["events_since"] == ["7d", "12h"]
    assert "different windows for OOM kills (7d, 12h)" in notes["warnings"][0]


def test_a_merged_report_with_its_merge_notes_validates_against_the_schema(fleet):
    merged = merge_reports(conflicting(fleet, T1, T2), MERGED_AT)[0]
    document = json.loads(_render.render_json(merged))
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(document)
    assert document["merge"]["sources"] == [{"source": "early", "generated_at": T1, "hosts": 1},
                                            {"source": "late", "generated_at": T2, "hosts": 1}]


def test_the_fleet_prometheus_file_labels_every_sample_with_its_host(fleet):
    text = _prometheus.render_prometheus_fleet(merge_reports(slices(fleet), MERGED_AT)[0])
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(line.split("{", 1)[1].startswith('host="') for line in samples)
    assert text.count("# TYPE oomguard_compliant gauge") == 1
    assert 'oomguard_compliant{host="db1"} 1' in samples
    assert 'oomguard_assignments{host="db2",status="drift"} 1' in samples


def with_hosts(report, hosts):
    report = copy.deepcopy(report)
    report["hosts"] = hosts
    return report


@pytest.mark.parametrize("bad, message", [
    ([], "no reports to merge"),
    ([("a.json", ["not", "a", "report"])], "a.json is not an oom-audit report (no schema_version and hosts list)"),
    ([("a.json", {"hosts": []})], "a.json is not an oom-audit report (no schema_version and hosts list)"),
    ([("a.json", {"schema_version": 2, "hosts": []})],
     "a.json has schema_version 2; this collection merges version 1 reports only"),
    ([("a.json", "NO-NAME")], "a.json: hosts[0] is not a host entry (it has no name)"),
    ([("a.json", "NO-RISK")], "a.json: host db1 is not a host entry of this report version (missing risk)"),
    ([("a.json", "BAD-STATUS")], "a.json: host db1 is not a host entry of this report version (status 'fine')"),
], ids=["nothing", "not-a-mapping", "no-schema-version", "other-schema-version", "host-without-name",
        "host-missing-a-field", "unknown-status"])
def test_an_input_that_is_not_a_report_of_this_version_is_refused_with_one_line(fleet, bad, message):
    good = slices(fleet)[0][1]
    entry = copy.deepcopy(good["hosts"][-1])
    assert entry["name"] == "db1"
    broken = {"NO-NAME": dict(entry, name=None), "NO-RISK": dict((k, v) for k, v in entry.items() if k != "risk"),
              "BAD-STATUS": dict(entry, status="fine")}
    inputs = [(source, with_hosts(good, [broken[report]]) if isinstance(report, str) else report)
              for source, report in bad]
    with pytest.raises(ValueError) as error:
        merge_reports(inputs, MERGED_AT)
    assert str(error.value) == message
    assert "\n" not in message
