# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Kernel log lines as records: the line prefixes (timestamps in every clock a log uses, syslog host and tag,
dmesg's [seconds] and CONFIG_PRINTK_CALLER's [T123]/[C1]), the journal's JSON export, and the times a
caller asks for (`since`). No grammar here: kernel.py and each killer's module read the messages.
Standard library only: this runs on target hosts (Python >= 3.8).
"""

from __future__ import annotations

import datetime
import json
import re
import time


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


def interesting(text):
    return _INTERESTING_RE.search(text) is not None


def records_from_text(lines, boot_time=None, ref_time=None):
    """Records from dmesg or log-file text (a string or an iterable of lines), kernel lines only."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    records = []
    for line in lines:
        parsed = split_line(line, boot_time=boot_time, ref_time=ref_time)
        if parsed is None or not interesting(parsed[1]):
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
    return [record for record in journal_entries(text) if record.ident == "kernel" and interesting(record.text)]


def iso(ts):
    return _iso(ts)


def _iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


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
