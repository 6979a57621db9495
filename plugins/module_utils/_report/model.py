# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The fleet audit report as data: every host's entry normalised from what the audit gathered, and the report
assembled from the entries (hosts worst first, the summary). The JSON form is this data; the other formats
(junit.py, prometheus.py, console.py, html.py; all by name in render.py) only show it.

Everything that comes from hosts (process names, unit names, reasons, error messages) is untrusted text:
it is cleaned (clean.py) of characters XML cannot carry, escaped in HTML, and never interpreted. Building
and rendering are pure (no I/O, no clock): the caller passes the generation time, so the same input always
gives the same bytes. Standard library only, Python 3.8 compatible: the exporter renders on the hosts.
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import (
    QOS_CLASSES, ROLES as CONTAINER_ROLES, RUNTIMES as CONTAINER_RUNTIMES,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.clean import (
    clean_bool, clean_int, clean_mapping, clean_number, clean_scalar, clean_text, text_list,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import (
    assignment_counts, assess_risk, classify_host, counted_kills, host_sort_key, kills_by_killer,
    protected_but_killed,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import HOST_STATUSES, RECORD_STATUSES

SCHEMA_VERSION = 1
GENERATOR = "oomguard.fleet.oom_audit_report"


_RECORD_INT_FIELDS = ("policy_oom_score_adj", "declared_oom_score_adj")
_RECORD_TEXT_FIELDS = ("kind", "target", "tier", "policy_oom_policy", "declared_oom_policy")

_EVENT_INT_FIELDS = (
    "pid", "uid", "oom_score_adj", "total_vm_kb", "anon_rss_kb", "file_rss_kb", "shmem_rss_kb", "pgtables_kb",
)
_EVENT_TEXT_FIELDS = ("time", "name", "scope", "constraint", "oom_memcg", "task_memcg", "unit", "cgroup", "pod")
# oom_events_info's events[].line: the kernel's "Killed process" line, its summary line of a kill whose kill line
# is lost, a killer's decision line (systemd-oomd before v248) or PID 1's line about the unit.
EVENT_LINES = ("kill", "summary", "decision", "unit")
# oom_events_info's killers; `unknown` stands for a value this release does not know (a bounded label set).
KILLERS = ("kernel", "systemd-oomd", "earlyoom", "nohang", "kubelet", "oomd")
EVENT_REASONS = ("pressure", "swap", "memory", "eviction", "unknown")
EVENT_SIGNALS = ("SIGTERM", "SIGKILL")


# ---------------------------------------------------------------------------------------------------------
# Normalising what the audit gathered


def normalize_record(raw):
    rec = raw if isinstance(raw, dict) else {}
    out = {}
    for field in _RECORD_TEXT_FIELDS:
        out[field] = clean_text(rec.get(field), 1024)
    for field in _RECORD_INT_FIELDS:
        out[field] = clean_int(rec.get(field))
    out["declared_set"] = clean_bool(rec.get("declared_set"))
    processes = []
    for proc in rec.get("processes") or []:
        if isinstance(proc, dict):
            processes.append({
                "pid": clean_int(proc.get("pid")),
                "name": clean_text(proc.get("name"), 1024),
                "oom_score_adj": clean_int(proc.get("oom_score_adj")),
            })
    out["processes"] = processes
    # The memory and systemd-oomd settings of the tier, each judged on its own (see oom_protection_compliance).
    out["settings"] = [normalize_setting(entry) for entry in rec.get("settings") or [] if isinstance(entry, dict)]
    out["oom_kills"] = clean_int(rec.get("oom_kills"))
    out["oomd_kills"] = clean_int(rec.get("oomd_kills"))
    reasons = text_list(rec.get("reasons"))
    status = clean_text(rec.get("status"), 100)
    if status not in RECORD_STATUSES or status == "unknown":
        reasons.append("the compliance record has no known status (%r)" % (status,))
        status = "unknown"
    out["status"] = status
    out["reasons"] = reasons
    return out


def normalize_setting(raw):
    values = dict((key, None if isinstance(raw.get(key), (dict, list)) else clean_scalar(raw.get(key)))
                  for key in ("policy", "declared", "effective"))
    status = clean_text(raw.get("status"), 100)
    return {"setting": clean_text(raw.get("setting"), 100), "policy": values["policy"],
            "declared": values["declared"], "effective": values["effective"],
            "status": status if status in ("ok", "drift", "not_effective") else "unknown",
            "reason": clean_text(raw.get("reason"), 1024)}


def normalize_oomd(raw):
    """systemd-oomd as oom_score_info's host.systemd_oomd reports it: running, its settings, the monitored
    cgroups and the first cgroup it would kill under each rule (with the top candidates)."""
    if not isinstance(raw, dict):
        return None

    def rule(entry):
        entry = entry if isinstance(entry, dict) else {}
        return {
            "monitored": clean_text(entry.get("monitored"), 1024),
            "limit_percent": clean_number(entry.get("limit_percent")),
            "first": clean_text(entry.get("first"), 1024), "first_unit": clean_text(entry.get("first_unit"), 255),
            "reason": clean_text(entry.get("reason"), 1024),
            "omitted": text_list(entry.get("omitted")),
            "candidates": [{
                "cgroup": clean_text(c.get("cgroup"), 1024), "unit": clean_text(c.get("unit"), 255),
                "preference": clean_text(c.get("preference"), 20), "memory_current": clean_int(c.get("memory_current")),
                "swap_current": clean_int(c.get("swap_current")), "pgscan_rate": clean_number(c.get("pgscan_rate")),
                "eligible": clean_bool(c.get("eligible")), "reason": clean_text(c.get("reason"), 1024),
            } for c in (entry.get("candidates") or [])[:10] if isinstance(c, dict)],
        }

    monitored = raw.get("monitored") if isinstance(raw.get("monitored"), dict) else None
    prediction = raw.get("prediction") if isinstance(raw.get("prediction"), dict) else None
    return {
        "running": clean_bool(raw.get("running")),
        "settings": clean_mapping(raw.get("settings") or raw.get("config")),
        "monitored": None if monitored is None else {
            kind: [{"path": clean_text(m.get("path"), 1024), "limit_percent": clean_number(m.get("limit_percent"))}
                   for m in monitored.get(kind) or [] if isinstance(m, dict)]
            for kind in ("swap", "memory_pressure")},
        "prediction": None if prediction is None else {
            "swap": rule(prediction.get("swap")),
            "memory_pressure": [rule(entry) for entry in prediction.get("memory_pressure") or []],
        },
        "error": clean_text(raw.get("error"), 1024),
    }


USERSPACE_KILLERS = ("earlyoom", "nohang", "systemd-oomd")


def normalize_userspace_killers(raw):
    """oom_score_info's host.userspace_killers: one entry per userspace killer found running, with the
    thresholds it acts at; None when the host did not gather them (a release before this fact)."""
    if not isinstance(raw, list):
        return None
    out = []
    for entry in raw[:20]:
        if not isinstance(entry, dict):
            continue
        killer = clean_text(entry.get("killer"), 50)
        settings = entry.get("settings") if isinstance(entry.get("settings"), dict) else None
        if settings is not None:
            # systemd-oomd's monitored cgroups are the host entry's oomd.monitored already.
            settings = clean_mapping(dict((k, v) for k, v in settings.items() if k != "monitored"))
        out.append({
            "killer": killer if killer in USERSPACE_KILLERS else "unknown",
            "pid": clean_int(entry.get("pid")),
            "acts_before_kernel": clean_bool(entry.get("acts_before_kernel")),
            "when": clean_text(entry.get("when"), 1024),
            "settings_unknown": bool(clean_bool(entry.get("settings_unknown"))),
            "reason": clean_text(entry.get("reason"), 1024),
            "config_file": clean_text(entry.get("config_file"), 1024),
            "settings": settings,
            "defaults_applied": text_list(entry.get("defaults_applied")),
            "args": text_list(entry.get("args")) if isinstance(entry.get("args"), list) else None,
        })
    return out


def normalize_compliance(raw):
    if not isinstance(raw, dict):
        return None
    records = [normalize_record(r) for r in raw.get("records") or []]
    return {
        "schema": clean_int(raw.get("schema")),
        "systemd": clean_bool(raw.get("systemd")),
        "can_lower_adj": clean_bool(raw.get("can_lower_adj")),
        "state": clean_text(raw.get("state"), 100),
        "records": records,
        # Unit assignments the role could not apply because the host has no systemd.
        "skipped_units": text_list(raw.get("skipped_units")),
    }


def _first_int(entry, *names):
    for name in names:
        value = clean_int(entry.get(name))
        if value is not None:
            return value
    return None


def _memory_kb(entry):
    """What counts for badness: resident anon+file+shmem, swap, page tables (kB)."""
    direct = _first_int(entry, "memory_kb", "badness_memory_kb")
    if direct is not None:
        return direct
    rss = _first_int(entry, "rss_kb")
    if rss is None:
        parts = [clean_int(entry.get(k)) for k in ("rss_anon_kb", "rss_file_kb", "rss_shmem_kb")]
        if all(p is None for p in parts):
            return None
        rss = sum(p or 0 for p in parts)
    return rss + (clean_int(entry.get("swap_kb")) or 0) + (clean_int(entry.get("pgtables_kb")) or 0)


def _host_total_kb(host):
    """The kernel's OOM denominator (RAM + swap) in kB, or RAM alone if that is all we know."""
    if not host:
        return None
    total_pages, page_size = clean_int(host.get("total_pages")), clean_int(host.get("page_size"))
    if total_pages and page_size:
        return total_pages * page_size // 1024
    mem = clean_int(host.get("mem_total_kb"))
    if mem:
        return mem + (clean_int(host.get("swap_total_kb")) or 0)
    return None


_RELEASE_RE = re.compile(r"^(\d+)\.(\d+)")


def _memory_kb_from_badness(entry, host):
    """Invert oom_badness() for a global OOM: memory pages = badness - adj * (total_pages / 1000).

    Exact from Linux 4.17 on; older kernels gave root processes a 3% bonus, which cannot be undone here.
    """
    if not host or host.get("cgroup_limit_bytes") is not None:
        return None
    badness, adj = clean_int(entry.get("badness")), clean_int(entry.get("oom_score_adj"))
    total_pages, page_size = clean_int(host.get("total_pages")), clean_int(host.get("page_size"))
    match = _RELEASE_RE.match(str(host.get("kernel_release") or ""))
    if None in (badness, adj, total_pages, page_size) or not match:
        return None
    if (int(match.group(1)), int(match.group(2))) < (4, 17):
        return None
    pages = badness - adj * (total_pages // 1000)
    return pages * page_size // 1024 if pages >= 0 else None


def _kernel_rank(entry, position):
    """The kernel's position of a victim (oom_score_info's `rank`); the list position only for an input that
    carries none, as reports of older releases do."""
    rank = clean_int(entry.get("rank"))
    return rank if rank is not None and rank >= 1 else position


def normalize_container(raw):
    """A process's or a kill's container label (oom_score_info, oom_events_info), or None outside containers."""
    if not isinstance(raw, dict):
        return None
    runtime, role, qos = raw.get("runtime"), raw.get("role"), raw.get("qos")
    return {
        "runtime": runtime if runtime in CONTAINER_RUNTIMES else "unknown",
        "id": clean_text(raw.get("id"), 255),
        "pod_uid": clean_text(raw.get("pod_uid"), 255),
        "qos": qos if qos in QOS_CLASSES else None,
        "role": role if role in CONTAINER_ROLES else "workload",
        "name": clean_text(raw.get("name"), 255),
        "pod": clean_text(raw.get("pod"), 512),
        "image": clean_text(raw.get("image"), 1024),
    }


def normalize_pod_drift(raw):
    """A pod container's process whose value is not kubelet's (oom_score_info's pod_drift)."""
    entry = raw if isinstance(raw, dict) else {}
    return {
        "pid": clean_int(entry.get("pid")),
        "name": clean_text(entry.get("name"), 1024),
        "oom_score_adj": clean_int(entry.get("oom_score_adj")),
        "expected": clean_text(entry.get("expected"), 1024),
        "expected_oom_score_adj": clean_int(entry.get("expected_oom_score_adj")),
        "container": normalize_container(entry.get("container")),
    }


def normalize_victim(raw, position, total_kb, host=None):
    """One next victim; `rank` is the kernel's position from the entry, `position` its place in the list."""
    entry = raw if isinstance(raw, dict) else {}
    memory_kb = _memory_kb(entry)
    if memory_kb is None:
        memory_kb = _memory_kb_from_badness(entry, host)
    share = None
    for name in ("memory_share_percent", "share_percent", "memory_percent"):
        value = entry.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            share = float(value)
            break
    if share is None and memory_kb is not None and total_kb:
        share = 100.0 * memory_kb / total_kb
    if share is not None:
        share = round(min(max(share, 0.0), 100.0), 2)
    return {
        "rank": _kernel_rank(entry, position),
        "pid": clean_int(entry.get("pid")),
        "name": clean_text(entry.get("name"), 1024),
        "unit": clean_text(entry.get("unit"), 1024),
        "oom_score_adj": clean_int(entry.get("oom_score_adj")),
        "oom_score": _first_int(entry, "oom_score", "kernel_oom_score"),
        "badness": _first_int(entry, "badness", "badness_pages"),
        "memory_kb": memory_kb,
        "memory_share_percent": share,
        "reason": clean_text(entry.get("reason"), 1024),
        "container": normalize_container(entry.get("container")),
    }


def normalize_excluded(raw):
    """The audit's own processes oom_score_info left out of the kill order (its own_processes_excluded),
    with their kernel ranks, in rank order."""
    out = []
    for entry in raw if isinstance(raw, (list, tuple)) else []:
        if isinstance(entry, dict):
            out.append({"rank": clean_int(entry.get("rank")), "pid": clean_int(entry.get("pid")),
                        "name": clean_text(entry.get("name"), 1024)})
    return sorted(out, key=lambda item: (item["rank"] is None, item["rank"] or 0))


def normalize_event(raw):
    ev = raw if isinstance(raw, dict) else {}
    out = {}
    for field in _EVENT_TEXT_FIELDS:
        out[field] = clean_text(ev.get(field), 1024)
    for field in _EVENT_INT_FIELDS:
        out[field] = clean_int(ev.get(field))
    out["reaped"] = clean_bool(ev.get("reaped"))
    # Which log line the event was read from (oom_events_info): a summary-line event has no memory values.
    out["line"] = ev.get("line") if ev.get("line") in EVENT_LINES else None
    # Events of releases that read the kernel alone carry no killer: they are the kernel's kills.
    killer = ev.get("killer")
    out["killer"] = "kernel" if killer is None else killer if killer in KILLERS else "unknown"
    kernel = out["killer"] == "kernel"
    reason = ev.get("reason")
    out["reason"] = reason if reason in EVENT_REASONS else "memory" if kernel and reason is None else \
        None if reason is None else "unknown"
    signal = ev.get("signal")
    out["signal"] = signal if signal in EVENT_SIGNALS else "SIGKILL" if kernel and "signal" not in ev else None
    trigger = ev.get("trigger")
    if isinstance(trigger, dict):
        out["trigger"] = {
            "name": clean_text(trigger.get("name"), 1024),
            "gfp_mask": clean_text(trigger.get("gfp_mask"), 200),
            "order": clean_int(trigger.get("order")),
            "oom_score_adj": clean_int(trigger.get("oom_score_adj")),
        }
    else:
        out["trigger"] = None
    out["container"] = normalize_container(ev.get("container"))
    return out


_HEADROOM_INT_FIELDS = ("mem_total_kb", "mem_available_kb", "swap_total_kb", "swap_free_kb", "committed_kb",
                        "commit_limit_kb", "overcommit_memory", "oom_kill_count")


def normalize_headroom(raw):
    """Headroom as _host.headroom.read_headroom gathers it, cleaned; None when the host sent none."""
    if not isinstance(raw, dict):
        return None
    out = dict((field, clean_int(raw.get(field))) for field in _HEADROOM_INT_FIELDS)
    pressure = raw.get("pressure")
    out["pressure"] = None
    if isinstance(pressure, dict):
        out["pressure"] = {}
        for kind in ("some", "full"):
            values = pressure.get(kind) if isinstance(pressure.get(kind), dict) else {}
            out["pressure"][kind] = {
                "avg10": clean_number(values.get("avg10")), "avg60": clean_number(values.get("avg60")),
                "avg300": clean_number(values.get("avg300")), "total": clean_int(values.get("total")),
            }
    return out


def normalize_leak(raw):
    """One process holding a negative oom_score_adj nothing assigns (see _engine.leaks)."""
    source = raw.get("source") if isinstance(raw.get("source"), dict) else None
    return {
        "pid": clean_int(raw.get("pid")),
        "name": clean_text(raw.get("name"), 1024),
        "unit": clean_text(raw.get("unit"), 1024),
        "oom_score_adj": clean_int(raw.get("oom_score_adj")),
        "memory_kb": clean_int(raw.get("memory_kb")),
        "source": None if source is None else {
            "pid": clean_int(source.get("pid")),
            "name": clean_text(source.get("name"), 1024),
            "unit": clean_text(source.get("unit"), 1024),
            "oom_score_adj": clean_int(source.get("oom_score_adj")),
        },
        "reason": clean_text(raw.get("reason"), 1024),
    }


def event_sort_key(event):
    # ISO-8601 times sort as text; events without a time go last.
    return (event["time"] is not None, event["time"] or "")


def normalize_host(raw):
    data = raw if isinstance(raw, dict) else {}
    name = clean_text(data.get("name"), 255) or "?"
    reachable = clean_bool(data.get("reachable"))
    reachable = True if reachable is None else reachable
    errors = text_list(data.get("errors"))
    compliance = normalize_compliance(data.get("compliance")) if reachable else None
    raw_host = data.get("host") if isinstance(data.get("host"), dict) else None
    host = clean_mapping(dict((k, v) for k, v in raw_host.items()
                              if k not in ("headroom", "systemd_oomd", "userspace_killers"))) \
        if reachable and raw_host else None
    headroom = None
    if reachable:
        headroom = normalize_headroom(data.get("headroom") if data.get("headroom") is not None
                                      else (raw_host or {}).get("headroom"))
    risk = assess_risk(headroom, data.get("thresholds"), clean_int(data.get("previous_oom_kill_count")))
    total_kb = _host_total_kb(host)
    kill_order = []
    for position, entry in enumerate(data.get("kill_order") or [], 1):
        kill_order.append(normalize_victim(entry, position, total_kb, host))
    events = sorted((normalize_event(e) for e in data.get("events") or []), key=event_sort_key, reverse=True)
    status = classify_host(reachable, compliance)
    records = compliance["records"] if compliance else []
    if status == "failed" and not errors:
        errors = ["no compliance record was gathered from this host"]
    return {
        "name": name,
        "status": status,
        "reachable": reachable,
        "errors": errors,
        "assignments": assignment_counts(compliance["records"] if compliance else []),
        "compliance": compliance,
        "host": host,
        "kill_order": kill_order,
        "kill_order_excluded": normalize_excluded(data.get("kill_order_excluded")) if reachable else [],
        "events_source": clean_text(data.get("events_source"), 100),
        "events": events,
        # What was read and looked for (oom_events_info): no kills of a killer not looked for say nothing.
        "sources_read": text_list(data.get("sources_read")) if data.get("sources_read") is not None else None,
        "killers_looked_for": text_list(data.get("killers_looked_for"))
        if data.get("killers_looked_for") is not None else None,
        "kills_by_killer": kills_by_killer(events),
        "protected_but_killed": protected_but_killed(records, events),
        "cgroup_oom_kills": counted_kills(compliance["records"]) if compliance else None,
        "oomd": normalize_oomd((raw_host or {}).get("systemd_oomd")) if reachable else None,
        "userspace_killers": normalize_userspace_killers((raw_host or {}).get("userspace_killers"))
        if reachable else None,
        "headroom": headroom,
        "risk": risk,
        "leaks": [normalize_leak(leak) for leak in data.get("leaks") or [] if isinstance(leak, dict)]
        if reachable else [],
        "pod_drift": [normalize_pod_drift(entry) for entry in data.get("pod_drift") or [] if isinstance(entry, dict)]
        if reachable else [],
    }


def previous_kill_counts(previous):
    """{host name: oom_kill_count} from an earlier report (its JSON as data), for the counter's growth."""
    counts = {}
    hosts = previous.get("hosts") if isinstance(previous, dict) else None
    for host in hosts if isinstance(hosts, list) else []:
        if isinstance(host, dict) and isinstance(host.get("headroom"), dict):
            count = clean_int(host["headroom"].get("oom_kill_count"))
            if count is not None:
                counts[clean_text(host.get("name"), 255)] = count
    return counts


def build_report(hosts, targets=None, generated_at=None, events_since=None, previous=None):
    """The whole report as plain data (what oom-audit.json holds).

    hosts: what each host gathered (dicts with name, reachable, errors, compliance, host, kill_order,
    events, events_source, headroom, thresholds, leaks). targets: every host the audit aimed at; a target
    without an entry in `hosts` produced no data at all and is reported as failed. previous: an earlier
    report (parsed oom-audit.json), whose kill counters give each host's kills since then.
    Bad thresholds raise ValueError.
    """
    by_name = {}
    before = previous_kill_counts(previous)
    for raw in hosts or []:
        name = clean_text(raw.get("name"), 255) if isinstance(raw, dict) else None
        if name in before and isinstance(raw, dict):
            raw = dict(raw, previous_oom_kill_count=before[name])
        host = normalize_host(raw)
        by_name[host["name"]] = host
    for target in targets or []:
        name = clean_text(target, 255)
        if name and name not in by_name:
            by_name[name] = normalize_host({
                "name": name,
                "reachable": True,
                "errors": ["the host produced no audit data (it failed or dropped out of the audit play)"],
            })
    return assemble_report(by_name.values(), generated_at, events_since)


def assemble_report(hosts, generated_at=None, events_since=None):
    """The report around normalised host entries (see normalize_host): their order and the summary follow
    from the entries alone, so reports of parts of a fleet merge into the report of the whole."""
    ordered = sorted(hosts, key=host_sort_key)
    by_status = {status: 0 for status in HOST_STATUSES}
    assignments = {status: 0 for status in RECORD_STATUSES}
    assignments["total"] = 0
    kills = at_risk = leaks = protected = pod_drift = 0
    by_killer = {}
    for host in ordered:
        protected += len(host.get("protected_but_killed") or [])
        for killer, count in (host.get("kills_by_killer") or {}).items():
            by_killer[killer] = by_killer.get(killer, 0) + count
        by_status[host["status"]] += 1
        at_risk += int(host["risk"]["at_risk"])
        leaks += len(host["leaks"])
        pod_drift += len(host.get("pod_drift") or [])
        for key, value in host["assignments"].items():
            assignments[key] += value
        kills += len(host["events"])
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "generated_at": clean_text(generated_at, 100),
        "events_since": clean_text(events_since, 100),
        "summary": {
            "hosts": len(ordered),
            "by_status": by_status,
            "assignments": assignments,
            "recent_kills": kills,
            "kills_by_killer": dict(sorted(by_killer.items())),
            "protected_but_killed": protected,
            "at_risk": at_risk,
            "leaks": leaks,
            "pod_drift": pod_drift,
        },
        "hosts": ordered,
    }
