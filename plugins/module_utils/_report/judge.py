# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The audit's judgement of a host: its one status from its compliance records, the order of hosts (worst
first), the kills by killer, the kills of protected assignments, and whether its headroom is at risk.
Pure: it reads normalised entries (model.py).
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._engine.headroom import (
    at_risk, evaluate, figures, merge_thresholds,
)

RECORD_STATUSES = ("ok", "drift", "denied", "missing", "not_running", "not_effective", "unknown")
# Assignment statuses that make a host non-compliant and a JUnit test case fail.
FAILING_STATUSES = ("drift", "denied", "missing", "unknown")
# Host statuses, worst first: the order of the console summary and of the reports. `denied`: the only failing
# assignments are `denied` -- the host lacks CAP_SYS_RESOURCE for the tier's negative values, which no run of
# the role can fix there; a host that also drifts or misses a unit is `drifting`.
HOST_STATUSES = ("unreachable", "failed", "drifting", "denied", "no_assignments", "compliant")
HOST_STATUS_LABELS = {
    "unreachable": "unreachable",
    "failed": "audit failed",
    "drifting": "drifting",
    "denied": "denied",
    "no_assignments": "no assignments",
    "compliant": "compliant",
}
# What a reader of a report can do about a host of each status that is not compliant.
HOST_STATUS_ADVICE = {
    "drifting": ("the reasons say which assignments differ from the policy; running oomguard.fleet.harden puts "
                 "drift right, a missing unit has to be installed first"),
    "denied": ("it needs CAP_SYS_RESOURCE to lower oom_score_adj to the tier's negative values (a container, or "
               "a host that drops the capability, lacks it); running oomguard.fleet.harden will not fix it"),
}


def counted_kills(records):
    """OOM kills the units' own cgroups counted (memory.events / memory.oom_control), or None when no unit
    was counted: a history that needs no kernel log."""
    counts = [rec["oom_kills"] for rec in records if rec.get("oom_kills") is not None]
    return sum(counts) if counts else None


def kills_by_killer(events):
    """{killer: number of events}, for the killers that killed."""
    counts = {}
    for event in events:
        killer = event.get("killer") or "kernel"
        counts[killer] = counts.get(killer, 0) + 1
    return dict(sorted(counts.items()))


def _protective(rec):
    """Why an assignment protects its target ("oom_score_adj -500", "ManagedOOMPreference=omit"), or None."""
    reasons = []
    if rec["policy_oom_score_adj"] is not None and rec["policy_oom_score_adj"] < 0:
        reasons.append("oom_score_adj %d" % rec["policy_oom_score_adj"])
    for entry in rec.get("settings") or []:
        if entry["setting"] == "managed_oom_preference" and entry["policy"] in ("avoid", "omit"):
            reasons.append("ManagedOOMPreference=%s" % entry["policy"])
    return ", ".join(reasons) or None


def protected_but_killed(records, events):
    """Kills (any killer) of a unit or process in a protective tier: a unit record matched by the event's unit,
    a process record by the pid or name of its processes."""
    out = []
    for event in events:
        for rec in records:
            protection = _protective(rec)
            if protection is None:
                continue
            if rec["kind"] == "unit":
                hit = event["unit"] is not None and event["unit"] == rec["target"]
            else:
                hit = any((event["pid"] is not None and proc["pid"] == event["pid"])
                          or (event["name"] is not None and proc["name"] == event["name"]) for proc in rec["processes"])
            if hit:
                out.append({"killer": event["killer"], "target": rec["target"], "kind": rec["kind"], "tier": rec["tier"],
                            "protection": protection, "pid": event["pid"], "name": event["name"],
                            "unit": event["unit"], "time": event["time"]})
                break
    return out


def assess_risk(headroom, thresholds=None, previous_oom_kill_count=None):
    """The `at risk` judgement of one host. Bad thresholds raise ValueError (one line)."""
    merged = merge_thresholds(thresholds)
    if headroom is None:
        return {"at_risk": False, "figures": None, "findings": [], "thresholds": merged}
    findings = evaluate(headroom, merged, previous_oom_kill_count)
    return {
        "at_risk": at_risk(findings),
        "figures": figures(headroom, previous_oom_kill_count),
        "findings": findings,
        "thresholds": merged,
    }


def assignment_counts(records):
    counts = {status: 0 for status in RECORD_STATUSES}
    for rec in records:
        counts[rec["status"]] += 1
    counts["total"] = len(records)
    return counts


def classify_host(reachable, compliance):
    if not reachable:
        return "unreachable"
    if compliance is None:
        return "failed"
    records = compliance["records"]
    failing = set(r["status"] for r in records if r["status"] in FAILING_STATUSES)
    if failing == {"denied"}:
        return "denied"
    if failing:
        return "drifting"
    if not records:
        return "no_assignments"
    return "compliant"


def host_sort_key(host):
    """Worst first: status, then at risk, then failing assignments, leaks, recent kills, then name."""
    failing = sum(host["assignments"][s] for s in FAILING_STATUSES)
    return (HOST_STATUSES.index(host["status"]), not host["risk"]["at_risk"], -failing,
            -len(host.get("protected_but_killed") or []), -len(host["leaks"]), -len(host.get("pod_drift") or []),
            -len(host["events"]), host["name"])
