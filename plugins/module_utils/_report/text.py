# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The short texts every view of a report shares (console, JUnit, HTML): a container, a pod drift, ranks,
a victim, kills by killer, a leak, systemd-oomd, times and periods. Pure.
"""

from __future__ import annotations

import re


def userspace_killers_text(killers):
    """ "earlyoom, systemd-oomd act before the kernel" (one clause), or "" when none does or none was read."""
    first = [k["killer"] for k in killers or [] if k["acts_before_kernel"]]
    unknown = [k["killer"] for k in killers or [] if k["acts_before_kernel"] is None]
    parts = []
    if first:
        parts.append("%s act%s before the kernel" % (", ".join(first), "s" if len(first) == 1 else ""))
    if unknown:
        parts.append("%s settings unknown" % ", ".join(unknown))
    return "; ".join(parts)


def container_text(container):
    """'container web of pod shop/web-7f9c (containerd, burstable)', 'podman's helper', or ''."""
    if not container:
        return ""
    if container["role"] == "helper":
        return "%s's helper" % container["runtime"]
    what = container["name"] or (container["id"] or "")[:12]
    text = "sandbox" if container["role"] == "sandbox" else "container"
    text += " " + what if what else ""
    if container["pod"]:
        text += " of pod " + container["pod"]
    facts = [container["runtime"]] + ([container["qos"]] if container["qos"] else [])
    return "%s (%s)" % (text, ", ".join(facts))


def pod_drift_text(entry):
    """One pod drift in words, for the console, JUnit and the HTML."""
    return "%s (pid %s) in %s runs at oom_score_adj %s; kubelet gives it %s" % (
        known(entry["name"]), known(entry["pid"]), container_text(entry["container"]) or "a pod",
        known(entry["oom_score_adj"]), known(entry["expected"]))


def rank_ranges(ranks):
    """Kernel ranks as people read them: [1, 2, 3, 5] -> "1-3, 5"."""
    numbers = sorted(set(rank for rank in ranks if rank is not None))
    parts = []
    for number in numbers:
        if parts and parts[-1][1] == number - 1:
            parts[-1][1] = number
        else:
            parts.append([number, number])
    return ", ".join("%d" % low if low == high else "%d-%d" % (low, high) for low, high in parts)


def excluded_text(excluded):
    """The sentence that says which ranks the audit's own processes had, or "" when none was left out."""
    if not excluded:
        return ""
    ranks = rank_ranges(entry["rank"] for entry in excluded)
    if not ranks:
        return "the audit's own processes are left out"
    single = len(excluded) == 1
    return "%s %s %s the audit's own process%s, left out" % (
        "rank" if single else "ranks", ranks, "is" if single else "are", "" if single else "es")


def event_victim(event):
    """Who an event killed, in words: "pid 330 (drill-batch-a)"; a kill without a victim pid (systemd-oomd,
    kubelet) by its unit, pod or cgroup, never "pid None"."""
    if event.get("pid") is not None:
        return "pid %s (%s)" % (event["pid"], known(event.get("name")))
    for key in ("unit", "pod", "cgroup", "name"):
        if event.get(key):
            return "%s %s" % (key if key != "name" else "process", event[key])
    return "an unknown victim"


def kills_by_killer_text(counts):
    """ "2 systemd-oomd, 1 kernel" (most first), or "" when every kill is the kernel's."""
    if not counts or set(counts) == {"kernel"}:
        return ""
    return ", ".join("%d %s" % (n, killer) for killer, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def protected_kill_text(entry):
    victim = event_victim(entry)
    return "%s killed %s of protected %s %s (%s%s) %s" % (
        entry["killer"], victim, known(entry["kind"], "assignment"), known(entry["target"], "?"),
        "tier %s, " % entry["tier"] if entry["tier"] else "", entry["protection"],
        entry["time"] or "at an unknown time")


def share_text(percent):
    """A share of memory as every report shows it: two decimals, as the kill reasons do (0.02%, not 0.0%)."""
    return "%.2f%%" % percent


def known(value, missing="unknown"):
    """A value in a JUnit text: a missing one in words (JUnit readers are people; Python's None is no word)."""
    return missing if value is None else value


def leak_text(leak):
    source = leak["source"]
    origin = "no protected ancestor is alive" if source is None else "from %s (pid %s, %s, %s)" % (
        known(source["name"]), known(source["pid"]), source["unit"] or "no unit", known(source["oom_score_adj"]))
    return "%s (pid %s, %s) holds oom_score_adj %s that nothing assigns: %s" % (
        known(leak["name"]), known(leak["pid"]), leak["unit"] or "no unit", known(leak["oom_score_adj"]), origin)


def oomd_text(oomd):
    """Which cgroup systemd-oomd would kill first under each rule, one line per rule."""
    lines = []
    prediction = oomd.get("prediction") or {}
    swap = prediction.get("swap")
    if swap:
        lines.append("swap rule: first %s" % (swap["first"] or "none (%s)" % known(swap["reason"], "no reason given")))
    for entry in prediction.get("memory_pressure") or []:
        lines.append("memory pressure of %s above %s: first %s" % (
            known(entry["monitored"]), "an unknown limit" if entry["limit_percent"] is None else
            "%s%%" % entry["limit_percent"], entry["first"] or "none (%s)" % known(entry["reason"], "no reason given")))
    if not lines:
        lines.append("no prediction (%s)" % (oomd.get("error") or "systemd-oomd's state was not read"))
    return "\n".join(lines)


_REASON_LEAD_RE = re.compile(r"^(?:#\d+|first victim): ")


def victim_line(victim):
    """One next victim as a line: the kernel's rank, the process, and the kernel's reason (or its figures)."""
    facts = ["pid %s" % known(victim["pid"])]
    if victim.get("container"):
        facts.append(container_text(victim["container"]))
    elif victim["unit"]:
        facts.append(victim["unit"])
    facts.append("oom_score %s" % known(victim["oom_score"]))
    # The kernel's reason starts with the same rank ("#4: ..." or "first victim: ..."): said once here.
    reason = _REASON_LEAD_RE.sub("", victim["reason"] or "")
    if not reason:
        facts.append("oom_score_adj %s" % known(victim["oom_score_adj"]))
        if victim["memory_share_percent"] is not None:
            facts.append("%s of memory" % share_text(victim["memory_share_percent"]))
    return "#%s %s (%s)%s" % (victim["rank"], known(victim["name"]), ", ".join(facts), ": " + reason if reason else "")


def victim_lines(host):
    """The next victims of a host, the note on the audit's own processes first."""
    lines = [excluded_text(host["kill_order_excluded"]) + ":"] if host["kill_order_excluded"] else []
    lines.extend("  " + victim_line(v) if lines else victim_line(v) for v in host["kill_order"])
    return lines


_UTC_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(?:Z|\+00:?00)$")


def display_time(value):
    """ISO 8601 UTC times as people read them; anything else as it came."""
    match = _UTC_TIME_RE.match(value or "")
    return "%s %s UTC" % match.groups() if match else value


_SINCE_DURATION_RE = re.compile(r"^(?:(\d+)\s*([smhdw])\s*)+$")
_SINCE_PART_RE = re.compile(r"(\d+)\s*([smhdw])")
_SINCE_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def since_text(value):
    """The kill history's window (oom_events_info's `since`) in words: "in the last 7 days", "in the last
    hour", "in the last 1 hour 30 minutes", "since 2026-11-25"; "" when there is none."""
    if value is None or not str(value).strip():
        return ""
    text = str(value).strip()
    if _SINCE_DURATION_RE.match(text.lower()):
        parts = [(int(number), _SINCE_WORDS[unit]) for number, unit in _SINCE_PART_RE.findall(text.lower())]
        if len(parts) == 1 and parts[0][0] == 1:
            return "in the last %s" % parts[0][1]
        return "in the last %s" % " ".join("%d %s%s" % (n, word, "" if n == 1 else "s") for n, word in parts)
    return "since %s" % display_time(text)
