# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example inventory (docs/examples/inventory) resolves, for every host, to a plan the role accepts,
and the container-node policy puts what a Kubernetes node needs below every pod's value."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.oomguard.fleet.plugins.filter.oom_protection import oom_protection_plan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(REPO, "docs", "examples", "inventory")


def _load(*parts):
    path = os.path.join(INVENTORY, *parts)
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _hosts():
    """{host: [groups]} from hosts.yml."""
    hosts = {}
    for group, body in _load("hosts.yml")["all"]["children"].items():
        for host in body["hosts"]:
            hosts.setdefault(host, []).append(group)
    return hosts


def _plan(host, groups):
    """The role's plan for host: defaults, then group_vars (all first), then host_vars, as Ansible merges them."""
    with open(os.path.join(REPO, "roles", "oom_protection", "defaults", "main.yml")) as handle:
        variables = yaml.safe_load(handle)
    for layer in [_load("group_vars", "all.yml")] + [_load("group_vars", g + ".yml") for g in sorted(groups)] \
            + [_load("host_vars", host + ".yml")]:
        variables.update(layer)
    return oom_protection_plan(
        variables["oom_protection_tiers"], custom_tiers=variables["oom_protection_custom_tiers"],
        units=variables["oom_protection_units"],
        units_by_var={k: v for k, v in variables.items() if k.startswith("oom_protection_units_")},
        processes=variables["oom_protection_processes"],
        processes_by_var={k: v for k, v in variables.items() if k.startswith("oom_protection_processes_")},
        sysctls=variables.get("oom_protection_sysctls"))


@pytest.mark.parametrize("host", sorted(_hosts()))
def test_every_example_host_gets_a_plan_the_role_accepts(host):
    plan = _plan(host, _hosts()[host])
    assert plan["units"] or plan["processes"]


def test_the_container_node_policy_keeps_the_runtime_and_sshd_below_every_pod():
    plan = _plan("node1.example.com", _hosts()["node1.example.com"])
    values = {unit["name"]: unit["oom_score_adj"] for unit in plan["units"]}
    # Below the pause container (-998) and Guaranteed pods (-997), and never -1000 (unkillable).
    assert values == {"containerd.service": -999, "ssh.service": -999}
    # kubelet sets and re-applies its own value: the policy leaves its unit alone.
    assert "kubelet.service" not in values
    assert plan["processes"] == []
