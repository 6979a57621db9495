# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_plan: tier resolution, merging group assignments, and refusing bad input."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import oom_protection_plan

TIERS = {
    "critical": {"oom_score_adj": -900},
    "essential": {"oom_score_adj": -500},
    "standard": {"oom_score_adj": 0},
    "expendable": {"oom_score_adj": 500, "oom_policy": "kill"},
}


def plan(**kwargs):
    return oom_protection_plan(kwargs.pop("tiers", TIERS), **kwargs)


def fails(match, **kwargs):
    with pytest.raises(AnsibleFilterError, match=match):
        plan(**kwargs)


def test_unit_gets_its_tier_value_and_policy():
    result = plan(units={"batch.service": "expendable"})
    assert result["units"] == [{"name": "batch.service", "tier": "expendable", "oom_score_adj": 500,
                                "oom_policy": "kill", "source": "oom_protection_units"}]
    assert result["dropins"] == [{"name": "batch.service", "oom_score_adj": 500, "tier": "expendable",
                                  "oom_policy": "kill"}]
    assert result["unit_rules"] == [{"unit": "batch.service", "value": 500}]


def test_dropin_has_no_oom_policy_when_the_tier_sets_none():
    result = plan(units={"ssh.service": "critical"})
    assert "oom_policy" not in result["dropins"][0]


def test_host_in_two_groups_gets_the_union_of_their_assignments():
    result = plan(units_by_var={
        "oom_protection_units_common": {"ssh.service": "critical"},
        "oom_protection_units_databases": {"postgresql.service": "essential"},
        "oom_protection_units_web": {"nginx.service": "standard"},
    })
    assert result["unit_names"] == ["nginx.service", "postgresql.service", "ssh.service"]


def test_same_unit_same_tier_in_two_groups_is_not_a_conflict():
    result = plan(units_by_var={"oom_protection_units_a": {"x.service": "standard"},
                                "oom_protection_units_b": {"x.service": "standard"}})
    assert result["unit_names"] == ["x.service"]


def test_same_unit_different_tiers_in_two_groups_is_reported_with_both_sources():
    fails(r"x\.service is essential in oom_protection_units_a but expendable in oom_protection_units_b",
          units_by_var={"oom_protection_units_a": {"x.service": "essential"},
                        "oom_protection_units_b": {"x.service": "expendable"}})


def test_oom_protection_units_resolves_a_conflict_and_overrides_groups():
    result = plan(units={"x.service": "standard"},
                  units_by_var={"oom_protection_units_a": {"x.service": "essential"},
                                "oom_protection_units_b": {"x.service": "expendable"}})
    assert result["units"][0]["tier"] == "standard"
    assert result["units"][0]["source"] == "oom_protection_units"


def test_null_tier_in_oom_protection_units_removes_a_group_assignment():
    result = plan(units={"x.service": None}, units_by_var={"oom_protection_units_a": {"x.service": "essential"}})
    assert result["units"] == []


def test_custom_tiers_extend_the_defaults_with_integer_shorthand():
    result = plan(custom_tiers={"batch": 300}, units={"etl.service": "batch"})
    assert result["units"][0]["oom_score_adj"] == 300
    assert result["tiers"]["batch"] == {"oom_score_adj": 300, "oom_policy": None}
    assert "critical" in result["tiers"]


def test_custom_tiers_override_a_default_tier():
    result = plan(custom_tiers={"standard": {"oom_score_adj": 100}}, units={"x.service": "standard"})
    assert result["units"][0]["oom_score_adj"] == 100


def test_unknown_tier_is_refused_naming_the_variable_and_the_known_tiers():
    fails(r"oom_protection_units_web: nginx.service: unknown tier 'vip' \(tiers: critical, essential, standard, "
          r"expendable\)$", units_by_var={"oom_protection_units_web": {"nginx.service": "vip"}})


def test_misspelled_tier_is_refused_naming_the_closest_tier():
    fails(r"^oom_protection: oom_protection_units: ssh.service: unknown tier 'critcal' \(did you mean 'critical'\? "
          r"tiers: critical, essential, standard, expendable\)$", units={"ssh.service": "critcal"})


@pytest.mark.parametrize("value", [1001, -1001])
def test_out_of_range_tier_value_is_refused(value):
    fails(r"oom_protection_custom_tiers.bad.oom_score_adj is %d, outside -1000..1000" % value,
          custom_tiers={"bad": value})


@pytest.mark.parametrize("value", ["abc", "5", True, None, 1.5])
def test_non_integer_tier_value_is_refused(value):
    fails("must be an integer", custom_tiers={"bad": {"oom_score_adj": value}})


def test_minus_1000_tier_is_refused_when_used_without_opt_in():
    fails("oom_protection_allow_oom_disable", custom_tiers={"immortal": -1000}, units={"x.service": "immortal"})


def test_minus_1000_tier_is_allowed_with_opt_in():
    result = plan(custom_tiers={"immortal": -1000}, units={"x.service": "immortal"}, allow_oom_disable=True)
    assert result["units"][0]["oom_score_adj"] == -1000


def test_unused_minus_1000_tier_is_not_an_error():
    assert plan(custom_tiers={"immortal": -1000})["units"] == []


def test_unknown_oom_policy_in_a_tier_is_refused():
    fails("oom_policy must be one of continue, stop, kill", custom_tiers={"x": {"oom_score_adj": 1, "oom_policy": "panic"}})


def test_unknown_key_in_a_tier_is_refused():
    fails("unknown keys oom_score", custom_tiers={"x": {"oom_score": 1}})


@pytest.mark.parametrize("name, reason", [
    ("../x.service", "cannot contain '/'"),
    ("a/b.service", "cannot contain '/'"),
    ("", "non-empty"),
    ("nginx", "must end in one of"),
    ("..service", "prefix cannot be only dots"),
])
def test_invalid_unit_names_are_refused(name, reason):
    fails(reason, units={name: "standard"})


@pytest.mark.parametrize("name", ["session-1.scope", "user.slice"])
def test_units_without_oom_score_adjust_are_refused(name):
    fails("no OOMScoreAdjust= setting", units={name: "standard"})


def test_oom_policy_on_a_socket_is_refused():
    fails("no OOMPolicy= setting", units={"x.socket": "expendable"})


def test_template_and_instance_units_are_accepted():
    result = plan(units={"worker@.service": "expendable", "worker@big.service": "standard"})
    assert result["unit_names"] == ["worker@.service", "worker@big.service"]


def test_process_assignment_becomes_a_rule_with_its_selector_and_value():
    result = plan(processes=[{"name": "batchd", "tier": "standard", "include_descendants": True}])
    assert result["process_rules"] == [{"name": "batchd", "include_descendants": True, "value": 0}]
    assert result["processes"][0]["target"] == "name=batchd +descendants"


def test_process_assignments_from_several_variables_are_merged():
    result = plan(processes_by_var={
        "oom_protection_processes_batch": [{"name": "batchd", "tier": "standard"}],
        "oom_protection_processes_web": [{"cmdline_pattern": "gunicorn", "tier": "critical"}],
    })
    assert [p["target"] for p in result["processes"]] == ["name=batchd", "cmdline_pattern=gunicorn"]


def test_conflicting_process_assignments_are_reported():
    fails("conflicting tiers for the same process selector", processes_by_var={
        "oom_protection_processes_a": [{"name": "batchd", "tier": "standard"}],
        "oom_protection_processes_b": [{"name": "batchd", "tier": "critical"}],
    })


def test_oom_protection_processes_resolves_a_process_conflict():
    result = plan(processes=[{"name": "batchd", "tier": "critical"}], processes_by_var={
        "oom_protection_processes_a": [{"name": "batchd", "tier": "standard"}],
        "oom_protection_processes_b": [{"name": "batchd", "tier": "expendable"}],
    })
    assert [(p["target"], p["tier"]) for p in result["processes"]] == [("name=batchd", "critical")]


@pytest.mark.parametrize("key", ["name_pattern", "cmdline_pattern"])
def test_invalid_regex_in_a_process_selector_is_refused(key):
    fails(r"oom_protection_processes\[0\]: %s '\(unclosed' is not a valid regular expression" % key,
          processes=[{key: "(unclosed", "tier": "standard"}])


def test_process_name_longer_than_the_kernel_keeps_is_refused_with_the_kept_name_and_the_alternatives():
    fails(r"oom_protection_processes\[0\]: name 'systemd-journald' is 16 bytes but the kernel keeps only the first "
          r"15 bytes .* \(the kernel shows 'systemd-journal'\); match it with name_pattern or cmdline_pattern",
          processes=[{"name": "systemd-journald", "tier": "standard"}])


def test_process_name_of_exactly_15_bytes_is_accepted():
    assert plan(processes=[{"name": "systemd-journal", "tier": "standard"}])["processes"]


def test_process_assignment_without_selector_is_refused():
    fails("has no selector", processes=[{"tier": "standard"}])


def test_process_assignment_with_unknown_key_is_refused():
    fails("unknown keys comm", processes=[{"comm": "x", "tier": "standard"}])


def test_process_assignment_with_an_unknown_tier_is_refused():
    fails("unknown tier 'nope'", processes=[{"name": "x", "tier": "nope"}])


def test_process_assignment_with_a_malformed_unit_selector_is_refused():
    fails("not a valid systemd unit name", processes=[{"unit": "../x.service", "tier": "standard"}])


def test_process_assignment_to_a_tier_with_oom_policy_is_refused():
    fails("only systemd units have", processes=[{"name": "x", "tier": "expendable"}])


def test_sysctls_are_validated_and_sorted():
    assert plan(sysctls={"vm.oom_dump_tasks": 0, "vm.panic_on_oom": 0})["sysctls"] == {
        "vm.oom_dump_tasks": 0, "vm.panic_on_oom": 0}


@pytest.mark.parametrize("sysctls, match", [
    ({"vm.swappiness": 10}, "not one of the OOM sysctls"),
    ({"vm.panic_on_oom": 3}, "must be one of 0, 1, 2"),
    ({"vm.oom_dump_tasks": "1"}, "must be one of 0, 1"),
])
def test_bad_sysctls_are_refused(sysctls, match):
    fails(match, sysctls=sysctls)


def test_units_that_is_not_a_mapping_is_refused():
    fails("oom_protection_units must be a mapping", units=["x.service"])


def test_a_process_assignment_may_take_container_processes_too_and_says_so():
    result = plan(processes=[{"name": "java", "tier": "standard", "containers": "include"},
                             {"name": "batchd", "tier": "standard", "containers": "exclude"}])
    assert result["process_rules"] == [{"name": "java", "containers": "include", "value": 0},
                                       {"name": "batchd", "value": 0}]
    assert [entry["target"] for entry in result["processes"]] == ["name=java containers=include", "name=batchd"]


def test_a_wrong_containers_value_fails_naming_the_entry():
    fails(r"oom_protection_processes\[0\]: containers must be one of exclude, include, only, got 'all'",
          processes=[{"name": "java", "tier": "standard", "containers": "all"}])


@pytest.mark.parametrize("unit, owner", [
    ("kubelet.service", "kubelet sets its own oom_score_adj"),
    ("docker-3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f.scope", "it is a unit of docker's"),
    ("libpod-3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f.scope", "it is a unit of podman's"),
    ("machine-build.scope", "it is a unit of nspawn's"),
])
def test_a_runtimes_own_unit_needs_the_containers_opt_in(unit, owner):
    fails(r"oom_protection_units: %s: %s.*assign it as \{tier: essential, containers: include\}"
          % (re.escape(unit), owner), units={unit: "essential"})
    # Scopes take no OOMScoreAdjust=: a tier of memory settings only.
    tier = "essential" if unit.endswith(".service") else "floor"
    result = plan(units={unit: {"tier": tier, "containers": "include"}},
                  custom_tiers={"floor": {"memory_min": "64M"}})
    assert [u["name"] for u in result["units"]] == [unit]


def test_the_runtime_daemons_units_are_the_policy_s_to_set():
    result = plan(units={"containerd.service": "critical", "docker.service": "critical", "crio.service": "critical"})
    assert len(result["units"]) == 3


def test_a_unit_mapping_takes_only_tier_and_containers():
    fails(r"oom_protection_units: ssh.service has unknown keys value", units={"ssh.service": {"tier": "critical",
                                                                                              "value": 1}})
    fails(r"containers must be exclude or include, got 'only'",
          units={"ssh.service": {"tier": "critical", "containers": "only"}})
    assert plan(units={"ssh.service": {"tier": "critical"}})["units"][0]["oom_score_adj"] == -900
