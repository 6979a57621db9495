# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The work of one oom_protection_apply call, the role's one call per host: every part validated first (the
drop-in plan, unit names also without systemd, the rules against one snapshot), then the unit values and
rules in one oom_score_adj pass, the drop-ins, the sysctl file, and the read-back with oom_score_info's
reader; with `realize`, the cgroup settings a running unit does not hold (docs/architecture.md).
"""

from __future__ import annotations

import os

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import cgroup_settings, dropins
from ansible_collections.oomguard.fleet.plugins.module_utils._host import files
from ansible_collections.oomguard.fleet.plugins.module_utils._host.files import SysctlFile, SysctlFileError
from ansible_collections.oomguard.fleet.plugins.module_utils._host.systemd import systemd_running
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model.sysctls import oom_sysctl_content_error
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import is_template
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import dropins as dropins_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import info as info_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task, TaskError, validated

DROPIN_KEYS = ("units", "state", "exclusive", "file_name", "owner_tag", "header", "root", "allow_oom_disable")


def _without_none(options):
    """Suboptions as the caller gave them: AnsibleModule fills the unset ones with None."""
    return dict((key, value) for key, value in options.items() if value is not None)


class ProtectionApply(Task):
    def __init__(self, params, io):
        super(ProtectionApply, self).__init__(params, io, {
            "changed": False, "systemd": False, "skipped_units": [], "reload_needed": False, "dropins": None,
            "adjust": None, "rule_offset": 0, "sysctl": None, "units": {}, "host": {}, "cgroup_drift": [], "realized": [],
            # A play's check_mode keyword leaves ansible_check_mode false: the caller reads it from here.
            "check_mode": io.check_mode,
        })

    def _fail(self, msg, nothing_written=False, **extra):
        result = dict(self._result)
        result.update(extra)
        result["changed"] = any((result[part] or {}).get("changed") for part in ("dropins", "adjust", "sysctl"))
        raise TaskError(msg, result, nothing_written=nothing_written)

    def plan(self):
        """Validate every part, match the rules and plan the files; nothing is written here."""
        params = self.params
        present = params["state"] == "present"
        systemd = systemd_running(params["systemd_marker"])
        self._result["systemd"] = systemd
        units = [_without_none(unit) for unit in params["units"]]
        names = [unit["name"] for unit in units]
        try:
            # Also on a host without systemd: the same inventory must not pass there and fail elsewhere.
            dropins.check_units(units, params["state"], params["allow_oom_disable"])
        except dropins.DropInError as exc:
            raise TaskError("Cannot manage the OOM drop-ins: %s" % exc)
        # Built first: it checks proc_path.
        self.reader = info_task.OOMScoreInfo(validated(info_task.argument_spec(), {
            "units": (names or None) if systemd and present else None, "return_processes": False, "top": 0,
            "proc_path": params["proc_path"],
            # The role's read-back judges settings; only the audit's oom_score_info waits to rank by reclaim rate.
            "oomd_sample_interval": 0,
        }, "read-back"), self.io, systemd=systemd)
        self.dropins = None
        if systemd:
            given = dict((key, params[key]) for key in DROPIN_KEYS)
            given["units"] = units
            self.dropins = dropins_task.DropIns(validated(dropins_task.argument_spec(), given, "units"), self.io)
            self.dropins.plan()
        elif names and present:
            self._result["skipped_units"] = names
        labels, rules, self._result["rule_offset"] = adj_task.role_rules(units if present else [], params["rules"], systemd)
        self.adjuster = None
        if rules:
            self.adjuster = adj_task.OomScoreAdj(validated(adj_task.argument_spec(), {
                "rules": rules, "allow_oom_disable": params["allow_oom_disable"],
                "on_denied": params["on_denied"], "on_no_match": params["on_no_match"], "proc_path": params["proc_path"],
            }, "rules"), self.io, labels=labels, warn_denied=params["host_warnings"])
            # Compile, scan and match now: a bad rule or on_no_match=fail stops the call before any write.
            self.adjuster.match()
        self.sysctl = None
        if params["sysctl_file"]:
            problem = oom_sysctl_content_error(params["sysctl_content"]) if present else None
            if problem:
                raise TaskError("sysctl_content: %s" % problem)
            try:
                self.sysctl = SysctlFile(params["sysctl_file"], params["sysctl_content"] if present else "")
            except SysctlFileError as exc:
                raise TaskError("sysctl_file: %s" % exc)

    def execute(self):
        try:
            self.plan()
        except TaskError as exc:
            # Planning writes nothing: say so, unless the part's own message does already.
            self._fail(exc.msg if exc.nothing_written else "%s; nothing was written" % exc.msg, nothing_written=True)
        if self._result["skipped_units"] and self.params["host_warnings"]:
            self.io.warn("systemd is not running on this host (%s is missing): skipped the drop-ins and the "
                         "unit values of %s" % (self.params["systemd_marker"], ", ".join(self._result["skipped_units"])))
        diffs = []
        part = "adjust"
        try:
            # Live values first: a refusal with on_denied=fail rolls them back before any file is written.
            if self.adjuster is not None:
                self._result["adjust"] = self.adjuster.execute()
                processes = self._result["adjust"].pop("diff", None)
                if processes and (processes["before"] or processes["after"]):
                    diffs.append(dict(processes, before_header="oom_score_adj of running processes",
                                      after_header="oom_score_adj of running processes"))
            part = "dropins"
            if self.dropins is not None:
                self.dropins.apply()
                self._result["dropins"] = self.dropins.result
                self._result["reload_needed"] = bool(self.dropins.result["units_changed"])
                diffs.extend(self.dropins.result.pop("diff", []))
            part = "sysctl"
            if self.sysctl is not None:
                try:
                    self._result["sysctl"] = self.sysctl.apply(self.io.check_mode, self.io.diff, self.io.atomic_move)
                except SysctlFileError as exc:
                    raise TaskError("sysctl_file: %s" % exc, {"path": self.sysctl.path, "changed": False})
                diffs.extend(self._result["sysctl"].pop("diff", []))
            part = "read-back"
            # One scan per call: the table the live values were matched and written against, as read back.
            found = self.reader.execute(procs=self.adjuster.snapshot if self.adjuster is not None else None)
        except TaskError as exc:
            done = [name for name in ("adjust", "dropins", "sysctl") if (self._result[name] or {}).get("changed")]
            msg = exc.msg
            if done and part != "adjust":
                msg += " (what this call had already changed stays: %s)" % ", ".join(done)
            self._fail(msg, **({part: exc.result} if part in ("dropins", "adjust", "sysctl") else {}))
        self._result["units"] = found.get("units") or {}
        self._result["host"] = found["host"]
        self._result["changed"] = any((self._result[key] or {}).get("changed") for key in ("dropins", "adjust", "sysctl"))
        if not self._result["reload_needed"] and self.params["state"] == "present":
            self._result["cgroup_drift"] = self._cgroup_drift()
            if self._result["cgroup_drift"] and self.params["realize"] and not self.io.check_mode:
                self._result["realized"] = self._realize(self._result["cgroup_drift"])
                found = self.reader.execute(procs=self.adjuster.snapshot if self.adjuster is not None else None)
                self._result["units"] = found.get("units") or {}
                self._result["changed"] = self._result["changed"] or bool(self._result["realized"])
            elif self._result["cgroup_drift"]:
                # systemd up to 255 writes every cgroup attribute again on daemon-reload: the fix costs no extra
                # module run there (and the role's follow-up realizes what a newer systemd leaves).
                self._result["reload_needed"] = self._result["changed"] = True
        if self.io.diff and diffs:
            self._result["diff"] = diffs
        return self._result

    def _realize(self, drift):
        """systemctl set-property --runtime for each drifting unit, with its drop-in's values; then the runtime
        files this left are removed again (and systemd reloaded), so that the drop-in stays in charge."""
        systemctl = self.io.which("systemctl")
        if systemctl is None:
            self._fail("realize: systemctl is not on this host's PATH, so the cgroup settings cannot be set")
        control = self.params["systemd_control_dir"]
        wanted = dict((unit["name"], unit.get("cgroup") or {}) for unit in self.params["units"])
        realized, removed = [], False
        for name in sorted(set(item["unit"] for item in drift)):
            if is_template(name):
                continue
            directory = os.path.join(control, name + ".d")
            before = files.entries(directory)
            properties = [line for line in dropins.directive_lines(wanted.get(name))
                          if "50-%s.conf" % line.split("=", 1)[0] not in (before or ())]
            if not properties:
                continue
            rc, _out, err = self._run([systemctl, "set-property", "--runtime", "--", name] + properties)
            removed = files.remove_new_entries(directory, before) or removed
            if rc != 0:
                lines = (err or "").strip().splitlines()
                self.io.warn("systemctl set-property --runtime %s failed (rc %d): %s"
                             % (name, rc, lines[-1] if lines else "no message"))
                continue
            realized.append({"unit": name, "properties": properties})
        if removed:
            rc, _out, err = self._run([systemctl, "daemon-reload"])
            if rc != 0:
                self.io.warn("systemctl daemon-reload failed (rc %d): %s" % (rc, (err or "").strip()))
        return realized

    def _cgroup_drift(self):
        host = self._result["host"]
        mem_total, page_size = (host.get("mem_total_kb") or 0) * 1024, host.get("page_size") or 4096
        drift = []
        for unit in self.params["units"]:
            facts = (self._result["units"].get(unit["name"]) or {}).get("cgroup") or {}
            declared = facts.get("declared") or {}
            for key, expected, held in cgroup_settings.live_mismatches(unit.get("cgroup"), facts, mem_total, page_size):
                # Only what systemd itself would write back; a different declared value is drift of the drop-in.
                wanted = memory_settings.expected_bytes(unit["cgroup"][key], mem_total, page_size) \
                    if key in memory_settings.MEMORY_KEYS else unit["cgroup"][key]
                if memory_settings.same_value(declared.get(key), wanted, page_size):
                    drift.append({"unit": unit["name"], "setting": key, "expected": expected, "held": held})
        return drift


def argument_spec():
    rule = adj_task.rule_spec()
    spec = dict((key, value) for key, value in dropins_task.argument_spec().items())
    spec.update(
        exclusive=dict(type="bool", default=True),
        rules=dict(type="list", elements="dict", options=rule, default=[]),
        on_denied=dict(type="str", choices=["fail", "warn"], default="warn"),
        host_warnings=dict(type="bool", default=True),
        on_no_match=dict(type="str", choices=["ignore", "warn", "fail"], default="ignore"),
        sysctl_file=dict(type="path"),
        sysctl_content=dict(type="str", default=""),
        realize=dict(type="bool", default=False),
        systemd_control_dir=dict(type="path", default="/run/systemd/system.control"),
        proc_path=dict(type="path", default="/proc"),
        systemd_marker=dict(type="path", default="/run/systemd/system"),
    )
    return spec
