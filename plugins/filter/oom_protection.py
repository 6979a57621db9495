# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oom_protection role's filters: thin adapters over the engine (module_utils/_engine/policy.py plans,
module_utils/_engine/compliance.py judges), whose PolicyError becomes ansible's filter error with the same
text; and the check of the role's whole input (its types, then its plan), which warns about unknown variables.

Kept out of Jinja so it can be unit-tested and so every error names the variable that caused it.
"""

from __future__ import annotations

import functools
import re

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import compliance, policy
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.policy import PolicyError, closest_name


def _fail(message):
    raise AnsibleFilterError("oom_protection: " + message)


def _adapt(function):
    """An engine function as a filter: its PolicyError becomes AnsibleFilterError, with the same message."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PolicyError as exc:
            raise AnsibleFilterError(str(exc)) from None
    return run


oom_protection_plan = _adapt(policy.plan)
oom_protection_reset_rules = _adapt(policy.reset_rules)
oom_protection_compliance = _adapt(compliance.compliance)
oom_protection_summary_lines = _adapt(compliance.summary_lines)

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
            closest = closest_name(item, [str(choice) for choice in choices])
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
    return [(name, closest_name(name, known)) for name in sorted(set(names or ())) if not _known(name, options, patterns)]


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
        policy.plan(
            given("oom_protection_tiers"), custom_tiers=given("oom_protection_custom_tiers"),
            units=given("oom_protection_units"), units_by_var=matching(units_pattern),
            processes=given("oom_protection_processes"), processes_by_var=matching(processes_pattern),
            allow_oom_disable=str(given("oom_protection_allow_oom_disable")).strip().lower() in ("yes", "on", "1", "true", "y", "t"),
            sysctls=given("oom_protection_sysctls"))
    except PolicyError as exc:
        problems.append(str(exc).replace("oom_protection: ", "", 1))
    return problems


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
