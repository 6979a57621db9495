# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""earlyoom's kills (v0.x to v1.9): one process per kill, one event per pid.

Kill lines, by version:
- v1.0 `Killing process %d %s` (always signal 9);
- v1.1 `Killing process: %s, pid: %d, badness: %d, VmRSS: %lu MiB` (signal 9);
- v1.2 `Killing process '%s' with signal %d, pid: %d, badness: %d, VmRSS: %lu MiB`;
- 2019 development `killing process %d "%s" with signal %d: badness %d, VmRSS %lu MiB`;
- v1.3 `sending %s to process %d "%s": badness %d, VmRSS %lu MiB`, v1.4-v1.7 with `uid %d` after the pid,
  v1.8 `... oom_score %d, VmRSS %lld MiB, cmdline "%s"`, v1.9 with `oom_score_adj %d, ` after oom_score.
The SIGTERM, the SIGKILL it escalates to (`escalating to SIGKILL after ...`), retries after `kill failed`, the
lines repeated every poll before v1.3, and `process [%d ]exited after ...` are one kill: one event, whose signal
is the strongest sent. Not kills: the decision lines, the startup banner `sending SIGTERM when mem <= ...`,
`dryrun, not actually sending any signal`, `Could not find a process to kill`, `process exited after` alone
(the kernel may have killed it). earlyoom prints no cgroup and no unit.
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import (
    accepts, new_event, signal_name, stronger,
)

KILLER = "earlyoom"
IDENTS = ("earlyoom",)
MARKERS = ("process", "escalating to SIGKILL")
# Lines about the same pid this close together are one kill (v1.2 and earlier repeat the kill line every poll).
FOLD_WINDOW = 60.0

_KILL_RES = (
    # v1.3 .. v1.9
    re.compile(r'^sending (?P<sig>SIG[A-Z0-9]+) to process (?P<pid>\d+)(?: uid (?P<uid>\d+))? "(?P<name>.*)": '
               r"(?:badness|oom_score) -?\d+, (?:oom_score_adj (?P<adj>-?\d+), )?VmRSS \d+ MiB"),
    # development 2019-04
    re.compile(r'^killing process (?P<pid>\d+) "(?P<name>.*)" with signal (?P<sig>\d+): badness -?\d+, VmRSS \d+ MiB'),
    # v1.2
    re.compile(r"^Killing process '(?P<name>.*)' with signal (?P<sig>\d+), pid: (?P<pid>\d+), badness: -?\d+, "
               r"VmRSS: \d+ MiB"),
    # v1.1
    re.compile(r"^Killing process: (?P<name>.*), pid: (?P<pid>\d+), badness: -?\d+, VmRSS: \d+ MiB"),
    # v1.0 (the name was read after choosing the victim, and may be another process's)
    # (not PID 1's "Killing process N (comm) with signal SIGKILL.", in a paste that lost its unit prefix)
    re.compile(r"^Killing process (?P<pid>\d+) (?!.* with signal SIG[A-Z]+\.$)(?P<name>.*)$"),
)
_ESCALATE_RE = re.compile(r"^escalating to SIGKILL after [\d.]+ seconds")
_EXITED_RE = re.compile(r"^process (?:(?P<pid>\d+) )?exited after [\d.]+ seconds")


class Grammar:
    def __init__(self):
        self.events = []
        self.open = {}  # pid -> its event while the process is not known to have exited
        self.last = None  # the event the last kill line belonged to (escalation lines name no pid)

    def feed(self, record):
        if not accepts(record, IDENTS):
            return
        text = record.text.strip()
        for regex in _KILL_RES:
            match = regex.match(text)
            if match:
                self._kill(match, record.ts, text)
                return
        if _ESCALATE_RE.match(text):
            if self.last is not None:
                self.last["signal"] = "SIGKILL"
            return
        match = _EXITED_RE.match(text)
        if match:
            pid = int(match.group("pid")) if match.group("pid") else (self.last or {}).get("pid")
            event = self.open.pop(pid, None)
            if event is self.last:
                self.last = None

    def _kill(self, match, ts, text):
        pid = int(match.group("pid"))
        groups = match.groupdict()
        # v1.0 and v1.1 always sent signal 9.
        signal = signal_name(groups["sig"]) if groups.get("sig") else "SIGKILL"
        event = self.open.get(pid)
        if event is not None and event["name"] == match.group("name") and _near(event, ts):
            event["signal"] = stronger(event["signal"], signal)
            event["_last_ts"] = ts
        else:
            event = new_event(KILLER, ts, text, pid=pid, name=match.group("name"), reason="memory", signal=signal)
            if groups.get("uid") is not None:
                event["uid"] = int(groups["uid"])
            if groups.get("adj") is not None:
                event["oom_score_adj"] = int(groups["adj"])
            event["_last_ts"] = ts
            self.events.append(event)
            self.open[pid] = event
        self.last = event

    def finish(self):
        for event in self.events:
            event.pop("_last_ts", None)
        return self.events


def _near(event, ts):
    last = event.get("_last_ts")
    if last is None or ts is None:
        return True
    return ts - last <= FOLD_WINDOW
