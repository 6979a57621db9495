# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads the three audit reports the way CI tools and people would, and prints what it found as JSON.

usage: python check_reports.py <report dir> <oom-audit.schema.json>
Runs on the controller with the Python that runs ansible (jsonschema is a pinned test requirement).
"""

from __future__ import annotations

import html.parser
import json
import os
import sys
import xml.etree.ElementTree as ET

import jsonschema

# Assignment statuses that make a host non-compliant (not_running is not a finding).
FAILING = ("drift", "denied", "missing", "unknown")


class TextOf(html.parser.HTMLParser):
    """The page's visible text (what a reader sees), and whether it holds any <script> element."""

    def __init__(self):
        super().__init__()
        self.text = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def main(report_dir, schema_path):
    found = {"files": sorted(os.listdir(report_dir))}

    with open(os.path.join(report_dir, "oom-audit.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    with open(schema_path, encoding="utf-8") as handle:
        schema = json.load(handle)
    try:
        jsonschema.Draft202012Validator(schema).validate(document)
        found["json_valid"] = "ok"
    except jsonschema.ValidationError as exc:
        found["json_valid"] = "%s at %s" % (exc.message, "/".join(str(p) for p in exc.absolute_path))
    found["schema_version"] = document.get("schema_version")
    found["statuses"] = {host["name"]: host["status"] for host in document["hosts"]}
    found["risk"] = {host["name"]: {"at_risk": host["risk"]["at_risk"], "findings": host["risk"]["findings"]}
                     for host in document["hosts"]}
    found["failing_records"] = sorted(
        [host["name"], record["target"], record["status"]]
        for host in document["hosts"] if host["compliance"]
        for record in host["compliance"]["records"] if record["status"] in FAILING)

    root = ET.parse(os.path.join(report_dir, "oom-audit.xml")).getroot()
    junit = {"failures": [], "errors": [], "tests": 0, "at_risk": []}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            junit["tests"] += 1
            for tag, key in (("failure", "failures"), ("error", "errors")):
                child = case.find(tag)
                if child is not None:
                    junit[key].append([suite.get("name"), case.get("name"), child.get("type")])
                    if case.get("name") == "headroom" and child.get("type") == "at_risk":
                        junit["at_risk"].append(suite.get("name"))
    junit["totals_agree"] = (root.get("tests") == str(junit["tests"])
                             and root.get("failures") == str(len(junit["failures"]))
                             and root.get("errors") == str(len(junit["errors"])))
    found["junit"] = junit

    page = TextOf()
    with open(os.path.join(report_dir, "oom-audit.html"), encoding="utf-8") as handle:
        raw = handle.read()
    page.feed(raw)
    text = " ".join(page.text)
    found["html"] = {
        "scripts": page.scripts,
        # The badge in the host's section (the fleet table has one too): counted once per host.
        "at_risk_badges": sum(1 for section in raw.split('<section class="host"')[1:]
                              if 'class="badge s-at_risk"' in section.split("</h2>", 1)[0]),
        "hosts_shown": sorted(name for name in found["statuses"] if name in text),
        "fleet_summary_first": 0 <= text.find("Fleet summary") < min(
            [text.find(name) for name in found["statuses"] if name in text] or [len(text)]),
    }
    json.dump(found, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
