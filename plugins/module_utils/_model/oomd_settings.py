# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The systemd-oomd settings a tier can carry (ManagedOOM*=), their values, and the percentage and time span
syntax of oomd.conf and `systemctl show`. No I/O. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import re


# tier key -> (systemd directive, allowed values or None for a percentage, first systemd version with it).
MANAGED_OOM_SETTINGS = (
    ("managed_oom_preference", "ManagedOOMPreference", ("none", "avoid", "omit"), 248),
    ("managed_oom_memory_pressure", "ManagedOOMMemoryPressure", ("auto", "kill"), 247),
    ("managed_oom_memory_pressure_limit", "ManagedOOMMemoryPressureLimit", None, 248),
    ("managed_oom_swap", "ManagedOOMSwap", ("auto", "kill"), 247),
)
MANAGED_OOM_KEYS = tuple(key for key, _d, _v, _s in MANAGED_OOM_SETTINGS)


# Only these unit types set can_set_managed_oom in PID 1 (service.c, scope.c, slice.c); the preference
# parser has no such restriction, so it goes wherever resource control goes.
MANAGED_OOM_TYPES = ("service", "scope", "slice")


_PERCENT_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(%|‰|‱)$")
_SPAN_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(us|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h)?")
_SPAN_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
               "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, None: 1}


def setting_error(key, value):
    """Why `value` cannot be the tier's managed-OOM `key`, or None."""
    for name, directive, allowed, _since in MANAGED_OOM_SETTINGS:
        if name != key:
            continue
        if allowed is not None:
            if value not in allowed:
                return "%s must be one of %s, got %r" % (key, ", ".join(allowed), value)
            return None
        percent = parse_percent(value)
        if percent is None or not 0 <= percent <= 100 or not str(value).endswith("%"):
            return "%s must be a percentage from 0%% to 100%% (e.g. 40%%), got %r" % (key, value)
        return None
    return "%s is not a systemd-oomd setting" % key


def directive(key):
    return dict((k, d) for k, d, _v, _s in MANAGED_OOM_SETTINGS)[key]


def parse_percent(value):
    """"60%", "600‰", "6000‱" -> 60.0; a bare integer from D-Bus (2^32-1 = 100%) too; None otherwise."""
    text = str(value).strip()
    match = _PERCENT_RE.match(text)
    if match:
        return float(match.group(1)) / {"%": 1, "‰": 10, "‱": 100}[match.group(2)]
    if text.isdigit():
        return round(int(text) * 100.0 / 0xFFFFFFFF, 2)
    return None


def parse_timespan(value):
    """systemd time spans as oomd.conf uses them ("30s", "1min 30s", "20") -> seconds, or None."""
    text = str(value).strip()
    if not text:
        return None
    total, pos = 0.0, 0
    for match in _SPAN_RE.finditer(text):
        if match.start() != pos and text[pos:match.start()].strip():
            return None
        total += float(match.group(1)) * _SPAN_UNITS[match.group(2)]
        pos = match.end()
    if text[pos:].strip():
        return None
    return total
