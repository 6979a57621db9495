# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Compliance: each assignment of the role's plan judged against what the host declares and what the kernel
applies (ok, drift, denied, missing, not_running, not_effective, with reasons), and the records as lines.
Pure: it reads the results of oom_score_info and oom_score_adj (or oom_protection_apply). The role reaches
it through the oom_protection_compliance and oom_protection_summary_lines filters.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import cgroup_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import unit_matches
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.policy import PolicyError, systemd_directive
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import is_template, unit_type

SCHEMA = 1
STATUSES = ("ok", "drift", "denied", "missing", "not_running", "not_effective")


def _fail(message):
    raise PolicyError("oom_protection: " + message)


def _denied_by_pid(adj_result):
    """Processes the kernel really refused. Check-mode predictions are left out: they flag any lowering,
    though without CAP_SYS_RESOURCE the floor is usually 0; _cannot_reach() judges those cases."""
    return {entry.get("pid"): entry for entry in (adj_result or {}).get("denied") or [] if not entry.get("predicted")}


def _cannot_reach(current, wanted, can_lower_adj):
    """Without CAP_SYS_RESOURCE the kernel refuses values below the process's floor (0 unless a privileged
    writer set it higher); systemd then silently keeps the inherited value."""
    return not can_lower_adj and wanted < current and wanted < 0


def _self_protected(value, wanted):
    """A process at -1000 under a protective (negative) policy disabled OOM killing for itself, as OpenSSH's
    sshd listener does at every start: it is more protected than the policy, and the role leaves it so."""
    return value == -1000 and wanted is not None and wanted < 0


def _self_protected_notes(processes, wanted):
    return ["pid %s (%s) protects itself at -1000 (never OOM-killed), more than policy %s: left as it is"
            % (proc.get("pid"), proc.get("name"), wanted)
            for proc in processes if _self_protected(proc.get("oom_score_adj"), wanted)]


def _process_findings(processes, wanted, can_lower_adj, denied):
    drift, refused = [], []
    for proc in processes:
        value = proc.get("oom_score_adj")
        if value == wanted or _self_protected(value, wanted):
            continue
        label = "pid %s (%s)" % (proc.get("pid"), proc.get("name"))
        if proc.get("pid") in denied or (value is not None and _cannot_reach(value, wanted, can_lower_adj)):
            refused.append("kernel keeps %s for %s: lowering below the process's floor needs CAP_SYS_RESOURCE, "
                           "which this host lacks" % (value, label))
        else:
            drift.append("%s has oom_score_adj %s, policy %s" % (label, value, wanted))
    return drift, refused


def _unit_record(unit, info_unit, can_lower_adj, denied, host=None):
    record = {
        "kind": "unit", "target": unit["name"], "tier": unit["tier"],
        "policy_oom_score_adj": unit["oom_score_adj"], "policy_oom_policy": unit["oom_policy"],
        "declared_oom_score_adj": None, "declared_set": False, "declared_oom_policy": None,
        "processes": [], "status": "missing", "reasons": [], "settings": [], "oom_kills": None, "oomd_kills": None,
    }
    if not info_unit or info_unit.get("load_state") in (None, "not-found", "bad-setting", "error", "masked"):
        state = (info_unit or {}).get("load_state") or "unknown"
        record["reasons"].append("unit %s is not loaded on this host (load state %s)" % (unit["name"], state))
        return record
    cgroup = info_unit.get("cgroup") or {}
    record.update(
        # Kill history the cgroup itself counted, readable without the kernel log.
        oom_kills=cgroup.get("oom_kills"),
        oomd_kills=_int_or_none((cgroup.get("xattrs") or {}).get("user.oomd_kill")),
        declared_oom_score_adj=info_unit.get("declared_oom_score_adj"),
        declared_set=bool(info_unit.get("declared_set")),
        declared_oom_policy=info_unit.get("declared_oom_policy"),
        processes=[{"pid": p.get("pid"), "name": p.get("name"), "oom_score_adj": p.get("oom_score_adj")}
                   for p in info_unit.get("processes") or []],
    )
    drift = []
    if unit["oom_score_adj"] is None:
        pass  # a tier of cgroup settings only (a slice, say): nothing about OOMScoreAdjust= to judge
    elif not record["declared_set"]:
        drift.append("systemd declares no OOMScoreAdjust= for %s, policy %d" % (unit["name"], unit["oom_score_adj"]))
    elif record["declared_oom_score_adj"] != unit["oom_score_adj"]:
        source = info_unit.get("declared_source")
        drift.append("systemd declares OOMScoreAdjust=%s%s, policy %d" % (
            record["declared_oom_score_adj"], " (from %s)" % source if source else "", unit["oom_score_adj"]))
    if unit["oom_policy"] is not None and record["declared_oom_policy"] != unit["oom_policy"]:
        drift.append("systemd declares OOMPolicy=%s, policy %s" % (record["declared_oom_policy"], unit["oom_policy"]))
    refused = []
    if unit["oom_score_adj"] is not None:
        live_drift, refused = _process_findings(record["processes"], unit["oom_score_adj"], can_lower_adj, denied)
        drift.extend(live_drift)
    ineffective = []
    if unit.get("cgroup"):
        record["settings"] = _setting_findings(unit, info_unit.get("cgroup") or {}, host or {})
        drift.extend(entry["reason"] for entry in record["settings"] if entry["status"] == "drift")
        ineffective = [entry["reason"] for entry in record["settings"] if entry["status"] == "not_effective"]
    record["reasons"] = drift + refused + ineffective + _self_protected_notes(
        record["processes"], unit["oom_score_adj"])
    # A slice has no processes of its own (they belong to its services): its cgroup existing is "running".
    running = bool(record["processes"]) or (unit_type(unit["name"]) == "slice"
                                            and bool((info_unit.get("cgroup") or {}).get("exists")))
    if drift:
        record["status"] = "drift"
    elif refused:
        record["status"] = "denied"
    elif ineffective:
        record["status"] = "not_effective"
    elif not running:
        record["status"] = "not_running"
        record["reasons"].append("%s has no running process" % unit["name"])
    else:
        record["status"] = "ok"
    return record


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _setting_findings(unit, facts, host):
    """Policy vs declared (systemctl show) vs effective (the cgroup) for each cgroup setting of the tier.

    Each finding is {setting, policy, declared, effective, status, reason}, status ok | drift | not_effective:
    not_effective when this host cannot give the setting any effect (no v2 memory controller, systemd too
    old for it, systemd-oomd not running), so a record is never ok for something that is not in force."""
    page_size = host.get("page_size") or 4096
    mem_total = (host.get("mem_total_kb") or 0) * 1024
    layout = facts.get("layout")
    exists = bool(facts.get("exists"))
    declared_all = facts.get("declared") or {}
    oomd = host.get("systemd_oomd") or {}
    findings = []
    for key, wanted in unit["cgroup"].items():
        directive = systemd_directive(key)
        declared = declared_all.get(key)
        entry = {"setting": key, "policy": wanted, "declared": declared, "effective": None, "status": "ok",
                 "reason": None}
        findings.append(entry)
        if key in memory_settings.MEMORY_KEYS:
            expected = memory_settings.expected_bytes(wanted, mem_total, page_size)
            effective = cgroup_settings.effective(facts, key)
            entry["effective"] = effective
        else:
            expected = float(wanted.rstrip("%")) if key == "managed_oom_memory_pressure_limit" else wanted
            effective = _oomd_effective(key, facts, oomd)
            entry["effective"] = effective
        if declared is None:
            entry.update(status="not_effective", reason="systemd on this host has no %s= setting (too old), so %s "
                         "has no effect" % (directive, key))
            continue
        if not memory_settings.same_value(declared, expected, page_size):
            entry.update(status="drift", reason="systemd declares %s=%s, policy %s" % (directive, declared, wanted))
            continue
        problem = _cannot_take_effect(key, layout, oomd)
        if problem is None and key == "memory_max" and layout == "v1" and not exists:
            problem = "the unit has no cgroup of its own in the v1 memory hierarchy, so MemoryMax= is not applied"
        elif problem is None and key == "memory_max" and layout == "v1" and not memory_settings.same_value(
                effective, expected, page_size):
            problem = ("the v1 memory controller holds memory.limit_in_bytes %s, not %s: systemd could not apply "
                       "MemoryMax= here" % (effective, expected))
        if problem:
            entry.update(status="not_effective", reason="%s: %s" % (key, problem))
            continue
        if exists and not memory_settings.same_value(effective, expected, page_size):
            where = "the cgroup of %s" % unit["name"]
            entry.update(status="drift", reason="%s holds %s %s, policy %s" % (
                where, _effective_label(key), "none" if effective is None else effective, wanted))
    return findings


def _effective_label(key):
    if key in memory_settings.MEMORY_KEYS:
        return dict((k, f) for k, _d, f in memory_settings.MEMORY_SETTINGS)[key]
    return {"managed_oom_preference": "the systemd-oomd mark",
            "managed_oom_memory_pressure_limit": "the systemd-oomd pressure limit"}.get(key, "systemd-oomd monitoring")


def _oomd_effective(key, facts, oomd):
    """What systemd-oomd really sees for the unit: the xattr on its cgroup, or its place in oomd's lists."""
    if key == "managed_oom_preference":
        return cgroup_settings.mark_of(facts)
    monitored = oomd.get("monitored")
    if monitored is None:
        return None
    path = facts.get("control_group")
    if key == "managed_oom_swap":
        return "kill" if any(entry.get("path") == path for entry in monitored.get("swap") or []) else "auto"
    entries = [entry for entry in monitored.get("memory_pressure") or [] if entry.get("path") == path]
    if key == "managed_oom_memory_pressure":
        return "kill" if entries else "auto"
    return entries[0].get("limit_percent") if entries else None


def _cannot_take_effect(key, layout, oomd):
    """Why a declared setting cannot be in force on this host, or None."""
    if key in memory_settings.MEMORY_KEYS:
        if layout is None:
            return "the host has no memory controller"
        if layout == "v1" and key != "memory_max":
            return "on a cgroup v1 memory controller systemd applies only MemoryMax=, not %s=" % systemd_directive(key)
        return None
    if layout != "v2":
        return "systemd-oomd needs the unified cgroup hierarchy (cgroup v2 with the memory controller)"
    if not oomd.get("running"):
        return "systemd-oomd is not running, so %s= has no effect" % systemd_directive(key)
    if oomd.get("monitored") is None:
        return "systemd-oomd's state could not be read (%s)" % (oomd.get("error") or "no oomctl dump")
    return None


def _own_processes(name, plan_units, units_info):
    """The unit's facts, where a template's processes leave out those of instances assigned on their own:
    an instance's own value wins over its template's (its drop-in sorts later), so they are judged there."""
    facts = units_info.get(name)
    if not facts or not is_template(name):
        return facts
    elsewhere = set()
    for unit in plan_units:
        if unit["name"] != name and unit_matches(name, unit["name"]):
            elsewhere.update(proc.get("pid") for proc in (units_info.get(unit["name"]) or {}).get("processes") or [])
    if not elsewhere:
        return facts
    return dict(facts, processes=[proc for proc in facts.get("processes") or [] if proc.get("pid") not in elsewhere])


def _process_record(entry, found, can_lower_adj, denied):
    record = {
        "kind": "process", "target": entry["target"], "tier": entry["tier"],
        "policy_oom_score_adj": entry["oom_score_adj"], "policy_oom_policy": None,
        "declared_oom_score_adj": None, "declared_set": False, "declared_oom_policy": None,
        "processes": found["processes"], "status": "ok", "reasons": [], "settings": [], "oom_kills": None,
        "oomd_kills": None,
    }
    if not found["matched"]:
        record["status"] = "missing" if entry.get("required") else "not_running"
        if found.get("runtime_owned"):
            record["reasons"].append(
                "no process this assignment may change matches %s: %d matching process(es) run in containers and "
                "are left to their runtime (containers: include changes them)" % (entry["target"], found["runtime_owned"]))
        else:
            record["reasons"].append("no process matches %s" % entry["target"])
        return record
    drift, refused = _process_findings(found["processes"], entry["oom_score_adj"], can_lower_adj, denied)
    record["reasons"] = drift + refused + _self_protected_notes(found["processes"], entry["oom_score_adj"])
    record["status"] = "drift" if drift else "denied" if refused else "ok"
    return record


def _rule_index(entry):
    rule = entry.get("rule")
    return rule.get("index") if isinstance(rule, dict) else rule


def _found_by_rule(adj_result, offset, count, check_mode):
    """What each process rule matched, from oom_score_adj's result: {rule: {matched, processes}}.

    The module lists the processes it changed (in check mode: would change, with their live value as
    `before`), those the kernel refused and those it kept at the value they have (`kept`), so a record lists
    every live process of its rule; an `ok` record is never one without processes."""
    result = adj_result or {}
    found = {index: {"matched": 0, "processes": {}, "runtime_owned": 0} for index in range(count)}
    for entry in result.get("excluded") or []:
        # Matched, but a container runtime owns the value: the rule leaves it alone (containers: exclude).
        index = _rule_index(entry) if entry.get("runtime_owned") else None
        if isinstance(index, int) and index - offset in found:
            found[index - offset]["runtime_owned"] += 1
    for summary in result.get("rules") or []:
        index = summary.get("index", -1) - offset
        if index in found:
            found[index]["matched"] = summary.get("matched") or 0
    listed = [(entry, entry.get("before") if check_mode else entry.get("after")) for entry in result.get("changes") or []]
    listed += [(entry, entry.get("before")) for entry in result.get("denied") or []]
    listed += [(entry, entry.get("oom_score_adj")) for entry in result.get("kept") or []]
    for entry, value in listed:
        index = _rule_index(entry)
        if not isinstance(index, int) or index - offset not in found:
            continue
        slot = found[index - offset]
        slot["processes"][entry.get("pid")] = {"pid": entry.get("pid"), "name": entry.get("name"), "oom_score_adj": value}
        slot["matched"] = max(slot["matched"], len(slot["processes"]))
    for slot in found.values():
        slot["processes"] = sorted(slot["processes"].values(), key=lambda proc: proc["pid"] or 0)
    return found


def compliance(plan, info=None, adj=None, systemd=True, state="present", can_lower_adj=None,
               rule_offset=0, check_mode=False):
    """Build the oom_protection_compliance fact. See oom_protection_compliance.yml."""
    if not isinstance(plan, dict) or "units" not in plan:
        _fail("oom_protection_compliance expects the result of oom_protection_plan as its input")
    info = info or {}
    if can_lower_adj is None:
        can_lower_adj = bool((info.get("host") or {}).get("can_lower_adj"))
    denied = _denied_by_pid(adj)
    records = []
    if state == "present":
        if systemd:
            units_info = info.get("units") or {}
            records.extend(_unit_record(unit, _own_processes(unit["name"], plan["units"], units_info), can_lower_adj,
                                        denied, info.get("host"))
                           for unit in plan["units"])
        found = _found_by_rule(adj, rule_offset, len(plan["processes"]), check_mode)
        records.extend(_process_record(entry, found[index], can_lower_adj, denied)
                       for index, entry in enumerate(plan["processes"]))
    summary = {status: 0 for status in STATUSES}
    for record in records:
        summary[record["status"]] += 1
    return {
        "schema": SCHEMA,
        "systemd": bool(systemd),
        "can_lower_adj": bool(can_lower_adj),
        "state": state,
        "records": records,
        "summary": summary,
        "skipped_units": [] if systemd or state != "present" else list(plan["unit_names"]),
    }


def summary_lines(compliance):
    """The compliance fact as lines a person reads: the counts, then one line per record that is not ok.
    See oom_protection_summary_lines.yml."""
    if not isinstance(compliance, dict) or "records" not in compliance:
        _fail("oom_protection_summary_lines expects the oom_protection_compliance fact")
    summary = compliance.get("summary") or {}
    counts = ", ".join("%d %s" % (summary[status], status) for status in STATUSES
                       if summary.get(status))
    state = compliance.get("state")
    if state == "absent":
        head = "oom_protection: removed (state absent)"
    else:
        head = "oom_protection: %s" % (counts or "nothing assigned to this host")
    lines = [head]
    for record in compliance["records"]:
        if record.get("status") != "ok":
            reasons = "; ".join(record.get("reasons") or [])
            lines.append("%s %s: %s%s" % (record.get("kind", "unit"), record.get("target"),
                                          record.get("status"), " (%s)" % reasons if reasons else ""))
    if compliance.get("skipped_units"):
        lines.append("no systemd on this host: skipped the unit assignments %s" % ", ".join(compliance["skipped_units"]))
    return lines
