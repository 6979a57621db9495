# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_audit_report with merge_reports: the slices' files become the whole fleet's files, written like the
audit's (check mode writes nothing, a second run changes nothing), and bad inputs change nothing."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_audit_report

from modrun import run_module
from test_oom_audit_report import fleet  # noqa: F401  pylint: disable=unused-import

ALL = ["json", "junit", "html", "prometheus"]


def write_report(dest, hosts, targets):
    result, failed = run_module(oom_audit_report.main, {"dest": str(dest), "hosts": hosts, "targets": targets,
                                                        "events_since": "7d", "formats": ALL})
    assert not failed, result["msg"]
    return result


@pytest.fixture
def sliced(tmp_path, fleet):  # noqa: F811
    """The fleet's reports written by two runs over its halves, and by one run over all of it."""
    halves = fleet["targets"][:3], fleet["targets"][3:]
    for number, names in enumerate(halves, 1):
        write_report(tmp_path / ("slice-%d" % number), [h for h in fleet["hosts"] if h["name"] in names], list(names))
    write_report(tmp_path / "whole", fleet["hosts"], fleet["targets"])
    return tmp_path


def merge(tmp_path, inputs, check_mode=False, **extra):
    args = dict({"dest": str(tmp_path / "fleet"), "merge_reports": [str(tmp_path / i) for i in inputs],
                 "formats": ALL}, **extra)
    return run_module(oom_audit_report.main, args, check_mode=check_mode)


SLICES = ["slice-1/oom-audit.json", "slice-2/oom-audit.json"]


def contents(directory, generated_at):
    """Every report file, with the generation time (the only difference allowed) blanked out."""
    out = {}
    for name in sorted(os.listdir(str(directory))):
        with open(str(directory / name)) as handle:
            out[name] = handle.read().replace(generated_at, "TIME").replace(generated_at.rstrip("Z"), "TIME")
    return out


def generated_at(directory):
    with open(str(directory / "oom-audit.json")) as handle:
        return json.load(handle)["generated_at"]


def test_merged_slices_write_the_whole_runs_four_files(sliced):
    result, failed = merge(sliced, SLICES)
    assert not failed, result["msg"]
    assert result["changed"] and result["warnings"] == []
    assert sorted(os.listdir(str(sliced / "fleet"))) == ["oom-audit.html", "oom-audit.json", "oom-audit.prom",
                                                         "oom-audit.xml"]
    assert contents(sliced / "fleet", generated_at(sliced / "fleet")) == \
        contents(sliced / "whole", generated_at(sliced / "whole"))
    assert [s["hosts"] for s in result["merge"]["sources"]] == [3, 3]


def test_merging_again_changes_nothing(sliced):
    first, _failed = merge(sliced, SLICES)
    before = contents(sliced / "fleet", first["generated_at"])
    again, failed = merge(sliced, SLICES)
    assert not failed and not again["changed"]
    assert again["generated_at"] == first["generated_at"]
    assert contents(sliced / "fleet", first["generated_at"]) == before


def test_a_merge_in_check_mode_writes_nothing(sliced):
    result, failed = merge(sliced, SLICES, check_mode=True)
    assert not failed and result["changed"]
    assert not os.path.exists(str(sliced / "fleet"))


def test_a_host_in_two_slices_with_different_entries_is_a_warning_and_the_newer_entry_wins(sliced, fleet):  # noqa: F811
    db1_down = [{"name": "db1", "reachable": False, "errors": ["Failed to connect to the host via ssh"]}]
    write_report(sliced / "rerun", db1_down, ["db1"])  # written after slice-1, so newer (or at the same second)
    result, failed = merge(sliced, SLICES + ["rerun/oom-audit.json"])
    assert not failed, result["msg"]
    assert result["merge"]["conflicts"] == [{"host": "db1", "kept": str(sliced / "rerun/oom-audit.json"),
                                             "dropped": [str(sliced / "slice-1/oom-audit.json")]}]
    assert [w for w in result["warnings"] if w.startswith("db1: different entries in ")]
    with open(str(sliced / "fleet" / "oom-audit.json")) as handle:
        report = json.load(handle)
    assert [h["status"] for h in report["hosts"] if h["name"] == "db1"] == ["unreachable"]
    assert report["merge"]["conflicts"] == result["merge"]["conflicts"]


def not_json(path):
    path.parent.mkdir(parents=True)
    path.write_text("<html>not a report</html>")


def other_version(path):
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 2, "hosts": []}))


@pytest.mark.parametrize("prepare, message", [
    (None, "merge_reports: {path} does not exist"),
    (not_json, "merge_reports: {path} is not JSON: Expecting value: line 1 column 1 (char 0)"),
    (other_version, "merge_reports: {path} has schema_version 2; this collection merges version 1 reports only; "
                    "no report was written"),
], ids=["missing", "not-json", "other-schema-version"])
def test_a_bad_input_report_fails_with_one_line_and_writes_nothing(sliced, prepare, message):
    path = sliced / "bad" / "oom-audit.json"
    if prepare:
        prepare(path)
    result, failed = merge(sliced, SLICES + ["bad/oom-audit.json"])
    assert failed
    assert result["msg"] == message.format(path=path)
    assert not os.path.exists(str(sliced / "fleet"))


def test_an_empty_list_of_reports_fails_and_writes_nothing(sliced):
    result, failed = merge(sliced, [])
    assert failed and result["msg"] == "merge_reports must name at least one oom-audit.json"
    assert not os.path.exists(str(sliced / "fleet"))


@pytest.mark.parametrize("extra", [{"hosts": [{"name": "db1"}]}, {"targets": ["db1"]}, {"events_since": "7d"}],
                         ids=["hosts", "targets", "events_since"])
def test_merge_reports_with_options_of_a_run_is_refused(sliced, extra):
    result, failed = merge(sliced, SLICES, **extra)
    assert failed
    assert "mutually exclusive" in result["msg"] and "merge_reports" in result["msg"]
    assert not os.path.exists(str(sliced / "fleet"))


def test_neither_hosts_nor_merge_reports_is_refused(tmp_path):
    result, failed = run_module(oom_audit_report.main, {"dest": str(tmp_path / "r")})
    assert failed and "one of the following is required: hosts, merge_reports" in result["msg"]


def test_a_glob_pattern_merges_every_report_it_matches_in_sorted_order(sliced):
    result, failed = merge(sliced, ["slice-*/oom-audit.json"])
    assert not failed, result["msg"]
    assert [s["source"] for s in result["merge"]["sources"]] == [str(sliced / "slice-1/oom-audit.json"),
                                                                 str(sliced / "slice-2/oom-audit.json")]


def test_a_glob_pattern_that_matches_nothing_fails_and_writes_nothing(sliced):
    result, failed = merge(sliced, SLICES + ["nowhere-*/oom-audit.json"])
    assert failed and result["msg"] == "merge_reports: %s matches no file" % (sliced / "nowhere-*/oom-audit.json")
    assert not os.path.exists(str(sliced / "fleet"))
