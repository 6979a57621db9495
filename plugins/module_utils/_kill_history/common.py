# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""What every userspace killer's grammar shares: the event record and the "one kill = one event" helpers.

A grammar (one `_killer_<name>.py` per killer) has `KILLER`, `IDENTS` (the syslog identifiers its lines carry),
`MARKERS` (substrings one of which every line it reads contains: a cheap pre-filter before any regex) and a
`Grammar` class whose `feed(record)` takes the records, in log order, of the lines that passed the pre-filter
and whose `finish()` returns its events. Records come from lines.py's prefix parsing (`Record`: ts, text,
ident); a record without an identifier (a paste, dmesg-style or a killer's own log file) may be any killer's.

Standard library only: this runs on target hosts (Python >= 3.8).
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.kernel import EVENT_FIELDS
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.lines import iso
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_name_error

SIGNAL_NAMES = {"9": "SIGKILL", "15": "SIGTERM", "KILL": "SIGKILL", "TERM": "SIGTERM"}


def new_event(killer, ts, raw, line="kill", **fields):
    """An event with every field null except those given (nothing the log did not say is filled in)."""
    event = dict.fromkeys(EVENT_FIELDS)
    event.update(time=iso(ts), timestamp=ts, killer=killer, line=line, raw=raw.strip())
    event.update(fields)
    return event


def signal_name(value):
    """SIGTERM / SIGKILL from `SIGTERM`, `15`, `KILL`...; other signals keep their SIG name; None for None."""
    if value is None:
        return None
    value = str(value).strip()
    if value.startswith("SIG"):
        return value
    return SIGNAL_NAMES.get(value, value if not value.isdigit() else "signal %s" % value)


def stronger(first, second):
    """The signal a kill ended with: SIGKILL once any line escalated to it."""
    if "SIGKILL" in (first, second):
        return "SIGKILL"
    return first or second


def unit_of_path(cgroup):
    """The systemd unit a cgroup path ends in: its innermost component that is a unit name, kept escaped
    (`app-gnome-google\\x2dchrome-11396.scope`); None for a path without one."""
    if not cgroup:
        return None
    for part in reversed(cgroup.strip().strip("/").split("/")):
        if "." in part and unit_name_error(part) is None:
            return part
    return None


def accepts(record, idents):
    """Whether a record may be this killer's: its identifier is one of `idents`, or it has none."""
    return record.ident is None or record.ident in idents


def has_marker(text, markers):
    for marker in markers:
        if marker in text:
            return True
    return False
