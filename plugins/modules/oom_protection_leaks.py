#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_protection_leaks
short_description: Find processes that hold a negative oom_score_adj nothing assigns them, and reset them on request
version_added: "0.1.0"
description:
  - The kernel copies C(oom_score_adj) to every child at C(fork), and systemd applies C(OOMScoreAdjust=) only to
    the processes it starts in the unit. A child of a protected service that lives outside it (an SSH session
    in its own session scope under a protected sshd, a job a daemon hands on, anything forked by a daemon that
    set itself to -1000) keeps the protection although nobody asked for it, and the OOM killer spares it.
  - A leak is a process, other than PID 1 and kernel threads, with a negative C(oom_score_adj) whose own unit
    does not declare exactly that value (C(systemctl show OOMScoreAdjust)), that is not in one of O(units)
    and that no selector in O(rules) matches. Pass the units and process selectors your policy assigns.
  - Processes in containers and pods (Docker, Podman, containerd, CRI-O, kubelet's pods, LXC, systemd-nspawn,
    recognised by their cgroup) are never leaks - their runtime or kubelet set the value on purpose (Guaranteed
    pods at -997, the pause container at -998, conmon at -1000) - and so are never reset.
  - Each leak is reported with its source, the nearest living ancestor holding a value as low or lower, and
    how much memory it holds.
  - With O(reset_to), each leak is set to that value. A reset only raises the value, so it needs no
    capability; PID 1, kernel threads, assigned processes and the module's own process chain are never
    touched, and a pid reused since the scan is left alone (RV(not_reset) says why).
  - Needs only Python 3.8+ and its standard library on the target. Without systemd no unit declares anything,
    so every negative value outside O(rules) is a leak.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    support: full
    description: In check mode RV(reset) lists what would be reset, and nothing is written.
  diff_mode:
    support: full
    description: Shows the reset processes' values before and after.
extends_documentation_fragment:
  - oomguard.fleet.policy_assignments
  - oomguard.fleet.proc_path
options:
  reset_to:
    description:
      - Reset every leak to this value (0 to 1000). Unset, the module only reports.
    type: int
seealso:
  - module: oomguard.fleet.oom_score_adj
  - module: oomguard.fleet.oom_score_info
"""

EXAMPLES = r"""
- name: Report protection that leaks out of the assigned units
  oomguard.fleet.oom_protection_leaks:
    units: [ssh.service, postgresql.service]
  register: leaks

- name: Give leaked SSH sessions back the default value
  oomguard.fleet.oom_protection_leaks:
    units: [ssh.service, postgresql.service]
    rules:
      - name: backup-agent
    reset_to: 0
"""

RETURN = r"""
leaks:
  description: The leaks found, by pid.
  returned: always
  type: list
  elements: dict
  contains:
    pid: {description: Process id., type: int}
    name: {description: Process name (comm)., type: str}
    unit: {description: The unit the process lives in now (null outside any unit)., type: str}
    oom_score_adj: {description: Its value., type: int}
    memory_kb: {description: "What counts for its badness - resident memory, swap, page tables.", type: int}
    starttime: {description: Its start time in clock ticks after boot (identifies the process with the pid)., type: int}
    source:
      description: The nearest living ancestor holding a value as low or lower (C(pid), C(name), C(unit), C(oom_score_adj)); null when none is alive.
      type: dict
    reason: {description: One line saying where the value came from., type: str}
  sample:
    - pid: 4242
      name: bash
      unit: session-3.scope
      oom_score_adj: -900
      memory_kb: 5120
      starttime: 123456
      source: {pid: 612, name: sshd, unit: ssh.service, oom_score_adj: -900}
      reason: "inherited from sshd (pid 612, ssh.service) at fork; ssh.service declares OOMScoreAdjust=-900"
reset:
  description: The leaks reset (in check mode, that would be reset), with the value C(before) and C(after).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, name: bash, unit: session-3.scope, before: -900, after: 0}]
not_reset:
  description:
    - Leaks that O(reset_to) did not reset, with the reason - the module's own process chain, or a process that
      exited or whose pid was reused since the scan. Empty without O(reset_to).
    - Called C(skipped) in 0.1.0, a result key ansible-core reserves for skipped tasks (it turned the list into a
      boolean with a warning, and a non-empty one marked the task skipped).
  returned: always
  type: list
  elements: dict
  contains:
    pid: {description: Process id., type: int}
    name: {description: Process name (comm)., type: str}
    reason: {description: Why it was not reset., type: str}
  sample: [{pid: 4242, name: bash, reason: "pid 4242 now belongs to another process (start time 999999, expected 123456)"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.leaks import ProtectionLeaks, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    run_module(build_module(), ProtectionLeaks)


if __name__ == "__main__":
    main()
