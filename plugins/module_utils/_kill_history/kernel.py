# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""OOM kill events from the kernel log: the journal, dmesg, or a syslog file.

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

import datetime
import gzip
import json
import os
import re
import time

from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_of_cgroup

SOURCES = ("auto", "journal", "dmesg", "file")
LOG_FILES = ("/var/log/kern.log", "/var/log/messages", "/var/log/syslog")
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


class KernelLogError(Exception):
    """A kernel log source could not be read; the message says which and why."""


class Record:
    """One message: `ts` (epoch seconds or None), `text` (the message without any prefix), `boot`, and `ident`:
    the syslog identifier ("kernel", or a program such as "systemd-oomd"), None when the line names none."""

    __slots__ = ("ts", "text", "boot", "ident")

    def __init__(self, ts, text, boot=None, ident=None):
        self.ts = ts
        self.text = text
        self.ident = ident
        self.boot = boot

    def __repr__(self):
        return "Record(%r, %r, %r)" % (self.ts, self.text, self.boot)


# ---------------------------------------------------------------------------------------------------------
# Line prefixes: timestamps, syslog host and tag, dmesg's [seconds] and CONFIG_PRINTK_CALLER's [T123]/[C1].

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# dmesg -T and journalctl's short output write the month with strftime's %b in the reader's locale: these are
# glibc's abbreviations (lower case, without the trailing dot) for the locales people paste logs from. Chinese,
# Japanese and Korean write the month number with a suffix (12月, 12월), which needs no table.
_LOCALE_MONTHS = {}
for _names in (
        "jan feb mar apr may jun jul aug sep oct nov dec",  # English
        "jan feb mär apr mai jun jul aug sep okt nov dez",  # German
        "janv févr mars avril mai juin juil août sept oct nov déc",  # French
        "ene feb mar abr may jun jul ago sep oct nov dic",  # Spanish
        "gen feb mar apr mag giu lug ago set ott nov dic",  # Italian
        "jan fev mar abr mai jun jul ago set out nov dez",  # Portuguese
        "jan feb mrt apr mei jun jul aug sep okt nov dec",  # Dutch
        "sty lut mar kwi maj cze lip sie wrz paź lis gru",  # Polish
        "янв фев мар апр мая июн июл авг сен окт ноя дек",  # Russian (genitive: мая)
        "січ лют бер кві тра чер лип сер вер жов лис гру",  # Ukrainian
        "led úno bře dub kvě čen čec srp zář říj lis pro",  # Czech
        "jan feb mar apr maj jun jul aug sep okt nov dec",  # Swedish, Danish, Norwegian
):
    for _number, _name in enumerate(_names.split(), 1):
        _LOCALE_MONTHS.setdefault(_name, _number)
_CJK_MONTH_RE = re.compile(r"^(\d{1,2})[月월]$")
_DAY_RE = re.compile(r"^(\d{1,2})[.日일]?$")


def _month_number(token):
    """1..12 for a month as a locale's %b writes it, else None."""
    match = _CJK_MONTH_RE.match(token)
    if match:
        number = int(match.group(1))
        return number if 1 <= number <= 12 else None
    return _LOCALE_MONTHS.get(token.lower().rstrip("."))


_PRIORITY_RE = re.compile(r"<\d{1,3}>")
_DECODED_LEVEL_RE = re.compile(
    r"(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|res0|res1|res2|res3|res4|res5|"
    r"res6|res7|local[0-7])\s*:(?:emerg|alert|crit|err|warn|notice|info|debug)\s*: ")
_ISO_TS_RE = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d(?::?\d\d)?)?)\s+")
_TRAD_TS_RE = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?\s+")
_UNIX_TS_RE = re.compile(r"(\d{9,11}\.\d{1,9})\s+")
# dmesg -T: strftime("%a %b %e %H:%M:%S %Y") in the reader's locale, and translations of util-linux may reorder
# the fields, so any short bracketed prefix holding a clock and a year is a time (never a message: the kernel
# prints no such prefix, and its own bracketed columns hold no clock).
_CTIME_TS_RE = re.compile(
    r"\[(?P<before>[^\[\]:]{0,40}?)\s*(?P<clock>\d{1,2}:\d\d:\d\d)\s+(?P<year>\d{4})\s*\]\s?")
# journalctl's short output and some syslog daemons: the month in the reader's locale ("wrz 13 15:08:56 host ...";
# Japanese and Korean %b pads single-digit months with a space: " 1月 07 ...").
_LOCALE_TRAD_TS_RE = re.compile(
    r" ?(?P<month>[^\W\d_][^\s\d.]{1,5}\.?|\d{1,2}[月월]) +(?P<day>\d{1,2})日? (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?\s+")
# busybox syslogd may add the facility and level before the tag: "host kern.warn kernel: ...".
_KERNEL_TAG_RE = re.compile(r"\S+ (?:[a-z0-9]+\.[a-z]+ )?kernel(?:\[\d+\])?: ?")
_OTHER_TAG_RE = re.compile(r"\S+ [^\s\[\]:]+(?:\[\d+\])?: ")
_UPTIME_RE = re.compile(r"\[\s*(\d+\.\d+)\]\s?")
_CALLER_RE = re.compile(r"\[\s*[TC]\d+\]\s?")


_ISO_FULL_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d)(?:[Tt ](\d\d:\d\d(?::\d\d)?)(?:[.,](\d+))?)?\s*([Zz]|[+-]\d\d(?::?\d\d)?)?$")


def iso_to_epoch(value):
    """Epoch seconds of an ISO 8601 / RFC 3339 time; a time without offset is the host's local time.

    Accepts ',' or '.' fractions of any length, 'Z', '+01:00' and '+0100' (Python 3.8's fromisoformat
    accepts none of the last three variations).
    """
    match = _ISO_FULL_RE.match(value.strip())
    if not match:
        raise ValueError("not an ISO 8601 time: %r" % value)
    date, clock, fraction, offset = match.groups()
    clock = clock or "00:00:00"
    text = date + "T" + clock + (":00" if clock.count(":") == 1 else "")
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if offset is None:
        return time.mktime(dt.timetuple()) + micro / 1e6
    if offset in ("Z", "z"):
        seconds = 0
    else:
        digits = offset[1:].replace(":", "")
        seconds = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
        if offset[0] == "-":
            seconds = -seconds
    return _utc_epoch(dt) - seconds + micro / 1e6


def _utc_epoch(dt):
    return (dt - datetime.datetime(1970, 1, 1)).total_seconds()


def _ctime_to_epoch(match):
    """dmesg -T's time in any locale: the clock and year, the day number, and the month from the other words.

    None when no word is a month this module knows (the prefix is still removed from the message).
    """
    hour, minute, second = (int(part) for part in match.group("clock").split(":"))
    tokens = match.group("before").split()
    day = month = None
    for index in range(len(tokens) - 1, -1, -1):
        found = _DAY_RE.match(tokens[index])
        if found and day is None:
            day = int(found.group(1))
            continue
        # The weekday comes first in every locale's order; "mar" is Tuesday in French and Spanish.
        if month is None and (index > 0 or len(tokens) < 3):
            month = _month_number(tokens[index])
    if day is None or month is None:
        return None
    try:
        return time.mktime((int(match.group("year")), month, day, hour, minute, second, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _trad_to_epoch(match, ref_time):
    """`Nov 25 21:48:05` (no year): the year that puts it at or before the reference time (the file's mtime)."""
    month = _MONTHS.get(match.group(1)) or _month_number(match.group(1))
    day = int(match.group(2))
    hour, minute, second = int(match.group(3)), int(match.group(4)), int(match.group(5))
    ref = ref_time if ref_time is not None else time.time()
    year = time.localtime(ref).tm_year
    for candidate in (year, year - 1):
        try:
            stamp = time.mktime((candidate, month, day, hour, minute, second, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        # Two days of slack: clocks and time zones of the writer and of this host may differ.
        if stamp <= ref + 2 * 86400:
            break
    return stamp + float("0." + (match.group(6) or "0"))


def _locale_trad_match(text):
    match = _LOCALE_TRAD_TS_RE.match(text)
    if match and _month_number(match.group("month")) is not None:
        return match
    return None


def split_line(line, boot_time=None, ref_time=None):
    """Split one log line into (epoch or None, message); None for a syslog line of another program.

    Handles, in this order: dmesg -r's `<6>`, dmesg -x's `kern  :info  : `, a timestamp (ISO 8601 from
    dmesg/rsyslog/journalctl short-iso, traditional syslog and journalctl short/short-precise -- month names in
    several locales --, short-unix, dmesg -T's `[Tue Nov 25 ...]` in any locale), a syslog `host kernel:` (a line with another tag is not a kernel line),
    dmesg's `[  123.456789]` (added to `boot_time` when the line had no absolute time; journalctl
    short-monotonic puts it before the host) and CONFIG_PRINTK_CALLER's `[T123]` / `[C1]`.
    """
    ts, ident, text = split_tagged(line, boot_time, ref_time)
    if ident is not None and ident != "kernel":
        return None
    return ts, text


# Python logging's default asctime, as in nohang's own log file: "2026-11-25 21:48:05,123: message".
_PYLOG_TS_RE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): ")
# A program's syslog tag: "host ident[pid]: " (busybox may add "daemon.info " before it).
_TAG_RE = re.compile(r"\S+ (?:[a-z0-9]+\.[a-z]+ )?(?P<ident>[^\s\[\]:]+)(?:\[\d+\])?: ?")
# After journalctl short-monotonic's "[ 123.456789]" only a tag with a pid counts (dmesg lines such as
# "usb 1-1: ..." would look like "host tag: ").
_PID_TAG_RE = re.compile(r"\S+ (?P<ident>[^\s\[\]:]+)\[\d+\]: ?")
_BARE_PID_TAG_RE = re.compile(r"(?P<ident>[^\s\[\]:]+)\[\d+\]: ?")


def split_tagged(line, boot_time=None, ref_time=None):
    """(epoch or None, identifier, message) of one log line of any program: the one place that strips prefixes.

    The identifier is "kernel" for a line tagged `kernel`, the program's syslog tag (`systemd-oomd`, `earlyoom`,
    `systemd`, ...) for another program's line, and None for a line without a tag (dmesg output, a bare
    message, a continuation line of a program's own log file). For a kernel or untagged line the message is
    what split_line returns.
    """
    text = line.rstrip("\r\n")
    ts = None
    syslog_style = False
    ident = None
    match = _PRIORITY_RE.match(text)
    if match:
        text = text[match.end():]
    match = _DECODED_LEVEL_RE.match(text)
    if match:
        text = text[match.end():]
    match = _ISO_TS_RE.match(text)
    if match:
        try:
            ts = iso_to_epoch(match.group(1))
        except ValueError:
            ts = None
        # dmesg --time-format iso writes a comma fraction and no host; syslog and journalctl write a dot or none.
        syslog_style = "," not in match.group(1)
        text = text[match.end():]
    else:
        match = _TRAD_TS_RE.match(text) or _UNIX_TS_RE.match(text) or _locale_trad_match(text)
        if match:
            ts = float(match.group(1)) if match.re is _UNIX_TS_RE else _trad_to_epoch(match, ref_time)
            syslog_style = True
            text = text[match.end():]
        else:
            match = _CTIME_TS_RE.match(text)
            if match:
                ts = _ctime_to_epoch(match)
                text = text[match.end():]
            else:
                match = _PYLOG_TS_RE.match(text)
                if match:
                    ts = iso_to_epoch(match.group(1))
                    return ts, None, text[match.end():]
    tagged = _KERNEL_TAG_RE.match(text)
    if tagged:
        text = text[tagged.end():]
        ident = "kernel"
    elif syslog_style:
        # A paste may have lost the host ("Apr 16 21:08:50 systemd-oomd[612]: ..."): a tag with a pid still counts.
        other = _TAG_RE.match(text) or _BARE_PID_TAG_RE.match(text)
        if other:
            return ts, other.group("ident"), text[other.end():]
    match = _UPTIME_RE.match(text)
    if match:
        if ts is None and boot_time is not None:
            ts = boot_time + float(match.group(1))
        text = text[match.end():]
        if not tagged:  # journalctl -o short-monotonic: "[ 123.456789] host kernel: ..."
            tagged = _KERNEL_TAG_RE.match(text)
            if tagged:
                text = text[tagged.end():]
                ident = "kernel"
            else:
                other = _PID_TAG_RE.match(text) or _BARE_PID_TAG_RE.match(text)
                if other:
                    return ts, other.group("ident"), text[other.end():]
    match = _CALLER_RE.match(text)
    if match:
        text = text[match.end():]
    return ts, ident, text


# Lines the grouping looks at; everything else (stack traces, Mem-Info, ...) is dropped early.
_INTERESTING_RE = re.compile(
    r"invoked oom-killer|oom-kill:|Killed process|Kill process|oom_reaper|^Task in |^Tasks in |"
    r"^Linux version |^CPU: |^Tasks state|^\[\s*pid\s*\]|^\[\s*\d+\]\s+\d+\s+\d+\s|^,|"
    r"no killable processes|is already exiting")


def _interesting(text):
    return _INTERESTING_RE.search(text) is not None


def records_from_text(lines, boot_time=None, ref_time=None):
    """Records from dmesg or log-file text (a string or an iterable of lines), kernel lines only."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    records = []
    for line in lines:
        parsed = split_line(line, boot_time=boot_time, ref_time=ref_time)
        if parsed is None or not _interesting(parsed[1]):
            continue
        records.append(Record(parsed[0], parsed[1]))
    return records


def journal_entries(text):
    """Records of every entry of `journalctl -o json` output (one JSON object per line), in order, with
    `ident` "kernel" for the kernel's messages (`_TRANSPORT=kernel`) and the entry's SYSLOG_IDENTIFIER for others."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journald encodes messages that are not valid UTF-8 as byte arrays
            try:
                message = bytes(message).decode("utf-8", "replace")
            except (TypeError, ValueError):
                continue
        if not isinstance(message, str):
            continue
        message = message.rstrip("\n")
        ident = entry.get("SYSLOG_IDENTIFIER")
        if entry.get("_TRANSPORT") == "kernel" or ident is None or ident == "kernel":
            ident = "kernel"
            match = _CALLER_RE.match(message)
            if match:
                message = message[match.end():]
        try:
            ts = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        except (KeyError, TypeError, ValueError):
            ts = None
        yield Record(ts, message, entry.get("_BOOT_ID"), ident)


def records_from_journal_json(text):
    """Kernel records from `journalctl -o json` output (one JSON object per line)."""
    return [record for record in journal_entries(text) if record.ident == "kernel" and _interesting(record.text)]


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


def iso(ts):
    return _iso(ts)


def _iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


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


# ---------------------------------------------------------------------------------------------------------
# since / limit

_DURATION_RE = re.compile(r"^(?:(\d+)\s*([smhdw])\s*)+$")
_DURATION_PART_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(value, now=None):
    """Epoch seconds for `since`: a duration back from now (`90s`, `30m`, `2h`, `7d`, `1w`, `1h30m`) or an
    ISO 8601 time (`2026-11-25`, `2026-11-25T08:00:00`, `...Z`, `...+01:00`; no offset = the host's local
    time). Raises ValueError with a message suitable for the user."""
    text = str(value).strip().lower()
    now = time.time() if now is None else now
    if _DURATION_RE.match(text):
        return now - sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text))
    try:
        return iso_to_epoch(str(value))
    except ValueError:
        pass
    raise ValueError(
        "%r is neither a duration (a number with s, m, h, d or w, like 30m, 2h, 7d or 1h30m) nor an ISO 8601 "
        "time (like 2026-11-25, 2026-11-25T08:00:00 or 2026-11-25T08:00:00+01:00)" % (value,))


def select(events, since=None, limit=None):
    """Events at or after `since` (epoch; events of unknown time are kept), then the last `limit` of them."""
    if since is not None:
        events = [e for e in events if e["timestamp"] is None or e["timestamp"] >= since]
    if limit is not None:
        events = events[-limit:] if limit else []
    return list(events)


# ---------------------------------------------------------------------------------------------------------
# Sources. `run_command(argv) -> (rc, stdout, stderr)`, `which(name) -> path or None`.

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
