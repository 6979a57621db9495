# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side policy logic of the oom_protection role: the plan (tiers, merged assignments,
validation) and the compliance records (policy vs declared vs what the kernel applies).

Kept out of Jinja so it can be unit-tested and so every error names the variable that caused it.
"""

from __future__ import annotations

import difflib
import re

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

# What a process assignment does with processes in containers: oom_score_adj's rules[].containers.
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import CONTAINER_MODES
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import SELECTOR_KEYS, describe, name_error
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import unit_matches
from ansible_collections.oomguard.fleet.plugins.module_utils._model.sysctls import oom_sysctl_error
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    OOM_POLICIES, OOM_POLICY_TYPES, OOM_SCORE_ADJUST_TYPES, is_template, unit_name_error, unit_type,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import cgroup_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model import oomd_settings

SCHEMA = 1
STATUSES = ("ok", "drift", "denied", "missing", "not_running", "not_effective")
UNITS_VAR = "oom_protection_units"
PROCESSES_VAR = "oom_protection_processes"
PROCESS_KEYS = frozenset(SELECTOR_KEYS) | {"include_descendants", "tier", "required", "containers"}
# Tier keys that become cgroup settings of a unit (resource control and systemd-oomd), in drop-in order.
CGROUP_KEYS = memory_settings.MEMORY_KEYS + oomd_settings.MANAGED_OOM_KEYS
TIER_KEYS = ("oom_score_adj", "oom_policy", "description") + CGROUP_KEYS


def _fail(message):
    raise AnsibleFilterError("oom_protection: " + message)


# --------------------------------------------------------------------------------------------------- plan

def _resolve_tiers(tiers, custom_tiers):
    merged = {}
    for var, source in (("oom_protection_tiers", tiers), ("oom_protection_custom_tiers", custom_tiers)):
        if source is None:
            continue
        if not isinstance(source, dict):
            _fail("%s must be a mapping of tier name to settings, got %s" % (var, type(source).__name__))
        for name, spec in source.items():
            merged[str(name)] = (var, spec)
    resolved = {}
    for name, (var, spec) in merged.items():
        where = "%s.%s" % (var, name)
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = {"oom_score_adj": spec}
        if not isinstance(spec, dict):
            _fail("%s must be an integer or a mapping with oom_score_adj (and optional oom_policy), got %r"
                  % (where, spec))
        unknown = sorted(set(spec) - set(TIER_KEYS))
        if unknown:
            _fail("%s has unknown keys %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(TIER_KEYS)))
        cgroup = _cgroup_settings(spec, where)
        value = spec.get("oom_score_adj")
        # A tier of cgroup settings only (for slices, say) needs no oom_score_adj; an explicit null is a mistake.
        if "oom_score_adj" in spec or not cgroup:
            if isinstance(value, bool) or not isinstance(value, int):
                _fail("%s.oom_score_adj must be an integer in -1000..1000, got %r" % (where, value))
            if not -1000 <= value <= 1000:
                _fail("%s.oom_score_adj is %d, outside -1000..1000" % (where, value))
        policy = spec.get("oom_policy")
        if policy is not None and policy not in OOM_POLICIES:
            _fail("%s.oom_policy must be one of %s, got %r" % (where, ", ".join(OOM_POLICIES), policy))
        resolved[name] = {"oom_score_adj": value, "oom_policy": policy, "source": var,
                          "oom_disable": value == -1000, "cgroup": cgroup}
    return resolved


def _cgroup_settings(spec, where):
    """The tier's memory and systemd-oomd settings, validated: {key: value} of the keys it sets."""
    settings = {}
    for key in memory_settings.MEMORY_KEYS:
        if spec.get(key) is not None:
            problem = memory_settings.memory_value_error(key, spec[key])
            if problem:
                _fail("%s.%s" % (where, problem))
            settings[key] = memory_settings.render_memory_value(spec[key])
    problem = memory_settings.memory_order_error(settings)
    if problem:
        _fail("%s: %s" % (where, problem))
    for key in oomd_settings.MANAGED_OOM_KEYS:
        if spec.get(key) is not None:
            problem = oomd_settings.setting_error(key, spec[key])
            if problem:
                _fail("%s.%s" % (where, problem))
            settings[key] = str(spec[key])
    if "managed_oom_memory_pressure_limit" in settings and settings.get("managed_oom_memory_pressure") != "kill":
        _fail("%s.managed_oom_memory_pressure_limit needs managed_oom_memory_pressure: kill (systemd ignores the "
              "limit otherwise)" % where)
    return settings


def _closest(word, choices):
    """The one of choices closest to word (a misspelling), or None."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _tier_of(tiers, tier, where, allow_oom_disable):
    if not isinstance(tier, str) or tier not in tiers:
        closest = _closest(tier, tiers)
        hint = "did you mean %r? " % closest if closest else ""
        _fail("%s: unknown tier %r (%stiers: %s)" % (where, tier, hint, ", ".join(tiers)))
    spec = tiers[tier]
    if spec["oom_disable"] and not allow_oom_disable:
        _fail("%s: tier %s is -1000, which makes its processes unkillable so that their own leak becomes a "
              "host-wide outage; set oom_protection_allow_oom_disable: true to allow it" % (where, tier))
    return spec


def _unit_entry(value, where):
    """(tier, opted in for a runtime's unit) of one unit assignment: a tier name, or {tier, containers}."""
    if not isinstance(value, dict):
        return value, False
    unknown = sorted(set(value) - {"tier", "containers"})
    if unknown:
        _fail("%s has unknown keys %s (a unit takes a tier name, or tier and containers)" % (where, ", ".join(unknown)))
    containers = value.get("containers")
    if containers is not None and containers not in ("exclude", "include"):
        _fail("%s: containers must be exclude or include, got %r" % (where, containers))
    return value.get("tier"), containers == "include"


def _merge_units(units, units_by_var):
    """{unit: (tier, var, opted in)}: the union of every oom_protection_units_* variable, then
    oom_protection_units on top (host vars override groups there; a null tier drops the unit on that host)."""
    chosen = {}
    conflicts = {}
    for var in sorted(units_by_var or {}):
        mapping = units_by_var[var]
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            _fail("%s must be a mapping of unit name to tier, got %s" % (var, type(mapping).__name__))
        for unit, value in mapping.items():
            tier, opted = _unit_entry(value, "%s: %s" % (var, unit))
            if unit in chosen and chosen[unit][0] != tier:
                conflicts[unit] = "%s is %s in %s but %s in %s" % (unit, chosen[unit][0], chosen[unit][1], tier, var)
            chosen.setdefault(unit, (tier, var, opted))
    if units is not None and not isinstance(units, dict):
        _fail("%s must be a mapping of unit name to tier, got %s" % (UNITS_VAR, type(units).__name__))
    for unit, value in (units or {}).items():
        conflicts.pop(unit, None)
        tier, opted = _unit_entry(value, "%s: %s" % (UNITS_VAR, unit))
        chosen[unit] = (tier, UNITS_VAR, opted)
    if conflicts:
        _fail("conflicting tiers for the same unit (set the unit in %s, for example in host_vars, to decide): %s"
              % (UNITS_VAR, "; ".join(conflicts[unit] for unit in sorted(conflicts))))
    return {unit: value for unit, value in chosen.items() if value[0] is not None}


def _runtime_owner(unit):
    """Why a container runtime or kubelet, not the role, owns unit's protection; None when nobody does."""
    if unit == "kubelet.service":
        return ("kubelet sets its own oom_score_adj from its configuration (oomScoreAdj) and puts it back every "
                "1-5 minutes, whatever its unit says")
    label = container_of("/" + unit)
    if label is not None:
        return "it is a unit of %s's (its runtime sets and restores the values of what runs in it)" % label["runtime"]
    return None


def _check_unit(unit, tier_spec, where):
    reason = unit_name_error(unit)
    if reason:
        _fail("%s: %r is not a valid systemd unit name: %s" % (where, unit, reason))
    utype = unit_type(unit)
    if tier_spec["oom_score_adj"] is not None and utype not in OOM_SCORE_ADJUST_TYPES:
        _fail("%s: %s units have no OOMScoreAdjust= setting (only .%s do); use a tier with only cgroup settings, "
              "or oom_protection_processes with a cgroup selector" % (where, "." + utype, ", .".join(OOM_SCORE_ADJUST_TYPES)))
    for key in tier_spec["cgroup"]:
        allowed = oomd_settings.MANAGED_OOM_TYPES if key in oomd_settings.MANAGED_OOM_KEYS and key != "managed_oom_preference" \
            else memory_settings.RESOURCE_CONTROL_TYPES
        if utype not in allowed:
            _fail("%s: the tier sets %s, but .%s units have no %s= setting (only .%s)"
                  % (where, key, utype, _systemd_directive(key), ", .".join(allowed)))
    if tier_spec["oom_policy"] is not None and utype not in OOM_POLICY_TYPES:
        _fail("%s: the tier sets oom_policy, but .%s units have no OOMPolicy= setting" % (where, utype))


def _systemd_directive(key):
    if key in oomd_settings.MANAGED_OOM_KEYS:
        return oomd_settings.directive(key)
    return dict((k, d) for k, d, _f in memory_settings.MEMORY_SETTINGS)[key]


def _selector_of(entry, where):
    if not isinstance(entry, dict):
        _fail("%s must be a mapping with a selector and a tier, got %r" % (where, entry))
    unknown = sorted(set(entry) - PROCESS_KEYS)
    if unknown:
        _fail("%s has unknown keys %s (selectors: %s; plus tier, required, include_descendants, containers)"
              % (where, ", ".join(unknown), ", ".join(SELECTOR_KEYS)))
    selector = {key: entry[key] for key in SELECTOR_KEYS if entry.get(key) is not None}
    if not selector:
        _fail("%s has no selector: give one of %s" % (where, ", ".join(SELECTOR_KEYS)))
    for key in ("name_pattern", "cmdline_pattern"):
        if key in selector:
            try:
                re.compile(selector[key])
            except (re.error, TypeError) as exc:
                _fail("%s: %s %r is not a valid regular expression: %s" % (where, key, selector[key], exc))
    if "name" in selector:
        reason = name_error(selector["name"])
        if reason:
            _fail("%s: name %s" % (where, reason))
    if "pid" in selector and (isinstance(selector["pid"], bool) or not isinstance(selector["pid"], int)
                              or selector["pid"] < 1):
        _fail("%s: pid must be a positive integer, got %r" % (where, selector["pid"]))
    if "unit" in selector:
        reason = unit_name_error(selector["unit"])
        if reason:
            _fail("%s: unit %r is not a valid systemd unit name: %s" % (where, selector["unit"], reason))
    if "cgroup" in selector and not str(selector["cgroup"]).startswith("/"):
        _fail("%s: cgroup %r must be an absolute cgroup path or glob" % (where, selector["cgroup"]))
    if entry.get("include_descendants"):
        selector["include_descendants"] = True
    containers = entry.get("containers")
    if containers is not None and containers not in CONTAINER_MODES:
        _fail("%s: containers must be one of %s, got %r" % (where, ", ".join(CONTAINER_MODES), containers))
    if containers in ("include", "only"):
        selector["containers"] = containers
    return selector


def _merge_processes(processes, processes_by_var):
    """Union by selector; equal selectors with different tiers conflict unless oom_protection_processes
    (the override layer) names the selector too."""
    chosen = {}
    conflicts = {}
    layers = [(var, processes_by_var[var]) for var in sorted(processes_by_var or {})]
    for var, entries in layers:
        if entries is None:
            continue
        if not isinstance(entries, list):
            _fail("%s must be a list of process assignments, got %s" % (var, type(entries).__name__))
        for index, entry in enumerate(entries):
            where = "%s[%d]" % (var, index)
            selector = _selector_of(entry, where)
            key = describe(selector)
            if key in chosen and chosen[key]["tier"] != entry.get("tier"):
                conflicts[key] = "%s is %s in %s but %s in %s" % (key, chosen[key]["tier"], chosen[key]["source"],
                                                                  entry.get("tier"), where)
                continue
            chosen.setdefault(key, dict(selector=selector, tier=entry.get("tier"), required=bool(entry.get("required")),
                                        source=where))
    if processes is not None and not isinstance(processes, list):
        _fail("%s must be a list of process assignments, got %s" % (PROCESSES_VAR, type(processes).__name__))
    for index, entry in enumerate(processes or []):
        where = "%s[%d]" % (PROCESSES_VAR, index)
        selector = _selector_of(entry, where)
        key = describe(selector)
        conflicts.pop(key, None)
        chosen[key] = dict(selector=selector, tier=entry.get("tier"), required=bool(entry.get("required")), source=where)
    if conflicts:
        _fail("conflicting tiers for the same process selector (repeat it in %s to decide): %s"
              % (PROCESSES_VAR, "; ".join(conflicts[k] for k in sorted(conflicts))))
    return chosen


def _check_sysctls(sysctls):
    if sysctls is None:
        return {}
    if not isinstance(sysctls, dict):
        _fail("oom_protection_sysctls must be a mapping, got %s" % type(sysctls).__name__)
    for key, value in sysctls.items():
        problem = oom_sysctl_error(key, value)
        if problem:
            _fail("oom_protection_sysctls: %s" % problem)
    return dict(sorted(sysctls.items()))


def oom_protection_plan(tiers, units=None, units_by_var=None, processes=None, processes_by_var=None,
                        custom_tiers=None, allow_oom_disable=False, sysctls=None):
    """Validate everything and resolve every assignment to a value. See oom_protection_plan.yml."""
    resolved = _resolve_tiers(tiers, custom_tiers)
    plan_units = []
    for unit, (tier, source, opted) in sorted(_merge_units(units, units_by_var).items()):
        where = "%s: %s" % (source, unit)
        spec = _tier_of(resolved, tier, where, allow_oom_disable)
        owner = _runtime_owner(unit)
        if owner and not opted:
            _fail("%s: %s; assign it as {tier: %s, containers: include} to change it anyway" % (where, owner, tier))
        _check_unit(unit, spec, where)
        planned = {"name": unit, "tier": tier, "oom_score_adj": spec["oom_score_adj"],
                   "oom_policy": spec["oom_policy"], "source": source}
        if spec["cgroup"]:
            planned["cgroup"] = dict(spec["cgroup"])
        plan_units.append(planned)
    plan_processes = []
    for key, entry in _merge_processes(processes, processes_by_var).items():
        spec = _tier_of(resolved, entry["tier"], entry["source"], allow_oom_disable)
        if spec["oom_policy"] is not None:
            _fail("%s: tier %s sets oom_policy, which only systemd units have; use a tier without it for processes"
                  % (entry["source"], entry["tier"]))
        if spec["oom_score_adj"] is None:
            _fail("%s: tier %s has no oom_score_adj, and its cgroup settings only apply to systemd units"
                  % (entry["source"], entry["tier"]))
        plan_processes.append(dict(entry, target=key, oom_score_adj=spec["oom_score_adj"]))
    dropins = []
    for unit in plan_units:
        dropin = {"name": unit["name"], "oom_score_adj": unit["oom_score_adj"], "tier": unit["tier"]}
        if unit["oom_policy"] is not None:
            dropin["oom_policy"] = unit["oom_policy"]
        if unit.get("cgroup"):
            dropin["cgroup"] = dict(unit["cgroup"])
        dropins.append(dropin)
    return {
        "tiers": {name: dict({"oom_score_adj": spec["oom_score_adj"], "oom_policy": spec["oom_policy"]}, **spec["cgroup"])
                  for name, spec in sorted(resolved.items())},
        "units": plan_units,
        "processes": plan_processes,
        "unit_names": [unit["name"] for unit in plan_units],
        "dropins": dropins,
        # Unit rules first: a process rule is the more specific choice and the last matching rule wins.
        "unit_rules": [{"unit": unit["name"], "value": unit["oom_score_adj"]} for unit in plan_units
                       if unit["oom_score_adj"] is not None],
        "process_rules": [dict(entry["selector"], value=entry["oom_score_adj"]) for entry in plan_processes],
        "sysctls": _check_sysctls(sysctls),
    }


# --------------------------------------------------------------------------------------------- compliance

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
        directive = _systemd_directive(key)
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
            return "on a cgroup v1 memory controller systemd applies only MemoryMax=, not %s=" % _systemd_directive(key)
        return None
    if layout != "v2":
        return "systemd-oomd needs the unified cgroup hierarchy (cgroup v2 with the memory controller)"
    if not oomd.get("running"):
        return "systemd-oomd is not running, so %s= has no effect" % _systemd_directive(key)
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


def oom_protection_compliance(plan, info=None, adj=None, systemd=True, state="present", can_lower_adj=None,
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


def oom_protection_reset_rules(info_result, excludes=False):
    """Rules that put the processes of units whose drop-in was removed back to what systemd applies now:
    the declared value, or, when nothing is declared, the manager's own value that they would inherit
    (which is what `systemctl show -p OOMScoreAdjust` reports in both cases).
    excludes=True: the exclude selectors for those rules instead, the processes that protect themselves at
    -1000 (sshd's listener): the role never wrote their value, so removing the role must not change it."""
    units = (info_result or {}).get("units") or {}
    if excludes:
        return [{"pid": proc["pid"]} for _unit, facts in sorted(units.items()) for proc in facts.get("processes") or []
                if proc.get("oom_score_adj") == -1000 and proc.get("pid")]
    return [{"unit": unit, "value": facts.get("systemctl_oom_score_adj") or 0} for unit, facts in sorted(units.items())]


# --------------------------------------------------------------------------------------------------- input

# Variables with the role's prefixes that are not options of meta/argument_specs.yml but are still known: the
# facts the role sets, and the variables and facts of the collection's playbooks (documented in the header of
# playbooks/audit.yml and playbooks/merge_reports.yml), which share the inventory with the role.
ROLE_FACTS = ("oom_protection_compliance",)
PLAYBOOK_VARS = (
    "oom_audit_hosts", "oom_audit_report_dir", "oom_audit_kill_order_top", "oom_audit_events_since",
    "oom_audit_events_limit", "oom_audit_summary_hosts", "oom_audit_show_host", "oom_audit_fail_on_findings",
    "oom_audit_prometheus_dir", "oom_audit_thresholds", "oom_audit_previous_report", "oom_audit_include_own_processes",
    "oom_audit_merge", "oom_audit_merge_formats",
    # facts and registered results of the audit
    "oom_audit_result", "oom_audit_report",
)
_BOOLEANS = frozenset(("yes", "on", "1", "true", "y", "t", "no", "off", "0", "false", "n", "f"))
_TYPE_NAMES = {"dict": "a mapping", "list": "a list", "bool": "true or false", "int": "an integer",
               "str": "a string", "path": "a path (a string)", "raw": "any value"}


def _kind(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if value is None:
        return "null"
    return "the string %r" % value if isinstance(value, str) else type(value).__name__


def _type_problem(name, value, spec):
    """Why value does not fit the option's spec (type, elements, choices), or None. Strings are accepted where
    the inventory's INI format or -e gives them for a boolean, an integer or a list of strings."""
    kind = spec.get("type", "str")
    choices = spec.get("choices")
    wrong = "%s must be %s, got %s" % (name, _TYPE_NAMES.get(kind, kind), _kind(value))
    if kind == "dict":
        return None if isinstance(value, dict) else wrong
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return None
        return None if isinstance(value, str) and value.strip().lower() in _BOOLEANS else wrong
    if kind == "int":
        if isinstance(value, bool):
            return wrong
        if isinstance(value, int) or (isinstance(value, str) and re.match(r"^\s*[-+]?\d+\s*$", value)):
            return None
        return wrong
    if kind in ("str", "path"):
        if not isinstance(value, str):
            return wrong
        items = [value]
    elif kind == "list":
        if isinstance(value, str) and spec.get("elements", "str") == "str":
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list):
            return wrong
        elements = spec.get("elements")
        for index, item in enumerate(value):
            if elements == "dict" and not isinstance(item, dict):
                return "%s[%d] must be a mapping, got %s" % (name, index, _kind(item))
            if elements == "str" and not isinstance(item, str):
                return "%s[%d] must be a string, got %s" % (name, index, _kind(item))
        items = value
    else:
        return None
    for item in items if choices else ():
        if item not in choices:
            closest = _closest(item, [str(choice) for choice in choices])
            return "%s: unknown value %r (%schoices: %s)" % (name, item, "did you mean %r? " % closest if closest else "",
                                                             ", ".join(str(choice) for choice in choices))
    return None


def _known(name, options, patterns):
    return (name in options or name in ROLE_FACTS or name in PLAYBOOK_VARS
            or any(re.match(pattern, name) for pattern in patterns))


def oom_protection_unknown_variables(names, options, patterns=()):
    """[(name, closest known name or None)] for every name in names that the role and the collection's
    playbooks do not know."""
    known = sorted(set(options) | set(ROLE_FACTS) | set(PLAYBOOK_VARS))
    return [(name, _closest(name, known)) for name in sorted(set(names or ())) if not _known(name, options, patterns)]


def oom_protection_input_problems(values, options, patterns=(), units_pattern=None, processes_pattern=None):
    """Everything wrong with the role's input, as one-line messages (an empty list when nothing is), and one
    ansible warning for each variable with the role's or the audit's prefix that nothing knows (a misspelling).
    See oom_protection_input_problems.yml."""
    if not isinstance(values, dict) or not isinstance(options, dict):
        _fail("oom_protection_input_problems expects a mapping of variable name to value and the role's options")
    for name, closest in oom_protection_unknown_variables(values, options, patterns):
        Display().warning("oom_protection: the variable %s is not known to oomguard.fleet and is ignored%s"
                          % (name, " (did you mean %s?)" % closest if closest else ""))
    problems = []
    for name, spec in options.items():
        if name in values and values[name] is not None:
            problem = _type_problem(name, values[name], spec or {})
            if problem:
                problems.append(problem)
    if problems:
        return problems

    def given(name):
        value = values.get(name)
        return (options.get(name) or {}).get("default") if value is None else value

    def matching(pattern):
        return {name: value for name, value in sorted(values.items()) if pattern and re.match(pattern, name)}

    try:
        oom_protection_plan(
            given("oom_protection_tiers"), custom_tiers=given("oom_protection_custom_tiers"),
            units=given("oom_protection_units"), units_by_var=matching(units_pattern),
            processes=given("oom_protection_processes"), processes_by_var=matching(processes_pattern),
            allow_oom_disable=str(given("oom_protection_allow_oom_disable")).strip().lower() in ("yes", "on", "1", "true", "y", "t"),
            sysctls=given("oom_protection_sysctls"))
    except AnsibleFilterError as exc:
        problems.append(str(exc.message if hasattr(exc, "message") else exc).replace("oom_protection: ", "", 1))
    return problems


# ------------------------------------------------------------------------------------------------- summary

def oom_protection_summary_lines(compliance):
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


class FilterModule:
    """oom_protection role filters."""

    def filters(self):
        return {
            "oom_protection_plan": oom_protection_plan,
            "oom_protection_compliance": oom_protection_compliance,
            "oom_protection_reset_rules": oom_protection_reset_rules,
            "oom_protection_input_problems": oom_protection_input_problems,
            "oom_protection_summary_lines": oom_protection_summary_lines,
        }
