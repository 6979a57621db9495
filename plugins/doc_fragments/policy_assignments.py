# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The units and process rules a policy assigns, which the leak finder never reports: oom_protection_leaks and
oom_audit_facts."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  units:
    description:
      - Units whose processes the policy assigns (a template C(foo@.service) covers its instances).
        Their processes are never leaks, whatever their value.
    type: list
    elements: str
    default: []
  rules:
    description:
      - Process selectors the policy assigns (the selector keys of M(oomguard.fleet.oom_score_adj)'s rules,
        without a value). Matching processes are never leaks.
    type: list
    elements: dict
    default: []
    suboptions:
      pid: {description: Process id., type: int}
      name: {description: "Exact process name (comm, at most 15 bytes).", type: str}
      name_pattern: {description: Regular expression searched in the process name., type: str}
      cmdline_pattern: {description: Regular expression searched in the command line., type: str}
      exe: {description: Path of the executable., type: path}
      user: {description: User name or uid., type: str}
      unit: {description: systemd unit name or glob., type: str}
      cgroup: {description: Cgroup path or glob., type: str}
      include_descendants: {description: Also match the descendants of matching processes., type: bool, default: false}
      value: {description: "Ignored - lets a policy's rules (selector and value) be passed as they are.", type: int}
      containers:
        description: "Ignored - lets a policy's rules be passed as they are. Processes in containers are never leaks."
        type: str
        choices: [exclude, include, only]
"""
