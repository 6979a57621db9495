# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The work of one oom_protection_leaks call: find the leaks (_engine.leaks), and reset them when asked.

A reset only ever raises a value (a leak is negative, the reset value is 0 or more), so it needs no
capability; it never touches PID 1, a kernel thread, an assigned process or the module's own chain, and
the start time guards against a pid that was reused between the scan and the write.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import leaks as leaks_engine
from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import CONTAINER_MODES
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.adj import selector_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task
from ansible_collections.oomguard.fleet.plugins.module_utils._host.own import own_chain
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import Matcher
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import SelectorError, fields_needed
from ansible_collections.oomguard.fleet.plugins.module_utils._host.systemd import show_units, systemd_running
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_name_error
from ansible_collections.oomguard.fleet.plugins.module_utils._host.writer import CHANGED, VANISHED, REUSED, write_adj


def scan_fields(matchers=()):
    """What a scan must read of every process for the leaks: the cgroup, and what the rules select on."""
    return frozenset(set(["cgroup"]) | set(fields_needed([m.rule for m in matchers])))


def gather(proc_path, run_command, assigned_units=(), matchers=(), systemd=None, procs=None, page_size=None):
    """(leaks, process table, warnings): one scan with cgroups, one `systemctl show` for the units concerned.
    The caller's own process chain is left out.

    `procs` (with `page_size`): a table the caller has just scanned with at least scan_fields(matchers), instead
    of scanning again (the caller warns about it). Shared with the exporter, which passes its own run_command.
    Raises OSError / RuntimeError.
    """
    warnings = []
    if procs is None:
        procs, warnings = procfs.scan(proc_path, scan_fields(matchers))
    declared = {}
    if systemd is None:
        systemd = systemd_running()
    if systemd:
        declared = leaks_engine.declared_values(show_units(run_command, leaks_engine.units_to_show(procs)))
    if page_size is None:
        page_size = procfs.read_host(proc_path)["page_size"]
    # The run's own processes (an SSH session under a protected sshd, when Ansible connects over SSH) end
    # with the run: reporting them would flag every audit of such a host.
    own = set(own_chain(proc_path))
    leaks = [leak for leak in leaks_engine.find_leaks(procs, declared, assigned_units, matchers, page_size,
                                                      procfs.own_container_label(proc_path))
             if leak["pid"] not in own]
    return leaks, procs, warnings


class ProtectionLeaks(Task):
    def __init__(self, params, io):
        super(ProtectionLeaks, self).__init__(params, io, {"changed": False, "leaks": [], "reset": [], "not_reset": []})
        self.proc_path = self.params["proc_path"].rstrip("/") or "/"
        self._validate()

    def _validate(self):
        reset_to = self.params["reset_to"]
        if reset_to is not None and not 0 <= reset_to <= 1000:
            self._fail("reset_to must be between 0 and 1000 (a reset only raises a leaked negative value), got %d"
                       % reset_to)
        for index, unit in enumerate(self.params["units"]):
            problem = unit_name_error(unit)
            if problem:
                self._fail("units[%d]: %r is not a valid systemd unit name: %s; nothing was read or written"
                           % (index, unit, problem))
        self.matchers = []
        for index, rule in enumerate(self.params["rules"]):
            try:
                self.matchers.append(Matcher(dict((k, v) for k, v in rule.items() if v is not None and k != "value"),
                                             "rules[%d]" % index))
            except SelectorError as exc:
                self._fail("%s; nothing was read or written" % exc)

    def execute(self, procs=None, systemd=None, page_size=None):
        """`procs`, `systemd`, `page_size`: what a combined call has read already (see gather())."""
        try:
            leaks, _procs, warnings = gather(self.proc_path, self._run, self.params["units"], self.matchers,
                                             systemd=systemd, procs=procs, page_size=page_size)
        except OSError as exc:
            self._fail("cannot read the process table under %s: %s; nothing was written" % (self.proc_path, exc))
        except RuntimeError as exc:
            self._fail("reading the units' declared values failed: %s; nothing was written" % exc)
        for note in warnings:
            self.io.warn(note)
        self._result["leaks"] = leaks
        if self.params["reset_to"] is not None:
            self._reset(leaks, self.params["reset_to"])
        if self.io.diff and self._result["reset"]:
            self._result["diff"] = {
                "before": "".join("%d %s: %d\n" % (r["pid"], r["name"], r["before"]) for r in self._result["reset"]),
                "after": "".join("%d %s: %d\n" % (r["pid"], r["name"], r["after"]) for r in self._result["reset"]),
            }
        return self._result

    def _reset(self, leaks, value):
        own = set(own_chain(self.proc_path))
        for leak in leaks:
            if leak["pid"] in own:
                self._result["not_reset"].append({"pid": leak["pid"], "name": leak["name"],
                                                  "reason": "this module's own process or one of the processes running it"})
                continue
            outcome = write_adj(self.proc_path, leak["pid"], leak["starttime"], value,
                                dry_run=self.io.check_mode)
            if outcome.status == CHANGED:
                self._result["reset"].append({"pid": leak["pid"], "name": leak["name"], "unit": leak["unit"],
                                              "before": outcome.before, "after": outcome.after})
                self._result["changed"] = True
            elif outcome.status in (VANISHED, REUSED):
                self._result["not_reset"].append({"pid": leak["pid"], "name": leak["name"], "reason": outcome.message})
            else:
                self.io.warn("resetting the leaked oom_score_adj of pid %d (%s) failed: %s"
                             % (leak["pid"], leak["name"], outcome.message))


def argument_spec():
    rules = selector_spec()
    # Ignored: lets the role pass its process rules as they are.
    rules["value"] = dict(type="int")
    rules["containers"] = dict(type="str", choices=list(CONTAINER_MODES))
    return dict(
        units=dict(type="list", elements="str", default=[]),
        rules=dict(type="list", elements="dict", default=[], options=rules),
        reset_to=dict(type="int"),
        proc_path=dict(type="path", default="/proc"),
    )
