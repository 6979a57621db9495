# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""systemd-oomd's kills (systemd v247 to v261), with PID 1's and the user managers' lines about them.

oomd kills a cgroup (SIGKILL to every process in it) and names no pid. One event per kill line:
- v248-v259 `Killed <cgroup> due to memory pressure for <monitored> being N.NN% > N.NN% for > <time> with
  reclaim activity`; swap rule v248 `Killed <cgroup> due to swap used (N) / total (N) being more than N.NN%`,
  v249+ `... due to memory used (N) / total (N) and swap used (N) / total (N) being more than N.NN%`;
- v260+ the same with `Marked <cgroup> for killing due to ...`;
- v247 (and v248-rc) printed only the decision, before killing: `Memory pressure for <monitored> is greater
  than N for more than N seconds and there was reclaim activity` / `Swap used (N) / total (N) is more than N%`.
  That line is the kill's only record, so it is the event (`line: decision`, `cgroup` the monitored one), unless
  `Failed to kill any cgroup(s) ...` follows it.
PID 1's / a user manager's `<unit>: systemd-oomd killed N process(es) in this unit.` and `<unit>: Failed with
result 'oom-kill'.` belong to the kill of that unit and fold into its event; without any oomd line for it, the
first is the event (`line: unit`). Not kills: the candidate dump (`Considered N cgroups ...`, `Path: ...`), the
v248+ DEBUG line `Memory pressure for ... is ... for > ...`, dry-run and prekill-hook lines, `Failed to kill ...`,
PID 1's `Killing process N (comm) with signal SIGKILL.` and `Main process exited, code=killed, status=9/KILL`.
"""

from __future__ import annotations

import bisect
import re

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import (
    accepts, new_event, unit_of_path,
)

KILLER = "systemd-oomd"
IDENTS = ("systemd-oomd", "systemd")
MARKERS = ("due to ", "Memory pressure for ", "Swap used (", "Failed to kill any cgroup", "systemd-oomd killed ",
           "Failed with result 'oom-kill'")
# How far apart oomd's line and PID 1's lines about the same kill may be (PID 1 notices when it reaps a child
# or when the cgroup becomes empty).
FOLD_WINDOW = 60.0
# How many oomd events on each side of a PID 1 line's time it may belong to.
LOOKAROUND = 32

# Only the start of the tail is required: pastes of `journalctl` often cut long lines ("... being 62.11% > 5>").
_KILL_RE = re.compile(r"^(?:Killed (?P<cg>.+?)|Marked (?P<marked>.+?) for killing) due to (?:(?P<pressure>memory "
                      r"pressure for )|(?P<swap>swap used \(|memory used \(\d+\) / total \(\d+\) and swap used))")
_DECISION_PRESSURE_RE = re.compile(
    r"^Memory pressure for (?P<mon>.+?) is greater than \d+ for more than \d+ seconds and there was reclaim activity")
_DECISION_SWAP_RE = re.compile(r"^Swap used \(\d+\) / total \(\d+\) is more than \d+%")
_FAILED_PRESSURE_RE = re.compile(r"^Failed to kill any cgroups?(?:\(s\))? under (?P<mon>.+?) based on pressure")
_FAILED_SWAP_RE = re.compile(r"^Failed to kill any cgroups?(?:\(s\))? based on swap")
_UNIT_KILLED_RE = re.compile(r"^(?P<unit>\S+): systemd-oomd killed (?:\d+|some) process\(es\) in this unit\.")
_UNIT_FAILED_RE = re.compile(r"^(?P<unit>\S+): Failed with result 'oom-kill'\.")


class Grammar:
    def __init__(self):
        self.events = []
        self.notes = []  # (ts, unit, kind, raw) of PID 1's lines, matched to oomd's events at the end
        self.last_decision = None

    def feed(self, record):
        if not accepts(record, IDENTS):
            return
        text = record.text.strip()
        if record.ident != "systemd":
            if self._oomd_line(text, record.ts):
                return
        if record.ident != "systemd-oomd":
            match = _UNIT_KILLED_RE.match(text) or _UNIT_FAILED_RE.match(text)
            if match:
                kind = "killed" if match.re is _UNIT_KILLED_RE else "failed"
                self.notes.append((record.ts, match.group("unit"), kind, text))

    def _oomd_line(self, text, ts):
        match = _KILL_RE.match(text)
        if match:
            cgroup = match.group("cg") or match.group("marked")
            self.events.append(new_event(
                KILLER, ts, text, cgroup=cgroup, unit=unit_of_path(cgroup),
                reason="pressure" if match.group("pressure") else "swap", signal="SIGKILL"))
            return True
        match = _DECISION_PRESSURE_RE.match(text) or _DECISION_SWAP_RE.match(text)
        if match:
            pressure = match.re is _DECISION_PRESSURE_RE
            event = new_event(KILLER, ts, text, line="decision", cgroup=match.group("mon") if pressure else None,
                              reason="pressure" if pressure else "swap", signal="SIGKILL")
            self.events.append(event)
            self.last_decision = event
            return True
        match = _FAILED_PRESSURE_RE.match(text) or _FAILED_SWAP_RE.match(text)
        if match:
            decision = self.last_decision
            # The decision was printed before a kill that then failed: no kill.
            if decision is not None and decision["reason"] == ("pressure" if match.re is _FAILED_PRESSURE_RE else "swap") \
                    and (match.re is _FAILED_SWAP_RE or decision["cgroup"] == match.group("mon")) \
                    and _near(decision["timestamp"], ts, FOLD_WINDOW):
                self.events.remove(decision)
            self.last_decision = None
            return True
        return False

    def finish(self):
        # Events in time order, so that each PID 1 line looks only at the oomd events near it (linear overall).
        timed = sorted((e for e in self.events if e["timestamp"] is not None), key=lambda e: e["timestamp"])
        times = [e["timestamp"] for e in timed]
        untimed = [e for e in self.events if e["timestamp"] is None]
        for ts, unit, kind, raw in self.notes:
            if ts is None:
                candidates = untimed[-LOOKAROUND:]
            else:
                at = bisect.bisect_left(times, ts)
                candidates = timed[max(0, at - LOOKAROUND):at + LOOKAROUND]
            event = _owner(candidates, ts, unit, kind)
            if event is not None:
                if event["unit"] is None:
                    event["unit"] = unit
            elif kind == "killed":
                # oomd's own line is not in the log (a paste of PID 1's lines): PID 1's line is the record.
                # Later lines about the same unit (its "Failed with result") fold into it.
                event = new_event(KILLER, ts, raw, line="unit", unit=unit, signal="SIGKILL", reason="unknown")
                self.events.append(event)
                if ts is None:
                    untimed.append(event)
                else:
                    at = bisect.bisect_right(times, ts)
                    times.insert(at, ts)
                    timed.insert(at, event)
        self.events.sort(key=lambda e: (e["timestamp"] is None, e["timestamp"] or 0))
        return self.events


def _owner(candidates, ts, unit, kind):
    """The event a PID 1 line about `unit` at `ts` belongs to: the nearest in time that killed that unit or a
    cgroup holding it, else the nearest oomd kill or decision at all (a killed slice or user@.service holds
    units its path does not name; a decision line names no killed cgroup). `Failed with result 'oom-kill'`
    also follows kernel kills, so it only joins an event that names its unit. None when there is none."""
    near = [e for e in candidates if _near(e["timestamp"], ts, FOLD_WINDOW)
            and (e["line"] != "unit" or e["unit"] == unit)]
    named = [e for e in near if e["unit"] == unit or _names(e["cgroup"], unit)]
    if kind == "failed":
        near = []
    if not (named or near):
        return None
    return min(named or near, key=lambda e: abs((e["timestamp"] or 0) - (ts or 0)))


def _names(cgroup, unit):
    return bool(cgroup) and unit in cgroup.strip("/").split("/")


def _near(first, second, window):
    if first is None or second is None:
        return first is None and second is None
    return abs(first - second) <= window
