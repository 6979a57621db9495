# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The selector vocabulary shared by modules, the role and the exporter: the selector keys, the containers modes,
the error a rule raises, the `name` a process can have at all, and a rule as text. Matching lives in _engine.matching. No I/O.
"""

from __future__ import annotations


SELECTOR_KEYS = ("pid", "name", "name_pattern", "cmdline_pattern", "exe", "user", "unit", "cgroup")
COMM_MAX = 15


class SelectorError(ValueError):
    """A rule that cannot be evaluated (bad regex, unknown user, malformed unit)."""


def fields_needed(rules):
    """The expensive /proc fields these rules need, so the scan reads nothing more."""
    want = set()
    for rule in rules:
        if rule.get("cmdline_pattern") is not None:
            want.add("cmdline")
        if rule.get("exe") is not None:
            want.add("exe")
        if rule.get("unit") is not None or rule.get("cgroup") is not None:
            want.add("cgroup")
    return want


def name_error(name):
    """Why `name` can never equal a process's name, or None.

    The kernel keeps the first 15 bytes of the executable's name in `comm` (TASK_COMM_LEN 16 with the NUL), so
    a longer `name` (`systemd-journald`) never matches; the message shows what the kernel keeps instead.
    """
    raw = str(name).encode("utf-8")
    if len(raw) <= COMM_MAX:
        return None
    kept = raw[:COMM_MAX].decode("utf-8", "backslashreplace")
    return ("'%s' is %d bytes but the kernel keeps only the first %d bytes of a process name, so no process is "
            "named that (the kernel shows '%s'); match it with name_pattern or cmdline_pattern instead"
            % (str(name), len(raw), COMM_MAX, kept))


def describe(rule):
    """A rule as short text, for results and messages: 'name=sshd unit=ssh.service'."""
    parts = []
    for key in SELECTOR_KEYS:
        value = rule.get(key)
        if value is not None:
            parts.append("%s=%s" % (key, value))
    if rule.get("include_descendants"):
        parts.append("+descendants")
    if rule.get("containers") in ("include", "only"):
        parts.append("containers=%s" % rule["containers"])
    return " ".join(parts)


# What a rule does with processes in containers (the runtime or kubelet owns their oom_score_adj and puts its
# own value back at the next start or exec): leave them alone (default), change them too, or only them.
CONTAINER_MODES = ("exclude", "include", "only")
