# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""One fleet report from the reports of several audit runs over parts of it (AWX job slices, a split
inventory, a re-run of some hosts).

A report's host entries are already normalised (model.normalize_host) and the rest of the report, the
order of the hosts and the summary, follows from the entries alone (model.assemble_report). So the merge
chooses one entry per host name and assembles the report again with the audit's own code: the merge of the
slices of a run is the report the whole run would have written.

Two entries for the same host name:
- identical: kept once, and listed as a duplicate;
- different: the entry of the report generated last (generated_at) is kept; at the same time, the report
  given later. Listed as a conflict, with the reports kept and dropped.
Entries written by an earlier release of this schema version are brought up to date first: keys added
since get their empty value (kill_order_excluded and pod_drift: [], sources_read, killers_looked_for and
userspace_killers: null; events and next victims: container null), events without a killer are the
kernel's (killer: kernel), kills_by_killer and protected_but_killed are counted from the entry's events and
records, and the host status is judged again from the entry's compliance records (a host whose only failures are `denied` was `drifting` before it had a status
of its own).
Inputs that disagree on events_since (the window of the kill history) are merged with the window of the
report generated last, and that is reported too. Everything reported is also returned as warning lines.
Standard library only; runs on the controller.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import (
    HOST_STATUSES, classify_host, kills_by_killer, protected_but_killed,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import (
    SCHEMA_VERSION, assemble_report, normalize_event, normalize_host,
)

# What every host entry of this schema version holds; merging entries of another shape could not be rendered.
_HOST_KEYS = frozenset(normalize_host({"name": "-"}))
# Keys added to host entries within this schema version, with the value an entry written without them means.
_ADDED_KEYS = {"kill_order_excluded": [], "sources_read": None, "killers_looked_for": None, "userspace_killers": None,
               "pod_drift": []}


def _up_to_date(entry):
    """A host entry of an earlier release of this schema version as this release writes it."""
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    for key, value in _ADDED_KEYS.items():
        entry.setdefault(key, None if value is None else list(value))
    compliance = entry.get("compliance")
    records = compliance.get("records") if isinstance(compliance, dict) else None
    events = entry.get("events")
    if isinstance(events, list) and any(isinstance(ev, dict) and "killer" not in ev for ev in events):
        # Events written before they carried their killer are the kernel's kills (and say so now).
        entry["events"] = [normalize_event(ev) if isinstance(ev, dict) and "killer" not in ev else ev for ev in events]
    for key in ("events", "kill_order"):
        items = entry.get(key)
        if isinstance(items, list) and any(isinstance(item, dict) and "container" not in item for item in items):
            # Written before processes and kills carried their container: none is known.
            entry[key] = [dict(item, container=None) if isinstance(item, dict) and "container" not in item else item
                          for item in items]
    if "kills_by_killer" not in entry and isinstance(entry.get("events"), list):
        entry["kills_by_killer"] = kills_by_killer(ev for ev in entry["events"] if isinstance(ev, dict))
    if "protected_but_killed" not in entry:
        try:
            entry["protected_but_killed"] = protected_but_killed(records or [], entry.get("events") or [])
        except (AttributeError, KeyError, TypeError):
            entry["protected_but_killed"] = []
    if entry.get("status") == "drifting" and isinstance(records, list) \
            and all(isinstance(rec, dict) and "status" in rec for rec in records):
        entry["status"] = classify_host(True, compliance)
    return entry


def _check_report(source, report):
    """The host entries of one input report; ValueError (one line, naming the source) when it is not one."""
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), list) or "schema_version" not in report:
        raise ValueError("%s is not an oom-audit report (no schema_version and hosts list)" % source)
    if report["schema_version"] != SCHEMA_VERSION:
        raise ValueError("%s has schema_version %r; this collection merges version %d reports only"
                         % (source, report["schema_version"], SCHEMA_VERSION))
    hosts = [_up_to_date(entry) for entry in report["hosts"]]
    for index, entry in enumerate(hosts):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError("%s: hosts[%d] is not a host entry (it has no name)" % (source, index))
        missing = sorted(_HOST_KEYS - set(entry))
        if missing or entry["status"] not in HOST_STATUSES:
            raise ValueError("%s: host %s is not a host entry of this report version (%s)" % (
                source, name, "missing " + ", ".join(missing) if missing else "status %r" % entry["status"]))
    generated = report.get("generated_at")
    return hosts, generated if isinstance(generated, str) else None


def merge_reports(reports, generated_at=None):
    """reports: [(source, parsed oom-audit.json)], in the order given; source names the input in messages.

    Returns (report, notes). notes: {"sources": [{"source", "generated_at", "hosts"}], "duplicates": [{"host",
    "sources"}], "conflicts": [{"host", "kept", "dropped"}], "events_since": [the distinct windows],
    "warnings": [lines]}. The report carries the same notes, without the warnings, under "merge" when there
    were duplicates, conflicts or different windows; otherwise it is exactly the report of one run over all
    these hosts. Raises ValueError for an input that is not a report of this schema version.
    """
    if not reports:
        raise ValueError("no reports to merge")
    inputs = []
    for position, (source, report) in enumerate(reports):
        hosts, generated = _check_report(source, report)
        inputs.append((generated or "", position, source, hosts, report.get("events_since")))
    # Oldest first, so that a later entry for the same host is the newer one.
    inputs.sort(key=lambda item: (item[0], item[1]))

    kept = {}         # host name -> (entry, source)
    seen_in = {}      # host name -> every source that had it, in merge order
    conflicts = {}
    for _generated, _position, source, hosts, _window in inputs:
        for entry in hosts:
            name = entry["name"]
            seen_in.setdefault(name, []).append(source)
            if name in kept and kept[name][0] != entry:
                conflict = conflicts.setdefault(name, {"host": name, "kept": None, "dropped": []})
                conflict["dropped"].append(kept[name][1])
                conflict["kept"] = source
            if name not in kept or kept[name][0] != entry:
                kept[name] = (entry, source)

    windows = []
    for _generated, _position, _source, _hosts, window in inputs:
        if window not in windows:
            windows.append(window)
    notes = {
        "sources": [{"source": source, "generated_at": generated or None, "hosts": len(hosts)}
                    for generated, _position, source, hosts, _window in inputs],
        "duplicates": [{"host": name, "sources": sources} for name, sources in sorted(seen_in.items())
                       if len(sources) > 1 and name not in conflicts],
        "conflicts": [conflicts[name] for name in sorted(conflicts)],
        "events_since": windows,
        "warnings": [],
    }
    for dup in notes["duplicates"]:
        notes["warnings"].append("%s: the same entry is in %s; kept once" % (dup["host"], ", ".join(dup["sources"])))
    for conflict in notes["conflicts"]:
        notes["warnings"].append("%s: different entries in %s and %s; kept the one of %s, generated last" % (
            conflict["host"], ", ".join(conflict["dropped"]), conflict["kept"], conflict["kept"]))
    last_window = inputs[-1][4]
    if len(windows) > 1:
        notes["warnings"].append("the reports looked back over different windows for OOM kills (%s); the merged "
                                 "report names %s, the window of the report generated last"
                                 % (", ".join(str(w) for w in windows), last_window))

    report = assemble_report([entry for entry, _source in kept.values()], generated_at, last_window)
    if notes["warnings"]:
        report["merge"] = dict((key, notes[key]) for key in ("sources", "duplicates", "conflicts", "events_since"))
    return report, notes
