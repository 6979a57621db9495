# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_plan: the memory (MemoryMin=..MemoryMax=) and systemd-oomd (ManagedOOM*=) keys of a tier,
which unit types may take them, and the one-line refusal of every kind of bad value."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import oom_protection_plan

TIERS = {
    "critical": {"oom_score_adj": -900, "managed_oom_preference": "omit"},
    "standard": {"oom_score_adj": 0},
}


def plan(**kwargs):
    return oom_protection_plan(kwargs.pop("tiers", TIERS), **kwargs)


def refused(match, tier, unit="app.service"):
    with pytest.raises(AnsibleFilterError, match=match) as caught:
        plan(custom_tiers={"t": tier}, units={unit: "t"})
    assert "\n" not in str(caught.value)


def test_memory_and_oomd_keys_reach_the_drop_in_of_the_unit():
    result = plan(custom_tiers={"db": {"oom_score_adj": -500, "memory_min": "256M", "memory_max": "4G",
                                       "managed_oom_preference": "avoid"}},
                  units={"postgresql.service": "db"})
    assert result["dropins"] == [{"name": "postgresql.service", "oom_score_adj": -500, "tier": "db",
                                  "cgroup": {"memory_min": "256M", "memory_max": "4G",
                                             "managed_oom_preference": "avoid"}}]
    assert result["units"][0]["cgroup"] == result["dropins"][0]["cgroup"]


def test_a_slice_takes_a_tier_of_cgroup_settings_only_for_oomd_pressure_monitoring():
    result = plan(custom_tiers={"watched": {"managed_oom_memory_pressure": "kill",
                                            "managed_oom_memory_pressure_limit": "40%"}},
                  units={"batch.slice": "watched"})
    assert result["dropins"] == [{"name": "batch.slice", "oom_score_adj": None, "tier": "watched",
                                  "cgroup": {"managed_oom_memory_pressure": "kill",
                                             "managed_oom_memory_pressure_limit": "40%"}}]
    assert result["unit_rules"] == []


def test_a_slice_still_refuses_a_tier_with_oom_score_adj():
    with pytest.raises(AnsibleFilterError, match="no OOMScoreAdjust= setting"):
        plan(units={"batch.slice": "critical"})


@pytest.mark.parametrize("value, bytes_", [
    ("64M", "64M"), ("10%", "10%"), ("infinity", "infinity"), (1024, "1024"), ("1T", "1T"), ("12.5%", "12.5%"),
])
def test_every_systemd_size_form_is_accepted(value, bytes_):
    result = plan(custom_tiers={"t": {"memory_max": value}}, units={"a.service": "t"})
    assert result["dropins"][0]["cgroup"] == {"memory_max": bytes_}


@pytest.mark.parametrize("value, match", [
    ("12 MB", r"memory_max must be bytes with an optional K, M, G or T suffix .* got '12 MB'"),
    ("-1G", r"memory_max must be bytes .* got '-1G'"),
    ("150%", r"memory_max is 150%, more than 100% of the host's memory"),
    ("1.5G", r"memory_max must be bytes"),
    (True, r"memory_max must be a size like 512M"),
    (0, r"memory_max must be more than 0 \(systemd refuses a zero MemoryMax=\)"),
])
def test_bad_sizes_are_refused_with_the_key_and_the_value(value, match):
    refused(r"oom_protection_custom_tiers\.t\." + match, {"memory_max": value})


def test_memory_min_may_be_zero():
    assert plan(custom_tiers={"t": {"memory_min": 0}}, units={"a.service": "t"})["dropins"][0]["cgroup"] == {
        "memory_min": "0"}


def test_min_above_max_is_refused():
    refused(r"memory_min 2G is above memory_max 1G \(protections and limits must grow: min <= low <= high <= max\)",
            {"memory_min": "2G", "memory_max": "1G"})


def test_low_above_high_in_percentages_is_refused():
    refused(r"memory_low 50% is above memory_high 20%", {"memory_low": "50%", "memory_high": "20%"})


def test_infinity_below_a_finite_limit_is_refused():
    refused(r"memory_high is infinity, above memory_max 1G", {"memory_high": "infinity", "memory_max": "1G"})


def test_unknown_preference_is_refused():
    refused(r"managed_oom_preference must be one of none, avoid, omit, got 'never'", {"managed_oom_preference": "never"})


@pytest.mark.parametrize("key", ["managed_oom_swap", "managed_oom_memory_pressure"])
def test_unknown_oomd_mode_is_refused(key):
    refused(r"%s must be one of auto, kill, got 'on'" % key, {key: "on"})


@pytest.mark.parametrize("value", ["150%", "40", "-1%", "abc"])
def test_bad_pressure_limit_is_refused(value):
    refused(r"managed_oom_memory_pressure_limit must be a percentage from 0% to 100%",
            {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": value})


def test_pressure_limit_without_kill_is_refused_because_systemd_ignores_it():
    refused(r"managed_oom_memory_pressure_limit needs managed_oom_memory_pressure: kill",
            {"managed_oom_memory_pressure_limit": "40%"})


@pytest.mark.parametrize("unit", ["x.target", "x.timer", "x.path"])
def test_a_memory_key_on_a_unit_type_without_resource_control_is_refused(unit):
    refused(r"the tier sets memory_max, but \.%s units have no MemoryMax= setting \(only \.service, \.slice"
            % unit.rpartition(".")[2], {"memory_max": "1G"}, unit=unit)


@pytest.mark.parametrize("unit", ["x.socket", "x.mount", "x.swap"])
def test_oomd_monitoring_on_a_unit_type_pid1_refuses_it_for_is_refused(unit):
    refused(r"the tier sets managed_oom_swap, but \.%s units have no ManagedOOMSwap= setting \(only \.service, "
            r"\.scope, \.slice\)" % unit.rpartition(".")[2], {"oom_score_adj": 0, "managed_oom_swap": "kill"},
            unit=unit)


def test_the_preference_goes_on_a_socket_like_other_resource_control():
    result = plan(units={"x.socket": "critical"})
    assert result["dropins"][0]["cgroup"] == {"managed_oom_preference": "omit"}


def test_a_process_assignment_takes_only_the_tier_oom_score_adj():
    result = plan(processes=[{"name": "batchd", "tier": "critical"}])
    assert result["process_rules"] == [{"name": "batchd", "value": -900}]


def test_a_tier_without_oom_score_adj_cannot_be_given_to_a_process():
    with pytest.raises(AnsibleFilterError, match="tier t has no oom_score_adj"):
        plan(custom_tiers={"t": {"memory_max": "1G"}}, processes=[{"name": "batchd", "tier": "t"}])


def test_an_explicit_null_oom_score_adj_is_still_refused():
    refused("oom_score_adj must be an integer", {"oom_score_adj": None, "memory_max": "1G"})


def test_unknown_memory_key_is_refused_listing_the_allowed_ones():
    refused(r"unknown keys memory_maximum \(allowed: oom_score_adj, oom_policy, description, memory_min", {
        "memory_maximum": "1G"})
