# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of one oom_score_adj call: compile rules, match them in one /proc snapshot, write or predict.

Shared by the oom_score_adj and oom_protection_apply modules and the live exporter: validated params and an
Io in (_tasks.task), a result out, a TaskError on failure."""

from __future__ import annotations

import os

from ansible_collections.oomguard.fleet.plugins.module_utils._host.container_names import ContainerNames
from ansible_collections.oomguard.fleet.plugins.module_utils._host.own import own_chain
from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import (
    can_lower_adj, own_container_label, read_bytes, read_details, scan, select_cgroup_path,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import foreign_container
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import (
    SELECTOR_KEYS, SelectorError, describe, fields_needed,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import Matcher, children_map
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import is_template, unit_of_cgroup
from ansible_collections.oomguard.fleet.plugins.module_utils._host.writer import (
    CHANGED, DENIED, REUSED, UNCHANGED, VANISHED, denial_reason, write_adj,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import CONTAINER_MODES
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task

SCORE_ADJ_MIN = -1000
# Why a process already at -1000 is not raised to a negative (protective) value; compliance says the same.
SELF_PROTECTED = "it protects itself at %d (never OOM-killed), more than the requested %d, which never raises it"
SCORE_ADJ_MAX = 1000
OOM_ADJ_MIN = -17
OOM_ADJ_MAX = 15
LIST_IN_MESSAGE = 10
# Container runtime daemons (comm, at most 15 bytes): their units' OOMScoreAdjust= is the lever their packagers
# use, and kubelet re-applies its own value every 1-5 minutes. A rule changes them only when it names them by
# pid or by unit.
RUNTIME_DAEMONS = frozenset(("kubelet", "containerd", "dockerd", "crio", "cri-dockerd", "k3s-server", "k3s-agent"))
# A runtime's helpers: conmon (-1000 by itself), containerd's shims (the daemon's value + 1), Docker's old shim.
# Only a rule that names one by pid changes it.
RUNTIME_HELPERS = frozenset(("conmon", "containerd-shim", "docker-containe"))


def legacy_to_score_adj(oom_adj):
    """The kernel's oom_adj -> oom_score_adj conversion (fs/proc/base.c): 15 -> 1000, else x*1000/17 toward zero."""
    if oom_adj == OOM_ADJ_MAX:
        return SCORE_ADJ_MAX
    magnitude = abs(oom_adj) * SCORE_ADJ_MAX // -OOM_ADJ_MIN
    return -magnitude if oom_adj < 0 else magnitude


def role_rules(units, process_rules, systemd):
    """The rules of the role's one oom_score_adj pass: (labels, rules, offset). With systemd, each unit with a
    value first (templates before instances: the last matching rule wins, and an instance's own value must beat
    its template's, as its drop-in does in systemd's merge), then the process rules, which start at `offset`.
    Shared by oom_protection_apply and the exporter, so both judge the same rules."""
    unit_rules = []
    if systemd:
        ordered = sorted(enumerate(units), key=lambda pair: not is_template(pair[1]["name"]))
        unit_rules = [("units[%d] (%s)" % (index, unit["name"]), {"unit": unit["name"], "value": unit["oom_score_adj"]})
                      for index, unit in ordered if unit.get("oom_score_adj") is not None]
    rules = unit_rules + [("rules[%d]" % index, dict((k, v) for k, v in rule.items() if v is not None))
                          for index, rule in enumerate(process_rules)]
    return [label for label, _rule in rules], [rule for _label, rule in rules], len(unit_rules)


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
        self.containers = spec.get("containers") or "exclude"

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


class OomScoreAdj(Task):
    def __init__(self, params, io, labels=None, warn_denied=True):
        """`labels`: how messages name each of params["rules"] (default rules[0], rules[1], ...).
        `warn_denied=False`: the kernel's refusals (and check mode's predicted ones) are in `denied` only, for a
        caller that reports them itself (oom_protection_apply with host_warnings=false)."""
        super(OomScoreAdj, self).__init__(params, io, {
            "changed": False, "changes": [], "unchanged": 0, "kept": [], "matched": 0, "denied": [], "vanished": [],
            "reused": [], "excluded": [], "rules": [], "can_lower_adj": None,
        })
        self.labels = labels
        self.warn_denied = warn_denied
        self.proc_path = self.params["proc_path"]
        self.rules = []
        self.excludes = []
        self.can_lower = None
        self._names = None
        self._own_container = False  # not read yet
        self._prepared = False
        self._planned = None
        self.snapshot = None

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
            self.io.warn(
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
            specs = [(index, self.labels[index] if self.labels else "rules[%d]" % index, spec)
                     for index, spec in enumerate(params["rules"])]
            if not specs:
                errors.append("rules is empty; give at least one rule")
        else:
            spec = dict((key, params[key])
                        for key in SELECTOR_KEYS + ("include_descendants", "value", "oom_adj", "containers"))
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
            self._fail("invalid oom_score_adj request, nothing was read or written: " + "; ".join(errors),
                       nothing_written=True)

    # -- plan --------------------------------------------------------------------------------------------

    def _protected(self):
        """PID 1, this process and the chain of processes running it: {pid: reason}."""
        protected = {1: "PID 1 (init) is never touched"}
        for pid in own_chain(self.proc_path):
            protected.setdefault(pid, "this module's own process or one of the processes running it")
        return protected

    def _scan(self):
        if self.snapshot is not None:
            # The caller's whole table, read with every field the rules need (the live exporter's one scan).
            return self.snapshot
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
            self._fail("cannot read the process table under %s: %s; nothing was written" % (self.proc_path, exc.strerror),
                       nothing_written=True)
        # A whole table is a snapshot others may reuse; _write() keeps its values as read back after each write.
        self.snapshot = procs if pids is None else None
        notes = list(warnings)
        for proc in procs:
            notes.extend("pid %d (%s): %s" % (proc.pid, proc.name, error) for error in proc.errors)
        if notes:
            more = " (and %d more)" % (len(notes) - LIST_IN_MESSAGE) if len(notes) > LIST_IN_MESSAGE else ""
            self.io.warn("some process fields could not be read, so rules needing them cannot match those "
                         "processes: %s%s" % ("; ".join(notes[:LIST_IN_MESSAGE]), more))
        return procs

    def plan(self):
        """Match every rule against one snapshot (the caller's, given to match()); the last matching rule wins.
        Returns the list of writes."""
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
                owner = self._owner(proc, rule)
                if owner == "":
                    continue  # containers: only, and this process is in none
                if owner is not None:
                    if proc.pid not in winners:  # an earlier rule that may change it still wins
                        excluded[proc.pid] = {"pid": proc.pid, "name": proc.name, "reason": owner,
                                              "rule": rule.ref(), "runtime_owned": True}
                    continue
                excluded.pop(proc.pid, None)
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
                self._keep(proc, rule, proc.oom_score_adj)
            elif proc.oom_score_adj == SCORE_ADJ_MIN and rule.value < 0:
                # OpenSSH's sshd puts its listener at -1000 itself: raising it to a protective value would
                # fight the daemon after every restart, for less protection than it already has.
                self._keep(proc, rule, proc.oom_score_adj)
                self._result["excluded"].append({"pid": proc.pid, "name": proc.name, "reason": SELF_PROTECTED % (
                    SCORE_ADJ_MIN, rule.value)})
            else:
                planned.append(Planned(proc, rule, rule.value))
        self._result["rules"] = [
            {"index": rule.index, "description": rule.description, "value": rule.value, "matched": rule.matched,
             "won": rule.won}
            for rule in self.rules
        ]
        self._fill_units(planned)
        return planned

    def _owner(self, proc, rule):
        """Why a container runtime or kubelet, not this rule, owns proc's value (None: the rule may change it;
        "": the rule's `containers: only` leaves out a process in no container)."""
        if proc.cgroup is None:
            # Only the processes some rule matched pay for reading their cgroup.
            read_details(self.proc_path, proc, ("cgroup",))
        if self._own_container is False:
            self._own_container = own_container_label(self.proc_path)
        label = foreign_container(proc.container, self._own_container)
        named_by_pid = rule.spec.get("pid") is not None
        if (label is not None and label["role"] == "helper") or proc.name in RUNTIME_HELPERS:
            if named_by_pid:
                return None
            runtime = label["runtime"] if label is not None else "its container runtime"
            return ("a helper of %s (conmon, a shim, a monitor) keeps the value its runtime gives it; name it by "
                    "pid to change it" % runtime)
        if label is None:
            if proc.name in RUNTIME_DAEMONS and not named_by_pid and rule.spec.get("unit") is None:
                return ("a container runtime daemon: protect it through its unit (OOMScoreAdjust=, as its packagers "
                        "do; kubelet through its oomScoreAdj setting) or name it by pid")
            return "" if rule.containers == "only" else None
        if rule.containers != "exclude":
            return None
        if self._names is None:
            # The runtimes' files live beside the proc root (a fake tree's root in tests, / on a host).
            self._names = ContainerNames(os.path.dirname(self.proc_path.rstrip("/")) or "/")
        label = self._names.label(label, proc.name)
        what = label["name"] or (label["id"] or "")[:12] or None
        where = ["container %s" % what] if what else []
        if label["pod"]:
            where.append("pod %s" % label["pod"])
        return "managed by %s%s: its runtime sets this value and puts it back at the next start; set containers: " \
               "include on the rule to change it anyway" % (label["runtime"], " (%s)" % ", ".join(where) if where else "")

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
            self._fail(msg + "; nothing was written (on_no_match=fail)", nothing_written=True)
        self.io.warn(msg)

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

    def _keep(self, proc, rule, value):
        """A matched process left at the value it has: counted, and listed so that a caller can tell a rule
        whose processes all run at the policy value from one that matched nothing."""
        self._result["unchanged"] += 1
        self._result["kept"].append({"pid": proc.pid, "name": proc.name, "rule": rule.ref(), "oom_score_adj": value})

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
        if self._result["denied"] and self.warn_denied:
            self.io.warn("check mode: %s" % self._describe_denials(self._result["denied"]))
        self._result["changed"] = bool(self._result["changes"])

    def _write(self, item, value):
        try:
            res = write_adj(self.proc_path, item.proc.pid, item.proc.starttime, value, self.can_lower)
        except (OSError, ValueError, IndexError) as exc:
            return _Failure(item.proc.pid, "cannot write oom_score_adj: %s" % (getattr(exc, "strerror", None) or exc))
        if res.after is not None:
            item.proc.oom_score_adj = res.after
        return res

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
                    self._keep(item.proc, item.rule, item.target)
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
        if denied and self.warn_denied:
            self.io.warn(self._describe_denials(denied))

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

    def prepare(self):
        """Validate and compile every rule; fails before anything is read or written."""
        if not self._prepared:
            self._compile()
            self._prepared = True

    def match(self, procs=None):
        """Compile, scan (or take the caller's `procs`) and match (fails on on_no_match=fail here); nothing is
        written yet."""
        self.prepare()
        self.can_lower = can_lower_adj(self.proc_path)
        self._result["can_lower_adj"] = self.can_lower
        self.snapshot = procs
        self._planned = self.plan()

    def execute(self, procs=None):
        """`procs`: a whole process table the caller has read with every field the rules need."""
        if self._planned is None:
            self.match(procs)
        planned = self._planned
        if self.io.check_mode:
            self.predict(planned)
        else:
            self.apply(planned)
        if self.io.diff:
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


def selector_spec():
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


def rule_spec():
    """The options of one rule (oom_score_adj's rules[] elements)."""
    spec = selector_spec()
    spec.update(value=dict(type="int"), oom_adj=dict(type="int"),
                containers=dict(type="str", choices=list(CONTAINER_MODES), default="exclude"))
    return spec


def argument_spec():
    spec = selector_spec()
    spec.update(
        value=dict(type="int"),
        oom_adj=dict(type="int"),
        containers=dict(type="str", choices=list(CONTAINER_MODES)),
        rules=dict(type="list", elements="dict", options=rule_spec()),
        exclude=dict(type="list", elements="dict", options=selector_spec(), default=[]),
        allow_oom_disable=dict(type="bool", default=False),
        on_denied=dict(type="str", choices=["fail", "warn"], default="fail"),
        on_no_match=dict(type="str", choices=["ignore", "warn", "fail"], default="warn"),
        proc_path=dict(type="path", default="/proc"),
    )
    return spec


MUTUALLY_EXCLUSIVE = [("value", "oom_adj")] + [
    ("rules", key) for key in SELECTOR_KEYS + ("value", "oom_adj", "containers")]
REQUIRED_ONE_OF = [("rules", "value", "oom_adj")]
