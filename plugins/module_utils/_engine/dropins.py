# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Role-owned systemd drop-ins: rendering, ownership fingerprints, and the plan of writes and removals.

A drop-in is "owned" when one of its lines is exactly the fingerprint line for the owner tag. Files
without it belong to someone else and are never changed or removed, whatever their name.
The plan is computed first and applied afterwards, so check mode, diff mode and `changed` all come
from the same comparison. Standard library only, Python >= 3.8: this runs on target hosts.
"""

from __future__ import annotations


from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    OOM_POLICIES, OOM_POLICY_TYPES, OOM_SCORE_ADJUST_TYPES, SECTION_OF_TYPE, is_template, unit_name_error,
    unit_type,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model import oomd_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model.dropin_files import (
    DEFAULT_OWNER_TAG, NAME_MAX, fingerprint,
)


class DropInError(Exception):
    """Input or on-disk state that makes the whole call impossible; nothing has been written."""


def unit_error(unit, allow_oom_disable=False):
    """Why a {name, oom_score_adj, oom_policy} entry cannot be written, or None."""
    name = unit.get("name")
    reason = unit_name_error(name)
    if reason:
        return "unit %r: %s" % (name, reason)
    directory = len(name.encode("utf-8")) + len(".d")
    if directory > NAME_MAX:
        return ("unit %s: its drop-in directory (the name and '.d', %d bytes) would be longer than the %d bytes a "
                "file name may have, so systemd reads no drop-in of its own for it; set its OOM settings in its unit "
                "file or select its processes with a process rule" % (name, directory, NAME_MAX))
    utype = unit_type(name)
    adj = unit.get("oom_score_adj")
    policy = unit.get("oom_policy")
    if adj is None and policy is None and not unit.get("cgroup"):
        return "unit %s: set oom_score_adj, oom_policy, cgroup or several of them" % name
    problem = cgroup_error(name, utype, unit.get("cgroup"))
    if problem:
        return problem
    if adj is not None:
        if utype not in OOM_SCORE_ADJUST_TYPES:
            return ("unit %s: OOMScoreAdjust= does not exist for .%s units (only .%s); use a process rule instead"
                    % (name, utype, ", .".join(OOM_SCORE_ADJUST_TYPES)))
        if isinstance(adj, bool) or not isinstance(adj, int) or not -1000 <= adj <= 1000:
            return "unit %s: oom_score_adj must be an integer in -1000..1000, got %r" % (name, adj)
        if adj == -1000 and not allow_oom_disable:
            return ("unit %s: oom_score_adj -1000 makes its processes unkillable, so a leak in them becomes a "
                    "host-wide outage; set allow_oom_disable to allow it" % name)
    if policy is not None:
        if policy not in OOM_POLICIES:
            return "unit %s: oom_policy must be one of %s, got %r" % (name, ", ".join(OOM_POLICIES), policy)
        if utype not in OOM_POLICY_TYPES:
            return "unit %s: OOMPolicy= does not exist for .%s units (only .%s)" % (
                name, utype, ", .".join(OOM_POLICY_TYPES))
    return None


def cgroup_error(name, utype, settings):
    """Why a unit's cgroup settings ({memory_min: 64M, managed_oom_preference: omit, ...}) cannot be written."""
    if not settings:
        return None
    if not isinstance(settings, dict):
        return "unit %s: cgroup must be a mapping of settings, got %r" % (name, settings)
    known = memory_settings.MEMORY_KEYS + oomd_settings.MANAGED_OOM_KEYS
    unknown = sorted(set(settings) - set(known))
    if unknown:
        return "unit %s: unknown cgroup settings %s (known: %s)" % (name, ", ".join(unknown), ", ".join(known))
    for key, value in settings.items():
        if key in memory_settings.MEMORY_KEYS:
            problem = memory_settings.memory_value_error(key, value)
            allowed = memory_settings.RESOURCE_CONTROL_TYPES
        else:
            problem = oomd_settings.setting_error(key, value)
            allowed = memory_settings.RESOURCE_CONTROL_TYPES if key == "managed_oom_preference" else oomd_settings.MANAGED_OOM_TYPES
        if problem:
            return "unit %s: %s" % (name, problem)
        if utype not in allowed:
            return "unit %s: %s does not exist for .%s units (only .%s)" % (name, key, utype, ", .".join(allowed))
    order = memory_settings.memory_order_error(settings)
    return "unit %s: %s" % (name, order) if order else None


def directive_lines(settings):
    """The resource-control and systemd-oomd lines of a drop-in, in a fixed order."""
    lines = []
    for key, directive, _file in memory_settings.MEMORY_SETTINGS:
        if (settings or {}).get(key) is not None:
            lines.append("%s=%s" % (directive, memory_settings.render_memory_value(settings[key])))
    for key in oomd_settings.MANAGED_OOM_KEYS:
        if (settings or {}).get(key) is not None:
            lines.append("%s=%s" % (oomd_settings.directive(key), settings[key]))
    return lines


def render(unit, owner_tag=DEFAULT_OWNER_TAG, header=()):
    """The full text of one unit's drop-in."""
    name = unit["name"]
    lines = []
    for entry in header:
        for line in str(entry).splitlines() or [""]:
            lines.append(("# " + line).rstrip())
    lines.append(fingerprint(owner_tag))
    described = "# OOM protection for %s" % ("every instance of " + name if is_template(name) else name)
    if unit.get("tier"):
        described += ", tier %s" % unit["tier"]
    lines.append(described)
    lines.append("[%s]" % SECTION_OF_TYPE[unit_type(name)])
    if unit.get("oom_score_adj") is not None:
        lines.append("OOMScoreAdjust=%d" % unit["oom_score_adj"])
    if unit.get("oom_policy") is not None:
        lines.append("OOMPolicy=%s" % unit["oom_policy"])
    lines.extend(directive_lines(unit.get("cgroup")))
    return "\n".join(lines) + "\n"


class Action(object):
    """One file to write or remove, with what it holds now and what it will hold."""

    __slots__ = ("kind", "unit", "path", "before", "after")

    def __init__(self, kind, unit, path, before, after):
        self.kind = kind      # write | remove | unchanged
        self.unit = unit
        self.path = path
        self.before = before  # text or None (absent)
        self.after = after    # text or None (to be removed)


def check_units(units, state="present", allow_oom_disable=False):
    """Raise DropInError for the first unit entry that cannot be written (present) or named (absent)."""
    seen = set()
    for unit in units:
        reason = unit_error(unit, allow_oom_disable) if state == "present" else _name_only_error(unit)
        if reason:
            raise DropInError(reason)
        if unit["name"] in seen:
            raise DropInError("unit %s is listed twice" % unit["name"])
        seen.add(unit["name"])


def _name_only_error(unit):
    reason = unit_name_error(unit.get("name"))
    return "unit %r: %s" % (unit.get("name"), reason) if reason else None


def summarize(actions):
    """changed, written, removed, unchanged (paths), units_changed (unit names), sorted."""
    written = sorted(a.path for a in actions if a.kind == "write")
    removed = sorted(a.path for a in actions if a.kind == "remove")
    unchanged = sorted(a.path for a in actions if a.kind == "unchanged")
    units_changed = sorted(set(a.unit for a in actions if a.kind != "unchanged"))
    return {
        "changed": bool(written or removed),
        "written": written,
        "removed": removed,
        "unchanged": unchanged,
        "units_changed": units_changed,
    }


def diffs(actions):
    """Ansible's diff format, one entry per file that changes."""
    return [
        {
            "before_header": a.path, "after_header": a.path,
            "before": a.before or "", "after": a.after or "",
        }
        for a in actions if a.kind != "unchanged"
    ]
