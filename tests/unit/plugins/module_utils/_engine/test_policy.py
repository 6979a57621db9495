# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's policy and compliance live in the engine (runs on targets too); the filters only adapt them.
The behaviour itself is specified by tests/unit/plugins/filter/, through the filters the role calls."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.filter import oom_protection as flt
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import compliance, policy

TIERS = {"critical": {"oom_score_adj": -900}}


def test_the_engine_refuses_a_misspelt_tier_with_its_own_error():
    with pytest.raises(policy.PolicyError, match=r"^oom_protection: oom_protection_units: ssh.service: unknown tier "
                                                 r"'critcal' \(did you mean 'critical'\? "):
        policy.plan(TIERS, units={"ssh.service": "critcal"})


def test_the_filter_gives_the_engines_message_as_a_filter_error():
    with pytest.raises(policy.PolicyError) as engine:
        policy.plan(TIERS, units={"ssh.service": "critcal"})
    with pytest.raises(AnsibleFilterError) as adapted:
        flt.oom_protection_plan(TIERS, units={"ssh.service": "critcal"})
    assert adapted.value.message == str(engine.value)


def test_the_filters_return_what_the_engine_returns():
    plan = policy.plan(TIERS, units={"ssh.service": "critical"})
    assert flt.oom_protection_plan(TIERS, units={"ssh.service": "critical"}) == plan
    record = compliance.compliance(plan, info={"units": {}}, systemd=True)
    assert flt.oom_protection_compliance(plan, info={"units": {}}, systemd=True) == record
    assert flt.oom_protection_summary_lines(record) == compliance.summary_lines(record)
