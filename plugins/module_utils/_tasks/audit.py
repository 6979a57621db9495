# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The work of one oom_audit_facts call: what the audit gathers on a host besides the role's compliance check,
in one module run -- the kill order and the host's OOM settings (info), the protection leaks (leaks) and the
OOM kill history (events).

/proc is scanned once (with the cgroups and whatever the leak rules select on), and the host facts (meminfo,
mounts, whether systemd runs, the page size) are read once; the kill order and the leaks judge the same table.
Each part fails on its own: its error is returned under its name and the other parts still report, as three
separate module calls did. Options that are wrong fail the whole call before anything is read.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._host.systemd import systemd_running
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.lines import parse_since
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import events as events_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import info as info_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import leaks as leaks_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task, TaskError, validated

# The parts, in the order the audit reports their errors, with the label that starts each error.
PARTS = (("kill_order", "kill order"), ("leaks", "protection leaks"), ("events", "OOM kill history"))


class AuditFacts(Task):
    def __init__(self, params, io):
        super(AuditFacts, self).__init__(params, io, {
            "changed": False, "host": None, "kill_order": [], "own_processes_excluded": [], "pod_drift": [],
            "leaks": [], "events": [], "source_used": None, "sources_read": None, "killers_looked_for": None,
            "part_errors": {},
        })
        self.proc_path = params["proc_path"].rstrip("/") or "/"
        try:
            self.info = info_task.OOMScoreInfo(validated(info_task.argument_spec(), {
                "top": params["top"], "return_processes": False, "proc_path": self.proc_path,
                "exclude_own_processes": params["exclude_own_processes"],
                "oomd_sample_interval": params["oomd_sample_interval"],
            }, "kill order"), io)
            self.leaks = leaks_task.ProtectionLeaks(validated(leaks_task.argument_spec(), {
                "units": params["units"], "proc_path": self.proc_path,
                # Validated once already: the unset keys (None) are left out so that they are not checked again.
                "rules": [dict((k, v) for k, v in rule.items() if v is not None) for rule in params["rules"]],
            }, "protection leaks"), io)
            self.events = events_task.OOMEventsInfo(validated(events_task.argument_spec(), {
                "since": params["since"], "limit": params["limit"],
            }, "OOM kill history"), io)
            # What the kill history checks only when it runs: checked before anything is read.
            if params["limit"] is not None and params["limit"] < 0:
                raise TaskError("limit: must be 0 or more, got %d" % params["limit"])
            if params["since"] is not None:
                try:
                    parse_since(params["since"])
                except ValueError as exc:
                    raise TaskError("since: %s" % exc)
        except TaskError as exc:
            # Bad options: one line, and nothing read (so no result either).
            raise TaskError(exc.msg)

    def execute(self):
        systemd = systemd_running()
        procs = None
        try:
            # One scan for the kill order and the leaks: every process with its cgroup (the leaks need them all).
            procs, warnings = procfs.scan(self.proc_path, leaks_task.scan_fields(self.leaks.matchers),
                                          kthread_details=False)
        except OSError as exc:
            message = "reading %s failed: %s" % (self.proc_path, exc)
            self._part_failed("kill_order", message)
            self._part_failed("leaks", "cannot read the process table under %s: %s" % (self.proc_path, exc))
        if procs is not None:
            self.info.systemd = systemd
            try:
                found = self.info.execute(procs=procs)
                # The table was read here, so its partial fields are said here, once.
                self.info._warn_partial(procs, warnings)
                for key in ("host", "kill_order", "own_processes_excluded", "pod_drift"):
                    self._result[key] = found[key]
            except TaskError as exc:
                self._part_failed("kill_order", exc.msg)
            page_size = (self._result["host"] or {}).get("page_size") or procfs.read_host(self.proc_path)["page_size"]
            try:
                self._result["leaks"] = self.leaks.execute(procs=procs, systemd=systemd, page_size=page_size)["leaks"]
            except TaskError as exc:
                self._part_failed("leaks", exc.msg)
        try:
            found = self.events.execute()
            for key in ("events", "source_used", "sources_read", "killers_looked_for"):
                self._result[key] = found.get(key)
        except TaskError as exc:
            self._part_failed("events", exc.msg)
        return self._result

    def _part_failed(self, part, message):
        self._result["part_errors"][part] = message


def argument_spec():
    rules = leaks_task.argument_spec()["rules"]
    return dict(
        top=dict(type="int", default=5),
        exclude_own_processes=dict(type="bool", default=True),
        oomd_sample_interval=dict(type="float", default=1.0),
        units=dict(type="list", elements="str", default=[]),
        rules=rules,
        since=dict(type="str"),
        limit=dict(type="int"),
        proc_path=dict(type="path", default="/proc"),
    )
