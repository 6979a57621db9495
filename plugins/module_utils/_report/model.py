# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Fleet audit reports: one normalised report, rendered as JSON, JUnit XML and a static HTML page.

Everything that comes from hosts (process names, unit names, reasons, error messages) is untrusted text:
it is cleaned of characters XML cannot carry, escaped in HTML, and never interpreted. Rendering is pure
(no I/O, no clock): the caller passes the generation time, so the same input always gives the same bytes.
Standard library only. It runs on the controller, but stays Python 3.8 compatible like all module_utils.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import (
    QOS_CLASSES, ROLES as CONTAINER_ROLES, RUNTIMES as CONTAINER_RUNTIMES,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.headroom import at_risk, evaluate, figures, merge_thresholds

SCHEMA_VERSION = 1
GENERATOR = "oomguard.fleet.oom_audit_report"

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

TEXT_MAX = 4096
# XML 1.0 cannot carry C0 controls (other than tab/newline/CR), lone surrogates, U+FFFE/U+FFFF.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

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
# Cleaning untrusted values


def clean_text(value, limit=TEXT_MAX):
    """A value from a host as safe text: None stays None, characters XML cannot hold become U+FFFD."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif not isinstance(value, str):
        value = str(value)
    value = _XML_INVALID_RE.sub("\ufffd", value)
    if len(value) > limit:
        value = value[:limit - 1] + "\u2026"
    return value


def clean_int(value):
    """An integer, or None for anything that is not one (booleans are not integers here)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def clean_bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        return None
    if isinstance(value, int):
        return bool(value)
    return None


def _clean_scalar(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return clean_text(value)


def _clean_mapping(value, depth=0):
    """Free-form host settings: scalars and nested mappings of scalars, keys as text, sorted."""
    if not isinstance(value, dict):
        return None
    out = {}
    for key in sorted(value, key=str):
        item = value[key]
        if isinstance(item, dict):
            if depth < 2:
                out[clean_text(key, 200)] = _clean_mapping(item, depth + 1)
        elif isinstance(item, (list, tuple)):
            out[clean_text(key, 200)] = [_clean_scalar(v) for v in item if not isinstance(v, (dict, list, tuple))]
        else:
            out[clean_text(key, 200)] = _clean_scalar(item)
    return out


def _text_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value if v is not None and v != ""]
    return [clean_text(value)]


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
    reasons = _text_list(rec.get("reasons"))
    status = clean_text(rec.get("status"), 100)
    if status not in RECORD_STATUSES or status == "unknown":
        reasons.append("the compliance record has no known status (%r)" % (status,))
        status = "unknown"
    out["status"] = status
    out["reasons"] = reasons
    return out


def normalize_setting(raw):
    values = dict((key, None if isinstance(raw.get(key), (dict, list)) else _clean_scalar(raw.get(key)))
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
            "limit_percent": _clean_number(entry.get("limit_percent")),
            "first": clean_text(entry.get("first"), 1024), "first_unit": clean_text(entry.get("first_unit"), 255),
            "reason": clean_text(entry.get("reason"), 1024),
            "omitted": _text_list(entry.get("omitted")),
            "candidates": [{
                "cgroup": clean_text(c.get("cgroup"), 1024), "unit": clean_text(c.get("unit"), 255),
                "preference": clean_text(c.get("preference"), 20), "memory_current": clean_int(c.get("memory_current")),
                "swap_current": clean_int(c.get("swap_current")), "pgscan_rate": _clean_number(c.get("pgscan_rate")),
                "eligible": clean_bool(c.get("eligible")), "reason": clean_text(c.get("reason"), 1024),
            } for c in (entry.get("candidates") or [])[:10] if isinstance(c, dict)],
        }

    monitored = raw.get("monitored") if isinstance(raw.get("monitored"), dict) else None
    prediction = raw.get("prediction") if isinstance(raw.get("prediction"), dict) else None
    return {
        "running": clean_bool(raw.get("running")),
        "settings": _clean_mapping(raw.get("settings") or raw.get("config")),
        "monitored": None if monitored is None else {
            kind: [{"path": clean_text(m.get("path"), 1024), "limit_percent": _clean_number(m.get("limit_percent"))}
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
            settings = _clean_mapping(dict((k, v) for k, v in settings.items() if k != "monitored"))
        out.append({
            "killer": killer if killer in USERSPACE_KILLERS else "unknown",
            "pid": clean_int(entry.get("pid")),
            "acts_before_kernel": clean_bool(entry.get("acts_before_kernel")),
            "when": clean_text(entry.get("when"), 1024),
            "settings_unknown": bool(clean_bool(entry.get("settings_unknown"))),
            "reason": clean_text(entry.get("reason"), 1024),
            "config_file": clean_text(entry.get("config_file"), 1024),
            "settings": settings,
            "defaults_applied": _text_list(entry.get("defaults_applied")),
            "args": _text_list(entry.get("args")) if isinstance(entry.get("args"), list) else None,
        })
    return out


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


def counted_kills(records):
    """OOM kills the units' own cgroups counted (memory.events / memory.oom_control), or None when no unit
    was counted: a history that needs no kernel log."""
    counts = [rec["oom_kills"] for rec in records if rec.get("oom_kills") is not None]
    return sum(counts) if counts else None


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
        "skipped_units": _text_list(raw.get("skipped_units")),
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


def pod_drift_text(entry):
    """One pod drift in words, for the console, JUnit and the HTML."""
    return "%s (pid %s) in %s runs at oom_score_adj %s; kubelet gives it %s" % (
        _known(entry["name"]), _known(entry["pid"]), container_text(entry["container"]) or "a pod",
        _known(entry["oom_score_adj"]), _known(entry["expected"]))


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


def event_victim(event):
    """Who an event killed, in words: "pid 330 (drill-batch-a)"; a kill without a victim pid (systemd-oomd,
    kubelet) by its unit, pod or cgroup, never "pid None"."""
    if event.get("pid") is not None:
        return "pid %s (%s)" % (event["pid"], _known(event.get("name")))
    for key in ("unit", "pod", "cgroup", "name"):
        if event.get(key):
            return "%s %s" % (key if key != "name" else "process", event[key])
    return "an unknown victim"


def kills_by_killer(events):
    """{killer: number of events}, for the killers that killed."""
    counts = {}
    for event in events:
        killer = event.get("killer") or "kernel"
        counts[killer] = counts.get(killer, 0) + 1
    return dict(sorted(counts.items()))


def kills_by_killer_text(counts):
    """ "2 systemd-oomd, 1 kernel" (most first), or "" when every kill is the kernel's."""
    if not counts or set(counts) == {"kernel"}:
        return ""
    return ", ".join("%d %s" % (n, killer) for killer, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


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


def protected_kill_text(entry):
    victim = event_victim(entry)
    return "%s killed %s of protected %s %s (%s%s) %s" % (
        entry["killer"], victim, _known(entry["kind"], "assignment"), _known(entry["target"], "?"),
        "tier %s, " % entry["tier"] if entry["tier"] else "", entry["protection"],
        entry["time"] or "at an unknown time")


def _clean_number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


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
                "avg10": _clean_number(values.get("avg10")), "avg60": _clean_number(values.get("avg60")),
                "avg300": _clean_number(values.get("avg300")), "total": clean_int(values.get("total")),
            }
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


def normalize_leak(raw):
    """One process holding a negative oom_score_adj nothing assigns (see _leaks)."""
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


def _event_sort_key(event):
    # ISO-8601 times sort as text; events without a time go last.
    return (event["time"] is not None, event["time"] or "")


def _assignment_counts(records):
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


def normalize_host(raw):
    data = raw if isinstance(raw, dict) else {}
    name = clean_text(data.get("name"), 255) or "?"
    reachable = clean_bool(data.get("reachable"))
    reachable = True if reachable is None else reachable
    errors = _text_list(data.get("errors"))
    compliance = normalize_compliance(data.get("compliance")) if reachable else None
    raw_host = data.get("host") if isinstance(data.get("host"), dict) else None
    host = _clean_mapping(dict((k, v) for k, v in raw_host.items()
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
    events = sorted((normalize_event(e) for e in data.get("events") or []), key=_event_sort_key, reverse=True)
    status = classify_host(reachable, compliance)
    records = compliance["records"] if compliance else []
    if status == "failed" and not errors:
        errors = ["no compliance record was gathered from this host"]
    return {
        "name": name,
        "status": status,
        "reachable": reachable,
        "errors": errors,
        "assignments": _assignment_counts(compliance["records"] if compliance else []),
        "compliance": compliance,
        "host": host,
        "kill_order": kill_order,
        "kill_order_excluded": normalize_excluded(data.get("kill_order_excluded")) if reachable else [],
        "events_source": clean_text(data.get("events_source"), 100),
        "events": events,
        # What was read and looked for (oom_events_info): no kills of a killer not looked for say nothing.
        "sources_read": _text_list(data.get("sources_read")) if data.get("sources_read") is not None else None,
        "killers_looked_for": _text_list(data.get("killers_looked_for"))
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


def host_sort_key(host):
    """Worst first: status, then at risk, then failing assignments, leaks, recent kills, then name."""
    failing = sum(host["assignments"][s] for s in FAILING_STATUSES)
    return (HOST_STATUSES.index(host["status"]), not host["risk"]["at_risk"], -failing,
            -len(host.get("protected_but_killed") or []), -len(host["leaks"]), -len(host.get("pod_drift") or []),
            -len(host["events"]), host["name"])


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


# ---------------------------------------------------------------------------------------------------------
# JSON


def render_json(report):
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Console summary


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


def share_text(percent):
    """A share of memory as every report shows it: two decimals, as the kill reasons do (0.02%, not 0.0%)."""
    return "%.2f%%" % percent


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


# ---------------------------------------------------------------------------------------------------------
# JUnit XML


def _known(value, missing="unknown"):
    """A value in a JUnit text: a missing one in words (JUnit readers are people; Python's None is no word)."""
    return missing if value is None else value


def _record_case_name(rec):
    return "%s:%s" % (rec["kind"] or "assignment", rec["target"] or "?")


def _record_message(rec):
    policy = rec["policy_oom_score_adj"]
    head = "%s: %s" % (rec["status"], rec["target"] or "?")
    facts = []
    if rec["tier"]:
        facts.append("tier %s" % rec["tier"])
    if policy is not None:
        facts.append("policy %+d" % policy if policy else "policy 0")
    if facts:
        head += " (%s)" % ", ".join(facts)
    if rec["reasons"]:
        head += ": " + "; ".join(rec["reasons"])
    if rec["status"] == "denied":
        head += " (the host lacks CAP_SYS_RESOURCE; running oomguard.fleet.harden will not fix it)"
    return head


def _setting_value(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _known(value, "not set")


def _record_details(rec):
    declared = "not set" if rec["declared_set"] is False else _known(rec["declared_oom_score_adj"])
    lines = [
        "kind: %s" % _known(rec["kind"]),
        "target: %s" % _known(rec["target"]),
        "tier: %s" % _known(rec["tier"]),
        "policy oom_score_adj: %s" % _known(rec["policy_oom_score_adj"]),
        "policy OOMPolicy: %s" % _known(rec["policy_oom_policy"], "not set"),
        "declared oom_score_adj: %s" % declared,
        "declared OOMPolicy: %s" % _known(rec["declared_oom_policy"], "not set"),
    ]
    for proc in rec["processes"]:
        lines.append("process %s (%s): oom_score_adj %s" % (_known(proc["pid"]), _known(proc["name"]),
                                                            _known(proc["oom_score_adj"])))
    for entry in rec.get("settings") or []:
        lines.append("%s: %s (policy %s, declared %s, effective %s)%s" % (
            _known(entry["setting"]), entry["status"], _setting_value(entry["policy"]),
            _setting_value(entry["declared"]), "unknown" if entry["effective"] is None else _setting_value(entry["effective"]),
            ": " + entry["reason"] if entry["reason"] else ""))
    if rec.get("oom_kills") is not None or rec.get("oomd_kills") is not None:
        lines.append("OOM kills counted by the cgroup: %s (kernel), %s (systemd-oomd)" % (
            _known(rec.get("oom_kills")), _known(rec.get("oomd_kills"))))
    for reason in rec["reasons"]:
        lines.append("reason: %s" % reason)
    return "\n".join(lines)


def _headroom_details(host):
    lines = ["%s: %s" % (name, _known(value)) for name, value in sorted((host["risk"]["figures"] or {}).items())]
    lines.extend("%s: %s" % (f["level"], f["text"]) for f in host["risk"]["findings"])
    return "\n".join(lines)


def leak_text(leak):
    source = leak["source"]
    origin = "no protected ancestor is alive" if source is None else "from %s (pid %s, %s, %s)" % (
        _known(source["name"]), _known(source["pid"]), source["unit"] or "no unit", _known(source["oom_score_adj"]))
    return "%s (pid %s, %s) holds oom_score_adj %s that nothing assigns: %s" % (
        _known(leak["name"]), _known(leak["pid"]), leak["unit"] or "no unit", _known(leak["oom_score_adj"]), origin)


def oomd_text(oomd):
    """Which cgroup systemd-oomd would kill first under each rule, one line per rule."""
    lines = []
    prediction = oomd.get("prediction") or {}
    swap = prediction.get("swap")
    if swap:
        lines.append("swap rule: first %s" % (swap["first"] or "none (%s)" % _known(swap["reason"], "no reason given")))
    for entry in prediction.get("memory_pressure") or []:
        lines.append("memory pressure of %s above %s: first %s" % (
            _known(entry["monitored"]), "an unknown limit" if entry["limit_percent"] is None else
            "%s%%" % entry["limit_percent"], entry["first"] or "none (%s)" % _known(entry["reason"], "no reason given")))
    if not lines:
        lines.append("no prediction (%s)" % (oomd.get("error") or "systemd-oomd's state was not read"))
    return "\n".join(lines)


_REASON_LEAD_RE = re.compile(r"^(?:#\d+|first victim): ")


def victim_line(victim):
    """One next victim as a line: the kernel's rank, the process, and the kernel's reason (or its figures)."""
    facts = ["pid %s" % _known(victim["pid"])]
    if victim.get("container"):
        facts.append(container_text(victim["container"]))
    elif victim["unit"]:
        facts.append(victim["unit"])
    facts.append("oom_score %s" % _known(victim["oom_score"]))
    # The kernel's reason starts with the same rank ("#4: ..." or "first victim: ..."): said once here.
    reason = _REASON_LEAD_RE.sub("", victim["reason"] or "")
    if not reason:
        facts.append("oom_score_adj %s" % _known(victim["oom_score_adj"]))
        if victim["memory_share_percent"] is not None:
            facts.append("%s of memory" % share_text(victim["memory_share_percent"]))
    return "#%s %s (%s)%s" % (victim["rank"], _known(victim["name"]), ", ".join(facts), ": " + reason if reason else "")


def victim_lines(host):
    """The next victims of a host, the note on the audit's own processes first."""
    lines = [excluded_text(host["kill_order_excluded"]) + ":"] if host["kill_order_excluded"] else []
    lines.extend("  " + victim_line(v) if lines else victim_line(v) for v in host["kill_order"])
    return lines


def render_junit(report):
    timestamp = (report["generated_at"] or "").rstrip("Z") or None
    suites = ET.Element("testsuites", name="oomguard fleet audit")
    if timestamp:
        suites.set("timestamp", timestamp)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in report["hosts"]:
        suite = ET.SubElement(suites, "testsuite", name=host["name"], hostname=host["name"])
        if timestamp:
            suite.set("timestamp", timestamp)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="status", value=host["status"])
        if host["host"] and host["host"].get("kernel_release"):
            ET.SubElement(props, "property", name="kernel_release", value=str(host["host"]["kernel_release"]))
        if host["status"] in ("unreachable", "failed"):
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="audit", time="0")
            message = "; ".join(host["errors"]) or host["status"]
            err = ET.SubElement(case, "error", type=host["status"], message=message)
            err.text = message
            counts["tests"] += 1
            counts["errors"] += 1
        elif not host["compliance"]["records"] and not host["compliance"]["skipped_units"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="assignments", time="0")
            ET.SubElement(case, "skipped", message="no OOM protection assignments on this host")
            counts["tests"] += 1
            counts["skipped"] += 1
        else:
            for rec in host["compliance"]["records"]:
                case = ET.SubElement(suite, "testcase", classname=host["name"], name=_record_case_name(rec), time="0")
                counts["tests"] += 1
                if rec["status"] in FAILING_STATUSES:
                    fail = ET.SubElement(case, "failure", type=rec["status"], message=_record_message(rec))
                    fail.text = _record_details(rec)
                    counts["failures"] += 1
                elif rec["status"] in ("not_running", "not_effective"):
                    ET.SubElement(case, "skipped", message=_record_message(rec)).text = _record_details(rec)
                    counts["skipped"] += 1
                else:
                    out = ET.SubElement(case, "system-out")
                    out.text = _record_details(rec)
            for unit in host["compliance"]["skipped_units"]:
                case = ET.SubElement(suite, "testcase", classname=host["name"], name="unit:%s" % unit, time="0")
                ET.SubElement(case, "skipped", message="not applied: %s has no systemd" % host["name"])
                counts["tests"] += 1
                counts["skipped"] += 1
        if host.get("oomd") and host["oomd"]["running"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="systemd-oomd", time="0")
            ET.SubElement(case, "system-out").text = oomd_text(host["oomd"])
            counts["tests"] += 1
        if host["kill_order"] or host["kill_order_excluded"]:
            # No test: what the OOM killer would take next, by the kernel's ranks, for CI readers.
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="next-victims", time="0")
            ET.SubElement(case, "system-out").text = "\n".join(victim_lines(host))
            counts["tests"] += 1
        if host["headroom"] is not None:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="headroom", time="0")
            counts["tests"] += 1
            if host["risk"]["at_risk"]:
                message = "at risk: " + "; ".join(f["text"] for f in host["risk"]["findings"])
                fail = ET.SubElement(case, "failure", type="at_risk", message=message)
                fail.text = _headroom_details(host)
                counts["failures"] += 1
            else:
                ET.SubElement(case, "system-out").text = _headroom_details(host)
        for leak in host["leaks"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"],
                                 name="leak:%s[%s]" % (_known(leak["name"]), _known(leak["pid"])), time="0")
            ET.SubElement(case, "failure", type="leak", message=leak_text(leak))
            counts["tests"] += 1
            counts["failures"] += 1
        for entry in host.get("pod_drift") or []:
            # A pod container's value someone changed behind kubelet's back: it stays until the container restarts.
            container = entry["container"] or {}
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="pod-drift:%s:%s[%s]" % (
                _known(container.get("pod"), "?"), _known(container.get("name") or (container.get("id") or "")[:12] or None,
                                                          "?"), _known(entry["pid"])), time="0")
            ET.SubElement(case, "failure", type="pod_drift", message=pod_drift_text(entry))
            counts["tests"] += 1
            counts["failures"] += 1
        for entry in host.get("protected_but_killed") or []:
            # A protected unit or process that a killer took anyway: the protection did not protect.
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="protected-but-killed:%s:%s" % (
                _known(entry["target"], "?"), entry["killer"]), time="0")
            ET.SubElement(case, "failure", type="protected_but_killed", message=protected_kill_text(entry))
            counts["tests"] += 1
            counts["failures"] += 1
        if host["events"]:
            # The kill history is no test result, but CI readers of this file must see it too.
            ET.SubElement(props, "property", name="recent_oom_kills", value=str(len(host["events"])))
            ET.SubElement(suite, "system-out").text = "\n".join(_event_line(event) for event in host["events"])
        if host["errors"] and host["status"] not in ("unreachable", "failed"):
            err = ET.SubElement(suite, "system-err")
            err.text = "\n".join(host["errors"])
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", "0")
    _indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _event_line(event):
    """One OOM kill as a line: the killer, time, victim, its unit and oom_score_adj, and where the kill happened
    (a userspace killer's: the cgroup, pod, reason and signal)."""
    killer = event.get("killer") or "kernel"
    if killer == "kernel":
        where = "in %s" % event["oom_memcg"] if event.get("scope") == "memcg" and event.get("oom_memcg") else \
            event.get("scope") or "scope unknown"
        owner = container_text(event.get("container"))
        return "OOM kill by kernel %s: %s%s, oom_score_adj %s, %s%s" % (
            event.get("time") or "at an unknown time", event_victim(event),
            " in %s" % owner if owner else " of %s" % event["unit"] if event.get("unit") else "",
            _known(event.get("oom_score_adj")), where,
            " (read from the summary line)" if event.get("line") == "summary" else "")
    victim = event_victim(event)
    facts = [container_text(event["container"])] if event.get("container") else []
    for key in ("unit", "pod", "cgroup"):
        if event.get(key) and not victim.startswith(key + " "):
            facts.append("%s %s" % (key, event[key]))
    facts.append("reason %s" % _known(event.get("reason")))
    if event.get("signal"):
        facts.append(event["signal"])
    return "OOM kill by %s %s: %s, %s" % (killer, event.get("time") or "at an unknown time", victim, ", ".join(facts))


def _indent(elem, level=0):
    # ElementTree.indent() is Python 3.9+.
    pad = "\n" + "  " * level
    children = list(elem)
    if children:
        if not (elem.text or "").strip():
            elem.text = pad + "  "
        for child in children:
            _indent(child, level + 1)
        if not (children[-1].tail or "").strip():
            children[-1].tail = pad
    if level and not (elem.tail or "").strip():
        elem.tail = pad


# ---------------------------------------------------------------------------------------------------------
# HTML


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


def render_html(report):
    """The static HTML page (module_utils/report_html.py: a Jinja2 template; Jinja2 is needed)."""
    from ansible_collections.oomguard.fleet.plugins.module_utils._report import html as report_html
    return report_html.render_html(report)


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html}  # and "prometheus", below
FILE_NAMES = {"json": "oom-audit.json", "junit": "oom-audit.xml", "html": "oom-audit.html",
              "prometheus": "oom-audit.prom"}


def render_all(report, formats=("json", "junit", "html")):
    return {fmt: RENDERERS[fmt](report) for fmt in formats}


# ---------------------------------------------------------------------------------------------------------
# Prometheus node_exporter textfile collector (one host)

PROMETHEUS_METRICS = (
    ("oomguard_assignment_status", "gauge",
     "Compliance of each OOM protection assignment: 1 for its current status, 0 for the others."),
    ("oomguard_assignment_policy_oom_score_adj", "gauge", "The oom_score_adj the assignment's tier asks for."),
    ("oomguard_assignment_declared_oom_score_adj", "gauge",
     "The OOMScoreAdjust= the unit's files declare (absent when nothing is declared)."),
    ("oomguard_assignment_effective_oom_score_adj_min", "gauge",
     "The lowest oom_score_adj the kernel applies to the assignment's processes (absent without processes)."),
    ("oomguard_assignment_effective_oom_score_adj_max", "gauge",
     "The highest oom_score_adj the kernel applies to the assignment's processes (absent without processes)."),
    ("oomguard_assignment_processes", "gauge", "Live processes of the assignment."),
    ("oomguard_assignment_setting_status", "gauge",
     "Each memory or systemd-oomd setting of an assignment: 1 for its status (ok, drift, not_effective)."),
    ("oomguard_assignment_cgroup_oom_kills", "gauge",
     "OOM kills the unit's cgroup counted (memory.events oom_kill, or memory.oom_control on cgroup v1)."),
    ("oomguard_assignment_oomd_kills", "gauge", "Processes systemd-oomd killed in the unit's cgroup (user.oomd_kill)."),
    ("oomguard_systemd_oomd_running", "gauge", "1 when systemd-oomd runs on the host."),
    ("oomguard_userspace_killer_running", "gauge",
     "1 when the userspace killer (earlyoom, nohang, systemd-oomd) runs on the host, 0 when it does not."),
    ("oomguard_userspace_killer_acts_before_kernel", "gauge",
     "1 when a running userspace killer acts before the kernel's OOM killer, 0 when it never does (dry run, "
     "nothing monitored); no sample when its settings are unknown."),
    ("oomguard_assignments", "gauge", "Assignments on this host by compliance status."),
    ("oomguard_compliant", "gauge", "1 when every assignment on this host is ok or not running (or there are none)."),
    ("oomguard_host_status", "gauge",
     "The host's audit status: 1 for its current one, 0 for the others (denied: only assignments this host cannot "
     "reach without CAP_SYS_RESOURCE fail)."),
    ("oomguard_can_lower_oom_score_adj", "gauge",
     "1 when this host may lower oom_score_adj below a process's floor (CAP_SYS_RESOURCE)."),
    ("oomguard_kernel_oom_kills_total", "counter", "OOM kills since boot (oom_kill in /proc/vmstat)."),
    ("oomguard_recent_oom_kills", "gauge",
     "OOM kills found in the logs within the audit's time window, by killer (kernel, systemd-oomd, earlyoom, nohang, "
     "kubelet, oomd; each killer looked for has a sample, 0 when it killed nothing)."),
    ("oomguard_protected_but_killed", "gauge",
     "Kills of units or processes in a protective tier (negative oom_score_adj, ManagedOOMPreference avoid or "
     "omit) within the audit's time window, by killer."),
    ("oomguard_host_at_risk", "gauge", "1 when a headroom figure is at or above its at_risk threshold."),
    ("oomguard_headroom_finding", "gauge",
     "Headroom figures over a threshold: the figure's value, labelled with the level and the threshold crossed."),
    ("oomguard_memory_total_bytes", "gauge", "MemTotal."),
    ("oomguard_memory_available_bytes", "gauge", "MemAvailable: what can be allocated without swapping."),
    ("oomguard_swap_total_bytes", "gauge", "SwapTotal."),
    ("oomguard_swap_free_bytes", "gauge", "SwapFree."),
    ("oomguard_commit_charge_bytes", "gauge", "Committed_AS."),
    ("oomguard_commit_limit_bytes", "gauge", "CommitLimit (enforced only with vm.overcommit_memory=2)."),
    ("oomguard_overcommit_memory", "gauge", "vm.overcommit_memory."),
    ("oomguard_memory_pressure_percent", "gauge",
     "Memory PSI: share of wall time some/all tasks stalled on memory, over 10, 60 and 300 s."),
    ("oomguard_memory_pressure_stall_seconds_total", "counter", "Memory PSI: time stalled on memory since boot."),
    ("oomguard_next_victim_oom_score", "gauge",
     "oom_score of the processes the OOM killer would take first (rank 1 first); protected=true when the "
     "process belongs to an assignment with a negative oom_score_adj."),
    ("oomguard_protection_leaks", "gauge", "Processes holding a negative oom_score_adj that nothing assigns."),
    ("oomguard_pod_drift", "gauge",
     "Processes of pod containers whose oom_score_adj is not what kubelet's QoS policy gives them (Kubernetes "
     "nodes only)."),
    ("oomguard_recent_container_oom_kills", "gauge",
     "OOM kills within the audit's time window of processes in containers, by killer, runtime, pod and container "
     "(one sample per container killed in: no per-process labels)."),
    ("oomguard_protection_leak_memory_bytes", "gauge",
     "Memory of each protection leak, labelled with where its value came from."),
)


def _prom_label(value):
    text = clean_text("" if value is None else value, 1024)
    return text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _prom_line(name, labels, value):
    label_text = ",".join('%s="%s"' % (key, _prom_label(val)) for key, val in labels)
    return "%s{%s} %s" % (name, label_text, value) if label_text else "%s %s" % (name, value)


_HEADROOM_BYTES = (
    ("oomguard_memory_total_bytes", "mem_total_kb"), ("oomguard_memory_available_bytes", "mem_available_kb"),
    ("oomguard_swap_total_bytes", "swap_total_kb"), ("oomguard_swap_free_bytes", "swap_free_kb"),
    ("oomguard_commit_charge_bytes", "committed_kb"), ("oomguard_commit_limit_bytes", "commit_limit_kb"),
)


def _prom_number(value):
    return ("%d" % value) if isinstance(value, int) else repr(float(value))


def _protected_pids_and_units(records):
    pids, units = set(), set()
    for rec in records:
        if rec["policy_oom_score_adj"] is not None and rec["policy_oom_score_adj"] < 0:
            pids.update(p["pid"] for p in rec["processes"])
            if rec["kind"] == "unit" and rec["target"]:
                units.add(rec["target"])
    return pids, units


def _prometheus_findings(host, samples, records):
    """Headroom, pressure, next victims and leaks (what the audit sees beyond compliance)."""
    headroom = host["headroom"]
    if headroom is not None:
        samples["oomguard_host_at_risk"].append(_prom_line("oomguard_host_at_risk", [], int(host["risk"]["at_risk"])))
        for finding in host["risk"]["findings"]:
            samples["oomguard_headroom_finding"].append(_prom_line(
                "oomguard_headroom_finding", [("figure", finding["figure"]), ("level", finding["level"]),
                                              ("threshold", _prom_number(finding["threshold"]))],
                _prom_number(finding["value"])))
        for name, key in _HEADROOM_BYTES:
            if headroom[key] is not None:
                samples[name].append(_prom_line(name, [], headroom[key] * 1024))
        if headroom["overcommit_memory"] is not None:
            samples["oomguard_overcommit_memory"].append(
                _prom_line("oomguard_overcommit_memory", [], headroom["overcommit_memory"]))
        for kind, values in sorted((headroom["pressure"] or {}).items()):
            for window in ("10", "60", "300"):
                if values["avg" + window] is not None:
                    samples["oomguard_memory_pressure_percent"].append(_prom_line(
                        "oomguard_memory_pressure_percent", [("kind", kind), ("window", window + "s")],
                        _prom_number(values["avg" + window])))
            if values["total"] is not None:
                samples["oomguard_memory_pressure_stall_seconds_total"].append(_prom_line(
                    "oomguard_memory_pressure_stall_seconds_total", [("kind", kind)],
                    repr(values["total"] / 1000000.0)))
    pids, units = _protected_pids_and_units(records)
    for victim in host["kill_order"]:
        if victim["oom_score"] is None:
            continue
        protected = victim["pid"] in pids or (victim["unit"] is not None and victim["unit"] in units)
        container = victim.get("container") or {}
        samples["oomguard_next_victim_oom_score"].append(_prom_line(
            "oomguard_next_victim_oom_score", [("rank", victim["rank"]), ("pid", victim["pid"]), ("name", victim["name"]),
                                               ("unit", victim["unit"] or ""), ("protected", str(protected).lower()),
                                               ("container", container.get("name") or container.get("id") or ""),
                                               ("pod", container.get("pod") or "")],
            victim["oom_score"]))
    if host["reachable"] and host["status"] != "failed":
        samples["oomguard_protection_leaks"].append(_prom_line("oomguard_protection_leaks", [], len(host["leaks"])))
        samples["oomguard_pod_drift"].append(_prom_line("oomguard_pod_drift", [], len(host.get("pod_drift") or [])))
    in_containers = {}
    for event in host["events"]:
        container = event.get("container")
        if container:
            key = (event["killer"], container["runtime"], container["pod"] or "",
                   container["name"] or container["id"] or "")
            in_containers[key] = in_containers.get(key, 0) + 1
    for (killer, runtime, pod, name), count in sorted(in_containers.items()):
        samples["oomguard_recent_container_oom_kills"].append(_prom_line(
            "oomguard_recent_container_oom_kills",
            [("killer", killer), ("runtime", runtime), ("pod", pod), ("container", name)], count))
    for leak in host["leaks"]:
        source = leak["source"] or {}
        samples["oomguard_protection_leak_memory_bytes"].append(_prom_line(
            "oomguard_protection_leak_memory_bytes",
            [("pid", leak["pid"]), ("name", leak["name"]), ("unit", leak["unit"] or ""),
             ("oom_score_adj", leak["oom_score_adj"]), ("source_name", source.get("name") or ""),
             ("source_unit", source.get("unit") or "")], (leak["memory_kb"] or 0) * 1024))


def render_prometheus(host):
    """The textfile-collector exposition of one normalised host (see normalize_host), sorted and stable."""
    return _exposition(prometheus_samples(host))


def render_prometheus_fleet(report):
    """Every host of a report in one exposition, each sample labelled with its host (host="name"), for a
    textfile collector or a push gateway next to the controller."""
    samples = {name: [] for name, _type, _help in PROMETHEUS_METRICS}
    for host in report["hosts"]:
        label = 'host="%s"' % _prom_label(host["name"])
        for name, lines in prometheus_samples(host).items():
            for line in lines:
                rest = line[len(name):]
                samples[name].append("%s{%s,%s" % (name, label, rest[1:]) if rest.startswith("{")
                                     else "%s{%s}%s" % (name, label, rest))
    return _exposition(samples)


RENDERERS["prometheus"] = render_prometheus_fleet


def _exposition(samples):
    out = []
    for name, kind, text in PROMETHEUS_METRICS:
        if samples[name]:
            out.append("# HELP %s %s" % (name, text))
            out.append("# TYPE %s %s" % (name, kind))
            out.extend(sorted(samples[name]))
    return "\n".join(out) + "\n"


def prometheus_samples(host):
    """{metric: [sample lines]} of one normalised host."""
    samples = {name: [] for name, _type, _help in PROMETHEUS_METRICS}
    records = host["compliance"]["records"] if host["compliance"] else []
    for rec in records:
        labels = [("kind", rec["kind"]), ("target", rec["target"]), ("tier", rec["tier"])]
        for status in RECORD_STATUSES:
            samples["oomguard_assignment_status"].append(
                _prom_line("oomguard_assignment_status", labels + [("status", status)], int(rec["status"] == status)))
        if rec["policy_oom_score_adj"] is not None:
            samples["oomguard_assignment_policy_oom_score_adj"].append(
                _prom_line("oomguard_assignment_policy_oom_score_adj", labels, rec["policy_oom_score_adj"]))
        if rec["declared_oom_score_adj"] is not None and rec["declared_set"] is not False:
            samples["oomguard_assignment_declared_oom_score_adj"].append(
                _prom_line("oomguard_assignment_declared_oom_score_adj", labels, rec["declared_oom_score_adj"]))
        adjs = [p["oom_score_adj"] for p in rec["processes"] if p["oom_score_adj"] is not None]
        if adjs:
            samples["oomguard_assignment_effective_oom_score_adj_min"].append(
                _prom_line("oomguard_assignment_effective_oom_score_adj_min", labels, min(adjs)))
            samples["oomguard_assignment_effective_oom_score_adj_max"].append(
                _prom_line("oomguard_assignment_effective_oom_score_adj_max", labels, max(adjs)))
        samples["oomguard_assignment_processes"].append(
            _prom_line("oomguard_assignment_processes", labels, len(rec["processes"])))
        for entry in rec.get("settings") or []:
            samples["oomguard_assignment_setting_status"].append(_prom_line(
                "oomguard_assignment_setting_status", labels + [("setting", entry["setting"]), ("status", entry["status"])],
                1))
        for key, metric in (("oom_kills", "oomguard_assignment_cgroup_oom_kills"),
                            ("oomd_kills", "oomguard_assignment_oomd_kills")):
            if rec.get(key) is not None:
                samples[metric].append(_prom_line(metric, labels, rec[key]))
    for status in RECORD_STATUSES:
        samples["oomguard_assignments"].append(
            _prom_line("oomguard_assignments", [("status", status)], host["assignments"][status]))
    samples["oomguard_compliant"].append(
        _prom_line("oomguard_compliant", [], int(host["status"] in ("compliant", "no_assignments"))))
    for status in HOST_STATUSES:
        samples["oomguard_host_status"].append(
            _prom_line("oomguard_host_status", [("status", status)], int(host["status"] == status)))
    settings = host["host"] or {}
    can_lower = settings.get("can_lower_adj")
    if host["compliance"] and host["compliance"]["can_lower_adj"] is not None:
        can_lower = host["compliance"]["can_lower_adj"]
    if isinstance(can_lower, bool):
        samples["oomguard_can_lower_oom_score_adj"].append(
            _prom_line("oomguard_can_lower_oom_score_adj", [], int(can_lower)))
    kills = clean_int(settings.get("oom_kill_count"))
    if kills is not None:
        samples["oomguard_kernel_oom_kills_total"].append(_prom_line("oomguard_kernel_oom_kills_total", [], kills))
    if host["events"] or host["events_source"] is not None or host.get("killers_looked_for"):
        by_killer = dict(host.get("kills_by_killer") or {})
        for killer in host.get("killers_looked_for") or ["kernel"]:
            if killer in KILLERS:
                by_killer.setdefault(killer, 0)
        for killer, count in by_killer.items():
            samples["oomguard_recent_oom_kills"].append(
                _prom_line("oomguard_recent_oom_kills", [("killer", killer)], count))
        protected = {}
        for entry in host.get("protected_but_killed") or []:
            protected[entry["killer"]] = protected.get(entry["killer"], 0) + 1
        for killer, count in protected.items():
            samples["oomguard_protected_but_killed"].append(
                _prom_line("oomguard_protected_but_killed", [("killer", killer)], count))
    _prometheus_findings(host, samples, records)
    if host.get("oomd") and host["oomd"]["running"] is not None:
        samples["oomguard_systemd_oomd_running"].append(
            _prom_line("oomguard_systemd_oomd_running", [], int(host["oomd"]["running"])))
    killers = host.get("userspace_killers")
    if killers is not None:
        for killer in USERSPACE_KILLERS:
            mine = [k for k in killers if k["killer"] == killer]
            samples["oomguard_userspace_killer_running"].append(
                _prom_line("oomguard_userspace_killer_running", [("killer", killer)], int(bool(mine))))
            known = [k["acts_before_kernel"] for k in mine if k["acts_before_kernel"] is not None]
            if known:
                samples["oomguard_userspace_killer_acts_before_kernel"].append(
                    _prom_line("oomguard_userspace_killer_acts_before_kernel", [("killer", killer)], int(any(known))))
    return samples
