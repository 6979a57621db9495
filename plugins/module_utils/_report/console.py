# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The console summary of a report: one line for the fleet, then one line per host, worst first (the audit
playbook prints it). Pure.
"""

from __future__ import annotations
from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import (
    FAILING_STATUSES, HOST_STATUSES, HOST_STATUS_LABELS,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.text import (
    container_text, event_victim, excluded_text, kills_by_killer_text, share_text, userspace_killers_text,
)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _host_detail(host):
    counts = host["assignments"]
    if host["status"] in ("unreachable", "failed"):
        detail = "; ".join(host["errors"]) or host["status"]
        return detail.splitlines()[0] if detail else detail
    parts = []
    if host["risk"]["at_risk"]:
        parts.append("AT RISK: " + ", ".join(f["text"] for f in host["risk"]["findings"] if f["level"] == "at_risk"))
    if counts["total"]:
        bad = ["%d %s" % (counts[s], s) for s in FAILING_STATUSES if counts[s]]
        if bad:
            parts.append("%d of %s not ok (%s)" % (sum(counts[s] for s in FAILING_STATUSES),
                                                   _plural(counts["total"], "assignment"), ", ".join(bad)))
        else:
            parts.append("%d of %s ok" % (counts["ok"], _plural(counts["total"], "assignment")))
        if host["status"] == "denied":
            parts.append("needs CAP_SYS_RESOURCE for the negative values, harden cannot fix it")
        if counts["not_running"]:
            parts.append("%d not running" % counts["not_running"])
    if host["leaks"]:
        parts.append(_plural(len(host["leaks"]), "protection leak"))
    if host.get("pod_drift"):
        parts.append("%s not at kubelet's value" % _plural(len(host["pod_drift"]), "pod process"))
    if host.get("protected_but_killed"):
        parts.append("PROTECTED BUT KILLED: " + "; ".join(
            "%s by %s" % (entry["target"] or event_victim(entry), entry["killer"]) for entry in host["protected_but_killed"]))
    if host["events"]:
        by_killer = kills_by_killer_text(host.get("kills_by_killer"))
        parts.append(_plural(len(host["events"]), "recent OOM kill") + (" (%s)" % by_killer if by_killer else ""))
    elif host["events_source"] is None and host.get("cgroup_oom_kills") is None:
        parts.append("kill history unknown")
    if host.get("cgroup_oom_kills") is not None:
        parts.append("%s counted by the units' cgroups" % _plural(host["cgroup_oom_kills"], "OOM kill"))
    killers = userspace_killers_text(host.get("userspace_killers"))
    if killers:
        parts.append(killers)
    if counts["total"] and counts.get("not_effective"):
        parts.append("%d not in effect on this host" % counts["not_effective"])
    if host["kill_order"]:
        victim = host["kill_order"][0]
        share = victim["memory_share_percent"]
        facts = ["pid %s" % victim["pid"]]
        if share is not None:
            facts.append("%s of memory" % share_text(share))
        if victim["oom_score_adj"]:
            # A small process first in line is there by its adj: say so, or the line reads like a wrong guess.
            facts.append("oom_score_adj %d" % victim["oom_score_adj"])
        if victim.get("container"):
            facts.append(container_text(victim["container"]))
        parts.append("next victim #%s %s (%s)" % (victim["rank"], victim["name"], ", ".join(facts)))
    if host.get("kill_order_excluded"):
        parts.append(excluded_text(host["kill_order_excluded"]))
    if host["errors"]:
        parts.append(_plural(len(host["errors"]), "gathering error"))
    return "; ".join(parts) or "nothing to report"


def summary_lines(report, limit=10):
    """A few console lines: the fleet in one line, then hosts worst first."""
    summary = report["summary"]
    counts = summary["by_status"]
    head = ", ".join("%d %s" % (counts[s], HOST_STATUS_LABELS[s]) for s in HOST_STATUSES if counts[s])
    protected = summary.get("protected_but_killed") or 0
    lines = ["oomguard audit: %s%s; %s at risk; %s; %s%s" % (
        _plural(summary["hosts"], "host"), ": " + head if head else "", summary["at_risk"],
        _plural(summary["leaks"], "protection leak"), "%d protected but killed; " % protected if protected else "",
        _plural(summary["recent_kills"], "recent OOM kill"))]
    hosts = report["hosts"]
    width = max([len(h["name"]) for h in hosts[:limit]] + [1])
    for host in hosts[:limit]:
        label = HOST_STATUS_LABELS[host["status"]].upper()
        lines.append("%-14s %-*s  %s" % (label, width, host["name"], _host_detail(host)))
    if len(hosts) > limit:
        lines.append("... and %d more hosts: see the reports" % (len(hosts) - limit))
    return lines
