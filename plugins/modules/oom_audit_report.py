#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side writer of the fleet audit reports (JSON, JUnit XML, static HTML)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_audit_report
short_description: Write the fleet OOM audit as JSON, JUnit XML and a static HTML page
version_added: 0.1.0
description:
  - Takes what the audit gathered from every host (the compliance record of the C(oomguard.fleet.oom_protection)
    role, the predicted kill order and host OOM settings from M(oomguard.fleet.oom_score_info), recent OOM kills from
    M(oomguard.fleet.oom_events_info)) and writes three reports into one directory.
  - C(oom-audit.json) holds everything, in a documented and versioned schema (C(schema_version)); the JSON Schema
    ships with the collection as C(docs/oom-audit.schema.json).
  - C(oom-audit.xml) is JUnit XML with one test suite per host and one test case per host and assignment.
    Assignments in C(drift), C(denied) or C(missing) state are failures, C(not_running) ones are skipped,
    and an unreachable or failed host is one test case with an error. A test case C(next-victims) lists the
    next victims by the kernel's rank.
  - Each host gets one status, worst first - C(unreachable), C(failed), C(drifting), C(denied),
    C(no_assignments), C(compliant). C(denied) is a host whose only failing assignments are C(denied) - it lacks
    C(CAP_SYS_RESOURCE) for the tier's negative values (a container, or a host that drops the capability), so
    running C(oomguard.fleet.harden) will not fix it; with any C(drift) or C(missing) assignment it is C(drifting).
  - The next victims keep the kernel's rank (C(rank) of M(oomguard.fleet.oom_score_info)); when the audit's own
    processes were left out, every report says which ranks they had.
  - C(oom-audit.html) is one self-contained page (inline CSS, no script, no external assets) with the fleet
    summary first, then per host the protection status, the next victims and the recent kills. All text
    that comes from hosts is HTML-escaped. With more than 10 hosts the summary shows the 10 worst, a table
    lists all hosts, and each host's details are collapsed, so that the summary fits one screen and the
    page stays short at 1,000 hosts.
  - Hosts appear worst first everywhere, unreachable and failed hosts included, so one broken host never hides
    the others.
  - Run it once, on the controller; a task with C(delegate_to=localhost) and C(run_once=true), or a play on
    C(localhost). Give that task C(check_mode=false) so the reports are written during an audit in check mode.
  - The files are replaced atomically. When a run finds exactly what the files already say, they are left
    untouched and the module reports no change; the generation time in the reports is then the time of the
    run that first found this state.
  - With O(merge_reports) instead of O(hosts), it merges the C(oom-audit.json) files of several runs over
    parts of a fleet (AWX job slices, a split inventory) into one fleet report in every format. Two entries
    of the same host that are identical are kept once; different ones are a conflict, and the entry of the
    report generated last wins (at the same time, the report named later). Duplicates and conflicts are
    warnings and are listed under C(merge) in C(oom-audit.json). Without them the merge of the slices of
    a run is exactly the report of the whole run.
author:
  - oomguard contributors (@oomguard)
requirements:
  - jinja2 on the Python that runs this module, for the HTML report (it ships with ansible-core)
attributes:
  check_mode:
    support: full
    description: In check mode the module reports whether the reports would change and writes nothing.
  diff_mode:
    support: none
    description: The reports are not shown as a diff.
options:
  dest:
    description:
      - Directory that receives the reports. It is created when missing.
    type: path
    required: true
  hosts:
    description:
      - What the audit gathered, one entry per host that took part.
      - One of O(hosts) and O(merge_reports) is required.
    type: list
    elements: dict
    suboptions:
      name:
        description: Inventory name of the host.
        type: str
        required: true
      reachable:
        description: Whether the controller could connect to the host.
        type: bool
        default: true
      errors:
        description: Why gathering failed, in part or entirely (one message per failed step).
        type: list
        elements: str
        default: []
      compliance:
        description:
          - The host fact C(oom_protection_compliance) set by the C(oomguard.fleet.oom_protection) role
            (its C(records) list holds one assignment each).
          - A reachable host without it is reported as failed.
        type: dict
      host:
        description: The C(host) return value of M(oomguard.fleet.oom_score_info) (kernel, memory, OOM sysctls).
        type: dict
      kill_order:
        description:
          - The first entries of the C(kill_order) return value of M(oomguard.fleet.oom_score_info), first victim first.
          - Each entry's C(rank) (the kernel's position) is kept in every report; only an entry without one is
            ranked by its position in this list.
        type: list
        elements: dict
        default: []
      kill_order_excluded:
        description:
          - The C(own_processes_excluded) return value of M(oomguard.fleet.oom_score_info) (C(rank), C(pid),
            C(name)), the audit's own processes left out of O(hosts[].kill_order). The reports say which ranks
            they had, so that a gap in the ranks is explained.
        type: list
        elements: dict
        default: []
      events:
        description:
          - The C(events) return value of M(oomguard.fleet.oom_events_info), the kills of every killer it read.
          - An event without C(killer) (written by a release that read the kernel alone) is a kernel kill.
          - A kill of a unit or process whose assignment is in a protective tier (a negative policy
            C(oom_score_adj), or C(managed_oom_preference) C(avoid) or C(omit)) is reported as protected but
            killed, a finding. A unit assignment is matched by the event's C(unit), a process assignment by the
            pid or name of its processes.
        type: list
        elements: dict
        default: []
      events_source:
        description: The C(source_used) return value of M(oomguard.fleet.oom_events_info).
        type: str
      sources_read:
        description:
          - The C(sources_read) return value of M(oomguard.fleet.oom_events_info), shown with the kill history so
            that no kills is never mistaken for a history that could not be read. Unset when not gathered.
        type: list
        elements: str
      killers_looked_for:
        description:
          - The C(killers_looked_for) return value of M(oomguard.fleet.oom_events_info). Unset when not gathered.
        type: list
        elements: str
      headroom:
        description:
          - The C(host.headroom) return value of M(oomguard.fleet.oom_score_info) (memory available, swap,
            commit charge, memory pressure, OOM kill counter). Without it the host's headroom is unknown and
            never C(at risk).
        type: dict
      thresholds:
        description:
          - Overrides of the headroom thresholds for this host, by figure (C(memory_used_percent),
            C(swap_used_percent), C(commit_used_percent), C(psi_some_avg60), C(psi_full_avg60),
            C(oom_kills_since_previous)); each a mapping with C(warning) and/or C(at_risk), or a number that
            sets C(at_risk). V(null) switches a level off. The defaults are in C(docs/audit.md).
          - A figure at or above its C(at_risk) threshold makes the host C(at risk), a finding in every report.
        type: dict
        default: {}
      leaks:
        description:
          - The C(leaks) return value of M(oomguard.fleet.oom_protection_leaks) (processes holding a negative
            oom_score_adj that nothing assigns).
        type: list
        elements: dict
        default: []
      pod_drift:
        description:
          - The C(pod_drift) return value of M(oomguard.fleet.oom_score_info) (Kubernetes nodes - pod container
            processes whose oom_score_adj is not what kubelet's QoS policy gives them).
        type: list
        elements: dict
        default: []
  merge_reports:
    description:
      - C(oom-audit.json) files of earlier runs over parts of the fleet, to merge into one report (see the
        description). Each must be a report of this collection's C(schema_version).
      - An entry with C(*), C(?) or C([) is a glob pattern (V(slices/*/oom-audit.json)), expanded in sorted
        order; a pattern that matches no file is an error.
      - Cannot be combined with O(hosts), O(targets), O(previous_report) or O(events_since). The host entries
        are taken as the runs wrote them, with the kill history window they name.
    type: list
    elements: path
  previous_report:
    description:
      - An earlier C(oom-audit.json). Each host's C(oom_kills_since_previous) figure is its OOM kill counter's
        growth since that report (unknown across a reboot).
    type: path
  targets:
    description:
      - Every host the audit aimed at. A target without an entry in O(hosts) produced no data (it failed or
        dropped out of the play) and is reported as failed.
    type: list
    elements: str
    default: []
  events_since:
    description:
      - How far back the kill history reaches, as it was passed to M(oomguard.fleet.oom_events_info).
        Shown in the reports only.
    type: str
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices:
      json: C(oom-audit.json), everything, validated by C(docs/oom-audit.schema.json).
      junit: C(oom-audit.xml), JUnit XML for CI systems.
      html: C(oom-audit.html), one static page for people.
      prometheus: C(oom-audit.prom), every host's metrics (the ones the audit can write on each host for the
        node_exporter textfile collector), each labelled with C(host), for a textfile collector or push gateway
        next to the controller.
    default: [json, junit, html]
  summary_hosts:
    description: At most this many host lines in the RV(summary), worst first.
    type: int
    default: 10
notes:
  - The module only reads its arguments; it never connects to the audited hosts.
  - Process and unit names are untrusted. They are escaped in HTML and XML, and characters that XML cannot
    hold (control characters, invalid Unicode) are replaced by U+FFFD in every report.
seealso:
  - module: oomguard.fleet.oom_score_info
  - module: oomguard.fleet.oom_events_info
"""

EXAMPLES = r"""
- name: Write the audit reports on the controller
  oomguard.fleet.oom_audit_report:
    dest: "{{ playbook_dir }}/reports"
    targets: "{{ ansible_play_hosts_all }}"
    hosts: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('oom_audit_result', 'defined')
               | map(attribute='oom_audit_result') }}"
  delegate_to: localhost
  run_once: true
  check_mode: false
  register: report

- name: Show the fleet in a few lines, worst hosts first
  ansible.builtin.debug:
    msg: "{{ report.summary }}"

- name: Merge the reports of two AWX job slices into one fleet report, in every format
  oomguard.fleet.oom_audit_report:
    dest: /srv/audit/fleet
    merge_reports:
      - /srv/audit/slice-1/oom-audit.json
      - /srv/audit/slice-2/oom-audit.json
    formats: [json, junit, html, prometheus]
  delegate_to: localhost
  run_once: true

- name: Only the JUnit file, for a CI job
  oomguard.fleet.oom_audit_report:
    dest: /srv/ci/results
    formats: [junit]
    hosts:
      - name: db1
        compliance: "{{ hostvars['db1'].oom_protection_compliance }}"
      - name: web9
        reachable: false
        errors: ["Failed to connect to the host via ssh"]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
paths:
  description: Absolute path of each report, by format.
  returned: always
  type: dict
  sample:
    json: /srv/audit/reports/oom-audit.json
    junit: /srv/audit/reports/oom-audit.xml
    html: /srv/audit/reports/oom-audit.html
generated_at:
  description: The generation time written into the reports (UTC, ISO 8601). Unchanged reports keep their old time.
  returned: always
  type: str
  sample: "2026-11-25T21:52:30Z"
schema_version:
  description: Version of the JSON report schema.
  returned: always
  type: int
  sample: 1
counts:
  description: Fleet totals, the same as C(summary) in C(oom-audit.json).
  returned: always
  type: dict
  contains:
    hosts:
      description: Hosts in the report.
      type: int
    by_status:
      description: Hosts per status (C(unreachable), C(failed), C(drifting), C(denied), C(no_assignments), C(compliant)).
      type: dict
    assignments:
      description: Assignments per status (C(ok), C(drift), C(denied), C(missing), C(not_running), C(unknown)) and C(total).
      type: dict
    recent_kills:
      description: OOM kills (of every killer) found in the logs of all hosts.
      type: int
    kills_by_killer:
      description: C(recent_kills) by killer (C(kernel), C(systemd-oomd), C(earlyoom), C(nohang), C(kubelet), C(oomd)).
      type: dict
    protected_but_killed:
      description: Kills of units or processes in a protective tier, on all hosts (a finding).
      type: int
    at_risk:
      description: Hosts with a headroom figure at or above its C(at_risk) threshold.
      type: int
    leaks:
      description: Protection leaks found on all hosts.
      type: int
    pod_drift:
      description:
        - Processes of pod containers whose C(oom_score_adj) is not what kubelet's QoS policy gives them, on all
          Kubernetes nodes (a finding).
      type: int
  sample:
    hosts: 3
    by_status: {unreachable: 1, failed: 0, drifting: 1, denied: 0, no_assignments: 0, compliant: 1}
    assignments: {ok: 3, drift: 1, denied: 0, missing: 0, not_running: 0, unknown: 0, total: 4}
    recent_kills: 2
    kills_by_killer: {kernel: 1, systemd-oomd: 1}
    protected_but_killed: 0
    at_risk: 1
    leaks: 0
    pod_drift: 0
merge:
  description: With O(merge_reports), what the merge found (the same as C(merge) in C(oom-audit.json), which is
    there only when it found duplicates, conflicts or different kill history windows).
  returned: when O(merge_reports) is given
  type: dict
  contains:
    sources:
      description: The input reports, oldest first, with their C(generated_at) and number of hosts.
      type: list
      elements: dict
    duplicates:
      description: Hosts whose identical entry was in several inputs (C(host), C(sources)); kept once.
      type: list
      elements: dict
    conflicts:
      description: Hosts with different entries (C(host), C(kept) the input whose entry is in the report, C(dropped)).
      type: list
      elements: dict
    events_since:
      description: The distinct kill history windows of the inputs; the report names the last one.
      type: list
      elements: str
  sample:
    sources:
      - {source: slice-1/oom-audit.json, generated_at: "2026-11-25T21:52:30Z", hosts: 250}
      - {source: slice-2/oom-audit.json, generated_at: "2026-11-25T21:53:02Z", hosts: 251}
    duplicates: []
    conflicts: [{host: web7, kept: slice-2/oom-audit.json, dropped: [slice-1/oom-audit.json]}]
    events_since: [7d]
summary:
  description: A few lines for the console, the fleet first, then hosts worst first.
  returned: always
  type: list
  elements: str
  sample:
    - "oomguard audit: 3 hosts: 1 unreachable, 1 drifting, 1 compliant; 0 at risk; 0 protection leaks; 2 recent OOM kills"
    - "UNREACHABLE    web9  Failed to connect to the host via ssh"
    - "DRIFTING       db2   1 of 2 assignments not ok (1 drift); 2 recent OOM kills; next victim #1 java (pid 812, 41.00% of memory)"
    - "COMPLIANT      db1   2 of 2 assignments ok; next victim #4 postgres (pid 733, 12.50% of memory); ranks 1-3 are the audit's own processes, left out"
"""

import datetime
import glob
import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.oomguard.fleet.plugins.module_utils._report.console import summary_lines
from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import SCHEMA_VERSION, build_report
from ansible_collections.oomguard.fleet.plugins.module_utils._report.render import FILE_NAMES, render_all
from ansible_collections.oomguard.fleet.plugins.module_utils._report.html import HAS_JINJA2
from ansible_collections.oomguard.fleet.plugins.module_utils._report.merge import merge_reports

FORMATS = ("json", "junit", "html", "prometheus")
DEFAULT_FORMATS = ("json", "junit", "html")
_JUNIT_TIME_RE = re.compile(r'<testsuites [^>]*\btimestamp="([0-9T:-]+)"')
_HTML_TIME_RE = re.compile(r'<p class="meta">Generated ([0-9T:Z-]+) by')


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def previous_time(fmt, text):
    """The generation time an existing report was written with, or None."""
    if fmt == "json":
        try:
            value = json.loads(text).get("generated_at")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    match = (_JUNIT_TIME_RE if fmt == "junit" else _HTML_TIME_RE).search(text)
    if not match:
        return None
    return match.group(1) if fmt == "html" else match.group(1) + "Z"


class AuditReport(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.changed = False
        self.paths = {}
        self.report = None
        self.generated_at = None
        self.previous = None
        self.inputs = None
        self.merge = None

    def _read(self, path):
        try:
            with open(path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.module.fail_json(msg="Could not read the existing report %s: %s" % (path, to_native(exc)))

    def _render(self, formats, generated_at):
        if self.inputs is not None:
            return self._render_merge(formats, generated_at)
        try:
            report = build_report(self.params["hosts"], targets=self.params["targets"], generated_at=generated_at,
                                  events_since=self.params["events_since"], previous=self.previous)
        except ValueError as exc:
            self.module.fail_json(msg="Invalid audit input, no report was written: %s" % exc)
        return report, render_all(report, formats)

    def _render_merge(self, formats, generated_at):
        try:
            report, self.merge = merge_reports(self.inputs, generated_at)
            return report, render_all(report, formats)
        except ValueError as exc:
            self.module.fail_json(msg="merge_reports: %s; no report was written" % exc)
        except (KeyError, TypeError, AttributeError) as exc:
            # A host entry with the right keys but values of other types (an edited file) cannot be rendered.
            self.module.fail_json(msg="merge_reports: a host entry could not be rendered (%s: %s); merge unedited "
                                      "oom-audit.json files; no report was written" % (type(exc).__name__, exc))

    def _expand(self, paths):
        for entry in paths:
            if not any(char in entry for char in "*?["):
                yield entry
                continue
            matches = sorted(glob.glob(entry))
            if not matches:
                self.module.fail_json(msg="merge_reports: %s matches no file" % entry)
            yield from matches

    def _read_inputs(self):
        paths = self.params["merge_reports"]
        if paths is None:
            return None
        if not paths:
            self.module.fail_json(msg="merge_reports must name at least one oom-audit.json")
        inputs = []
        for path in self._expand(paths):
            text = self._read(path)
            if text is None:
                self.module.fail_json(msg="merge_reports: %s does not exist" % path)
            try:
                inputs.append((path, json.loads(text)))
            except ValueError as exc:
                self.module.fail_json(msg="merge_reports: %s is not JSON: %s" % (path, exc))
        return inputs

    def _read_previous(self):
        path = self.params["previous_report"]
        if not path:
            return None
        text = self._read(path)
        if text is None:
            self.module.fail_json(msg="previous_report %s does not exist" % path)
        try:
            return json.loads(text)
        except ValueError as exc:
            self.module.fail_json(msg="previous_report %s is not a JSON audit report: %s" % (path, exc))

    def _write(self, dest, fmt, content):
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".%s." % FILE_NAMES[fmt], suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(to_bytes(content, errors="surrogate_or_strict"))
        except OSError as exc:
            os.unlink(tmp)
            self.module.fail_json(msg="Could not write the %s report into %s: %s" % (fmt, dest, to_native(exc)))
        self.module.atomic_move(tmp, self.paths[fmt])

    def execute(self):
        dest = os.path.abspath(self.params["dest"])
        formats = [fmt for fmt in FORMATS if fmt in self.params["formats"]]
        if not formats:
            self.module.fail_json(msg="formats must name at least one of %s" % ", ".join(FORMATS))
        if "html" in formats and not HAS_JINJA2:
            self.module.fail_json(msg=missing_required_lib("jinja2", reason="to write the HTML report"))
        self.previous = self._read_previous()
        self.inputs = self._read_inputs()
        if self.params["summary_hosts"] < 0:
            self.module.fail_json(msg="summary_hosts must be 0 or more, got %d" % self.params["summary_hosts"])
        if os.path.exists(dest) and not os.path.isdir(dest):
            self.module.fail_json(msg="dest %s exists and is not a directory, so the reports cannot go there" % dest)
        self.paths = {fmt: os.path.join(dest, FILE_NAMES[fmt]) for fmt in formats}

        # The generation time alone must not make a report "changed": re-render with the time the existing
        # files carry, and keep them if nothing else differs.
        existing = {fmt: self._read(path) for fmt, path in self.paths.items()}
        if all(text is not None for text in existing.values()):
            times = set(previous_time(fmt, text) for fmt, text in existing.items()) - set([None])
            # A Prometheus file alone carries no time: any time renders it the same.
            for old_time in sorted(times) or [None]:
                report, contents = self._render(formats, old_time)
                if contents == existing:
                    self.report, self.generated_at = report, old_time
                    return
        self.generated_at = utc_now()
        self.report, contents = self._render(formats, self.generated_at)
        self.changed = True
        if self.module.check_mode:
            return
        if not os.path.isdir(dest):
            try:
                os.makedirs(dest)
            except OSError as exc:
                self.module.fail_json(msg="Could not create the report directory %s: %s" % (dest, to_native(exc)))
        for fmt in formats:
            self._write(dest, fmt, contents[fmt])

    def warn_merge(self):
        for line in (self.merge or {}).get("warnings", []):
            self.module.warn(line)

    @property
    def result(self):
        out = {
            "changed": self.changed,
            "paths": self.paths,
            "generated_at": self.generated_at,
            "schema_version": SCHEMA_VERSION,
            "counts": self.report["summary"],
            "summary": summary_lines(self.report, self.params["summary_hosts"]),
        }
        if self.merge is not None:
            out["merge"] = dict((key, self.merge[key]) for key in ("sources", "duplicates", "conflicts", "events_since"))
        return out


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            hosts=dict(
                type="list",
                elements="dict",
                options=dict(
                    name=dict(type="str", required=True),
                    reachable=dict(type="bool", default=True),
                    errors=dict(type="list", elements="str", default=[]),
                    compliance=dict(type="dict"),
                    host=dict(type="dict"),
                    kill_order=dict(type="list", elements="dict", default=[]),
                    kill_order_excluded=dict(type="list", elements="dict", default=[]),
                    events=dict(type="list", elements="dict", default=[]),
                    events_source=dict(type="str"),
                    sources_read=dict(type="list", elements="str"),
                    killers_looked_for=dict(type="list", elements="str"),
                    headroom=dict(type="dict"),
                    thresholds=dict(type="dict", default={}),
                    leaks=dict(type="list", elements="dict", default=[]),
                    pod_drift=dict(type="list", elements="dict", default=[]),
                ),
            ),
            targets=dict(type="list", elements="str", default=[]),
            merge_reports=dict(type="list", elements="path"),
            previous_report=dict(type="path"),
            events_since=dict(type="str"),
            formats=dict(type="list", elements="str", choices=list(FORMATS), default=list(DEFAULT_FORMATS)),
            summary_hosts=dict(type="int", default=10),
        ),
        required_one_of=[("hosts", "merge_reports")],
        mutually_exclusive=[("merge_reports", other) for other in ("hosts", "targets", "previous_report", "events_since")],
        supports_check_mode=True,
    )


def main():
    module = build_module()
    audit = AuditReport(module)
    audit.execute()
    audit.warn_merge()
    module.exit_json(**audit.result)


if __name__ == "__main__":
    main()
