# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_input_problems: the role's whole input checked up front, every problem one line, and a
warning for each variable with the role's or the audit's prefix that nothing knows."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from ansible_collections.oomguard.fleet.plugins.filter import oom_protection as flt
from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import (
    PLAYBOOK_VARS,
    ROLE_FACTS,
    oom_protection_input_problems,
    oom_protection_unknown_variables,
)

ROOT = pathlib.Path(__file__).resolve().parents[4]
OPTIONS = yaml.safe_load((ROOT / "roles" / "oom_protection" / "meta" / "argument_specs.yml").read_text())[
    "argument_specs"]["main"]["options"]
ROLE_VARS = yaml.safe_load((ROOT / "roles" / "oom_protection" / "vars" / "main.yml").read_text())
UNITS_PATTERN = ROLE_VARS["__oom_protection_units_var_pattern"]
PROCESSES_PATTERN = ROLE_VARS["__oom_protection_processes_var_pattern"]
PATTERNS = [UNITS_PATTERN, PROCESSES_PATTERN]


@pytest.fixture(name="warnings")
def fixture_warnings(monkeypatch):
    seen = []

    class FakeDisplay:
        def warning(self, msg):
            seen.append(msg)

    monkeypatch.setattr(flt, "Display", FakeDisplay)
    return seen


def problems(**values):
    return oom_protection_input_problems(values, OPTIONS, patterns=PATTERNS, units_pattern=UNITS_PATTERN,
                                         processes_pattern=PROCESSES_PATTERN)


def test_good_input_has_no_problem_and_no_warning(warnings):
    assert problems(oom_protection_units={"ssh.service": "critical"},
                    oom_protection_units_db={"postgresql.service": "essential"},
                    oom_protection_processes_batch=[{"name": "worker", "tier": "expendable"}],
                    oom_protection_compliance={"records": []}, oom_audit_report_dir="reports") == []
    assert warnings == []


def test_the_defaults_have_no_problem(warnings):
    assert problems(**{name: spec.get("default") for name, spec in OPTIONS.items()}) == []
    assert warnings == []


def test_misspelled_tier_is_one_line_with_the_closest_tier(warnings):
    assert problems(oom_protection_units={"ssh.service": "critcal"}) == [
        "oom_protection_units: ssh.service: unknown tier 'critcal' (did you mean 'critical'? "
        "tiers: critical, essential, standard, expendable)"]
    assert warnings == []


def test_misspelled_tier_in_a_group_variable_names_that_variable():
    assert problems(oom_protection_units_web={"nginx.service": "esential"}) == [
        "oom_protection_units_web: nginx.service: unknown tier 'esential' (did you mean 'essential'? "
        "tiers: critical, essential, standard, expendable)"]


def test_a_custom_tier_is_known():
    assert problems(oom_protection_custom_tiers={"batch": 300}, oom_protection_units={"x.service": "batch"}) == []


@pytest.mark.parametrize("name, value, message", [
    ("oom_protection_units", ["ssh.service"], "oom_protection_units must be a mapping, got a list"),
    ("oom_protection_units", "ssh.service", "oom_protection_units must be a mapping, got the string 'ssh.service'"),
    ("oom_protection_processes", "sshd", "oom_protection_processes must be a list, got the string 'sshd'"),
    ("oom_protection_processes", {"name": "sshd"}, "oom_protection_processes must be a list, got a mapping"),
    ("oom_protection_processes", ["sshd"], "oom_protection_processes[0] must be a mapping, got the string 'sshd'"),
    ("oom_protection_tiers", [1, 2], "oom_protection_tiers must be a mapping, got a list"),
    ("oom_protection_exporter_top", "five", "oom_protection_exporter_top must be an integer, got the string 'five'"),
    ("oom_protection_exporter_interval", 1.5, "oom_protection_exporter_interval must be an integer, got float"),
    ("oom_protection_leak_reset_value", True, "oom_protection_leak_reset_value must be an integer, got a boolean"),
    ("oom_protection_restart", "maybe", "oom_protection_restart must be true or false, got the string 'maybe'"),
    ("oom_protection_dropin_name", ["a"], "oom_protection_dropin_name must be a string, got a list"),
    ("oom_protection_state", "presnt",
     "oom_protection_state: unknown value 'presnt' (did you mean 'present'? choices: present, absent)"),
    ("oom_protection_fail_statuses", ["drift", "denid"],
     "oom_protection_fail_statuses: unknown value 'denid' (did you mean 'denied'? choices: drift, denied, missing, "
     "not_running, not_effective)"),
])
def test_wrong_types_and_choices_are_one_line_each(name, value, message):
    assert problems(**{name: value}) == [message]


def test_group_variables_are_checked_too():
    assert problems(oom_protection_units_web=["nginx.service"]) == [
        "oom_protection_units_web must be a mapping of unit name to tier, got list"]


@pytest.mark.parametrize("name, value", [
    ("oom_protection_restart", "yes"), ("oom_protection_restart", "False"), ("oom_protection_restart", 1),
    ("oom_protection_exporter_top", "7"), ("oom_protection_exporter_top", 7),
    ("oom_protection_fail_statuses", "drift,denied"),
])
def test_what_ini_inventories_and_extra_vars_give_is_accepted(name, value):
    assert problems(**{name: value}) == []


def test_every_problem_is_listed_once():
    assert problems(oom_protection_units=[], oom_protection_state="gone") == [
        "oom_protection_units must be a mapping, got a list",
        "oom_protection_state: unknown value 'gone' (choices: present, absent)"]


def test_a_misspelled_variable_warns_once_naming_the_closest_known_one(warnings):
    assert problems(oom_protection_unit={"ssh.service": "critical"}) == []
    assert warnings == ["oom_protection: the variable oom_protection_unit is not known to oomguard.fleet and is "
                        "ignored (did you mean oom_protection_units?)"]


def test_a_misspelled_audit_variable_warns(warnings):
    problems(oom_audit_report_directory="x")
    assert warnings == ["oom_protection: the variable oom_audit_report_directory is not known to oomguard.fleet and "
                        "is ignored (did you mean oom_audit_report_dir?)"]


def test_no_closest_name_when_nothing_is_close():
    assert oom_protection_unknown_variables(["oom_audit_zzzzzzzzzzzzzzzzzzzzzz"], OPTIONS, PATTERNS) == [
        ("oom_audit_zzzzzzzzzzzzzzzzzzzzzz", None)]


def test_everything_the_role_and_the_playbooks_set_or_document_is_known():
    names = set(OPTIONS) | set(yaml.safe_load((ROOT / "roles" / "oom_protection" / "defaults" / "main.yml").read_text()))
    names |= {"oom_protection_units_databases", "oom_protection_processes_batch", "oom_protection_compliance"}
    playbooks = ""
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        playbooks += path.read_text()
    # Every public variable the playbooks read, set or register (their private ones start with __).
    used = set(re.findall(r"(?<![\w.])(oom_(?:audit|protection)_[a-z0-9_]+)", playbooks))
    used -= {"oom_protection_leaks", "oom_audit_prometheus"}  # module and filter names (oomguard.fleet.<name>)
    names |= used
    assert oom_protection_unknown_variables(sorted(names), OPTIONS, PATTERNS) == []
    assert set(PLAYBOOK_VARS) <= used, "a name in PLAYBOOK_VARS that no playbook uses any more"
    assert set(ROLE_FACTS) <= set(re.findall(r"^    (oom_protection_[a-z_]+):", (
        ROOT / "roles" / "oom_protection" / "tasks" / "main.yml").read_text(), re.M))


def test_unknown_names_are_reported_sorted_and_once():
    unknown = oom_protection_unknown_variables(["oom_protection_b", "oom_protection_a", "oom_protection_b"], OPTIONS,
                                               PATTERNS)
    assert [name for name, _closest in unknown] == ["oom_protection_a", "oom_protection_b"]
