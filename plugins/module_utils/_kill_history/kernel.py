# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The kernel's OOM report grammar: OOM kill events from kernel log records (lines.py makes them, kernel_log.py
and sources.py read them from the journal, dmesg or a file).

One event per "Killed process" line: it is the only line of an OOM report that the kernel never
ratelimits, so counting anything else miscounts. The one exception is a kill whose kill line is not in the
log but whose summary line ("oom-kill:constraint=...,task=,pid=,uid=") is, as in `grep oom-kill` output:
that summary is the event (`line` says "summary"), and a kill line of the same report, before or after it,
takes its place instead of counting the kill twice. A selection line without a kill line is no event. The other lines of the same report -- the trigger
("... invoked oom-killer"), the memcg line ("Task in ... killed as a result of limit of ..."), the task
table, the summary ("oom-kill:constraint=..."), the legacy "Kill process ... or sacrifice child" line and
the reaper line -- add what they know when they are there. Report-level facts (trigger, constraint, the
OOMing memcg) come from position (the report the kill line closes); victim-level facts (task_memcg, uid,
adj from the task table) only from lines that name the victim's pid. Nothing the kernel did not print is
filled in.

Standard library only: this runs on target hosts (Python >= 3.8).
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_of_cgroup
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.lines import _iso, records_from_text

SCOPES = ("global", "memcg", "cpuset", "mempolicy")
EVENT_FIELDS = (
    "time", "timestamp", "pid", "name", "uid", "oom_score_adj", "total_vm_kb", "anon_rss_kb", "file_rss_kb",
    "shmem_rss_kb", "pgtables_kb", "scope", "constraint", "oom_memcg", "task_memcg", "trigger", "unit",
    "reaped", "line", "raw", "killer", "cgroup", "pod", "reason", "signal", "container",
)
# Who killed: the kernel's OOM killer or a userspace killer (read by the _killer_* grammars).
KILLERS = ("kernel", "systemd-oomd", "earlyoom", "nohang", "kubelet", "oomd")
REASONS = ("pressure", "swap", "memory", "eviction", "unknown")
SIGNALS = ("SIGTERM", "SIGKILL")
# Which line an event was read from: the kill line itself, or (when the log holds no kill line for it, as in
# `grep oom-kill /var/log/messages`) the summary line that names the victim.
# A userspace killer's event is read from its kill line ("kill"), from the decision line that is the kill's
# only record ("decision": systemd-oomd before v248) or from PID 1's line about the unit ("unit": systemd-oomd's
# own line is not in the log).
LINE_KINDS = ("kill", "summary", "decision", "unit")
MEMCG_PREFIX = "Memory cgroup out of memory"
_SCOPE_OF_CONSTRAINT = {
    "CONSTRAINT_NONE": "global",
    "CONSTRAINT_CPUSET": "cpuset",
    "CONSTRAINT_MEMORY_POLICY": "mempolicy",
    "CONSTRAINT_MEMCG": "memcg",
}
# A report is printed within milliseconds; this only guards against pairing a kill line with the remains of
# an unrelated, much older report when lines are missing.
REPORT_MAX_AGE = 30.0
# memory.oom.group kills follow their report immediately.
GROUP_KILL_WINDOW = 2.0
# How many recent events a reaper line may look back through for its pid.
REAPER_LOOKBACK = 64


# ---------------------------------------------------------------------------------------------------------
# The lines of an OOM report (oom-facts.md section 7).

_TRIGGER_RE = re.compile(
    r"^(?P<comm>.+?) invoked oom-killer: gfp_mask=(?P<gfp>0x[0-9a-fA-F]+)(?:\([^)]*\))?,"
    r"(?:\s*nodemask=[^,]*(?:,[^,=]*)*?,)?\s*order=(?P<order>-?\d+),"
    r"(?:\s*oom_adj=-?\d+,)?\s*oom_score_adj=(?P<adj>-?\d+)")
_SUMMARY_RE = re.compile(
    r"^oom-kill:constraint=(?P<constraint>\w+),nodemask=(?P<nodemask>.*?)"
    r"(?:,cpuset=(?P<cpuset>.*?),mems_allowed=(?P<mems>.*?))?"
    r"(?:,oom_memcg=(?P<oom_memcg>.*?)|,(?P<global>global_oom))?"
    r"(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>\d+),uid=(?P<uid>\d+)\s*$")
_PARTIAL_SUMMARY_RE = re.compile(
    r"^oom-kill:constraint=(?P<constraint>\w+),"
    r"(?:.*?,oom_memcg=(?P<oom_memcg>.*?)(?=,task_memcg=|,task=|$)|.*?,(?P<global>global_oom)(?=,|$))?")
_KILL_RE = re.compile(
    r"(?:(?P<prefix>Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory): )?"
    r"Killed process (?P<pid>\d+)(?:, UID (?P<uid_rhel6>\d+),)? \((?P<comm>.*)\)(?:, UID (?P<uid_rhel>\d+),)? "
    r"total-vm:(?P<vm>\d+)kB, anon-rss:(?P<anon>\d+)kB, file-rss:(?P<file>\d+)kB"
    r"(?:, shmem-rss:(?P<shmem>\d+)kB)?"
    r"(?:, UID:(?P<uid>\d+) pgtables:(?P<pgt>\d+)kB oom_score_adj:(?P<adj>-?\d+))?")
_LEGACY_RE = re.compile(
    r"(?P<prefix>Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory): "
    r"Kill process (?P<pid>\d+) \((?P<comm>.*)\) score (?P<score>-?\d+) or sacrifice child")
_REAPED_RE = re.compile(r"oom_reaper: reaped process (?P<pid>\d+) \(.*\), now anon-rss:")
_UNREAPED_RE = re.compile(r"oom_reaper: unable to reap pid:(?P<pid>\d+) ")
_TASK_IN_RE = re.compile(r"^Task in (?P<task>.*) killed as a result of limit of (?P<oom>.*?)\s*$")
_GROUP_RE = re.compile(r"^Tasks in (?P<path>.*) are going to be killed due to memory\.oom\.group set")
_BANNER_RE = re.compile(r"^Linux version (?P<release>\S+)")
# Ubuntu and others append the upstream version they build on: "... (Ubuntu 5.4.0-26.27-generic 5.4.30)".
_BANNER_UPSTREAM_RE = re.compile(r"\(\S+ \S+ (?P<upstream>\d+\.\d+\.\d+)\)\s*$")
_CPU_RE = re.compile(r"^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: .*? (?:Not tainted|Tainted:[ A-Z]*?) +"
                     r"(?P<release>\d+\.\d+\S*)")
_TABLE_HEADER_RE = re.compile(r"^\[\s*pid\s*\]\s+(?P<columns>.*\S)\s+name\s*$")
_CLOSER_RE = re.compile(r"no killable processes|is already exiting\. Skip killing")


def pgtables_in_bytes(release):
    """True when a kernel release printed `pgtables:` in bytes, False when in kB, None when unknown.

    Only 5.4.0 itself did (fixed in 5.5 and in 5.4.y stable). Distribution kernels numbered
    `5.4.0-<abi>-<flavour>` (Ubuntu 20.04) are built on later 5.4.y releases, which have the fix.
    """
    if not release:
        return None
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?(.*)$", release)
    if not match:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    if version != (5, 4, 0):
        return False
    return re.match(r"^-\d+-", match.group(4)) is None


class _Report:
    """The lines of one OOM report seen so far (everything up to and including its kill line)."""

    def __init__(self, ts):
        self.first_ts = ts
        self.last_ts = ts
        self.trigger = None
        self.release = None
        self.summary = None
        self.task_in = None
        self.legacy = None
        self.columns = None
        self.tasks = {}
        self.group_path = None
        self.killed = []
        # The event made from this report's summary line until a kill line takes its place.
        self.summary_event = None

    def touch(self, ts):
        if ts is not None:
            self.last_ts = ts
            if self.first_ts is None:
                self.first_ts = ts


class _Grouper:
    def __init__(self, kernel_release=None, boot_releases=None):
        self.default_release = kernel_release
        self.boot_releases = dict(boot_releases or {})
        self.events = []
        self.boot = object()
        self.release = kernel_release
        self.report = None
        self.partial_summary = None
        self.recent = []
        self.summary_reports = {}

    # -- state changes
    def new_boot(self, boot, release):
        self.boot = boot
        self.release = release
        self.report = None
        self.partial_summary = None
        self.recent = []
        self.summary_reports = {}

    def open_report(self, ts):
        self.report = _Report(ts)
        return self.report

    def current(self, ts, fresh_if=None):
        """The open report, or a new one when there is none or `fresh_if(report)` says it is finished."""
        report = self.report
        if report is None or report.killed or (fresh_if is not None and fresh_if(report)) or self._stale(report, ts):
            report = self.open_report(ts)
        report.touch(ts)
        return report

    @staticmethod
    def _stale(report, ts):
        return ts is not None and report.last_ts is not None and ts - report.last_ts > REPORT_MAX_AGE

    # -- one record
    def feed(self, record):
        if record.boot is not None and record.boot != self.boot:
            self.new_boot(record.boot, self.boot_releases.get(record.boot))
        text, ts = record.text, record.ts
        if self.partial_summary is not None:
            if text.startswith(","):
                self._continue_summary(text, ts)
                return
            self._salvage_partial_summary()

        match = _KILL_RE.search(text)
        if match:
            self._kill(match, record)
            return
        match = _BANNER_RE.match(text)
        if match:
            release = match.group("release")
            upstream = _BANNER_UPSTREAM_RE.search(text)
            self.new_boot(record.boot if record.boot is not None else object(),
                          upstream.group("upstream") if upstream else release)
            return
        match = _TRIGGER_RE.match(text)
        if match:
            report = self.open_report(ts)
            report.trigger = {
                "name": match.group("comm"),
                "gfp_mask": match.group("gfp"),
                "order": int(match.group("order")),
                "oom_score_adj": int(match.group("adj")),
            }
            return
        start = text.find("oom-kill:constraint=")
        if start >= 0:
            self._summary(text[start:], ts)
            return
        match = _LEGACY_RE.search(text)
        if match:
            report = self.current(ts, fresh_if=lambda r: r.legacy is not None)
            report.legacy = {"prefix": match.group("prefix"), "pid": int(match.group("pid"))}
            return
        match = _REAPED_RE.search(text) or _UNREAPED_RE.search(text)
        if match:
            self._reaper(int(match.group("pid")), match.re is _REAPED_RE)
            return
        match = _CPU_RE.match(text)
        if match:
            # The running kernel's release, printed in every (unratelimited) report.
            self.release = match.group("release")
            if self.report is not None and not self.report.killed:
                self.report.release = self.release
            return
        match = _TASK_IN_RE.match(text)
        if match:
            report = self.current(ts, fresh_if=lambda r: r.task_in is not None or r.summary is not None)
            report.task_in = {"task_memcg": match.group("task"), "oom_memcg": match.group("oom")}
            return
        match = _TABLE_HEADER_RE.match(text)
        if match:
            report = self.current(ts, fresh_if=lambda r: r.columns is not None)
            report.columns = match.group("columns").split()
            return
        if text.startswith("[") and self.report is not None and self.report.columns and not self.report.killed:
            self._task_row(text)
            return
        match = _GROUP_RE.match(text)
        if match:
            if self.report is not None:
                self.report.group_path = match.group("path")
            return
        if _CLOSER_RE.search(text):
            self.report = None

    def _summary(self, text, ts):
        match = _SUMMARY_RE.match(text)
        if match is None:
            # Split by a concurrent printk (pr_cont pieces); the rest follows as lines starting with ','.
            self.partial_summary = (text, ts)
            return
        self._set_summary(match, ts)

    def _salvage_partial_summary(self):
        """The rest of a split summary line never came: keep its report-level part (constraint, oom_memcg)."""
        text, ts = self.partial_summary
        self.partial_summary = None
        match = _PARTIAL_SUMMARY_RE.match(text)
        if match is None:
            return
        report = self.current(ts, fresh_if=lambda r: r.summary is not None)
        report.summary = {
            "constraint": match.group("constraint"),
            "oom_memcg": match.group("oom_memcg"),
            "global": match.group("global") is not None,
            "task_memcg": None,
            "pid": None,
            "uid": None,
        }

    def _continue_summary(self, text, ts):
        joined = self.partial_summary[0] + text
        match = _SUMMARY_RE.match(joined)
        if match is None:
            self.partial_summary = (joined, self.partial_summary[1])
            return
        self.partial_summary = None
        self._set_summary(match, ts)

    def _set_summary(self, match, ts):
        summary = {
            "constraint": match.group("constraint"),
            "oom_memcg": match.group("oom_memcg"),
            "global": match.group("global") is not None,
            "task_memcg": match.group("task_memcg"),
            "pid": int(match.group("pid")),
            "uid": int(match.group("uid")),
        }
        if self._summarise_earlier_kill(summary, ts):
            return
        report = self.current(ts, fresh_if=lambda r: r.summary is not None)
        report.summary = summary
        # The kill line that normally follows replaces this event; without one (a grep for "oom-kill", a log cut
        # short) the summary line is the only record of the kill.
        event = self._summary_event(match, ts, report)
        report.summary_event = event
        self.summary_reports[id(event)] = report
        self._add(event)

    def _summarise_earlier_kill(self, summary, ts):
        """A summary after its own kill line (`journalctl -r` prints newest first): complete that event."""
        for event in reversed(self.recent):
            if event["pid"] != summary["pid"] or event["line"] != "kill" or event["constraint"] is not None:
                continue
            if ts is not None and event["timestamp"] is not None and abs(ts - event["timestamp"]) > REPORT_MAX_AGE:
                return False
            event["constraint"] = summary["constraint"]
            event["oom_memcg"] = event["oom_memcg"] or summary["oom_memcg"]
            event["task_memcg"] = event["task_memcg"] or summary["task_memcg"]
            if event["uid"] is None:
                event["uid"] = summary["uid"]
            event["scope"] = _scope(summary["constraint"], None, event["oom_memcg"])
            if event["unit"] is None and event["task_memcg"]:
                event["unit"] = unit_of_cgroup(event["task_memcg"])
            return True
        return False

    def _summary_event(self, match, ts, report):
        summary = report.summary
        row = report.tasks.get(summary["pid"]) or {}
        legacy = report.legacy
        event = dict.fromkeys(EVENT_FIELDS)
        event.update(
            time=_iso(ts),
            timestamp=ts,
            pid=summary["pid"],
            name=match.group("task"),
            uid=summary["uid"],
            oom_score_adj=row.get("oom_score_adj"),
            scope=_scope(summary["constraint"], legacy["prefix"] if legacy else None, summary["oom_memcg"]),
            constraint=summary["constraint"],
            oom_memcg=summary["oom_memcg"],
            task_memcg=summary["task_memcg"],
            trigger=dict(report.trigger) if report.trigger else None,
            unit=unit_of_cgroup(summary["task_memcg"]) if summary["task_memcg"] else None,
            line="summary",
            raw=match.string.strip(),
        )
        return event

    def _add(self, event):
        self.events.append(event)
        self.recent.append(event)
        del self.recent[:-REAPER_LOOKBACK]

    def _task_row(self, text):
        columns = self.report.columns
        numeric = len(columns)
        match = re.match(r"^\[\s*(\d+)\]" + r"\s+(-?\d+)" * numeric + r" (.*)$", text)
        if match is None:
            return
        values = dict(zip(columns, (int(v) for v in match.groups()[1:numeric + 1])))
        self.report.tasks[int(match.group(1))] = values

    def _reaper(self, pid, reaped):
        for event in reversed(self.recent):
            if event["pid"] == pid and event["reaped"] is None:
                event["reaped"] = reaped
                return

    def _kill(self, match, record):
        pid = int(match.group("pid"))
        ts = record.ts
        summarised = self._summarised_report(pid, ts)
        if summarised is not None and summarised is not self.report:
            # Its summary's report was followed by another report's lines before this kill line came.
            self._finish_kill(match, record, summarised)
            return
        report = self.report
        attach = report is not None and not self._stale(report, ts)
        if attach and report.killed:
            # Only memory.oom.group kills share a report; the victim may be killed (and logged) twice there.
            within = ts is None or report.last_ts is None or ts - report.last_ts <= GROUP_KILL_WINDOW
            if report.group_path is None or not within:
                attach = False
            elif pid in report.killed:
                return
        if not attach:
            report = None
            self.report = None
        self._finish_kill(match, record, report)

    def _summarised_report(self, pid, ts):
        """The report whose summary line named `pid` and still waits for its kill line, or None."""
        for event in reversed(self.recent):
            if event["line"] == "summary" and event["pid"] == pid:
                report = self.summary_reports.get(id(event))
                if report is not None and report.summary_event is event and not self._stale(report, ts):
                    return report
        return None

    def _finish_kill(self, match, record, report):
        pid, ts = int(match.group("pid")), record.ts
        event = self._event(match, record, report)
        if report is not None and report.summary_event is not None and not report.killed:
            # The kill line of a report whose summary already made an event: the same kill, counted once.
            report.summary_event.clear()
            report.summary_event.update(event)
            self.summary_reports.pop(id(report.summary_event), None)
            report.summary_event = None
        else:
            self._add(event)
        if report is not None:
            report.killed.append(pid)
            report.touch(ts)

    def _event(self, match, record, report):
        pid = int(match.group("pid"))
        prefix = match.group("prefix")
        uid = match.group("uid") or match.group("uid_rhel") or match.group("uid_rhel6")
        uid = int(uid) if uid is not None else None
        adj = int(match.group("adj")) if match.group("adj") is not None else None
        total_vm = int(match.group("vm"))
        constraint = oom_memcg = task_memcg = trigger = None
        release = self.release
        if report is not None:
            victim = not report.killed  # group kills after the first are not the report's chosen victim
            trigger = report.trigger
            release = report.release or release
            legacy = report.legacy
            if prefix is None and legacy is not None:
                prefix = legacy["prefix"]
            summary = report.summary
            if summary is not None:
                constraint = summary["constraint"]
                oom_memcg = summary["oom_memcg"]
                if summary["pid"] == pid:
                    task_memcg = summary["task_memcg"]
                    if uid is None:
                        uid = summary["uid"]
            if report.task_in is not None:
                oom_memcg = oom_memcg or report.task_in["oom_memcg"]
                # "Task in" names the chosen victim, which the legacy line names too (a sacrificed child
                # is another process).
                if task_memcg is None and victim and legacy is not None and legacy["pid"] == pid:
                    task_memcg = report.task_in["task_memcg"]
            row = report.tasks.get(pid)
            if row is not None:
                if adj is None and "oom_score_adj" in row:
                    adj = row["oom_score_adj"]
                if uid is None and "uid" in row:
                    uid = row["uid"]
        pgtables = match.group("pgt")
        if pgtables is not None:
            pgtables = int(pgtables)
            in_bytes = pgtables_in_bytes(release)
            if in_bytes is None:
                # Release unknown: page tables never outgrow the address space they map, so a value larger
                # than total-vm cannot be kB; it is 5.4.0's byte count (always whole pages).
                in_bytes = pgtables > total_vm and pgtables % 1024 == 0
            if in_bytes:
                pgtables //= 1024
        unit = unit_of_cgroup(task_memcg) if task_memcg else None
        if unit is None and report is not None and report.group_path:
            group_unit = unit_of_cgroup(report.group_path)
            if group_unit is not None and not group_unit.endswith(".slice"):
                unit = group_unit
        event = dict.fromkeys(EVENT_FIELDS)
        event.update(
            time=_iso(record.ts),
            timestamp=record.ts,
            pid=pid,
            name=match.group("comm"),
            uid=uid,
            oom_score_adj=adj,
            total_vm_kb=total_vm,
            anon_rss_kb=int(match.group("anon")),
            file_rss_kb=int(match.group("file")),
            shmem_rss_kb=int(match.group("shmem")) if match.group("shmem") is not None else None,
            pgtables_kb=pgtables,
            scope=_scope(constraint, prefix, oom_memcg),
            constraint=constraint,
            oom_memcg=oom_memcg,
            task_memcg=task_memcg,
            trigger=dict(trigger) if trigger else None,
            unit=unit,
            reaped=None,
            line="kill",
            raw=record.text,
        )
        return event


def _scope(constraint, prefix, oom_memcg):
    """global/memcg/cpuset/mempolicy from the constraint, or None when the kernel did not say.

    5.0 and 5.1 printed CONSTRAINT_NONE for memcg OOMs (fixed by 432b1de0de02); the "Memory cgroup out of
    memory" prefix and oom_memcg= say memcg regardless. Without a summary line, "Out of memory" alone does
    not tell a global OOM from a cpuset or mempolicy one, so the scope stays unknown.
    """
    if constraint == "CONSTRAINT_MEMCG" or prefix == MEMCG_PREFIX or oom_memcg:
        return "memcg"
    return _SCOPE_OF_CONSTRAINT.get(constraint)


def parse_records(records, kernel_release=None, boot_releases=None):
    """Events, in log order, from kernel records.

    `kernel_release` applies to records without a boot id until a "Linux version" banner says otherwise
    (dmesg: the running kernel); `boot_releases` maps journal boot ids to releases (the current boot).
    """
    grouper = _Grouper(kernel_release, boot_releases)
    for record in records:
        grouper.feed(record)
    for event in grouper.events:
        # The kernel's OOM killer always sends SIGKILL, to the victim it chose for lack of memory.
        event.update(killer="kernel", cgroup=event["task_memcg"], reason="memory", signal="SIGKILL")
    return grouper.events


def parse_text(text, boot_time=None, ref_time=None, kernel_release=None):
    """Events from dmesg or log-file text."""
    return parse_records(records_from_text(text, boot_time, ref_time), kernel_release=kernel_release)
