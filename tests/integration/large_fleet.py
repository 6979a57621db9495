# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet of any size built from real audit results, rendered by the report code the module runs.

fixtures/audit_host_records.json holds what oomguard.fleet.audit gathered on real hosts (the `hosts` input
of oom_audit_report, recorded by fixtures/record_audit_hosts.yml; the file's "recorded" entries say where
and how). A large fleet repeats those records under new host names, so it has their real mix
of statuses, kills, drift and at-risk figures; nothing in a record is made up.

    python tests/integration/large_fleet.py <dest dir> [hosts]    # writes the three reports, prints sizes
"""

from __future__ import annotations

import json
import os
import sys
import time

from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import build_report
from ansible_collections.oomguard.fleet.plugins.module_utils._report.render import FILE_NAMES, render_all

RECORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "audit_host_records.json")
GENERATED_AT = "2026-12-01T10:00:00Z"


def recorded_hosts(path=RECORDS):
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    return [host for recording in document["recorded"] for host in recording["hosts"]]


def fleet_hosts(count, records=None):
    """`count` host results: the recorded ones in turn, each renamed <recorded name>-<n>."""
    records = records or recorded_hosts()
    width = len(str(count))
    return [dict(records[index % len(records)], name="%s-%0*d" % (records[index % len(records)]["name"],
                                                                  width, index + 1))
            for index in range(count)]


def fleet_report(count, records=None):
    """The report of such a fleet, as oom_audit_report builds it (every host a target)."""
    hosts = fleet_hosts(count, records)
    return build_report(hosts, targets=[host["name"] for host in hosts], generated_at=GENERATED_AT,
                        events_since="7d")


def main(dest, count=1000):
    started = time.monotonic()
    contents = render_all(fleet_report(count))
    seconds = time.monotonic() - started
    os.makedirs(dest, exist_ok=True)
    for fmt, text in contents.items():
        path = os.path.join(dest, FILE_NAMES[fmt])
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        print("%s %d bytes" % (path, len(text.encode("utf-8"))))
    print("built and rendered %d hosts in %.2f s" % (count, seconds))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
