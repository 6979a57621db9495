#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_score_info
short_description: Kernel-accurate OOM facts, the predicted kill order and the host's OOM settings
version_added: "0.1.0"
description:
  - Reads every process straight from C(/proc) and computes what the Linux OOM killer computes for it
    in C(oom_badness()) of C(mm/oom_kill.c) - resident anonymous, file and shared memory, swap and page tables,
    shifted by C(oom_score_adj) times a thousandth of the memory in scope.
  - Returns the processes in the order the kernel would kill them, the largest badness first. On a tie the
    younger process goes first, because the kernel's task-list walk keeps the later of equal scores.
    Each entry has a one-line reason, and the kernel's own C(oom_score) next to the value predicted from the
    memory parts.
  - Without O(cgroup_limit) the ranking is the global one over every process on the host; the filters only
    choose which processes are returned, and each keeps its global rank.
    With O(cgroup_limit) the filtered processes are taken as the members of a memory cgroup of that size,
    and ranked the way a memory-cgroup OOM ranks them (C(oom_score_adj) scaled by the limit's pages).
  - Reads the cheap per-process files (C(stat), C(status), C(oom_score), C(oom_score_adj)) for everyone, and
    C(cmdline) and C(cgroup) only for processes that are returned or that a filter needs.
  - With O(units), reports per systemd unit what it really declares, read from its unit file and drop-ins
    (C(systemctl show) echoes the manager's own value when nothing is set), its C(OOMPolicy=), main PID and the
    C(oom_score_adj) the kernel applies to each of its processes.
  - Filters of different kinds must all match; the values inside one filter are alternatives.
  - Needs only Python 3.8+ and its standard library on the target.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: This module never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: full
    details: Linux only; it reads C(/proc).
options:
  pids:
    description: Only return these process ids.
    type: list
    elements: int
  names:
    description:
      - Only return processes with one of these names, the kernel's C(comm) of at most 15 bytes.
      - A longer name matches a process whose name is its first 15 bytes.
    type: list
    elements: str
  name_patterns:
    description: Only return processes whose name matches one of these Python regular expressions (C(re.search)).
    type: list
    elements: str
  cmdline_patterns:
    description: Only return processes whose command line (arguments joined by spaces) matches one of these regular expressions.
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
    type: bool
    default: true
  cgroup_limit:
    description:
      - Predict the kill order inside a memory cgroup with this limit instead of a global OOM.
      - Bytes as an integer, or a size with a unit such as V(512M), V(512MiB), V(2G) (powers of 1024).
      - Only the filtered processes are ranked, as the members of that cgroup.
    type: str
  proc_path:
    description: Where procfs is mounted. Tests point this at a fake tree.
    type: path
    default: /proc
notes:
  - C(oom_score) is the kernel's reading for a global OOM (0..2000 since Linux 5.9, 0..1000 before).
    RV(processes[].predicted_oom_score) is computed with the formula of the running kernel's scale.
  - Processes that exit while they are read are left out. Fields that cannot be read give a partial result
    and one warning, not a failure.
  - The OOM killer also skips processes being reaped and vfork children before exec; C(/proc) does not show
    either, so they are ranked like any other process.
seealso:
  - module: oomguard.fleet.oom_score_adj
  - module: oomguard.fleet.oom_events_info
"""

EXAMPLES = r"""
- name: Who dies next on this host?
  oomguard.fleet.oom_score_info:
    top: 5
    return_processes: false
  register: oom

- name: Show the first victims
  ansible.builtin.debug:
    msg: "{{ oom.kill_order | map(attribute='reason') | list }}"

- name: Is sshd protected, and does systemd really apply what it declares?
  oomguard.fleet.oom_score_info:
    units:
      - ssh.service
      - postgresql@15-main.service
  register: oom_units

- name: Fail when the kernel does not apply the declared value
  ansible.builtin.assert:
    that:
      - item.value.processes | map(attribute='oom_score_adj') | unique == [item.value.declared_oom_score_adj]
    fail_msg: "{{ item.key }} declares {{ item.value.declared_oom_score_adj }} but runs with {{ item.value.processes }}"
  loop: "{{ oom_units.units | dict2items }}"
  when: item.value.declared_set

- name: Kill order inside a 2 GiB memory cgroup holding the batch workers
  oomguard.fleet.oom_score_info:
    cgroups:
      - /system.slice/batch.service
    cgroup_limit: 2G
    top: 3

- name: Processes of the postgres user with a high score
  oomguard.fleet.oom_score_info:
    users: [postgres]
    min_score: 700
"""

RETURN = r"""
processes:
  description:
    - The returned processes, in kill order - candidates first by rank, then the processes the kernel never selects.
    - Memory values are kB, as in C(/proc/PID/status).
  returned: when O(return_processes) is true
  type: list
  elements: dict
  contains:
    pid:
      description: Process id (thread-group id).
      type: int
      sample: 812
    ppid:
      description: Parent process id.
      type: int
      sample: 1
    name:
      description: The kernel's name (comm). Bytes that are not UTF-8 appear as C(\xNN).
      type: str
      sample: postgres
    cmdline:
      description: Arguments. Empty for kernel threads and zombies; null when unreadable.
      type: list
      elements: str
      sample: ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"]
    state:
      description: Process state letter from C(stat).
      type: str
      sample: S
    uid:
      description: Real user id.
      type: int
      sample: 105
    user:
      description: Real user name, or the uid as text when it has no name.
      type: str
      sample: postgres
    unit:
      description: The systemd unit owning the process (from its cgroup); null when none.
      type: str
      sample: postgresql@15-main.service
    cgroup:
      description: The process's cgroup path in the hierarchy systemd manages.
      type: str
      sample: /system.slice/system-postgresql.slice/postgresql@15-main.service
    oom_score:
      description: The kernel's C(/proc/PID/oom_score).
      type: int
      sample: 684
    oom_score_adj:
      description: The kernel's C(/proc/PID/oom_score_adj).
      type: int
      sample: -900
    rss_anon_kb:
      description: Resident anonymous memory.
      type: int
      sample: 182340
    rss_file_kb:
      description: Resident file-backed memory; mapped files count toward the score.
      type: int
      sample: 20480
    rss_shmem_kb:
      description: Resident shared memory.
      type: int
      sample: 131072
    swap_kb:
      description: Swapped-out memory.
      type: int
      sample: 0
    pgtables_kb:
      description: Page tables.
      type: int
      sample: 1232
    badness:
      description:
        - The kernel's badness in pages, for a global OOM or, with O(cgroup_limit), for that cgroup.
        - Null when the process is never selected.
      type: int
      sample: 84213
    predicted_oom_score:
      description: C(oom_score) computed from the memory parts and adj with this kernel's formula.
      type: int
      sample: 684
    killable:
      description: Whether the OOM killer can select it at all.
      type: bool
      sample: true
    unkillable_reason:
      description:
        - Why it is never selected - V(kernel thread), V(init), V(zombie), V(no memory (exiting)) or
          V(oom_score_adj -1000). Null for candidates.
      type: str
      sample: null
    rank:
      description: Position in the kill order (1 is the first victim); null when never selected.
      type: int
      sample: 3
    kernel_thread:
      description: Whether this is a kernel thread.
      type: bool
      sample: false
kill_order:
  description: The first O(top) victims, first victim first.
  returned: always
  type: list
  elements: dict
  contains:
    rank:
      description: 1 for the first victim.
      type: int
      sample: 1
    pid:
      description: Process id.
      type: int
      sample: 4321
    name:
      description: Process name.
      type: str
      sample: java
    unit:
      description: Owning systemd unit; null when none.
      type: str
      sample: batch.service
    badness:
      description: Badness in pages.
      type: int
      sample: 3760000
    share_percent:
      description: The process's memory as a share of RAM+swap, or of the cgroup limit.
      type: float
      sample: 61.2
    oom_score:
      description: The kernel's C(oom_score) (global scope).
      type: int
      sample: 1073
    oom_score_adj:
      description: Its adjustment.
      type: int
      sample: 0
    reason:
      description: One line saying why it is at this position.
      type: str
      sample: "first victim: 61.2% of RAM+swap, adj 0, badness 3760000 pages"
host:
  description: The host's OOM-relevant facts.
  returned: always
  type: dict
  contains:
    kernel_release:
      description: The kernel release, as C(uname -r) prints it.
      type: str
      sample: 6.1.0-26-amd64
    score_scale:
      description: Range of C(oom_score) on this kernel, V(0-2000) since 5.9 or V(0-1000) before.
      type: str
      sample: 0-2000
    mem_total_kb:
      description: RAM.
      type: int
      sample: 16318412
    swap_total_kb:
      description: Swap.
      type: int
      sample: 0
    total_pages:
      description: RAM plus swap in pages, the scope of a global OOM.
      type: int
      sample: 4079603
    page_size:
      description: Bytes per page.
      type: int
      sample: 4096
    can_lower_adj:
      description:
        - Whether this host or container may lower C(oom_score_adj) below a process's floor, that is whether
          CAP_SYS_RESOURCE is in the effective set.
      type: bool
      sample: false
    systemd_running:
      description: Whether systemd is the init system (C(/run/systemd/system) exists).
      type: bool
      sample: true
    cgroup_version:
      description: V(v2), V(v1) or V(hybrid).
      type: str
      sample: v2
    sysctls:
      description:
        - C(vm.panic_on_oom), C(vm.oom_kill_allocating_task), C(vm.oom_dump_tasks), C(vm.overcommit_memory)
          and C(vm.overcommit_ratio); null when unreadable.
      type: dict
      sample: {"vm.panic_on_oom": 0, "vm.oom_kill_allocating_task": 0}
    oom_kill_count:
      description: OOM kills since boot (C(oom_kill) in C(/proc/vmstat)); null on kernels without it.
      type: int
      sample: 2
    earlyoom_running:
      description: Whether earlyoom runs; it kills before the kernel does.
      type: bool
      sample: false
    systemd_oomd_running:
      description: Whether systemd-oomd runs; it kills whole cgroups under memory pressure.
      type: bool
      sample: false
    process_count:
      description: Processes scanned.
      type: int
      sample: 212
    cgroup_limit_bytes:
      description: The O(cgroup_limit) the kill order was computed for; null for a global OOM.
      type: int
      sample: null
units:
  description:
    - Per requested unit, what systemd declares and what the kernel applies.
    - V(declared_set) is false when no unit file or drop-in assigns C(OOMScoreAdjust=), whatever
      V(systemctl_oom_score_adj) says.
  returned: when O(units) is given
  type: dict
  sample:
    ssh.service:
      declared_oom_score_adj: -900
      declared_set: true
      declared_source: /etc/systemd/system/ssh.service.d/60-oomguard.conf
      declared_oom_policy: null
      systemctl_oom_score_adj: -900
      oom_policy: stop
      main_pid: 612
      load_state: loaded
      active_state: active
      processes: [{"pid": 612, "name": "sshd", "oom_score_adj": 0}]
      ignored: []
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils import _procfs, _scoring
from ansible_collections.oomguard.fleet.plugins.module_utils._selectors import (
    SelectorError, cgroup_matches, name_matches, resolve_uid, unit_matches,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._systemd import (
    read_declared, show_units, split_paths, systemd_running, unit_name_error, unit_of_cgroup, unit_type,
)

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.I)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
WATCHERS = {"earlyoom": "earlyoom_running", "systemd-oomd": "systemd_oomd_running"}


def parse_size(text):
    """'512M', '2GiB', '1048576' -> bytes (powers of 1024, as cgroup limits are written)."""
    match = _SIZE_RE.match(str(text))
    if not match:
        return None
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


class OOMScoreInfo(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.proc_path = self.params["proc_path"].rstrip("/") or "/"
        self._result = {"changed": False}
        self._validate()

    @property
    def result(self):
        return self._result

    def _fail(self, msg):
        self.module.fail_json(msg=msg, **self._result)

    def _validate(self):
        params = self.params
        if params["top"] < 0:
            self._fail("top must be 0 or more, got %d" % params["top"])
        self.name_res = []
        for key, target in (("name_patterns", "name_res"), ("cmdline_patterns", "cmdline_res")):
            compiled = []
            for pattern in params[key] or []:
                try:
                    compiled.append(re.compile(pattern))
                except re.error as exc:
                    self._fail("%s: %r is not a valid regular expression: %s" % (key, pattern, exc))
            setattr(self, target, compiled)
        self.uids = None
        if params["users"]:
            try:
                self.uids = set(resolve_uid(user) for user in params["users"])
            except SelectorError as exc:
                self._fail("users: %s" % exc)
        for unit in params["units"] or []:
            problem = unit_name_error(unit)
            if problem:
                self._fail("units: %r is not a valid systemd unit name: %s" % (unit, problem))
        for path in params["cgroups"] or []:
            if not path.startswith("/"):
                self._fail("cgroups: %r must be an absolute cgroup path or glob (starting with '/')" % path)
        self.limit_bytes = None
        if params["cgroup_limit"] is not None:
            self.limit_bytes = parse_size(params["cgroup_limit"])
            if not self.limit_bytes:
                self._fail("cgroup_limit: %r is not a size; use bytes or a number with K, M, G or T (e.g. 512M)"
                           % params["cgroup_limit"])
        if not os.path.isdir(self.proc_path):
            self._fail("proc_path: %s is not a directory" % self.proc_path)

    # Filtering ---------------------------------------------------------------------------------------
    def _cheap_filter(self, proc):
        params = self.params
        if proc.kthread and not params["include_kernel_threads"]:
            return False
        if params["pids"] and proc.pid not in params["pids"]:
            return False
        if params["names"] and not any(name_matches(name, proc.name) for name in params["names"]):
            return False
        if self.name_res and not any(rx.search(proc.name or "") for rx in self.name_res):
            return False
        if self.uids is not None and proc.uid not in self.uids:
            return False
        if params["min_score"] is not None and (proc.oom_score or 0) < params["min_score"]:
            return False
        return True

    def _detail_filter(self, proc):
        params = self.params
        if self.cmdline_res and not any(rx.search(" ".join(proc.cmdline or [])) for rx in self.cmdline_res):
            return False
        if params["units"] and not any(unit_matches(unit, unit_of_cgroup(proc.cgroup)) for unit in params["units"]):
            return False
        if params["cgroups"] and not any(cgroup_matches(path, proc.cgroup) for path in params["cgroups"]):
            return False
        return True

    def _detail_fields(self, for_output):
        want = set()
        if self.cmdline_res or for_output:
            want.add("cmdline")
        if self.params["units"] or self.params["cgroups"] or for_output:
            want.add("cgroup")
        return want

    # Main --------------------------------------------------------------------------------------------
    def execute(self):
        params = self.params
        try:
            host = _procfs.read_host(self.proc_path)
            procs, warnings = _procfs.scan(self.proc_path)
        except OSError as exc:
            self._fail("reading %s failed: %s" % (self.proc_path, exc))
        if not host["total_pages"]:
            self._fail("cannot read MemTotal from %s/meminfo: no memory size to score against" % self.proc_path)
        scale = _scoring.scale_for_release(host["kernel_release"])
        page_size = host["page_size"]

        candidates = [proc for proc in procs if self._cheap_filter(proc)]
        want_output = params["return_processes"]
        detail = self._detail_fields(want_output)
        if detail:
            candidates = [proc for proc in candidates if _procfs.read_details(self.proc_path, proc, detail)]
        selected = [proc for proc in candidates if self._detail_filter(proc)]

        if self.limit_bytes is not None:
            total_pages = max(self.limit_bytes // page_size, 1)
            ranked = _scoring.kill_order(selected, total_pages, page_size, scale, host["kernel_release"])
            scope = "the %s cgroup limit" % params["cgroup_limit"]
        else:
            total_pages = host["total_pages"]
            ranked = _scoring.kill_order(procs, total_pages, page_size, scale, host["kernel_release"])
            scope = "RAM+swap"
        rank_of = {}
        for position, (proc, badness) in enumerate(ranked, 1):
            rank_of[proc.pid] = (position, badness)

        selected_pids = set(proc.pid for proc in selected)
        order = [(position, proc, badness) for position, (proc, badness) in enumerate(ranked, 1)
                 if proc.pid in selected_pids]
        top = order[:params["top"]]
        need_detail = [proc for _pos, proc, _b in top if proc.cgroup is None and "cgroup" not in detail]
        for proc in need_detail:
            _procfs.read_details(self.proc_path, proc, ("cgroup",))

        self._result["kill_order"] = [
            {
                "rank": position, "pid": proc.pid, "name": proc.name, "unit": unit_of_cgroup(proc.cgroup),
                "badness": badness,
                "share_percent": round(_scoring.share_percent(_scoring.memory_pages(proc, page_size), total_pages), 2),
                "oom_score": proc.oom_score, "oom_score_adj": proc.oom_score_adj,
                "reason": _scoring.kill_reason(position, proc, badness, total_pages, page_size, scope),
            }
            for position, proc, badness in top
        ]
        if want_output:
            ordered = [proc for _pos, proc, _b in order]
            ordered += sorted((proc for proc in selected if proc.pid not in rank_of), key=lambda proc: proc.pid)
            self._result["processes"] = [self._row(proc, rank_of.get(proc.pid), host, scale) for proc in ordered]

        host_out = {
            "kernel_release": host["kernel_release"],
            "score_scale": scale,
            "mem_total_kb": host["mem_total_kb"],
            "swap_total_kb": host["swap_total_kb"],
            "total_pages": host["total_pages"],
            "page_size": page_size,
            "can_lower_adj": host["can_lower_adj"],
            "systemd_running": systemd_running(),
            "cgroup_version": host["cgroup_version"],
            "sysctls": host["sysctls"],
            "oom_kill_count": host["oom_kill_count"],
            "process_count": len(procs),
            "cgroup_limit_bytes": self.limit_bytes,
        }
        names = set(proc.name for proc in procs)
        for watcher, key in WATCHERS.items():
            host_out[key] = watcher in names
        self._result["host"] = host_out

        if params["units"]:
            self._result["units"] = self._units(procs, host_out["systemd_running"])

        self._warn_partial(procs, warnings)
        return self._result

    def _row(self, proc, ranked, host, scale):
        badness = ranked[1] if ranked else None
        if self.limit_bytes is None:
            global_badness = badness
        else:
            global_badness = _scoring.badness_pages(proc, host["total_pages"], host["page_size"],
                                                    release=host["kernel_release"])
        reason = _scoring.unkillable_reason(proc)
        return {
            "pid": proc.pid,
            "ppid": proc.ppid,
            "name": proc.name,
            "cmdline": proc.cmdline,
            "state": proc.state,
            "uid": proc.uid,
            "user": _procfs.user_name(proc.uid),
            "unit": unit_of_cgroup(proc.cgroup),
            "cgroup": proc.cgroup,
            "oom_score": proc.oom_score,
            "oom_score_adj": proc.oom_score_adj,
            "rss_anon_kb": proc.rss_anon_kb,
            "rss_file_kb": proc.rss_file_kb,
            "rss_shmem_kb": proc.rss_shmem_kb,
            "swap_kb": proc.swap_kb,
            "pgtables_kb": proc.pgtables_kb,
            "badness": badness,
            "predicted_oom_score": _scoring.predicted_oom_score(global_badness, host["total_pages"], scale),
            "killable": reason is None,
            "unkillable_reason": reason,
            "rank": ranked[0] if ranked else None,
            "kernel_thread": bool(proc.kthread),
        }

    def _units(self, procs, running):
        units = self.params["units"]
        for proc in procs:
            if proc.cgroup is None and not proc.kthread:
                _procfs.read_details(self.proc_path, proc, ("cgroup",))
        shown = {}
        if running:
            try:
                shown = show_units(self._run, units)
            except RuntimeError as exc:
                self._fail("reading unit settings with systemctl failed: %s" % exc)
        else:
            self.module.warn("systemd is not running on this host: unit settings cannot be read; "
                             "processes are matched to units by their cgroup only")
        out = {}
        for unit in units:
            props = shown.get(unit, {})
            paths = []
            if props.get("FragmentPath"):
                paths.append(props["FragmentPath"])
            paths.extend(split_paths(props.get("DropInPaths")))
            declared = read_declared(paths, unit_type(unit))
            members = [proc for proc in procs if unit_matches(unit, unit_of_cgroup(proc.cgroup))]
            out[unit] = {
                "declared_oom_score_adj": declared["oom_score_adjust"],
                "declared_set": declared["oom_score_adjust_set"],
                "declared_source": declared["oom_score_adjust_source"],
                "declared_oom_policy": declared["oom_policy"],
                "systemctl_oom_score_adj": _int_or_none(props.get("OOMScoreAdjust")),
                "oom_policy": props.get("OOMPolicy") or None,
                "main_pid": _int_or_none(props.get("MainPID")),
                "load_state": props.get("LoadState"),
                "active_state": props.get("ActiveState"),
                "processes": [
                    {"pid": proc.pid, "name": proc.name, "oom_score_adj": proc.oom_score_adj}
                    for proc in sorted(members, key=lambda proc: proc.pid)
                ],
                "ignored": declared["ignored"],
            }
            for path in declared["unreadable"]:
                self.module.warn("%s: cannot read %s; its settings are not counted" % (unit, path))
        return out

    def _run(self, argv):
        return self.module.run_command(argv, environ_update={"LANG": "C", "LC_ALL": "C"})

    def _warn_partial(self, procs, warnings):
        notes = list(warnings)
        for proc in procs:
            for error in proc.errors:
                notes.append("pid %d (%s): %s" % (proc.pid, proc.name, error))
        if notes:
            shown = "; ".join(notes[:5])
            more = " (and %d more)" % (len(notes) - 5) if len(notes) > 5 else ""
            self.module.warn("some process fields could not be read, results for them are partial: %s%s" % (shown, more))


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            pids=dict(type="list", elements="int"),
            names=dict(type="list", elements="str"),
            name_patterns=dict(type="list", elements="str"),
            cmdline_patterns=dict(type="list", elements="str"),
            users=dict(type="list", elements="str"),
            units=dict(type="list", elements="str"),
            cgroups=dict(type="list", elements="str"),
            min_score=dict(type="int"),
            top=dict(type="int", default=10),
            include_kernel_threads=dict(type="bool", default=False),
            return_processes=dict(type="bool", default=True),
            cgroup_limit=dict(type="str"),
            proc_path=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    info = OOMScoreInfo(module)
    module.exit_json(**info.execute())


if __name__ == "__main__":
    main()
