# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The kernel's messages from the journal, dmesg, or a syslog file, for the kernel's grammar alone
(collect); sources.py reads every killer's lines in one pass with the same readers.

Sources, and why these outputs:
- journal: `journalctl -o json _TRANSPORT=kernel` -- every boot the journal kept (OOMs often end in a reboot,
  which `-k`, meaning this boot only, would hide), exact wall-clock times (`__REALTIME_TIMESTAMP`, in
  microseconds), messages free of any prefix, and `_BOOT_ID` to keep boots apart.
- dmesg: `dmesg --time-format iso` (util-linux >= 2.26), else plain `dmesg` with `[seconds]` added to the
  boot time from /proc/stat `btime`. Both are approximations: printk's clock stops during suspend.
- file: kern.log / messages / syslog in traditional (`Nov 25 21:48:05 host kernel: ...`) or RFC 3339 format,
  or saved dmesg / journalctl text; `.gz` files are read too. Lines of other programs are skipped.

Standard library only: this runs on target hosts (Python >= 3.8).
"""

from __future__ import annotations

import re
import time

import gzip
import os
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.kernel import parse_records
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.lines import (
    records_from_journal_json, records_from_text, select,
)


SOURCES = ("auto", "journal", "dmesg", "file")
LOG_FILES = ("/var/log/kern.log", "/var/log/messages", "/var/log/syslog")


class KernelLogError(Exception):
    """A kernel log source could not be read; the message says which and why."""


def _read_first(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def boot_time(proc_path="/proc"):
    """Boot time in epoch seconds from /proc/stat `btime`, or None."""
    text = _read_first(os.path.join(proc_path, "stat")) or ""
    match = re.search(r"^btime (\d+)$", text, re.M)
    return float(match.group(1)) if match else None


def running_release(proc_path="/proc"):
    return _read_first(os.path.join(proc_path, "sys/kernel/osrelease"))


def current_boot_id(proc_path="/proc"):
    value = _read_first(os.path.join(proc_path, "sys/kernel/random/boot_id"))
    return value.replace("-", "") if value else None


def oom_kill_counter(proc_path="/proc"):
    """The kernel's OOM kill count since boot (/proc/vmstat `oom_kill`, 4.13+), or None."""
    text = _read_first(os.path.join(proc_path, "vmstat")) or ""
    match = re.search(r"^oom_kill (\d+)$", text, re.M)
    return int(match.group(1)) if match else None


def _first_line(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else "no message"


JOURNAL_FIELDS = "MESSAGE,_BOOT_ID"
# journalctl's --since only narrows the read; a report's first lines may precede its kill line a little.
JOURNAL_SINCE_MARGIN = 120


def journal_output(run_command, journalctl, since=None, matches=("_TRANSPORT=kernel",), fields=JOURNAL_FIELDS):
    """`journalctl -o json` output of the entries `matches` selects, every boot; raises KernelLogError."""
    base = [journalctl, "--no-pager", "--quiet", "--output=json"] + list(matches)
    if since is not None:
        base.append("--since=" + time.strftime("%Y-%m-%d %H:%M:%S",
                                               time.localtime(since - JOURNAL_SINCE_MARGIN)))
    # --output-fields (systemd >= 236) shrinks the output a lot; older journalctl rejects it.
    rc, out, err = run_command(base + ["--output-fields=" + fields])
    if rc != 0:
        rc, out, err = run_command(base)
    if rc != 0:
        raise KernelLogError("journalctl failed (rc=%s): %s" % (rc, _first_line(err or out)))
    return out


def journal_has_kernel_messages(run_command, journalctl):
    """Whether the journal holds any kernel message at all (a `since` window may simply be quiet)."""
    rc, probe, _err = run_command([journalctl, "--no-pager", "--quiet", "--output=json", "--lines=1",
                                   "_TRANSPORT=kernel"])
    return rc == 0 and bool(probe.strip())


def journal_releases(proc_path="/proc"):
    boot = current_boot_id(proc_path)
    return {boot: running_release(proc_path)} if boot else {}


def read_journal(run_command, journalctl, since=None, proc_path="/proc"):
    """(events, has_kernel_messages) from the journal's kernel messages of every boot it kept."""
    out = journal_output(run_command, journalctl, since)
    records = records_from_journal_json(out)
    has_messages = bool(out.strip())
    if not has_messages and since is not None:
        has_messages = journal_has_kernel_messages(run_command, journalctl)
    return parse_records(records, boot_releases=journal_releases(proc_path)), has_messages


def dmesg_output(run_command, dmesg):
    """`dmesg --time-format iso` output, or plain `dmesg` where that option is unknown; raises KernelLogError."""
    rc, out, err = run_command([dmesg, "--time-format", "iso"])
    if rc != 0:
        # util-linux < 2.26 and busybox have no --time-format; their [seconds] are relative to boot.
        rc2, out, err2 = run_command([dmesg])
        if rc2 != 0:
            raise KernelLogError("dmesg failed (rc=%s): %s" % (rc2, _first_line(err2 or out or err)))
    return out


def read_dmesg(run_command, dmesg, proc_path="/proc"):
    """Events from the kernel ring buffer (this boot only)."""
    records = records_from_text(dmesg_output(run_command, dmesg), boot_time=boot_time(proc_path))
    return parse_records(records, kernel_release=running_release(proc_path))


def open_log(path):
    return _open_log(path)


def _open_log(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "rt", encoding="utf-8", errors="replace")


def read_file(path):
    """Events from a log file; the file's mtime dates traditional syslog lines that carry no year."""
    try:
        ref_time = os.stat(path).st_mtime
        with _open_log(path) as handle:
            records = records_from_text(handle, ref_time=ref_time)
    except (IOError, OSError, EOFError) as exc:
        raise KernelLogError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc))
    return parse_records(records)


def collect(source="auto", path=None, since=None, limit=None, run_command=None, which=None, warn=None,
            proc_path="/proc", log_files=LOG_FILES):
    """Read OOM kill events from one source.

    Returns {events, source_used, source_path, oom_kill_counter}. `since` is epoch seconds or None, `limit`
    an int or None. An explicit source that cannot be read raises KernelLogError; in `auto` mode a source
    that fails is reported through `warn(msg)` and the next one is tried (journal, dmesg, then the first
    existing file of `log_files`); a source that is merely absent is skipped silently, and when none can be
    read the result has no events, `source_used` None and a warning saying the history is unknown.
    """
    warn = warn or (lambda msg: None)
    result = {"events": [], "source_used": None, "source_path": None, "oom_kill_counter": oom_kill_counter(proc_path)}
    if source == "file":
        if not path:
            raise KernelLogError("path is required with source=file")
        events = read_file(path)
        result.update(source_used="file", source_path=path)
    elif source == "journal":
        journalctl = which("journalctl")
        if not journalctl:
            raise KernelLogError("journalctl was not found on this host")
        events, has_messages = read_journal(run_command, journalctl, since, proc_path)
        if not has_messages:
            warn("the journal holds no kernel messages (is journald storing them, and may this user read them?)")
        result["source_used"] = "journal"
    elif source == "dmesg":
        dmesg = which("dmesg")
        if not dmesg:
            raise KernelLogError("dmesg was not found on this host")
        events = read_dmesg(run_command, dmesg, proc_path)
        result["source_used"] = "dmesg"
    elif source == "auto":
        events, used, used_path = _auto(run_command, which, warn, since, proc_path, log_files)
        result.update(source_used=used, source_path=used_path)
    else:
        raise KernelLogError("unknown source %r" % (source,))
    result["events"] = select(events, since, limit)
    return result


def _auto(run_command, which, warn, since, proc_path, log_files):
    reasons = []
    journalctl = which("journalctl")
    if journalctl:
        try:
            events, has_messages = read_journal(run_command, journalctl, since, proc_path)
        except KernelLogError as exc:
            warn("source=auto: skipping the journal: %s" % exc)
            reasons.append("journal: %s" % exc)
        else:
            if has_messages:
                return events, "journal", None
            reasons.append("journal: no kernel messages")
    else:
        reasons.append("journal: journalctl not found")
    dmesg = which("dmesg")
    if dmesg:
        try:
            return read_dmesg(run_command, dmesg, proc_path), "dmesg", None
        except KernelLogError as exc:
            warn("source=auto: skipping dmesg: %s" % exc)
            reasons.append("dmesg: %s" % exc)
    else:
        reasons.append("dmesg: not found")
    for candidate in log_files:
        if not os.path.exists(candidate):
            continue
        try:
            return read_file(candidate), "file", candidate
        except KernelLogError as exc:
            warn("source=auto: skipping %s: %s" % (candidate, exc))
            reasons.append(str(exc))
    reasons.append("none of %s is readable" % ", ".join(log_files))
    # A container without CAP_SYSLOG and without a journal is a normal host to audit: report that the kill
    # history is unknown (source_used null) instead of failing, and let the kernel's counter speak.
    warn("source=auto: no kernel log could be read (%s); the OOM kill history of this host is unknown"
         % "; ".join(reasons))
    return [], None, None
