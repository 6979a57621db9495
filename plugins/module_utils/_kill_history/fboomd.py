# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Facebook's oomd (facebookincubator/oomd, v0.2 to today): it kills a cgroup.

Its OLOG lines carry the source file and line (`[../src/oomd/plugins/BaseKillPlugin.cpp:96] ...`):
`Picked "<cgroup>" (<N>MB) based on <size|growth|pressure|swap> ...`, `Trying to kill <cgroup>`, and
`Killed <n>: <pid>(<comm>) ...`; one line per kill also goes to the kernel log: `oomd kill: <p10> <p60> <p300>
<cgroup> <bytes> ruleset:[...] detectorgroup:[...] killer:<plugin> v2`. One kill is one event: the kernel-log
line, or a `Killed <n>:` line with n > 0 (`Killed 0:` killed nothing), and both of the same kill are one event.
Not kills: `OOMD: In dry-run mode; would have tried to kill ...`.
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import (
    accepts, new_event, unit_of_path,
)

KILLER = "oomd"
IDENTS = ("oomd", "kernel")
MARKERS = ("oomd kill: ", "] Picked \"", "] Killed ", "] Trying to kill ")
FOLD_WINDOW = 10.0

_OLOG_RE = re.compile(r"^\[[^\]\s]+:\d+\]\s*")
_KMSG_RE = re.compile(r"^oomd kill: [\d.]+ [\d.]+ [\d.]+ (?P<cg>\S+) \d+ .*?killer:(?P<plugin>\S+)")
_PICKED_RE = re.compile(r'^Picked "(?P<cg>[^"]+)" \(\d+MB\) based on (?P<basis>\S+)')
_TRYING_RE = re.compile(r"^Trying to kill (?P<cg>\S+)")
_KILLED_RE = re.compile(r"^Killed (?P<n>\d+):(?P<pids>.*)$")
_PID_RE = re.compile(r"(\d+)\((.*?)\)(?:\[E\d+\])?(?=\s|$)")


class Grammar:
    def __init__(self):
        self.events = []
        self.target = {}

    def feed(self, record):
        if not accepts(record, IDENTS):
            return
        text = record.text.strip()
        match = _KMSG_RE.match(text)
        if match:
            if record.ident == "oomd":
                return
            self._kmsg(match, record.ts, text)
            return
        if record.ident == "kernel":
            return
        match = _OLOG_RE.match(text)
        if not match:
            return
        text = text[match.end():]
        match = _PICKED_RE.match(text)
        if match:
            self.target = {"cg": match.group("cg"), "reason": _reason(match.group("basis")), "ts": record.ts}
            return
        match = _TRYING_RE.match(text)
        if match:
            self.target.setdefault("cg", match.group("cg"))
            self.target.setdefault("ts", record.ts)
            return
        match = _KILLED_RE.match(text)
        if match and int(match.group("n")) == 0:
            self.target = {}  # nothing killed: the next kill picks its own target
        elif match:
            pids = _PID_RE.findall(match.group("pids"))
            fields = {"pid": int(pids[0][0]), "name": pids[0][1]} if len(pids) == 1 else {}
            event = self._partner("kmsg", record.ts)
            if event is None:
                cgroup = self.target.get("cg")
                event = new_event(KILLER, record.ts, record.text, cgroup=cgroup, unit=unit_of_path(cgroup),
                                  reason=self.target.get("reason") or "unknown", signal="SIGKILL")
                event["_has"] = "killed"
                self.events.append(event)
            event.update(fields)
            self.target = {}

    def _kmsg(self, match, ts, text):
        cgroup = match.group("cg")
        event = self._partner("killed", ts)
        if event is None:
            event = new_event(KILLER, ts, text, cgroup=cgroup, unit=unit_of_path(cgroup),
                              reason=_reason(match.group("plugin")) or "unknown", signal="SIGKILL")
            self.events.append(event)
        event["_has"] = "both" if event.get("_has") == "killed" else "kmsg"
        if event["reason"] == "unknown":
            event["reason"] = _reason(match.group("plugin")) or "unknown"

    def _partner(self, has, ts):
        """The event of the same kill read from its other line, if that came first."""
        for event in reversed(self.events[-4:]):
            if event.get("_has") == has and (ts is None or event["timestamp"] is None
                                             or abs(ts - event["timestamp"]) <= FOLD_WINDOW):
                return event
        return None

    def finish(self):
        for event in self.events:
            event.pop("_has", None)
        return self.events


def _reason(basis):
    basis = basis.lower()
    if "swap" in basis:
        return "swap"
    if "pressure" in basis:
        return "pressure"
    if "size" in basis or "growth" in basis or "memory" in basis:
        return "memory"
    return None
