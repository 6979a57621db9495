#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set oom_score_adj on running processes by rule: one scan, last rule wins, all-or-nothing writes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oom_score_adj
short_description: Set C(oom_score_adj) of running processes by rule, safely and all-or-nothing
version_added: "0.1.0"
description:
  - Sets C(/proc/PID/oom_score_adj), the value the Linux OOM killer adds to a process's memory footprint when
    it chooses a victim (-1000..1000; V(0) is neutral, a negative value protects, a positive value sacrifices
    first, V(-1000) exempts completely).
  - A whole policy is one call, so one round trip per host however many rules it has. Give O(rules), or one
    rule directly through the selector options and O(value) (or O(oom_adj)).
  - The module reads C(/proc) once (the expensive files C(cmdline), C(exe) and C(cgroup) only when a rule
    needs them), matches every rule, and only then writes. A process matched by several rules gets the value
    of the B(last) matching rule; RV(changes[].rule) names the rule that won.
  - The selectors of one rule must all match (AND). O(rules[].include_descendants) then adds every process
    below a matched one.
  - PID 1, kernel threads, this module's own process and its parent processes (the connection running it, up
    to but excluding the first ancestor whose parent is PID 1) are never touched, nor is anything matched by
    O(exclude). They are reported in RV(excluded).
  - Each write opens C(/proc/PID) as a directory, checks that the process still has the start time it had
    when it was matched (so a recycled PID is never written), writes with one unbuffered C(write) system call whose
    error is checked, and reads the value back.
  - B(All or nothing.) Writes that lower a value run first, because lowering is the only write the kernel
    refuses for lack of C(CAP_SYS_RESOURCE); raises run after them. If any write is denied (with
    O(on_denied=fail)) or fails, no further raise is made, every write this call already made is reverted to
    the value the process had before, and the module fails naming what was denied and what was rolled back.
    Reverting a lowering is a raise, which is always permitted. Reverting a raise restores a value the process
    already held, which is never below its floor. A process that exits in between needs no revert.
  - A process that exits between matching and writing is not an error; it is reported in RV(vanished).
  - Needs only Python 3.8+ and its standard library on the target.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details:
      - Nothing is written. RV(changes) lists the writes a real run would make.
      - Writes that lower a value below 0 while this host lacks C(CAP_SYS_RESOURCE) are listed in RV(denied) with
        RV(denied[].predicted=true) and a warning, instead of in RV(changes); check mode does not fail on them.
        0 is the floor of every process that no privileged writer has set otherwise, so lowering to 0 or above is
        predicted to work.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: "One line per changed process, C(PID NAME: VALUE), before and after."
  platform:
    support: full
    description: Target OS/families that can be operated against.
    platforms: posix
    details: Linux only (C(/proc/PID/oom_score_adj), kernel 2.6.36 or later).
extends_documentation_fragment:
  - oomguard.fleet.proc_path
  - oomguard.fleet.oom_score_adj_single_rule
options:
  value:
    description:
      - The C(oom_score_adj) to set, -1000..1000, for the single rule given by the selector options.
      - Mutually exclusive with O(oom_adj) and O(rules).
    type: int
  oom_adj:
    description:
      - The value on the legacy C(oom_adj) scale (-17..15), for the single rule given by the selector options.
      - Converted exactly as the kernel converts it (V(15) becomes V(1000), V(-17) becomes V(-1000), any other
        V(x) becomes V(x*1000/17) truncated toward zero, for example V(5) becomes V(294)); the result is
        written to C(oom_score_adj), and a warning says so.
      - Mutually exclusive with O(value) and O(rules).
    type: int
  containers:
    description:
      - What the single rule does with processes in containers and pods, see O(rules[].containers). Mutually
        exclusive with O(rules). Unset means V(exclude).
    type: str
    choices: [exclude, include, only]
  rules:
    description:
      - The policy, one entry per rule. Each rule needs at least one selector and exactly one of C(value) and
        C(oom_adj).
      - A process matched by several rules gets the value of the last rule that matches it.
      - Mutually exclusive with the single-rule options.
    type: list
    elements: dict
    suboptions:
      pid:
        description:
          - The process with this process id.
        type: int
      name:
        description:
          - Processes whose name (the kernel's C(comm), at most 15 bytes) is exactly this.
          - The kernel keeps only the first 15 bytes (not characters) of a process name, so a longer name
            (V(systemd-journald), shown as C(systemd-journal)) can never match and fails the call, naming what the
            kernel shows; use that name, O(rules[].name_pattern) or O(rules[].cmdline_pattern).
          - Unlike C(pgrep NAME), this is not a pattern; use C(name_pattern) for one.
        type: str
      name_pattern:
        description:
          - Processes whose name matches this Python regular expression (C(re.search); anchor it with C(^...$)
            for an exact match).
        type: str
      cmdline_pattern:
        description:
          - Processes whose command line (the arguments joined by single spaces) matches this Python regular
            expression (C(re.search)).
        type: str
      exe:
        description:
          - Processes running this executable (an absolute path, compared with the C(/proc/PID/exe) link; a
            process whose binary was replaced on disk still matches).
        type: path
      user:
        description:
          - Processes whose real user is this user name or numeric uid. An unknown user name is an error.
        type: str
      unit:
        description:
          - Every process of this systemd unit, for example V(postgresql.service), found through each
            process's cgroup. A template such as V(getty@.service) matches all of its instances.
          - Must be a valid unit name as systemd judges it (at most 255 bytes, letters, digits and C(:-_.\@), a
            unit type suffix, not starting with C(@)); beyond systemd, a name whose part before C(@) or the suffix
            is only dots (C(..service)) is rejected too. V(foo@.service) is a template; V(foo@@.service),
            V(foo@bar@.service) and V(foo@.bar.service) are instances.
        type: str
      cgroup:
        description:
          - Processes in this cgroup or below it (an absolute cgroup path such as V(/system.slice/foo.service)),
            or whose cgroup matches this shell glob (for example V(/system.slice/docker-*.scope)).
          - A process's cgroup is its path as systemd shows it, or its path in any other hierarchy listed in
            C(/proc/PID/cgroup); on a cgroup v1 or hybrid host a memory cgroup's path (as C(4:memory:/batch/jobs)
            lists it) matches too.
        type: str
      include_descendants:
        description:
          - Also select every process below a matched one in the process tree (children, grandchildren, ...).
        type: bool
        default: false
      value:
        description:
          - The C(oom_score_adj) for the processes of this rule, -1000..1000.
        type: int
      oom_adj:
        description:
          - The value on the legacy C(oom_adj) scale, -17..15, converted as for O(oom_adj).
        type: int
      containers:
        description:
          - What the rule does with the processes it matches inside containers and pods (Docker, Podman,
            containerd, CRI-O, kubelet's pods, LXC, systemd-nspawn, recognised from each process's cgroup). Their
            runtime or kubelet sets their C(oom_score_adj) and puts its own value back at the next start or exec,
            so a change here holds only until then.
          - V(exclude) leaves them alone and lists each in RV(excluded) with C(managed by <runtime>) and the
            container's name; V(include) changes them as well; V(only) matches nothing outside containers.
          - Whatever this says, a runtime's helpers (conmon, containerd's shims, an LXC monitor) are changed only by
            a rule that names them by O(rules[].pid), and the runtime daemons (kubelet, containerd, dockerd, crio,
            cri-dockerd, k3s) only by a rule with O(rules[].pid) or O(rules[].unit) (their unit's C(OOMScoreAdjust=)
            is the lever their packagers use; kubelet puts back its own C(oomScoreAdj) every few minutes).
        type: str
        choices: [exclude, include, only]
        default: exclude
  exclude:
    description:
      - Selectors of processes that are never touched, whatever the rules say. Each entry takes the same
        selectors as a rule (all of them must match) but no value.
    type: list
    elements: dict
    default: []
    suboptions:
      pid:
        description: The process with this process id.
        type: int
      name:
        description: Processes with this name (the kernel's C(comm)); more than 15 bytes fails, as in O(rules[].name).
        type: str
      name_pattern:
        description: Processes whose name matches this Python regular expression.
        type: str
      cmdline_pattern:
        description: Processes whose command line matches this Python regular expression.
        type: str
      exe:
        description: Processes running this executable.
        type: path
      user:
        description: Processes of this user (name or numeric uid).
        type: str
      unit:
        description: Every process of this systemd unit.
        type: str
      cgroup:
        description: Processes in this cgroup (path or glob).
        type: str
      include_descendants:
        description: Also exclude every process below a matched one.
        type: bool
        default: false
  allow_oom_disable:
    description:
      - Allow the value V(-1000) (or O(oom_adj=-17)), which makes a process unkillable by the OOM killer. A leak
        in such a process can then only end in killing everything else on the host (or a kernel panic), so
        it is refused unless this is true.
    type: bool
    default: false
  on_denied:
    description:
      - What to do when the kernel refuses a write (EACCES). Without C(CAP_SYS_RESOURCE) (in a container, or a
        host whose bounding set lacks it) the kernel refuses to lower a value below the process's floor,
        which is V(0) unless a privileged writer set it; so negative values fail there.
    type: str
    choices:
      fail: Revert every write this call made and fail, naming each refused process, the requested and the
        current value and why (all-or-nothing).
      warn: Keep the writes that worked, leave the refused processes as they are, list them in RV(denied) and
        warn.
    default: fail
  on_no_match:
    description:
      - What to do when a rule matches no process that may be changed.
    type: str
    choices:
      ignore: Say nothing.
      warn: Warn, naming the rule.
      fail: Fail before anything is written.
    default: warn
notes:
  - Values are per process (all threads of a process share one), are inherited by children at C(fork) and
    survive C(exec); changing a parent does not change children that already exist, so use
    O(rules[].include_descendants) or select the children too.
  - A service manager may reset the value when it restarts a service. For systemd services make the value
    permanent with C(OOMScoreAdjust=) (see M(oomguard.fleet.oom_dropins)) and use this module to apply it to
    the running processes now.
  - Only C(oom_score_adj) is ever written, never the legacy C(/proc/PID/oom_adj) file.
seealso:
  - module: oomguard.fleet.oom_score_info
    description: Read the values, the kernel's kill order and whether this host may lower values.
  - module: oomguard.fleet.oom_dropins
    description: Make values permanent for systemd units.
  - name: proc_pid_oom_score_adj(5)
    description: The kernel interface (its text about a 0..1000 score and a root bonus is out of date).
    link: https://man7.org/linux/man-pages/man5/proc_pid_oom_score_adj.5.html
"""

EXAMPLES = r"""
# Protect sshd so an administrator can still log in to a host that is out of memory. Negative values need
# CAP_SYS_RESOURCE: without it (containers, or hosts whose capability bounding set lacks it) the kernel
# refuses any value below 0 and this task fails, having changed nothing.
- name: Make sshd one of the last processes the OOM killer picks
  oomguard.fleet.oom_score_adj:
    name: sshd
    value: -900

# Protect a database and everything it forks. on_denied=warn keeps the task green on hosts that cannot
# lower values; the refused processes are listed in `denied`.
- name: Protect PostgreSQL and its backends
  oomguard.fleet.oom_score_adj:
    unit: postgresql.service
    include_descendants: true
    value: -500
    on_denied: warn
  register: pg_protection

- name: Show what the kernel refused
  ansible.builtin.debug:
    msg: "{{ pg_protection.denied | map(attribute='reason') | list }}"
  when: pg_protection.denied | length > 0

# Make a batch job the first victim. Raising a value needs no capability.
- name: Deprioritise the nightly report generator
  oomguard.fleet.oom_score_adj:
    cmdline_pattern: '(^|/)python3 .*nightly_report\.py'
    value: 800

# A whole policy in one call. The last matching rule wins: root's processes get 100, except sshd and
# the databases, which later rules set lower.
- name: Apply the host OOM policy
  oomguard.fleet.oom_score_adj:
    rules:
      - user: root
        value: 100
      - name: sshd
        value: -900
      - unit: postgresql.service
        include_descendants: true
        value: -500
      # Docker's containers belong to dockerd, which puts its value back at each start: this rule means it.
      - cgroup: /system.slice/docker-*.scope
        containers: include
        value: 500
    exclude:
      # systemd-journald, as the kernel names it (15 bytes).
      - name: systemd-journal
    on_no_match: ignore
  register: oom_policy

- name: Which rule set each process
  ansible.builtin.debug:
    msg: "{{ oom_policy.changes | map(attribute='rule') | list }}"

# A name rule on a container host: the host's own java gets 300; the java processes in containers and pods
# are left to their runtime and listed in `excluded` ("managed by containerd (container web, pod shop/web-7f9c)").
- name: Make the host's batch java expendable, not the containers' ones
  oomguard.fleet.oom_score_adj:
    name: java
    value: 300
  register: java_policy

# Migrate a legacy setting. The old config wrote 10 to /proc/PID/oom_adj; the kernel turns that into
# oom_score_adj 588 (10 * 1000 / 17, truncated), which is what this writes, with a warning.
- name: Keep the old worker setting, expressed on the old scale
  oomguard.fleet.oom_score_adj:
    name: legacy-worker
    oom_adj: 10

# The seed's "echo -17 > /proc/PID/oom_score_adj" was a tiny nudge, not a protection (-17 on the
# -1000..1000 scale). -17 on the legacy scale means -1000: unkillable, so it must be allowed explicitly.
- name: Exempt the cluster heartbeat daemon completely
  oomguard.fleet.oom_score_adj:
    name: corosync
    oom_adj: -17
    allow_oom_disable: true
"""

RETURN = r"""
changed:
  description: Whether any value was changed (in check mode, would be changed).
  returned: always
  type: bool
  sample: true
changes:
  description:
    - The processes whose value was changed (in check mode, would be changed), in PID order.
    - On a failed call this is empty, since every change was reverted.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
      sample: 812
    name:
      description: The process name (the kernel's C(comm)).
      type: str
      sample: postgres
    unit:
      description: The systemd unit owning the process (from its cgroup), or V(null).
      type: str
      sample: postgresql.service
    rule:
      description: The rule that set the value, the last one that matched the process.
      type: dict
      contains:
        index:
          description: Its position in O(rules) (V(0) for the single-rule form).
          type: int
          sample: 2
        description:
          description: Its selectors as text.
          type: str
          sample: unit=postgresql.service +descendants
    before:
      description: The value before.
      type: int
      sample: 0
    after:
      description: The value after (read back from the kernel; in check mode, the requested value).
      type: int
      sample: -500
  sample:
    - pid: 812
      name: postgres
      unit: postgresql.service
      rule: {index: 2, description: unit=postgresql.service +descendants}
      before: 0
      after: -500
unchanged:
  description: How many matched processes already had the requested value.
  returned: always
  type: int
  sample: 14
kept:
  description:
    - The matched processes left at the value they have, one entry per process counted in RV(unchanged) - at the
      requested value, or at -1000 under a negative rule (a process that protects itself, like sshd's listener).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
      sample: 812
    name:
      description: The process name.
      type: str
      sample: postgres
    rule:
      description: The rule that won for it (C(index) and C(description), as in RV(changes[].rule)).
      type: dict
      sample: {index: 2, description: name=postgres}
    oom_score_adj:
      description: The value it has and keeps.
      type: int
      sample: -500
  sample: [{pid: 812, name: postgres, rule: {index: 0, description: name=postgres}, oom_score_adj: -500}]
matched:
  description: How many distinct processes the rules matched, not counting excluded ones.
  returned: always
  type: int
  sample: 17
denied:
  description:
    - Processes whose value the kernel refused to change (with O(on_denied=warn), or on a failed call), or,
      in check mode, would probably refuse.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
      sample: 812
    name:
      description: The process name.
      type: str
      sample: postgres
    unit:
      description: The systemd unit owning the process, or V(null).
      type: str
      sample: postgresql.service
    rule:
      description: The rule that asked for the value (C(index) and C(description), as in RV(changes[].rule)).
      type: dict
      sample: {index: 2, description: unit=postgresql.service}
    before:
      description: The value the process has (and keeps).
      type: int
      sample: 0
    requested:
      description: The value that was refused.
      type: int
      sample: -500
    reason:
      description: Why the kernel refused it.
      type: str
      sample: >-
        lowering oom_score_adj from 0 to -500 is below what this process may be lowered to without
        CAP_SYS_RESOURCE, which this host or container lacks
    predicted:
      description:
        - V(true) in check mode, where nothing is written and the denial is predicted - lowering below 0 while
          this host lacks C(CAP_SYS_RESOURCE). The kernel's real limit (the process's floor) is not visible in
          C(/proc); it is 0 unless a privileged writer such as systemd's C(OOMScoreAdjust=) set it, so a real
          run may differ for such processes.
      type: bool
      sample: false
  sample: []
vanished:
  description: Matched processes that exited before their value was written. Not an error.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
    name:
      description: The process name.
      type: str
    rule:
      description: The rule that matched it (C(index) and C(description)).
      type: dict
  sample: [{pid: 4312, name: worker, rule: {index: 0, description: name=worker}}]
reused:
  description:
    - Matched PIDs that belonged to a different process (another start time) by the time of the write, so the
      PID had been recycled. They are not written.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
    name:
      description: The name of the process that was matched.
      type: str
    rule:
      description: The rule that matched it (C(index) and C(description)).
      type: dict
    reason:
      description: What was found instead.
      type: str
  sample: []
excluded:
  description:
    - Processes a rule matched that are never touched, and why (PID 1, a kernel thread, this module or its parents,
      O(exclude), a process in a container or pod that its runtime owns - C(managed by <runtime> (container
      <name>, pod <namespace/name>)) - or a runtime's helper or daemon, see O(rules[].containers)).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process id.
      type: int
    name:
      description: The process name.
      type: str
    reason:
      description: Why it was left alone.
      type: str
    rule:
      description: For a process its container runtime owns, the rule that matched it (C(index), C(description)).
      type: dict
      returned: when RV(excluded[].runtime_owned) is true
    runtime_owned:
      description: True when a container runtime or kubelet owns its value (see O(rules[].containers)).
      type: bool
      returned: when true
  sample: [{pid: 1, name: systemd, reason: PID 1 (init) is never touched}]
rules:
  description: One entry per rule, in order, saying how many processes it matched and for how many it won.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Its position in O(rules) (V(0) for the single-rule form).
      type: int
    description:
      description: Its selectors as text.
      type: str
    value:
      description: The C(oom_score_adj) it asks for (after converting O(rules[].oom_adj)).
      type: int
    matched:
      description: Processes it matched, not counting excluded ones.
      type: int
    won:
      description: Processes whose value comes from this rule (the last matching rule wins).
      type: int
  sample: [{index: 0, description: user=root, value: 100, matched: 40, won: 38},
           {index: 1, description: name=sshd, value: -900, matched: 2, won: 2}]
can_lower_adj:
  description: Whether this module may lower values below a process's floor (C(CAP_SYS_RESOURCE) is effective); V(null) if unknown.
  returned: always
  type: bool
  sample: false
rolled_back:
  description: On a failed call, the writes that were reverted, with the value each process was given back.
  returned: failure
  type: list
  elements: dict
  sample: [{pid: 4410, name: worker, value: 0}]
diff:
  description: "Before and after values, one line C(PID NAME: VALUE) per changed process."
  returned: when diff mode is on
  type: dict
  sample: {before: "812 postgres: 0\n", after: "812 postgres: -500\n"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.adj import (
    MUTUALLY_EXCLUSIVE, REQUIRED_ONE_OF, OomScoreAdj, argument_spec,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
        supports_check_mode=True,
    )


def main():
    run_module(build_module(), OomScoreAdj)


if __name__ == "__main__":
    main()
