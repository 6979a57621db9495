# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JUnit report carries the host's OOM kill history (as JSON and HTML do): a count property and one line
per kill with the victim, its unit and oom_score_adj. Kills are history, not failures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit

KILL = {"time": "2026-12-01T09:42:36+00:00", "pid": 330, "name": "drill-batch-a", "unit": "drill-batch-a.service",
        "oom_score_adj": 500, "scope": "global", "constraint": "CONSTRAINT_NONE"}


def host(events):
    return {"name": "h1", "reachable": True, "errors": [],
            "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present",
                           "records": [], "skipped_units": []},
            "host": {"kernel_release": "6.1.0", "mem_total_kb": 1 << 20},
            "kill_order": [], "events": events, "events_source": "journal"}


def suite_of(events):
    report = _report.build_report([host(events)], generated_at="2026-12-01T10:00:00+00:00")
    return ET.fromstring(_junit.render_junit(report)).find("testsuite")


def test_every_kill_is_a_line_of_the_host_suite_with_its_unit_and_adj():
    suite = suite_of([KILL, dict(KILL, pid=331, name="drill-hog", unit=None, oom_score_adj=-250, scope="memcg",
                                 oom_memcg="/system.slice/x.service", time=None)])
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["recent_oom_kills"] == "2"
    lines = suite.find("system-out").text.splitlines()
    assert "OOM kill by kernel 2026-12-01T09:42:36+00:00: pid 330 (drill-batch-a) of drill-batch-a.service, " \
           "oom_score_adj 500, global" in lines
    assert "OOM kill by kernel at an unknown time: pid 331 (drill-hog), oom_score_adj -250, in /system.slice/x.service" in lines
    assert suite.get("failures") == "0"


def test_a_host_without_kills_has_no_kill_history_in_its_suite():
    suite = suite_of([])
    assert suite.find("system-out") is None
    assert "recent_oom_kills" not in {p.get("name") for p in suite.find("properties")}
