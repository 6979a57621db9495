# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The role's policy: tiers (the built-in ones and the user's), unit and process assignments merged from every
variable, validated, and resolved into the plan the role applies (drop-ins, rules, sysctls); and the rules
that reset units whose drop-ins are removed. Pure: every error is a PolicyError naming the variable.
The role reaches it through the oom_protection_plan and oom_protection_reset_rules filters.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings, oomd_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import (
    CONTAINER_MODES, SELECTOR_KEYS, describe, name_error,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.sysctls import oom_sysctl_error
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    OOM_POLICIES, OOM_POLICY_TYPES, OOM_SCORE_ADJUST_TYPES, unit_name_error, unit_type,
)


UNITS_VAR = "oom_protection_units"
PROCESSES_VAR = "oom_protection_processes"
PROCESS_KEYS = frozenset(SELECTOR_KEYS) | {"include_descendants", "tier", "required", "containers"}
# Tier keys that become cgroup settings of a unit (resource control and systemd-oomd), in drop-in order.
CGROUP_KEYS = memory_settings.MEMORY_KEYS + oomd_settings.MANAGED_OOM_KEYS
TIER_KEYS = ("oom_score_adj", "oom_policy", "description") + CGROUP_KEYS


class PolicyError(ValueError):
    """Input the role cannot plan with; the message names the variable that caused it."""


def _fail(message):
    raise PolicyError("oom_protection: " + message)


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


def closest_name(word, choices):
    """The one of choices closest to word (a misspelling), or None."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _tier_of(tiers, tier, where, allow_oom_disable):
    if not isinstance(tier, str) or tier not in tiers:
        closest = closest_name(tier, tiers)
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
                  % (where, key, utype, systemd_directive(key), ", .".join(allowed)))
    if tier_spec["oom_policy"] is not None and utype not in OOM_POLICY_TYPES:
        _fail("%s: the tier sets oom_policy, but .%s units have no OOMPolicy= setting" % (where, utype))


def systemd_directive(key):
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


def plan(tiers, units=None, units_by_var=None, processes=None, processes_by_var=None,
         custom_tiers=None, allow_oom_disable=False, sysctls=None):
    """Validate everything and resolve every assignment to a value. See plugins/filter/oom_protection_plan.yml."""
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


def reset_rules(info_result, excludes=False):
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
