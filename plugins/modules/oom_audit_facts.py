#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_audit_facts
short_description: Gather what an OOM audit reads on a host - kill order, OOM settings, protection leaks, OOM kills - in one call
version_added: "0.1.0"
description:
  - The gathering call of the audit playbook (C(oomguard.fleet.audit)), next to the C(oomguard.fleet.oom_protection)
    role's compliance check. It returns what M(oomguard.fleet.oom_score_info) (with O(oomguard.fleet.oom_score_info#module:return_processes=false)),
    M(oomguard.fleet.oom_protection_leaks) (without a reset) and M(oomguard.fleet.oom_events_info) return, under
    the same keys, from one module run instead of three.
  - C(/proc) is scanned once, with every process's cgroup, and the host facts (memory, mounts, whether systemd
    runs) are read once; the kill order and the leaks judge the same process table.
  - Each of the three parts fails on its own, as three calls would - its error is in RV(part_errors) and the
    other parts still report. Options that are wrong fail the call before anything is read.
  - Reads only; needs only Python 3.8+ and its standard library on the target.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    support: full
    description: Reads only; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
extends_documentation_fragment:
  - oomguard.fleet.policy_assignments
  - oomguard.fleet.proc_path
options:
  top:
    description:
      - How many of the next victims RV(kill_order) lists, as O(oomguard.fleet.oom_score_info#module:top).
    type: int
    default: 5
  exclude_own_processes:
    description:
      - Leave this module's own process chain out of RV(kill_order), as
        O(oomguard.fleet.oom_score_info#module:exclude_own_processes).
    type: bool
    default: true
  oomd_sample_interval:
    description:
      - Seconds over which systemd-oomd's reclaim rate is sampled for its predicted first kill, as
        O(oomguard.fleet.oom_score_info#module:oomd_sample_interval).
    type: float
    default: 1.0
  since:
    description:
      - Only return OOM kills at or after this time, as O(oomguard.fleet.oom_events_info#module:since) (a duration
        back from now such as V(7d), or an ISO 8601 time).
    type: str
  limit:
    description:
      - Return at most this many OOM kills, the most recent ones, as O(oomguard.fleet.oom_events_info#module:limit).
    type: int
notes:
  - The kill history is read from the automatic source of M(oomguard.fleet.oom_events_info) (the journal, else
    C(dmesg)) for every killer it knows.
seealso:
  - module: oomguard.fleet.oom_score_info
  - module: oomguard.fleet.oom_protection_leaks
  - module: oomguard.fleet.oom_events_info
"""

EXAMPLES = r"""
- name: Kill order, OOM settings, protection leaks and the last week's OOM kills, in one module run
  oomguard.fleet.oom_audit_facts:
    top: 5
    units: [ssh.service, postgresql.service]
    since: 7d
    limit: 20
  register: audit

- name: Say which part could not be read
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value }}"
  loop: "{{ audit.part_errors | dict2items }}"
"""

RETURN = r"""
host:
  description:
    - The host's OOM settings, headroom and killers, as RV(oomguard.fleet.oom_score_info#module:host).
    - V(null) when the kill order part failed.
  returned: always
  type: dict
  sample: {kernel_release: 6.1.0-28-amd64, score_scale: 0-2000, mem_total_kb: 8041232, systemd_running: true}
kill_order:
  description: The next victims, as RV(oomguard.fleet.oom_score_info#module:kill_order); empty when that part failed.
  returned: always
  type: list
  elements: dict
  sample: [{rank: 1, pid: 4242, name: java, unit: app.service, container: null, badness: 512000, share_percent: 25.0,
            oom_score: 250, oom_score_adj: 0, reason: "#1: 2.0 GiB of 8.0 GiB RAM+swap"}]
own_processes_excluded:
  description: This module's own processes left out of RV(kill_order), as
    RV(oomguard.fleet.oom_score_info#module:own_processes_excluded).
  returned: always
  type: list
  elements: dict
  sample: [{rank: 3, pid: 5150, name: python3}]
pod_drift:
  description: Pod container processes not at kubelet's value, as RV(oomguard.fleet.oom_score_info#module:pod_drift).
  returned: always
  type: list
  elements: dict
  sample: []
leaks:
  description: The protection leaks, as RV(oomguard.fleet.oom_protection_leaks#module:leaks); empty when that part failed.
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, name: bash, unit: session-3.scope, oom_score_adj: -900}]
events:
  description: The OOM kills found, as RV(oomguard.fleet.oom_events_info#module:events); empty when that part failed.
  returned: always
  type: list
  elements: dict
  sample: [{killer: kernel, pid: 4242, name: java}]
source_used:
  description: The kernel log's source, as RV(oomguard.fleet.oom_events_info#module:source_used).
  returned: always
  type: str
  sample: journal
sources_read:
  description: Every source read, as RV(oomguard.fleet.oom_events_info#module:sources_read); V(null) when that part failed.
  returned: always
  type: list
  elements: str
  sample: [journal]
killers_looked_for:
  description: The killers looked for, as RV(oomguard.fleet.oom_events_info#module:killers_looked_for); V(null) when that
    part failed.
  returned: always
  type: list
  elements: str
  sample: [kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd]
part_errors:
  description:
    - Why a part failed, by part - V(kill_order) (with the host's settings), V(leaks), V(events) - one line each.
      Empty when every part reported.
  returned: always
  type: dict
  sample: {events: "source: cannot read the kernel log with source=auto: permission denied"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.audit import AuditFacts, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    run_module(build_module(), AuditFacts)


if __name__ == "__main__":
    main()
