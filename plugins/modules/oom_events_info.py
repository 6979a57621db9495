#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_events_info
short_description: OOM kills by the kernel and the userspace killers, from the logs (journal, dmesg or a log file)
version_added: "0.1.0"
description:
  - Finds the processes the Linux OOM killer killed, one event per C(Killed process) line of the kernel log,
    the only line of an OOM report that the kernel never ratelimits.
  - A kill whose C(Killed process) line is not in the log but whose summary line
    (C(oom-kill:constraint=...,task=NAME,pid=N,uid=N), since Linux 5.0) is -- what
    C(grep oom-kill /var/log/messages) keeps -- is one event read from the summary (RV(events[].line) says
    which). A kill with both lines is one event, in either order. A selection line
    (C(Kill process N ... or sacrifice child)) without its kill line is no event.
  - Adds what the rest of the same report says when it is there (the process that triggered the OOM, the
    constraint, the memory cgroup that ran out, the victim's cgroup and systemd unit, whether the OOM reaper
    freed its memory), and leaves a field V(null) when the kernel did not print it. Nothing is guessed.
  - Reads every kernel log format from Linux 2.6.32 (RHEL 6's C(Killed process N, UID N, (name))) to the 2026
    kernels, with the prefixes of the journal, C(dmesg), syslog files and C(CONFIG_PRINTK_CALLER), and
    C(dmesg -T) / C(journalctl) times written in other locales (German, French, Spanish, Italian, Portuguese,
    Dutch, Polish, Russian, Ukrainian, Czech, Swedish month names, and the C(12月) / C(12월) forms).
  - Also reads the kills of the userspace killers that act before or instead of the kernel, one event per kill
    with RV(events[].killer) saying who killed - C(systemd-oomd) (systemd v247 to v261), C(earlyoom) (1.0 to 1.9),
    C(nohang) (0.1 to today, also its own log file), C(kubelet) (the eviction manager, both its printf-era and its
    structured lines) and Facebook's C(oomd).
  - One kill is one event however many lines it takes. systemd-oomd's kill line and PID 1's or the user manager's
    C(systemd-oomd killed N process(es)) and C(Failed with result 'oom-kill') lines are one event; earlyoom's
    SIGTERM, its escalation to SIGKILL, its retries and C(process exited) are one event; kubelet's evicted, waiting
    and cleaned-up lines are one event. Two killers acting on one process (earlyoom, then the kernel) are two events.
  - Never events - candidate dumps, startup banners, statistics counters, dry runs, decisions that were not
    followed by a kill, PID 1's C(Killing process N (name) with signal SIGKILL) (a unit being stopped) and
    C(Main process exited, code=killed, status=9/KILL).
  - Needs only Python 3.8+ and its standard library on the target.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    description: Can run in check mode and return the same result as without it.
    support: full
    details: This module never changes anything.
  diff_mode:
    description: Would return details on what has changed in diff mode.
    support: none
    details: Nothing is ever changed.
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
    details: Linux only.
options:
  source:
    description:
      - Where to read the logs. RV(sources_read) and RV(killers_looked_for) say what was read.
    type: str
    choices:
      auto: >-
        The journal when C(journalctl) exists and can be read, in one C(journalctl) run - the kernel messages, the
        killers' identifiers (C(systemd-oomd), C(earlyoom), C(nohang), C(nohang-desktop), C(kubelet), C(oomd)) and PID
        1's lines about systemd-oomd kills and C(oom-kill) results. When the journal holds no kernel messages, the
        kernel's come from C(dmesg), else from the first existing file of C(/var/log/kern.log), C(/var/log/messages),
        C(/var/log/syslog). Without a readable journal the userspace killers' lines come from the first existing file of
        C(/var/log/syslog), C(/var/log/messages), C(/var/log/daemon.log). A source that exists but cannot be read is
        skipped with a warning.
      journal: >-
        C(journalctl -o json) as with V(auto): every boot the journal kept, with exact times. Reading the system
        journal needs root or the C(adm) / C(systemd-journal) group.
      dmesg: >-
        The kernel ring buffer (this boot only; old messages are overwritten when it fills), the kernel's kills and
        Facebook oomd's C(oomd kill:) lines. Times are the boot time plus the kernel's uptime stamp, which stops
        during suspend. Needs root when C(kernel.dmesg_restrict=1).
      file: >-
        A log file given in O(path), with any killer's lines - a syslog file, a C(journalctl) or C(grep) paste, saved
        C(journalctl -o json) or C(journalctl -o export) output, a saved C(dmesg), nohang's own log file; C(.gz) files
        are read too.
    default: auto
  path:
    description:
      - The log file to read with O(source=file), for example C(/var/log/kern.log.1) or a saved C(dmesg) output.
      - Only valid with O(source=file).
    type: path
  since:
    description:
      - Only return kills at or after this time.
      - A duration back from now (a number with V(s), V(m), V(h), V(d) or V(w); parts may be combined, as in
        V(1h30m)), or an ISO 8601 time such as V(2026-11-25), V(2026-11-25T08:00:00) or V(2026-11-25T08:00:00+01:00)
        (without an offset it is the target's local time).
      - Kills whose time the log does not tell are always returned.
    type: str
  killers:
    description:
      - Only read and return the kills of these killers.
    type: list
    elements: str
    choices: [kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd]
    default: [kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd]
  limit:
    description:
      - Return at most this many events, the most recent ones. V(0) returns none (the counter and the source are
        still returned). Without it every event is returned.
    type: int
notes:
  - O(since) and O(limit) apply after the whole source is read, so that a report whose first lines precede the
    cut-off keeps them.
  - C(pgtables_kb) - Linux 5.4.0 itself printed this value in bytes while labelling it kB (fixed in 5.5 and
    5.4.y). The module converts it when the report's kernel release is known to be 5.4.0 (from the report's
    C(CPU:) line, the boot's C(Linux version) banner or, for C(dmesg), the running kernel); distribution kernels
    numbered C(5.4.0-<abi>-<flavour>) (Ubuntu 20.04) are built on later 5.4.y releases and print kB. When the
    release is unknown, a value larger than C(total-vm) cannot be kB and is read as bytes.
  - C(scope) comes from the summary line's constraint, or from the C(Memory cgroup out of memory) prefix. On a
    report whose summary is missing (before Linux 5.0, or ratelimited), C(Out of memory) alone does not tell a
    global OOM from a cpuset or memory-policy one, so C(scope) is V(null). Linux 5.0 and 5.1 printed
    C(CONSTRAINT_NONE) for memory cgroup OOMs; C(constraint) shows what was printed, C(scope) says V(memcg).
  - A process killed by C(memory.oom.group) may be logged twice in one report; it is one event.
  - A C(dmesg -T) time whose month name is not one of those locales is still removed from the message, but the
    event's time is V(null).
  - The userspace killers print less than the kernel. systemd-oomd and Facebook oomd kill a cgroup and name no
    pid; earlyoom names the pid and no cgroup; kubelet names the pod only. Such fields are V(null).
  - systemd-oomd before v248 printed only its decision (the monitored cgroup, before killing); that line is the
    event (RV(events[].line) is V(decision)) unless a C(Failed to kill any cgroup) line follows it.
  - A kubelet that logs to a file instead of the journal is only read with O(source=file).
  - Fields taken from the task table (C(oom_score_adj) and C(uid) before Linux 5.4) need C(vm.oom_dump_tasks=1),
    the default.
seealso:
  - module: oomguard.fleet.oom_score_info
"""

EXAMPLES = r"""
- name: What did the OOM killer kill in the last week?
  oomguard.fleet.oom_events_info:
    since: 7d
  register: oom_kills

- name: Show the victims
  ansible.builtin.debug:
    msg: "{{ oom_kills.events | map(attribute='name') | list }}"

- name: Kills of the last day
  oomguard.fleet.oom_events_info:
    since: 1d
  register: oom_today

- name: Fail when a protected service lost a process to the OOM killer
  ansible.builtin.assert:
    that: oom_today.events | selectattr('unit', 'in', protected_units) | list | length == 0
    fail_msg: "{{ oom_today.events | selectattr('unit', 'in', protected_units) | map(attribute='raw') | list }}"
  vars:
    protected_units: [postgresql@15-main.service, ssh.service]

- name: The five most recent kills, from the ring buffer
  oomguard.fleet.oom_events_info:
    source: dmesg
    limit: 5
  register: recent

- name: Kills in last week's rotated kern.log
  oomguard.fleet.oom_events_info:
    source: file
    path: /var/log/kern.log.1

- name: What systemd-oomd and earlyoom killed today
  oomguard.fleet.oom_events_info:
    killers: [systemd-oomd, earlyoom]
    since: 1d
  register: userspace_kills

- name: Fail when the killers' logs could not be read at all
  ansible.builtin.assert:
    that: "'systemd-oomd' in userspace_kills.killers_looked_for"
    fail_msg: "Read {{ userspace_kills.sources_read }}: systemd-oomd's kills are unknown"

- name: Kills in nohang's own log file
  oomguard.fleet.oom_events_info:
    source: file
    path: /var/log/nohang/nohang.log
    killers: [nohang]
"""

RETURN = r"""
events:
  description:
    - The OOM kills found, oldest first (the order of the log). Memory values are kB.
    - Fields the log did not print for that kill are V(null).
  returned: always
  type: list
  elements: dict
  contains:
    time:
      description: When the kill was logged, ISO 8601 in UTC; V(null) when the log line has no time.
      type: str
      sample: "2026-11-25T21:56:46.047064+00:00"
    timestamp:
      description: The same time in seconds since the epoch, or V(null).
      type: float
      sample: 1795643806.047064
    pid:
      description: The killed process's id (V(null) for a cgroup kill that names none, and for kubelet evictions).
      type: int
      sample: 9751
    name:
      description:
        - The killed process's name (the kernel's C(comm), at most 15 bytes; may hold spaces and parentheses).
        - For a kubelet eviction, the pod's name.
      type: str
      sample: php-fpm8.2
    uid:
      description: The killed process's user id (kill line since Linux 5.4, RHEL 7's kill line, summary line or task table).
      type: int
      sample: 33
    oom_score_adj:
      description: The killed process's C(oom_score_adj) (kill line since Linux 5.4, else the task table).
      type: int
      sample: 345
    total_vm_kb:
      description: Virtual memory size.
      type: int
      sample: 682096
    anon_rss_kb:
      description: Resident anonymous memory.
      type: int
      sample: 512004
    file_rss_kb:
      description: Resident file-backed memory.
      type: int
      sample: 3016
    shmem_rss_kb:
      description: Resident shared memory (printed since Linux 4.5 and on RHEL 7).
      type: int
      sample: 0
    pgtables_kb:
      description: Page tables (printed since Linux 5.4; see the notes on 5.4.0).
      type: int
      sample: 1092
    scope:
      description: What ran out of memory; V(null) when the report does not say (see the notes).
      type: str
      choices: [global, memcg, cpuset, mempolicy]
      sample: memcg
    constraint:
      description: The constraint as the summary line printed it (since Linux 5.0).
      type: str
      sample: CONSTRAINT_MEMCG
    oom_memcg:
      description: The memory cgroup that hit its limit (summary line, or C(Task in ... limit of) before Linux 5.0).
      type: str
      sample: /system.slice/php8.2-fpm.service
    task_memcg:
      description: The killed process's memory cgroup.
      type: str
      sample: /system.slice/php8.2-fpm.service
    trigger:
      description: The process whose allocation invoked the OOM killer; V(null) when that line was ratelimited away.
      type: dict
      contains:
        name:
          description: Its name.
          type: str
          sample: php-fpm8.2
        gfp_mask:
          description: The allocation's GFP mask, as printed.
          type: str
          sample: "0xcc0"
        order:
          description: The allocation order (-1 for a manual SysRq-f OOM).
          type: int
          sample: 0
        oom_score_adj:
          description: Its C(oom_score_adj).
          type: int
          sample: 0
    unit:
      description:
        - Kernel kills - the systemd unit owning C(task_memcg) (or the C(memory.oom.group) cgroup), or V(null).
        - Userspace killers - the unit the line names or the cgroup ends in, with systemd's escaping kept
          (C(app-gnome-google\x2dchrome-11396.scope)), or V(null).
      type: str
      sample: php8.2-fpm.service
    reaped:
      description:
        - V(true) when the OOM reaper freed the victim's memory, V(false) when it could not, V(null) when it did not
          log (the process exited by itself first, or a kernel before 4.6).
      type: bool
      sample: true
    line:
      description:
        - The line the event was read from. V(kill) is the C(Killed process) line (or a userspace killer's kill
          line). V(summary) is the summary line C(oom-kill:constraint=...) of a kill whose C(Killed process) line is
          not in the log; such an event has no memory values (V(null)) but the name, pid, uid, constraint and memory
          cgroups of the summary.
        - >-
          V(decision) is systemd-oomd's decision line before v248, the only record of its kill (its C(cgroup) is the
          monitored cgroup it killed under). V(unit) is PID 1's or a user manager's
          C(<unit>: systemd-oomd killed N process(es) in this unit.) when systemd-oomd's own line is not in the log.
      type: str
      choices: [kill, summary, decision, unit]
      sample: kill
    killer:
      description: Who killed - the kernel's OOM killer or a userspace killer.
      type: str
      choices: [kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd]
      sample: systemd-oomd
    cgroup:
      description:
        - The cgroup the killer acted on, as printed (kernel - C(task_memcg); systemd-oomd and oomd - the killed
          cgroup; nohang - the victim's C(cgroup_v2)); V(null) when the log does not print one (earlyoom, kubelet).
      type: str
      sample: /user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-2231.scope
    pod:
      description: The evicted pod as C(namespace/name) for a kubelet eviction, else V(null).
      type: str
      sample: default/web-7d9f8
    reason:
      description:
        - Why it killed - V(memory) (the kernel, earlyoom, nohang's MemAvailable threshold, oomd's size or growth
          rules), V(pressure) (PSI - systemd-oomd's pressure rule, nohang's PSI threshold, oomd's pressure rules), V(swap)
          (systemd-oomd's swap rule, nohang's SwapFree threshold, oomd's swap rules), V(eviction) (kubelet), V(unknown)
          (the log does not say).
      type: str
      choices: [pressure, swap, memory, eviction, unknown]
      sample: pressure
    signal:
      description:
        - The strongest signal the killer sent (V(SIGKILL) once earlyoom escalated), or V(null) where the killer does not
          signal itself (kubelet) or the log does not say which.
      type: str
      sample: SIGKILL
    container:
      description:
        - The container or pod of RV(events[].cgroup) (the kernel's victim's memory cgroup, or the cgroup a
          userspace killer acted on), with the same keys as oomguard.fleet.oom_score_info's
          C(processes[].container) - C(runtime), C(id), C(pod_uid), C(qos), C(role), C(name), C(pod), C(image).
        - Names come from the runtime's files on the host, so a container removed since the kill keeps its
          runtime and id but may have no name. V(null) when the cgroup is not known or is no container's.
      type: dict
      sample: {"runtime": "docker", "id": "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
               "pod_uid": null, "qos": null, "role": "workload", "name": "shop-web-1", "pod": null,
               "image": "nginx:1.25"}
    raw:
      description: The line the event was read from (see RV(events[].line)), without the log's timestamp and host prefixes.
      type: str
      sample: >-
        Memory cgroup out of memory: Killed process 9751 (python3) total-vm:79276kB, anon-rss:68736kB,
        file-rss:6736kB, shmem-rss:0kB, UID:0 pgtables:192kB oom_score_adj:345
source_used:
  description:
    - The source the kernel's messages were read from.
    - V(null) when O(source=auto) found no readable kernel log (a container without CAP_SYSLOG and without a
      journal, for example); there is then a warning, RV(events) is empty and the kill history is unknown.
  returned: always
  type: str
  choices: [journal, dmesg, file]
  sample: journal
source_path:
  description: The log file that was read when RV(source_used) is V(file), else V(null).
  returned: always
  type: str
  sample: /var/log/kern.log
sources_read:
  description:
    - Every source that was read, V(journal), V(dmesg) or V(file:<path>). Empty when nothing could be read.
  returned: always
  type: list
  elements: str
  sample: [journal]
killers_looked_for:
  description:
    - The selected killers (O(killers)) whose lines the sources read can hold. A killer that is not in it was not
      looked for, so that no event of it says nothing about its kills (C(dmesg) holds only the kernel's messages).
  returned: always
  type: list
  elements: str
  sample: [kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd]
oom_kill_counter:
  description:
    - The kernel's count of OOM kills since boot (C(/proc/vmstat) C(oom_kill), Linux 4.13+), or V(null) without it.
    - It counts kills the log may have lost (ring buffer overwritten, journal rate limits), but only for this boot.
  returned: always
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.events import OOMEventsInfo, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("source", "file", ("path",))],
        supports_check_mode=True,
    )


def main():
    run_module(build_module(), OOMEventsInfo)


if __name__ == "__main__":
    main()
