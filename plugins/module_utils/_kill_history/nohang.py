# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""nohang's kills (v0.1 of 2018 to today): one process per kill, written over several lines.

The journal (identifier `nohang` or `nohang-desktop`) gets each line of a message as its own entry; nohang's own
log file (`separate_log`) timestamps the first line of a message and not its continuation lines. One event per
signal line, carrying the victim the lines before it described:
- v0.1: `Victim is %s, pid: %d, badness: ..., VmRSS: ...` then `Sending SIGTERM to the victim; OK; response ...`;
- 2019-2020 development: `PID: %d, Name: %s, badness: ...` (or a `Victim status` block with `Name:`, `PID:`,
  `CGroup_v2:` lines), then `Send SIGTERM to the victim; total response time: ...`;
- v0.2.0 .. today: `Victim status (found in Nms):` / `PID:       %d, name: %s, state: ..., EUID: ...` /
  `badness:   ..., oom_score:  ..., oom_score_adj:  %d` / ... / `cgroup_v2: %s` (labels padded with spaces),
  then `Implementing a corrective action:` / `Sending SIGTERM|SIGKILL to the victim`, then `The victim died in
  ...` (folded).
The reason is the decision line's: MemAvailable (memory), SwapFree (swap), PSI (pressure). Not kills: the
statistics counters (`[ OK ] Sending SIGTERM to <name>: <count>`, 2019 `Send SIGTERM to <name>: <count>`),
`... badness ... < min_badness ...; nothing to do`, `Selected process died before corrective action`, and
`Executing the command: ...` / `Run the command: ...` (a command the user configured, not a signal).
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import (
    accepts, new_event, signal_name, unit_of_path,
)

KILLER = "nohang"
IDENTS = ("nohang", "nohang-desktop")
MARKERS = ("victim", "Victim", "PID:", "Name:", "name:", "oom_score_adj", "cgroup_v2:", "CGroup_v2:",
           "MemAvailable", "SwapFree", "PSI", "corrective action", "min_badness")
# Victim details older than this belong to another decision.
VICTIM_MAX_AGE = 60.0

_SEND_RE = re.compile(r"^(?:Sending|Send) (?P<sig>SIG[A-Z0-9]+) to the victim(?:;|\s*$)")
_V01_VICTIM_RE = re.compile(r"^Victim is (?P<name>.*), pid: (?P<pid>\d+), badness: -?\d+")
# v0.2.0+ pads its labels into columns (`PID:       433, name: ...`, `badness:   1570, oom_score:  1570,
# oom_score_adj:  1000`); the 2019 one-liner has one space.
_PID_NAME_RE = re.compile(r"^PID:\s+(?P<pid>\d+), [Nn]ame: (?P<name>.*?)(?:, (?:state|badness): .*)?$")
_PID_RE = re.compile(r"^PID:\s+(?P<pid>\d+)\s*$")
_NAME_RE = re.compile(r"^Name:\s+(?P<name>.*?)\s*$")
_ADJ_RE = re.compile(r"(?:^|, )oom_score_adj:\s+(?P<adj>-?\d+)")
_CGROUP_V2_RE = re.compile(r"^(?:cgroup_v2|CGroup_v2):\s*(?P<cg>\S*)\s*$")
_NOTHING_RE = re.compile(r"nothing to do$|^Selected process died before corrective action")
_DECISION_RE = re.compile(r"^(?:Low memory; corrective action required!|Memory status that requires corrective "
                          r"actions:|Implement a corrective action:)")


class Grammar:
    def __init__(self):
        self.events = []
        self.victim = {}
        self.reason = None
        self.ts = None

    def feed(self, record):
        if not accepts(record, IDENTS):
            return
        if record.ts is not None:
            self.ts = record.ts
        ts = self.ts
        text = record.text.strip()
        match = _SEND_RE.match(text)
        if match:
            self._kill(match, ts, text)
            return
        if _NOTHING_RE.search(text):
            self.victim = {}
            return
        if _DECISION_RE.match(text):
            if not text.startswith("Implement a corrective action"):
                self.reason = None
            return
        if text.startswith(("MemAvailable", "SwapFree", "PSI", "Swap")):
            self.reason = self.reason or _reason(text)
            return
        match = _V01_VICTIM_RE.match(text) or _PID_NAME_RE.match(text)
        if match:
            self.victim = {"pid": int(match.group("pid")), "name": match.group("name"), "ts": ts}
            return
        match = _PID_RE.match(text)
        if match:
            self._victim(ts)["pid"] = int(match.group("pid"))
            return
        match = _NAME_RE.match(text)
        if match:
            self._victim(ts)["name"] = match.group("name")
            return
        match = _CGROUP_V2_RE.match(text)
        if match:
            self._victim(ts)["cgroup"] = match.group("cg") or None
            return
        match = _ADJ_RE.search(text)
        if match and text.startswith("badness"):
            self._victim(ts)["oom_score_adj"] = int(match.group("adj"))

    def _victim(self, ts):
        if not self.victim:
            self.victim = {"ts": ts}
        return self.victim

    def _kill(self, match, ts, text):
        victim = self.victim
        if victim and ts is not None and victim.get("ts") is not None and ts - victim["ts"] > VICTIM_MAX_AGE:
            victim = {}
        cgroup = victim.get("cgroup")
        self.events.append(new_event(
            KILLER, ts, text, pid=victim.get("pid"), name=victim.get("name"),
            oom_score_adj=victim.get("oom_score_adj"), cgroup=cgroup, unit=unit_of_path(cgroup),
            reason=self.reason or "unknown", signal=signal_name(match.group("sig"))))
        self.victim = {}
        self.reason = None

    def finish(self):
        return self.events


def _reason(text):
    if text.startswith("MemAvailable"):
        return "memory"
    if text.startswith(("SwapFree", "Swap")):
        return "swap"
    if text.startswith("PSI"):
        return "pressure"
    return None
