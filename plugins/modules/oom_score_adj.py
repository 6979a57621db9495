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
options:
  pid:
    description:
      - Select the process with this process id. Single-rule form; see O(rules[].pid).
    type: int
  name:
    description:
      - Select processes with this name (the kernel's C(comm)). Single-rule form; see O(rules[].name).
    type: str
  name_pattern:
    description:
      - Select processes whose name matches this Python regular expression. Single-rule form; see O(rules[].name_pattern).
    type: str
  cmdline_pattern:
    description:
      - Select processes whose command line matches this Python regular expression. Single-rule form; see
        O(rules[].cmdline_pattern).
    type: str
  exe:
    description:
      - Select processes running this executable. Single-rule form; see O(rules[].exe).
    type: path
  user:
    description:
      - Select processes of this user (name or numeric uid). Single-rule form; see O(rules[].user).
    type: str
  unit:
    description:
      - Select every process of this systemd unit. Single-rule form; see O(rules[].unit).
    type: str
  cgroup:
    description:
      - Select processes in this cgroup (path or glob). Single-rule form; see O(rules[].cgroup).
    type: str
  include_descendants:
    description:
      - Also select every process below a selected one. Single-rule form; see O(rules[].include_descendants).
    type: bool
    default: false
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
          - Processes whose name (the kernel's C(comm), at most 15 bytes) is exactly this. A longer name matches
            a process whose name is its first 15 bytes.
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
          - Must be a valid unit name; names with C(/) or without a unit suffix are rejected.
        type: str
      cgroup:
        description:
          - Processes in this cgroup or below it (an absolute cgroup path such as V(/system.slice/foo.service)),
            or whose cgroup matches this shell glob (for example V(/system.slice/docker-*.scope)).
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
        description: Processes with this name (the kernel's C(comm)).
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
  proc_path:
    description:
      - The proc file system to read and write. Only tests need another value.
    type: path
    default: /proc
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
      - cgroup: /system.slice/docker-*.scope
        value: 500
    exclude:
      - name: systemd-journald
    on_no_match: ignore
  register: oom_policy

- name: Which rule set each process
  ansible.builtin.debug:
    msg: "{{ oom_policy.changes | map(attribute='rule') | list }}"

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
  description: Processes a rule matched that are never touched, and why (PID 1, a kernel thread, this module or its parents, O(exclude)).
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._procfs import (
    Vanished,
    can_lower_adj,
    read_bytes,
    read_process,
    scan,
    select_cgroup_path,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._selectors import (
    SELECTOR_KEYS,
    Matcher,
    SelectorError,
    children_map,
    describe,
    fields_needed,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._systemd import unit_of_cgroup
from ansible_collections.oomguard.fleet.plugins.module_utils._writer import (
    CHANGED,
    DENIED,
    REUSED,
    UNCHANGED,
    VANISHED,
    denial_reason,
    write_adj,
)

SCORE_ADJ_MIN = -1000
SCORE_ADJ_MAX = 1000
OOM_ADJ_MIN = -17
OOM_ADJ_MAX = 15
LIST_IN_MESSAGE = 10


def legacy_to_score_adj(oom_adj):
    """The kernel's oom_adj -> oom_score_adj conversion (fs/proc/base.c): 15 -> 1000, else x*1000/17 toward zero."""
    if oom_adj == OOM_ADJ_MAX:
        return SCORE_ADJ_MAX
    magnitude = abs(oom_adj) * SCORE_ADJ_MAX // -OOM_ADJ_MIN
    return -magnitude if oom_adj < 0 else magnitude


class Rule(object):
    """One rule of the policy: what it selects, the value it asks for and what it ended up doing."""

    def __init__(self, index, label, spec, value, matcher):
        self.index = index
        self.label = label
        self.spec = spec
        self.value = value
        self.matcher = matcher
        self.description = describe(spec)
        self.matched = 0
        self.won = 0

    def ref(self):
        return {"index": self.index, "description": self.description}


class Planned(object):
    """A write the plan calls for: which process (with its start time, its identity) and the value."""

    __slots__ = ("proc", "rule", "before", "target", "unit")

    def __init__(self, proc, rule, target):
        self.proc = proc
        self.rule = rule
        self.before = proc.oom_score_adj
        self.target = target
        self.unit = None

    @property
    def lowers(self):
        # An unknown current value may be a lowering: it goes with the writes that can be refused.
        return self.before is None or self.target < self.before


class OomScoreAdj(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.proc_path = self.params["proc_path"]
        self.rules = []
        self.excludes = []
        self.can_lower = None
        self._result = {
            "changed": False, "changes": [], "unchanged": 0, "matched": 0, "denied": [], "vanished": [],
            "reused": [], "excluded": [], "rules": [], "can_lower_adj": None,
        }

    @property
    def result(self):
        return self._result

    def _fail(self, msg, **extra):
        result = dict(self._result)
        result.update(extra)
        self.module.fail_json(msg=msg, **result)

    # -- input -------------------------------------------------------------------------------------------

    def _value_of(self, spec, where, errors):
        """The oom_score_adj a rule asks for, or None after adding its problems to `errors`."""
        prefix = where + "." if where else ""
        value, legacy = spec.get("value"), spec.get("oom_adj")
        if value is not None and legacy is not None:
            errors.append("%s sets both value and oom_adj; give exactly one" % (where or "the task"))
            return None
        if value is None and legacy is None:
            errors.append("%s needs value (-1000..1000) or oom_adj (-17..15)" % (where or "the task"))
            return None
        if legacy is not None:
            if not OOM_ADJ_MIN <= legacy <= OOM_ADJ_MAX:
                errors.append("%soom_adj must be between %d and %d on the legacy oom_adj scale (got %d); use value "
                              "for the -1000..1000 oom_score_adj scale" % (prefix, OOM_ADJ_MIN, OOM_ADJ_MAX, legacy))
                return None
            value = legacy_to_score_adj(legacy)
            self.module.warn(
                "%soom_adj %d is on the deprecated legacy scale (-17..15); it was converted the way the kernel converts "
                "it, to oom_score_adj %d (x*1000/17 truncated toward zero; 15 -> 1000, -17 -> -1000), and that is "
                "what is written. Give value on the -1000..1000 scale instead." % (prefix, legacy, value))
            source = "%soom_adj %d (oom_score_adj -1000)" % (prefix, legacy)
        else:
            if not SCORE_ADJ_MIN <= value <= SCORE_ADJ_MAX:
                errors.append("%svalue must be between %d and %d (got %d)" % (prefix, SCORE_ADJ_MIN, SCORE_ADJ_MAX, value))
                return None
            source = "%svalue -1000" % prefix
        if value == SCORE_ADJ_MIN and not self.params["allow_oom_disable"]:
            errors.append("%s makes processes unkillable by the OOM killer (a leak in one then takes the whole host "
                          "down); set allow_oom_disable=true to allow it" % source)
            return None
        return value

    def _matcher(self, spec, label, errors):
        try:
            return Matcher(spec, label)
        except SelectorError as exc:
            errors.append(str(exc))
            return None

    def _compile(self):
        """Validate every option and compile the rules; fail naming each problem before anything is read."""
        errors = []
        params = self.params
        if params["rules"] is not None:
            if params["include_descendants"]:
                errors.append("include_descendants belongs to the single-rule form; with rules, set it inside a rule")
            specs = [(index, "rules[%d]" % index, spec) for index, spec in enumerate(params["rules"])]
            if not specs:
                errors.append("rules is empty; give at least one rule")
        else:
            spec = dict((key, params[key]) for key in SELECTOR_KEYS + ("include_descendants", "value", "oom_adj"))
            if all(spec[key] is None for key in SELECTOR_KEYS):
                errors.append("no selector given: set one of %s, or use rules" % ", ".join(SELECTOR_KEYS))
                specs = []
            else:
                specs = [(0, "", spec)]
        for index, label, spec in specs:
            value = self._value_of(spec, label, errors)
            matcher = self._matcher(spec, label or "options", errors)
            if value is not None and matcher is not None:
                self.rules.append(Rule(index, label, spec, value, matcher))
        for index, spec in enumerate(params["exclude"]):
            matcher = self._matcher(spec, "exclude[%d]" % index, errors)
            if matcher is not None:
                self.excludes.append(matcher)
        if errors:
            self._fail("invalid oom_score_adj request, nothing was read or written: " + "; ".join(errors))

    # -- plan --------------------------------------------------------------------------------------------

    def _protected(self):
        """PID 1, this process and the chain of processes running it: {pid: reason}."""
        protected = {1: "PID 1 (init) is never touched"}
        own = os.getpid()
        chain = [own, os.getppid()]
        pid = chain[-1]
        # Walk up from the parent; the first ancestor whose parent is init is a daemon (sshd's listener, a
        # terminal server) that merely started this connection, and stays selectable.
        while pid > 1:
            try:
                proc = read_process(self.proc_path, pid)
                parent = read_process(self.proc_path, proc.ppid) if proc is not None and (proc.ppid or 0) > 1 else None
            except (OSError, Vanished):
                break
            if parent is None or parent.ppid is None or parent.ppid in (0, 1):
                break
            pid = proc.ppid
            chain.append(pid)
        for pid in chain:
            protected.setdefault(pid, "this module's own process or one of the processes running it")
        return protected

    def _scan(self):
        specs = [rule.spec for rule in self.rules] + [matcher.rule for matcher in self.excludes]
        want = fields_needed(specs)
        pids = None
        if all(not spec.get("include_descendants") and spec.get("pid") is not None and
               all(spec.get(key) is None for key in SELECTOR_KEYS if key != "pid") for spec in specs):
            # Only pid selectors: read just those processes instead of the whole table.
            pids = sorted(set(spec["pid"] for spec in specs))
        try:
            procs, warnings = scan(self.proc_path, want, pids)
        except OSError as exc:
            self._fail("cannot read the process table under %s: %s; nothing was written" % (self.proc_path, exc.strerror))
        notes = list(warnings)
        for proc in procs:
            notes.extend("pid %d (%s): %s" % (proc.pid, proc.name, error) for error in proc.errors)
        if notes:
            more = " (and %d more)" % (len(notes) - LIST_IN_MESSAGE) if len(notes) > LIST_IN_MESSAGE else ""
            self.module.warn("some process fields could not be read, so rules needing them cannot match those "
                             "processes: %s%s" % ("; ".join(notes[:LIST_IN_MESSAGE]), more))
        return procs

    def plan(self):
        """Match every rule against one snapshot; the last matching rule wins. Returns the list of writes."""
        procs = self._scan()
        children = None
        if any(rule.matcher.descendants for rule in self.rules) or any(m.descendants for m in self.excludes):
            children = children_map(procs)
        never = self._protected()
        for proc in procs:
            if proc.kthread and proc.pid not in never:
                never[proc.pid] = "kernel threads are never touched"
            elif proc.starttime is None:
                # Without a start time a recycled pid could not be told from the process that was matched.
                never.setdefault(proc.pid, "its identity (start time in /proc/PID/stat) cannot be read")
        for index, matcher in enumerate(self.excludes):
            for proc in matcher.select(procs, children):
                never.setdefault(proc.pid, "excluded by exclude[%d] (%s)" % (index, describe(matcher.rule)))
        by_name = {}
        for proc in procs:
            by_name.setdefault(proc.name, []).append(proc)
        winners = {}
        excluded = {}
        for rule in self.rules:
            for proc in rule.matcher.select(self._candidates(rule, procs, by_name), children):
                if proc.pid in never:
                    excluded[proc.pid] = {"pid": proc.pid, "name": proc.name, "reason": never[proc.pid]}
                    continue
                rule.matched += 1
                winners[proc.pid] = (proc, rule)
        self._result["excluded"] = [excluded[pid] for pid in sorted(excluded)]
        self._result["matched"] = len(winners)
        self._check_no_match()
        planned = []
        for pid in sorted(winners):
            proc, rule = winners[pid]
            rule.won += 1
            if proc.oom_score_adj == rule.value:
                self._result["unchanged"] += 1
            else:
                planned.append(Planned(proc, rule, rule.value))
        self._result["rules"] = [
            {"index": rule.index, "description": rule.description, "value": rule.value, "matched": rule.matched,
             "won": rule.won}
            for rule in self.rules
        ]
        self._fill_units(planned)
        return planned

    @staticmethod
    def _candidates(rule, procs, by_name):
        """The processes a rule can match. A policy is often many name rules: look those up, do not scan."""
        wanted = rule.matcher.name
        if wanted is None or rule.matcher.descendants:
            return procs
        # comm holds at most 15 bytes, and a longer name matches on those (the matcher has the last word).
        return by_name.get(wanted.encode("utf-8")[:15].decode("utf-8", "backslashreplace"), [])

    def _check_no_match(self):
        mode = self.params["on_no_match"]
        if mode == "ignore":
            return
        empty = ["%s (%s)" % (rule.label or "the rule", rule.description) for rule in self.rules if not rule.matched]
        if not empty:
            return
        msg = "no process that may be changed matched %s" % ", ".join(empty)
        if mode == "fail":
            self._fail(msg + "; nothing was written (on_no_match=fail)")
        self.module.warn(msg)

    def _fill_units(self, planned):
        for item in planned:
            cgroup = item.proc.cgroup
            if cgroup is None:
                # Only the processes that are reported pay for reading their cgroup.
                try:
                    cgroup = select_cgroup_path(read_bytes("%s/%d/cgroup" % (self.proc_path, item.proc.pid)))
                except OSError:
                    cgroup = None
            item.unit = unit_of_cgroup(cgroup)

    # -- act ---------------------------------------------------------------------------------------------

    def _entry(self, item, **fields):
        entry = {"pid": item.proc.pid, "name": item.proc.name}
        entry.update(fields)
        return entry

    def _denied_entry(self, item, before, reason, predicted):
        return self._entry(item, unit=item.unit, rule=item.rule.ref(), before=before, requested=item.target,
                           reason=reason, predicted=predicted)

    def predict(self, planned):
        """Check mode: nothing is written; lowering below 0 without CAP_SYS_RESOURCE is a likely denial.

        The floor (oom_score_adj_min) is not in /proc. It is 0 unless a CAP_SYS_RESOURCE writer set it
        (systemd's OOMScoreAdjust= does, for the processes it starts), so below 0 is the best prediction.
        """
        for item in planned:
            if self.can_lower is False and item.lowers and item.target < 0:
                reason = ("predicted: " + denial_reason(item.before, item.target, False) + "; the kernel refuses it "
                          "if %d is below the process's floor, which /proc does not show" % item.target)
                self._result["denied"].append(self._denied_entry(item, item.before, reason, True))
            else:
                self._result["changes"].append(self._entry(item, unit=item.unit, rule=item.rule.ref(),
                                                           before=item.before, after=item.target))
        if self._result["denied"]:
            self.module.warn("check mode: %s" % self._describe_denials(self._result["denied"]))
        self._result["changed"] = bool(self._result["changes"])

    def _write(self, item, value):
        try:
            return write_adj(self.proc_path, item.proc.pid, item.proc.starttime, value, self.can_lower)
        except (OSError, ValueError, IndexError) as exc:
            return _Failure(item.proc.pid, "cannot write oom_score_adj: %s" % (getattr(exc, "strerror", None) or exc))

    def apply(self, planned):
        """Write lowering values first (the only ones the kernel may refuse), then raises; undo all on failure."""
        fail_on_denied = self.params["on_denied"] == "fail"
        done = []
        failures = []
        denied = []
        for phase in ([item for item in planned if item.lowers], [item for item in planned if not item.lowers]):
            if failures:
                break
            for item in phase:
                res = self._write(item, item.target)
                if res.status == CHANGED:
                    done.append((item, res))
                elif res.status == UNCHANGED:
                    # Another write changed it already (processes sharing memory are kept equal by the kernel).
                    self._result["unchanged"] += 1
                elif res.status == VANISHED:
                    self._result["vanished"].append(self._entry(item, rule=item.rule.ref()))
                elif res.status == REUSED:
                    self._result["reused"].append(self._entry(item, rule=item.rule.ref(), reason=res.message))
                elif res.status == DENIED:
                    entry = self._denied_entry(item, res.before, res.message, False)
                    denied.append(entry)
                    if fail_on_denied:
                        failures.append(entry)
                else:
                    failures.append(self._entry(item, unit=item.unit, rule=item.rule.ref(), before=res.before,
                                                requested=item.target, reason=res.message))
        self._result["denied"] = denied
        if failures:
            self._roll_back(done, failures, denied)
        for item, res in sorted(done, key=lambda pair: pair[0].proc.pid):
            self._result["changes"].append(self._entry(item, unit=item.unit, rule=item.rule.ref(), before=res.before,
                                                       after=res.after))
        self._result["changed"] = bool(done)
        if denied:
            self.module.warn(self._describe_denials(denied))

    def _roll_back(self, done, failures, denied):
        rolled_back = []
        stuck = []
        for item, res in reversed(done):
            undo = self._write(item, res.before)
            if undo.status in (CHANGED, UNCHANGED, VANISHED):
                rolled_back.append(self._entry(item, value=res.before))
            else:
                stuck.append((item, res, undo.message))
        refused = [entry for entry in failures if entry in denied]
        other = [entry for entry in failures if entry not in denied]
        parts = []
        if refused:
            parts.append(self._describe_denials(refused))
        if other:
            parts.append("writing failed for %s" % "; ".join(
                "pid %d (%s), requested %d, current %s: %s" % (e["pid"], e["name"], e["requested"], e["before"], e["reason"])
                for e in other[:LIST_IN_MESSAGE]))
        if stuck:
            self._result["changes"] = [
                self._entry(item, unit=item.unit, rule=item.rule.ref(), before=res.before, after=res.after)
                for item, res, dummy in sorted(stuck, key=lambda entry: entry[0].proc.pid)
            ]
            self._fail("%s. Rolling back the %d write(s) this call had made failed for %s; those processes keep the new value"
                       % (". ".join(parts), len(done), "; ".join(
                           "pid %d (%s), %s instead of %d: %s" % (item.proc.pid, item.proc.name, res.after, res.before, why)
                           for item, res, why in stuck)),
                       changed=True, rolled_back=rolled_back)
        msg = ("%s. Nothing was changed: the %d write(s) this call had already made were rolled back"
               % (". ".join(parts), len(done)))
        if refused:
            msg += " (on_denied=fail; on_denied=warn keeps the writes that work)"
        self._fail(msg, changed=False, rolled_back=rolled_back)

    def _describe_denials(self, entries):
        shown = "; ".join(
            "pid %d (%s): requested %d, current %s: %s" % (e["pid"], e["name"], e["requested"], e["before"], e["reason"])
            for e in entries[:LIST_IN_MESSAGE])
        more = " (and %d more)" % (len(entries) - LIST_IN_MESSAGE) if len(entries) > LIST_IN_MESSAGE else ""
        return "the kernel %s oom_score_adj for %d process(es): %s%s" % (
            "would probably refuse" if entries[0].get("predicted") else "refused", len(entries), shown, more)

    def execute(self):
        self._compile()
        self.can_lower = can_lower_adj(self.proc_path)
        self._result["can_lower_adj"] = self.can_lower
        planned = self.plan()
        if self.module.check_mode:
            self.predict(planned)
        else:
            self.apply(planned)
        if self.module._diff:
            changes = self._result["changes"]
            self._result["diff"] = {
                "before": "".join("%d %s: %s\n" % (c["pid"], c["name"], c["before"]) for c in changes),
                "after": "".join("%d %s: %s\n" % (c["pid"], c["name"], c["after"]) for c in changes),
            }
        return self._result


class _Failure(object):
    """A write that raised instead of returning a classified result."""

    def __init__(self, pid, message):
        self.pid = pid
        self.status = "failed"
        self.before = None
        self.after = None
        self.message = message


def _selector_spec():
    return dict(
        pid=dict(type="int"),
        name=dict(type="str"),
        name_pattern=dict(type="str"),
        cmdline_pattern=dict(type="str"),
        exe=dict(type="path"),
        user=dict(type="str"),
        unit=dict(type="str"),
        cgroup=dict(type="str"),
        include_descendants=dict(type="bool", default=False),
    )


def build_module():
    rule_spec = _selector_spec()
    rule_spec.update(value=dict(type="int"), oom_adj=dict(type="int"))
    argument_spec = _selector_spec()
    argument_spec.update(
        value=dict(type="int"),
        oom_adj=dict(type="int"),
        rules=dict(type="list", elements="dict", options=rule_spec),
        exclude=dict(type="list", elements="dict", options=_selector_spec(), default=[]),
        allow_oom_disable=dict(type="bool", default=False),
        on_denied=dict(type="str", choices=["fail", "warn"], default="fail"),
        on_no_match=dict(type="str", choices=["ignore", "warn", "fail"], default="warn"),
        proc_path=dict(type="path", default="/proc"),
    )
    return AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("value", "oom_adj")] + [("rules", key) for key in SELECTOR_KEYS + ("value", "oom_adj")],
        required_one_of=[("rules", "value", "oom_adj")],
        supports_check_mode=True,
    )


def main():
    module = build_module()
    adjuster = OomScoreAdj(module)
    module.exit_json(**adjuster.execute())


if __name__ == "__main__":
    main()
