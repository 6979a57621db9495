#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge a host's whole OOM protection in one call: drop-ins, live values, the sysctl file, and the read-back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oom_protection_apply
short_description: Apply a host's whole OOM protection in one call and read back what systemd and the kernel hold
version_added: 0.1.0
description:
  - The one call per host that the P(oomguard.fleet.oom_protection#role) role makes. It does what
    M(oomguard.fleet.oom_dropins), M(oomguard.fleet.oom_score_adj) and M(oomguard.fleet.oom_score_info) do, in
    this order, in a single round trip.
  - First it validates everything (units, rules, regular expressions, values, the sysctl file path), plans the
    drop-ins against the disk and matches the rules against one snapshot of the processes. Bad input (and
    O(on_no_match=fail) without a match) fails the call before anything is written. Unit names are validated
    on hosts without systemd too, so an inventory does not pass on some hosts and fail on others.
  - Then it applies the live values (see M(oomguard.fleet.oom_score_adj)). On a host running systemd each unit's
    O(units[].oom_score_adj) goes to the unit's running processes (templates before instances, so an
    instance's own value wins, as its drop-in does in systemd's merge); then O(rules), so a process rule wins
    over the value of the process's unit. On a host without systemd the unit values are skipped with a warning
    (none with O(host_warnings=false)) and listed in RV(skipped_units).
  - Then, on a host running systemd, it writes or removes the role-owned drop-ins (see
    M(oomguard.fleet.oom_dropins)), and last the sysctl file, if O(sysctl_file) is set. Because the live values
    come first, a refusal with O(on_denied=fail) rolls them back before any file is written.
  - Last it reads back, from the same host in the same call, what systemd declares for every unit and the
    C(oom_score_adj) the kernel holds for each of their processes (RV(units), RV(host)). When a drop-in changed,
    systemd only sees it after C(systemctl daemon-reload), so RV(units) then still shows systemd's view before
    the change; RV(reload_needed) says so, and a read-back with M(oomguard.fleet.oom_score_info) after the reload
    shows the new view.
  - An idempotent run therefore costs one round trip per host, whatever the number of units and rules.
  - The module does not run C(systemctl daemon-reload), restart units or load the sysctls; do that when
    RV(reload_needed) or RV(sysctl.changed) is true.
author:
  - oomguard contributors (@oomguard)
extends_documentation_fragment:
  - oomguard.fleet.dropin_files
  - oomguard.fleet.proc_path
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Plans every part, writes nothing, and reads back the host as it is.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: One before/after entry per drop-in and for the sysctl file, and one for the running processes.
  platform:
    support: full
    description: Target OS/families that can be operated against.
    platforms: posix
    details: Linux; the drop-ins and the unit read-back need systemd as PID 1.
options:
  units:
    description:
      - The units to protect, one entry per unit, as in M(oomguard.fleet.oom_dropins).
      - With O(state=present) each listed unit gets a drop-in, and its running processes get
        O(units[].oom_score_adj) now.
      - With O(state=absent) only C(name) is used; the owned drop-ins are removed and no live value is written.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The unit name, for example V(postgresql.service) or V(getty@.service) (all instances).
          - A name of 254 or 255 bytes, valid for systemd, is refused with O(state=present); its drop-in directory
            (the name and C(.d)) would be longer than the 255 bytes a file name may have, so systemd reads no
            drop-in of its own for it. Select its processes with a rule instead.
        type: str
        required: true
      oom_score_adj:
        description:
          - The value for C(OOMScoreAdjust=) and for the unit's running processes, -1000..1000.
          - V(-1000) needs O(allow_oom_disable=true).
        type: int
      oom_policy:
        description:
          - The value for C(OOMPolicy=); only service and scope units have it.
        type: str
        choices:
          continue: The OOM kill is logged and the unit keeps running.
          stop: The unit is stopped cleanly after an OOM kill.
          kill: The kernel kills all of the unit's processes together.
      tier:
        description:
          - A label written into the drop-in's comment.
        type: str
      cgroup:
        description:
          - Resource-control and systemd-oomd settings for the same drop-in, keyed like the role's tier keys -
            C(memory_min), C(memory_low), C(memory_high), C(memory_max) (bytes with an optional K, M, G or T
            suffix, a percentage of RAM, or V(infinity); min <= low <= high <= max), C(managed_oom_preference)
            (V(none), V(avoid), V(omit)), C(managed_oom_memory_pressure) and C(managed_oom_swap) (V(auto),
            V(kill)), C(managed_oom_memory_pressure_limit) (a percentage).
          - They become C(MemoryMin=) .. C(MemoryMax=) and C(ManagedOOM*=). Memory settings and the preference
            exist for service, slice, scope, socket, mount and swap units; the other C(ManagedOOM*=) settings
            only for service, scope and slice units. Anything else fails the call before any write.
        type: dict
  state:
    description:
      - V(present) writes the drop-ins of O(units); V(absent) removes the owned drop-ins (all of them with
        O(exclusive=true)) and writes no unit values.
      - O(rules) are applied in both states.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - When true, the owned drop-ins under O(root) end up being exactly those of O(units); see
        M(oomguard.fleet.oom_dropins).
    type: bool
    default: true
  rules:
    description:
      - Process rules, as O(oomguard.fleet.oom_score_adj#module:rules) of M(oomguard.fleet.oom_score_adj), applied
        after the unit values (the last matching rule wins).
      - In the RV(adjust) result the unit values come first, so O(rules[n]) has the index RV(rule_offset) + n.
    type: list
    elements: dict
    default: []
    suboptions:
      pid:
        description: A process ID.
        type: int
      name:
        description:
          - The process name (C(comm), 15 bytes at most). A longer name can never match and fails the call, naming
            the 15 bytes the kernel keeps; use those, O(rules[].name_pattern) or O(rules[].cmdline_pattern).
        type: str
      name_pattern:
        description: A Python regular expression searched in the process name.
        type: str
      cmdline_pattern:
        description: A Python regular expression searched in the command line (arguments joined by spaces).
        type: str
      exe:
        description: The absolute path of the executable.
        type: path
      user:
        description: A user name or numeric UID (the real UID).
        type: str
      unit:
        description: A systemd unit; matches the processes in its cgroup.
        type: str
      cgroup:
        description: A cgroup path or glob, as systemd shows it.
        type: str
      include_descendants:
        description: Also match every descendant of a matched process.
        type: bool
        default: false
      value:
        description: The oom_score_adj to set, -1000..1000.
        type: int
      oom_adj:
        description: The value on the deprecated legacy scale, -17..15, converted the way the kernel does.
        type: int
      containers:
        description:
          - What the rule does with processes in containers and pods, as
            O(oomguard.fleet.oom_score_adj#module:rules[].containers) - V(exclude) leaves them to their runtime,
            V(include) changes them too, V(only) matches nothing else. Runtime helpers and daemons are guarded
            the same way.
        type: str
        choices: [exclude, include, only]
        default: exclude
  allow_oom_disable:
    description:
      - Allow V(-1000) in O(units) and O(rules).
    type: bool
    default: false
  on_denied:
    description:
      - What to do when the kernel refuses a live value (lowering it without CAP_SYS_RESOURCE).
      - V(warn) keeps the writes that work and lists the refusals in C(denied) of RV(adjust).
      - V(fail) fails the call, rolls back the live values it wrote and writes no file, so the call changes nothing.
    type: str
    choices: [fail, warn]
    default: warn
  host_warnings:
    description:
      - Warn about what this host cannot take - no systemd (the unit parts are skipped, RV(skipped_units)) and live
        values the kernel refuses or, in check mode, would refuse (C(denied) of RV(adjust)).
      - V(false) leaves both to the result only, for a caller that reports them itself. The
        P(oomguard.fleet.oom_protection#role) role passes V(false) - its compliance records, its summary and the
        audit's reports name both - so that a read-only audit of such a host prints no warning.
    type: bool
    default: true
  on_no_match:
    description:
      - What to do when a unit value or a rule matches no running process.
    type: str
    choices: [ignore, warn, fail]
    default: ignore
  sysctl_file:
    description:
      - A sysctl.d file owned by the caller, for example C(/etc/sysctl.d/60-oomguard.conf).
      - Written with O(sysctl_content) (mode C(0644)), or removed when O(sysctl_content) is empty or
        O(state=absent). Not touched when unset.
    type: path
  sysctl_content:
    description:
      - The whole content of O(sysctl_file), in C(sysctl.d) syntax (C(key = value) lines and comments).
      - Only the OOM sysctls the oomguard.fleet.oom_protection role manages may be set, with the values the
        kernel accepts - C(vm.panic_on_oom) (0, 1, 2), C(vm.oom_kill_allocating_task) (0, 1) and
        C(vm.oom_dump_tasks) (0, 1). Any other key or value fails the call before anything is written.
    type: str
    default: ""
  realize:
    description:
      - What to do when a unit's running cgroup (cgroup v2) does not hold the O(units[].cgroup) settings that
        systemd declares for it (RV(cgroup_drift)), typically right after C(daemon-reload) of a changed drop-in.
      - V(false) reports them and sets RV(reload_needed), because systemd up to version 255 writes every cgroup
        attribute again on C(daemon-reload).
      - V(true) applies them to the running unit at once with C(systemctl set-property --runtime UNIT ...) with
        the same values as its drop-in, then removes the runtime files that this leaves in O(systemd_control_dir)
        (so that the drop-in stays what systemd reads) and reads everything back. Since version 256 systemd no
        longer writes a running unit's cgroup attributes on C(daemon-reload); C(set-property) does (for the
        systemd-oomd mark from version 256 on; before, the reload writes it). A setting that already has a
        runtime file of its own (someone's earlier C(set-property)) is left to it, and stays drift in the record.
      - The role calls the module with V(true) after its reload.
    type: bool
    default: false
  systemd_control_dir:
    description:
      - Where C(systemctl set-property --runtime) writes its files (for tests).
    type: path
    default: /run/systemd/system.control
  systemd_marker:
    description:
      - The directory that exists only when systemd runs as PID 1 (for tests).
    type: path
    default: /run/systemd/system
notes:
  - The live values are written the way M(oomguard.fleet.oom_score_adj) writes them - PID 1, kernel threads and
    the module's own processes are never touched, each write re-checks the process's identity and is read back.
seealso:
  - module: oomguard.fleet.oom_dropins
  - module: oomguard.fleet.oom_score_adj
  - module: oomguard.fleet.oom_score_info
"""

EXAMPLES = r"""
- name: Protect the database and ssh, deprioritise the batch jobs, in one call
  oomguard.fleet.oom_protection_apply:
    units:
      - name: postgresql.service
        oom_score_adj: -500
      - name: ssh.service
        oom_score_adj: -900
    rules:
      - name_pattern: ^batch-
        value: 500
    header:
      - Ansible managed
  register: protection

- name: Reload systemd when a drop-in changed
  ansible.builtin.systemd_service:
    daemon_reload: true
  when: protection.reload_needed

- name: Read back what systemd declares after the reload
  oomguard.fleet.oom_score_info:
    units: [postgresql.service, ssh.service]
    return_processes: false
    top: 0
  when: protection.reload_needed
"""

RETURN = r"""
changed:
  description: Whether a drop-in, a live value or the sysctl file changed (or would, in check mode).
  returned: always
  type: bool
  sample: true
systemd:
  description: Whether systemd runs as PID 1 on the host. Without it the drop-ins and unit values are skipped.
  returned: always
  type: bool
  sample: true
skipped_units:
  description: The units of O(units) that were skipped because systemd does not run on the host.
  returned: always
  type: list
  elements: str
  sample: []
reload_needed:
  description:
    - Whether a drop-in was written or removed, so that systemd needs C(daemon-reload) to see it.
    - Also true when every drop-in is as it should be but a running unit's cgroup (cgroup v2) does not hold its
      O(units[].cgroup) memory settings or preference mark (see RV(cgroup_drift)); C(daemon-reload) makes systemd
      write all cgroup attributes again, without restarting anything.
  returned: always
  type: bool
  sample: false
cgroup_drift:
  description:
    - Per unit, the O(units[].cgroup) settings its running cgroup does not hold although systemd declares them
      (changed by hand, say), as C({unit, setting, expected, held}); they make the call C(changed) and
      RV(reload_needed) true.
  returned: always
  type: list
  elements: dict
  sample: [{unit: postgresql.service, setting: memory_max, expected: 1073741824, held: 2147483648}]
realized:
  description:
    - With O(realize=true), the units whose RV(cgroup_drift) was applied with C(systemctl set-property --runtime),
      and the properties given, as C({unit, properties}).
  returned: always
  type: list
  elements: dict
  sample: [{unit: postgresql.service, properties: [MemoryMin=1G, ManagedOOMPreference=omit]}]
dropins:
  description:
    - The drop-in part, as M(oomguard.fleet.oom_dropins) returns it (C(changed), C(written), C(removed),
      C(unchanged), C(units_changed)). V(null) on a host without systemd.
  returned: always
  type: dict
  sample:
    changed: false
    written: []
    removed: []
    unchanged: [/etc/systemd/system/postgresql.service.d/60-oomguard.conf]
    units_changed: []
adjust:
  description:
    - The live-value part, as M(oomguard.fleet.oom_score_adj) returns it (C(changes), C(unchanged), C(matched),
      C(denied), C(excluded), C(rules), C(can_lower_adj), ...). The unit values are its first rules, then
      O(rules). V(null) when there was nothing to apply.
  returned: always
  type: dict
  sample:
    changed: false
    changes: []
    unchanged: 3
    denied: []
    rules: [{index: 0, description: unit=postgresql.service, value: -500, matched: 3, won: 3}]
check_mode:
  description:
    - Whether this call ran in check mode, so that RV(adjust) shows requested values instead of applied ones.
    - Also true under a play's or a task's C(check_mode) keyword, where the variable C(ansible_check_mode) stays false.
  returned: always
  type: bool
  sample: false
rule_offset:
  description: The index of O(rules[0]) among the C(rules) of RV(adjust); the unit values come before it.
  returned: always
  type: int
  sample: 1
sysctl:
  description: The sysctl file part. V(null) when O(sysctl_file) is not set.
  returned: always
  type: dict
  contains:
    path:
      description: The file.
      type: str
    state:
      description: V(present) or V(absent).
      type: str
    changed:
      description: Whether it was written or removed (or would be).
      type: bool
  sample: {path: /etc/sysctl.d/60-oomguard.conf, state: absent, changed: false}
units:
  description:
    - What systemd declares for each unit of O(units) and the live value of each of its processes, read at the
      end of the call, in the form of M(oomguard.fleet.oom_score_info)'s RV(oomguard.fleet.oom_score_info#module:units).
    - Empty without systemd or with O(state=absent).
  returned: always
  type: dict
  sample:
    postgresql.service:
      declared_oom_score_adj: -500
      declared_set: true
      declared_source: /etc/systemd/system/postgresql.service.d/60-oomguard.conf
      declared_oom_policy: null
      systemctl_oom_score_adj: -500
      oom_policy: stop
      main_pid: 812
      load_state: loaded
      active_state: active
      processes: [{pid: 812, name: postgres, oom_score_adj: -500}]
      ignored: []
host:
  description:
    - The host's OOM settings, as M(oomguard.fleet.oom_score_info)'s RV(oomguard.fleet.oom_score_info#module:host)
      (C(can_lower_adj), C(sysctls), C(kernel_release), ...), read at the end of the call.
  returned: always
  type: dict
  sample: {can_lower_adj: true, systemd_running: true, sysctls: {vm.panic_on_oom: 0}}
diff:
  description: One before/after entry per drop-in written or removed, one for the sysctl file, one for the processes.
  returned: when diff mode is on and something changes
  type: list
  elements: dict
  sample:
    - before_header: /etc/systemd/system/postgresql.service.d/60-oomguard.conf
      after_header: /etc/systemd/system/postgresql.service.d/60-oomguard.conf
      before: ""
      after: "# oomguard-owner: oomguard.fleet.oom_protection\n[Service]\nOOMScoreAdjust=-500\n"
"""
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.apply import ProtectionApply, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    run_module(build_module(), ProtectionApply)


if __name__ == "__main__":
    main()
