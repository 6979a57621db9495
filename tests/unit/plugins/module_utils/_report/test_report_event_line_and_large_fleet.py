# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports say which kernel log line a kill was read from, and a large fleet's page stays short.

The kills come from the real kernel log corpus through the same engine as oom_events_info. The page of a
thousand hosts in a real browser is tests/integration/test_report_browser_large.py; here, the rules.
"""

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
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

HERE = os.path.dirname(__file__)
CORPUS = os.path.join(HERE, "..", "..", "..", "fixtures", "kernel_log", "corpus")
SCHEMA_PATH = os.path.join(HERE, "..", "..", "..", "..", "..", "docs", "oom-audit.schema.json")
NOW = "2026-12-01T10:00:00Z"


def corpus_events(name):
    with open(os.path.join(CORPUS, name), encoding="utf-8") as handle:
        return _kernel_log.parse_text(handle.read(), ref_time=1764000000)


@pytest.fixture(scope="module")
def kills():
    """A kill read from its summary line only (grep oom-kill), and kills read from Killed process lines."""
    summary = corpus_events("dmesg-grep-summary-only-global-docker.txt")
    full = corpus_events("ubuntu-5.4-syslog-docker-memcg-kills.log")
    assert [e["line"] for e in summary] == ["summary"] and {e["line"] for e in full} == {"kill"}
    return summary + full


def report_of(hosts):
    return _report.build_report(hosts, generated_at=NOW, events_since="7d")


def test_the_json_keeps_the_line_of_each_event_and_validates(kills):
    report = report_of([{"name": "h1", "events": kills, "events_source": "dmesg"}])
    lines = sorted(event["line"] for event in report["hosts"][0]["events"])
    assert lines == sorted(event["line"] for event in kills)
    jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(json.loads(_render.render_json(report)))


@pytest.mark.parametrize("value", ["Killed", "", 1, None])
def test_a_line_that_is_neither_kill_nor_summary_becomes_null(kills, value):
    event = dict(kills[0], line=value)
    assert _report.normalize_event(event)["line"] is None


def test_the_schema_rejects_a_line_it_does_not_define(kills):
    document = json.loads(_render.render_json(report_of([{"name": "h1", "events": kills}])))
    document["hosts"][0]["events"][0]["line"] = "reaper"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json.load(open(SCHEMA_PATH))).validate(document)


def test_junit_says_when_a_kill_was_read_from_the_summary_line(kills):
    root = ET.fromstring(_junit.render_junit(report_of([{"name": "h1", "events": kills, "events_source": "dmesg"}])))
    out = root.find(".//system-out").text.splitlines()
    assert [line for line in out if "read from the summary line" in line] == [
        line for line in out if "pid 7134 (java)" in line]
    assert len(out) == len(kills)


def test_html_shows_the_line_of_each_kill_in_the_fleet_and_host_tables(kills):
    page = _render.render_html(report_of([{"name": "h1", "events": kills, "events_source": "dmesg"}]))
    # Once in the fleet's kill table and once in the host's.
    assert page.count("<td>summary line</td>") == 2
    assert page.count("<td>kill line</td>") == 2 * (len(kills) - 1)


def test_html_of_a_merged_report_from_before_the_line_field_still_renders(kills):
    report = report_of([{"name": "h1", "events": kills, "events_source": "dmesg"}])
    for event in report["hosts"][0]["events"]:
        del event["line"]
    assert "<td>\u2014</td></tr>" in _render.render_html(report)


def hosts(count):
    return [{"name": "host%03d" % index, "reachable": index % 3 != 0, "errors": ["refused"] if index % 3 == 0 else []}
            for index in range(count)]


def sections(page):
    return re.findall(r'<section class="host" id="host-\d+">\s*<details( open)?>', page)


def test_a_small_fleet_keeps_every_host_open_and_one_host_table():
    page = _render.render_html(report_of(hosts(_report_html.WORST_HOSTS)))
    assert sections(page) == [" open"] * _report_html.WORST_HOSTS
    assert 'id="hosts"' not in page and "worst hosts" not in page


def test_a_larger_fleet_shows_the_worst_hosts_first_and_collapses_every_host():
    count = _report_html.WORST_HOSTS + 1
    report = report_of(hosts(count))
    page = _render.render_html(report)
    assert sections(page) == [""] * count
    summary, rest = page.split("</section>", 1)
    names = [host["name"] for host in report["hosts"]]
    assert re.findall(r'<td class="time"><a href="#host-\d+">(host\d+)</a>', summary) == names[:_report_html.WORST_HOSTS]
    table = rest.split('<h2 id="hosts">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<a href="#host-\d+">(host\d+)</a>', table) == names
    assert names[0] == "host000" and report["hosts"][0]["status"] == "unreachable"


def test_hosts_with_unknown_kill_history_are_named_up_to_a_limit():
    count = _report_html.LISTED_HOSTS + 5
    page = _render.render_html(report_of([{"name": "u%02d" % i, "reachable": False} for i in range(count)]))
    sentence = page.split("Kill history unknown", 1)[1].split("</p>", 1)[0]
    assert len(re.findall(r"<a href=", sentence)) == _report_html.LISTED_HOSTS
    assert sentence.endswith(" and 5 more.")
