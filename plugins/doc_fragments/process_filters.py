# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info's options that choose the processes it reports: the filters (pids .. cgroups), min_score, top,
kernel threads, the process list, and its own processes in the kill order."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  pids:
    description: Only return these process ids.
    type: list
    elements: int
  names:
    description:
      - Only return processes with one of these names, the kernel's C(comm) of at most 15 bytes.
      - A longer name (more than 15 bytes, not characters) can never match and fails the call, naming the first 15
        bytes the kernel shows instead; use those, O(name_patterns) or O(cmdline_patterns).
    type: list
    elements: str
  name_patterns:
    description: Only return processes whose name matches one of these Python regular expressions (C(re.search)).
    type: list
    elements: str
  cmdline_patterns:
    description:
      - Only return processes whose command line (arguments joined by spaces) matches one of these regular expressions.
      - They match the real command line, before O(scrub_cmdline) masks anything.
    type: list
    elements: str
  users:
    description: Only return processes whose real user is one of these (names or numeric uids).
    type: list
    elements: str
  units:
    description:
      - Only return processes of these systemd units; a template such as C(foo@.service) matches every instance.
      - Also report each unit's declared and effective OOM settings under RV(units).
    type: list
    elements: str
  cgroups:
    description:
      - Only return processes in these cgroups.
      - An absolute path matches that cgroup and everything below it; a glob such as C(/system.slice/*.service)
        is matched with fnmatch.
      - A process's cgroup is its path as systemd shows it, or its path in any other hierarchy listed in
        C(/proc/PID/cgroup). On a cgroup v1 or hybrid host the path of a memory cgroup (as C(4:memory:/batch/jobs)
        lists it) matches too, so O(cgroups) and O(cgroup_limit) together predict the kill order inside that
        memory cgroup.
    type: list
    elements: str
  min_score:
    description: Only return processes whose kernel C(oom_score) is at least this.
    type: int
  top:
    description: How many entries of the kill order to return in RV(kill_order). V(0) returns none.
    type: int
    default: 10
  include_kernel_threads:
    description: Also return kernel threads, which are never OOM-killed and score 0.
    type: bool
    default: false
  return_processes:
    description:
      - Return RV(processes). Set to V(false) on large fleets when only the kill order and host facts are needed;
        C(cmdline) and C(cgroup) are then read only for the RV(kill_order) entries.
      - The table is about 400 bytes of JSON per process (2 MB at 5,000 processes); on such a host ansible-core's
        handling of a result that large (its C(no_log) walk and encoding) takes longer than the scan itself.
    type: bool
    default: true
  exclude_own_processes:
    description:
      - Leave this module's own Python and the chain of processes that started it (up to, not including, the
        first one whose parent is init, so an ad hoc C(ansible) call and its shell, or C(ansible-playbook)) out
        of RV(kill_order). They end with the run, so naming them as next victims tells nothing about the host.
        The other entries keep their real ranks, the kernel's positions, so a rank they held is missing from
        RV(kill_order); RV(own_processes_excluded) names them with their ranks.
      - RV(processes) still lists them.
      - V(false) lists them in RV(kill_order) like any other process.
    type: bool
    default: true
"""
