# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Every killer's kills from one reading of the logs: the kernel's (kernel.py) and each userspace killer's
grammar (_killer_<name>.py), fed from the same records in one pass.

Sources:
- journal: one `journalctl -o json` for the kernel's messages (`_TRANSPORT=kernel`), the killers' identifiers
  and PID 1's / the user managers' lines about oomd kills and `oom-kill` results (their MESSAGE_IDs);
- dmesg: the kernel's messages, Facebook oomd's `oomd kill:` line among them;
- file: any log file (journalctl text, JSON or export output, syslog, a grep paste, nohang's own log), every
  killer's lines in it.
`source=auto` reads the journal, else dmesg for the kernel and the first syslog file for the userspace killers.
The result says which sources were read and which killers' lines they could hold (`sources_read`,
`killers_looked_for`), so that no kills is never confused with logs that could not be read.

Standard library only: this runs on target hosts (Python >= 3.8).
"""

from __future__ import annotations

import json
import os

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import earlyoom
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import fboomd
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kubelet
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import nohang
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import systemd_oomd
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import has_marker
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel_log
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import lines as log_lines

KILLERS = kl.KILLERS
GRAMMARS = (systemd_oomd, earlyoom, nohang, kubelet, fboomd)
# Syslog files that hold the daemons' lines (kern.log holds only the kernel's).
KILLER_LOG_FILES = ("/var/log/syslog", "/var/log/messages", "/var/log/daemon.log")
# MESSAGE_IDs of PID 1's "systemd-oomd killed N process(es) in this unit." and "Failed with result '...'.".
OOMD_KILL_MESSAGE_ID = "d989611b15e44c9dbf31e3c81256e4ed"
UNIT_FAILURE_MESSAGE_ID = "d9b373ed55a64feb8242e02dbe79a49c"
KILLER_JOURNAL_FIELDS = "MESSAGE,_BOOT_ID,_TRANSPORT,SYSLOG_IDENTIFIER"


def parse(records, killers=KILLERS, kernel_release=None, boot_releases=None):
    """Events of the selected killers from records in log order (an iterable; read once)."""
    want_kernel = "kernel" in killers
    grammars = [(module, module.Grammar()) for module in GRAMMARS if module.KILLER in killers]
    kernel_records = []
    for record in records:
        text = record.text
        if want_kernel and record.ident in (None, "kernel") and log_lines.interesting(text):
            kernel_records.append(record)
        for module, grammar in grammars:
            if has_marker(text, module.MARKERS):
                grammar.feed(record)
    events = kl.parse_records(kernel_records, kernel_release, boot_releases) if want_kernel else []
    userspace = []
    for _module, grammar in grammars:
        userspace.extend(grammar.finish())
    if not userspace:
        return events
    events.extend(userspace)
    # Stable: lines of one time keep their order; events of unknown time go last.
    events.sort(key=lambda e: (e["timestamp"] is None, e["timestamp"] or 0.0))
    return events


def records_of_lines(lines, boot_time=None, ref_time=None):
    """Records of every line (any program's) of log text: a string or an iterable of lines. Saved journal output
    is read too: `journalctl -o json` (one object per line) and `journalctl -o export` (FIELD=value lines, one
    entry per paragraph, starting with __CURSOR=)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    export = None
    for line in lines:
        if export is not None:
            if line.strip():
                name, sep, value = line.rstrip("\r\n").partition("=")
                if sep:
                    export[name] = value
                continue
            record = _export_record(export)
            export = None
            if record is not None:
                yield record
            continue
        if line.startswith("__CURSOR="):
            export = {}
            continue
        if line.startswith("{"):
            yield from log_lines.journal_entries(line)
            continue
        ts, ident, text = log_lines.split_tagged(line, boot_time=boot_time, ref_time=ref_time)
        yield log_lines.Record(ts, text, None, ident)
    if export:
        record = _export_record(export)
        if record is not None:
            yield record


def _export_record(fields):
    if "MESSAGE" not in fields:
        return None
    for record in log_lines.journal_entries(json.dumps(fields)):
        return record
    return None


def parse_text(text, killers=KILLERS, boot_time=None, ref_time=None, kernel_release=None):
    return parse(records_of_lines(text, boot_time, ref_time), killers, kernel_release=kernel_release)


def journal_matches(killers):
    """journalctl matches for the selected killers, OR-ed with `+`."""
    groups = []
    if "kernel" in killers:
        groups.append(["_TRANSPORT=kernel"])
    idents = []
    for module in GRAMMARS:
        if module.KILLER in killers:
            idents.extend(ident for ident in module.IDENTS if ident not in ("kernel", "systemd"))
    if idents:
        groups.append(["SYSLOG_IDENTIFIER=" + ident for ident in idents])
    if "oomd" in killers and "kernel" not in killers:
        groups.append(["_TRANSPORT=kernel"])
    if "systemd-oomd" in killers:
        groups.append(["MESSAGE_ID=" + OOMD_KILL_MESSAGE_ID, "MESSAGE_ID=" + UNIT_FAILURE_MESSAGE_ID])
    matches = []
    for group in groups:
        if matches:
            matches.append("+")
        matches.extend(group)
    return matches


def _read_file(path, killers):
    try:
        ref_time = os.stat(path).st_mtime
        with kernel_log.open_log(path) as handle:
            return parse(records_of_lines(handle, ref_time=ref_time), killers)
    except (IOError, OSError, EOFError) as exc:
        raise kernel_log.KernelLogError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc))


def _read_journal(run_command, journalctl, since, killers, proc_path):
    """(events, kernel messages seen) from one journalctl run."""
    out = kernel_log.journal_output(run_command, journalctl, since, journal_matches(killers), KILLER_JOURNAL_FIELDS)
    seen = {"kernel": False}

    def records():
        for record in log_lines.journal_entries(out):
            if record.ident == "kernel":
                seen["kernel"] = True
            yield record
    events = parse(records(), killers, boot_releases=kernel_log.journal_releases(proc_path))
    has_kernel = seen["kernel"]
    if not has_kernel and since is not None and "kernel" in killers:
        has_kernel = kernel_log.journal_has_kernel_messages(run_command, journalctl)
    return events, has_kernel


def _read_dmesg(run_command, dmesg, killers, proc_path):
    out = kernel_log.dmesg_output(run_command, dmesg)
    return parse(records_of_lines(out, boot_time=kernel_log.boot_time(proc_path)), killers,
                 kernel_release=kernel_log.running_release(proc_path))


def _in_dmesg(killers):
    return [k for k in killers if k in ("kernel", "oomd")]


def collect(source="auto", path=None, since=None, limit=None, killers=KILLERS, run_command=None, which=None,
            warn=None, proc_path="/proc", log_files=kernel_log.LOG_FILES, killer_log_files=KILLER_LOG_FILES):
    """Read the kills of the selected killers.

    Returns {events, source_used, source_path, oom_kill_counter, sources_read, killers_looked_for}:
    `source_used`/`source_path` are where the kernel's messages were read (as kernel_log.collect), `sources_read`
    every source read (`journal`, `dmesg`, `file:<path>`) and `killers_looked_for` the selected killers whose
    lines those sources can hold. Errors as kernel_log.collect: an explicit source that cannot be read raises
    KernelLogError; `auto` warns and falls through.
    """
    warn = warn or (lambda msg: None)
    killers = [k for k in KILLERS if k in killers]
    result = {"events": [], "source_used": None, "source_path": None,
              "oom_kill_counter": kernel_log.oom_kill_counter(proc_path), "sources_read": [], "killers_looked_for": []}
    if source == "file":
        if not path:
            raise kernel_log.KernelLogError("path is required with source=file")
        events = _read_file(path, killers)
        result.update(source_used="file", source_path=path, sources_read=["file:" + path], killers_looked_for=killers)
    elif source == "journal":
        journalctl = which("journalctl")
        if not journalctl:
            raise kernel_log.KernelLogError("journalctl was not found on this host")
        events, has_kernel = _read_journal(run_command, journalctl, since, killers, proc_path)
        if not has_kernel and "kernel" in killers:
            warn("the journal holds no kernel messages (is journald storing them, and may this user read them?)")
        result.update(source_used="journal", sources_read=["journal"], killers_looked_for=killers)
    elif source == "dmesg":
        dmesg = which("dmesg")
        if not dmesg:
            raise kernel_log.KernelLogError("dmesg was not found on this host")
        events = _read_dmesg(run_command, dmesg, killers, proc_path)
        result.update(source_used="dmesg", sources_read=["dmesg"], killers_looked_for=_in_dmesg(killers))
    elif source == "auto":
        events = _auto(result, run_command, which, warn, since, killers, proc_path, log_files, killer_log_files)
    else:
        raise kernel_log.KernelLogError("unknown source %r" % (source,))
    result["events"] = log_lines.select(events, since, limit)
    return result


def _auto(result, run_command, which, warn, since, killers, proc_path, log_files, killer_log_files):
    reasons = []
    events = []
    looked = set()
    userspace = [k for k in killers if k != "kernel"]
    journalctl = which("journalctl")
    journal_read = False
    if journalctl:
        try:
            events, has_kernel = _read_journal(run_command, journalctl, since, killers, proc_path)
        except kernel_log.KernelLogError as exc:
            warn("source=auto: skipping the journal: %s" % exc)
            reasons.append("journal: %s" % exc)
        else:
            journal_read = True
            result["sources_read"].append("journal")
            looked.update(userspace)
            if has_kernel or "kernel" not in killers:
                looked.update(killers)
                result["source_used"] = "journal"
                result["killers_looked_for"] = [k for k in killers if k in looked]
                return events
            # Keep the userspace killers' events; the kernel's come from the next source.
            events = [e for e in events if e["killer"] != "kernel"]
            reasons.append("journal: no kernel messages")
    else:
        reasons.append("journal: journalctl not found")
    # Without the journal, the userspace killers' lines are in a syslog file, read in the same pass as the
    # kernel's when the kernel's come from that file.
    # (Facebook oomd's kernel-log line is read with its other lines, from the journal or that file.)
    kernel_killers = ["kernel"]
    if "kernel" in killers:
        kernel_events, kernel_file = _auto_kernel(result, run_command, which, warn, reasons, kernel_killers,
                                                  proc_path, log_files, userspace if not journal_read else [],
                                                  killer_log_files)
        events.extend(kernel_events)
        if result["source_used"] is not None:
            looked.add("kernel")
        if kernel_file:
            looked.update(userspace)
    if not journal_read and not looked.issuperset(userspace):
        for candidate in killer_log_files:
            if candidate == result["source_path"] or not os.path.exists(candidate):
                continue
            missing = [k for k in userspace if k not in looked]
            try:
                events.extend(_read_file(candidate, missing))
            except kernel_log.KernelLogError as exc:
                warn("source=auto: skipping %s: %s" % (candidate, exc))
                continue
            result["sources_read"].append("file:" + candidate)
            looked.update(missing)
            break
    result["killers_looked_for"] = [k for k in killers if k in looked]
    events.sort(key=lambda e: (e["timestamp"] is None, e["timestamp"] or 0.0))
    return events


def _auto_kernel(result, run_command, which, warn, reasons, kernel_killers, proc_path, log_files, userspace,
                 killer_log_files):
    """(events, whether the kernel's file also gave the userspace killers) from dmesg or the first log file."""
    dmesg = which("dmesg")
    if dmesg:
        try:
            events = _read_dmesg(run_command, dmesg, kernel_killers, proc_path)
        except kernel_log.KernelLogError as exc:
            warn("source=auto: skipping dmesg: %s" % exc)
            reasons.append("dmesg: %s" % exc)
        else:
            result["source_used"] = "dmesg"
            result["sources_read"].append("dmesg")
            return events, False
    else:
        reasons.append("dmesg: not found")
    for candidate in log_files:
        if not os.path.exists(candidate):
            continue
        both = bool(userspace) and candidate in killer_log_files
        try:
            events = _read_file(candidate, ["kernel"] + (userspace if both else []))
        except kernel_log.KernelLogError as exc:
            warn("source=auto: skipping %s: %s" % (candidate, exc))
            reasons.append(str(exc))
            continue
        result.update(source_used="file", source_path=candidate)
        result["sources_read"].append("file:" + candidate)
        return events, both
    reasons.append("none of %s is readable" % ", ".join(log_files))
    warn("source=auto: no kernel log could be read (%s); the OOM kill history of this host is unknown"
         % "; ".join(reasons))
    return [], False
