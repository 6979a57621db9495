# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The systemd memory settings a tier can carry (MemoryMin= .. MemoryMax=): their syntax, and how a value turns
into the bytes the kernel shows, because that is what "effective" is compared in. No I/O. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import re


# systemd.resource-control(5): the unit types that take resource-control settings.
RESOURCE_CONTROL_TYPES = ("service", "slice", "scope", "socket", "mount", "swap")
# tier key -> (systemd directive, cgroup v2 file). Ordered: a protection never exceeds a limit after it.
MEMORY_SETTINGS = (
    ("memory_min", "MemoryMin", "memory.min"),
    ("memory_low", "MemoryLow", "memory.low"),
    ("memory_high", "MemoryHigh", "memory.high"),
    ("memory_max", "MemoryMax", "memory.max"),
)
MEMORY_KEYS = tuple(key for key, directive, _file in MEMORY_SETTINGS)
# systemd rejects 0 for these ("out of range"): a zero limit would leave the unit no memory at all.
_NO_ZERO = ("memory_high", "memory_max")
_SIZE_RE = re.compile(r"^([0-9]+)([KMGT]?)$")
_PERCENT_RE = re.compile(r"^([0-9]+(?:\.[0-9]{1,2})?)%$")
_SUFFIX = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
# The lenient form of a size an option takes (oom_score_info's cgroup_limit): spaces, any case, B or iB.
_LENIENT_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.I)


def parse_memory_value(value):
    """systemd's MemoryMin=..MemoryMax= syntax -> ("bytes", n) | ("percent", p) | ("infinity", None).

    Bytes with an optional K, M, G or T suffix (base 1024), a percentage of physical memory, or infinity.
    Raises ValueError with the reason. Stricter than systemd on purpose: no spaces, no decimals on sizes,
    so that "12 MB" or "1.5G" are refused here rather than read differently than the writer meant.
    """
    if isinstance(value, bool):
        raise ValueError("must be a size like 512M, a percentage like 10%%, or infinity, got %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative, got %d" % value)
        return ("bytes", value)
    text = str(value).strip() if isinstance(value, str) else None
    if text is None:
        raise ValueError("must be a size like 512M, a percentage like 10%%, or infinity, got %r" % (value,))
    if text == "infinity":
        return ("infinity", None)
    match = _SIZE_RE.match(text)
    if match:
        return ("bytes", int(match.group(1)) * _SUFFIX[match.group(2)])
    match = _PERCENT_RE.match(text)
    if match:
        percent = float(match.group(1))
        if percent > 100:
            raise ValueError("is %s, more than 100%% of the host's memory" % text)
        return ("percent", percent)
    raise ValueError("must be bytes with an optional K, M, G or T suffix (e.g. 512M), a percentage of RAM "
                     "(e.g. 10%%), or infinity, got %r" % (value,))


def parse_size(text):
    """'512M', '2GiB', '1048576' -> bytes (powers of 1024, as cgroup limits are written); None otherwise."""
    match = _LENIENT_SIZE_RE.match(str(text))
    if not match:
        return None
    return int(match.group(1)) * _SUFFIX[match.group(2).upper()]


def memory_value_error(key, value):
    """Why `value` cannot be the tier's `key`, or None."""
    try:
        kind, amount = parse_memory_value(value)
    except ValueError as exc:
        return "%s %s" % (key, exc)
    if key in _NO_ZERO and kind != "infinity" and not amount:
        return "%s must be more than 0 (systemd refuses a zero %s=)" % (key, directive(key))
    return None


def directive(key):
    return dict((k, d) for k, d, _f in MEMORY_SETTINGS)[key]


def memory_order_error(settings):
    """min <= low <= high <= max among the given settings, or the reason they are not.

    Compared only where the order is known without the host's RAM: both sizes, both percentages, or infinity.
    """
    given = [(key, parse_memory_value(settings[key])) for key in MEMORY_KEYS if settings.get(key) is not None]
    for index, (low_key, low) in enumerate(given):
        for high_key, high in given[index + 1:]:
            if low[0] == "infinity" and high[0] != "infinity":
                return "%s is infinity, above %s %s" % (low_key, high_key, settings[high_key])
            if low[0] == high[0] and low[0] != "infinity" and low[1] > high[1]:
                return "%s %s is above %s %s (protections and limits must grow: min <= low <= high <= max)" % (
                    low_key, settings[low_key], high_key, settings[high_key])
    return None


def render_memory_value(value):
    """The text written after MemoryX= in a drop-in."""
    return str(value).strip()


def expected_bytes(value, mem_total_bytes, page_size):
    """The value the kernel will show for a setting: bytes rounded down to pages, or "max" for infinity.

    A percentage is of physical memory, rounded down to pages, as systemd computes it (physical_memory_scale);
    None when the host's memory size is unknown.
    """
    kind, amount = parse_memory_value(value)
    if kind == "infinity":
        return "max"
    if kind == "percent":
        if not mem_total_bytes:
            return None
        pages = mem_total_bytes // page_size
        return int(pages * int(round(amount * 100)) // 10000) * page_size
    return amount // page_size * page_size


def same_value(actual, expected, page_size):
    """Whether a value read back equals the expected one: bytes compared in whole pages (the kernel rounds
    down to them), percentages to 0.01, anything else exactly."""
    if isinstance(actual, int) and isinstance(expected, int) and not isinstance(actual, bool):
        return actual // page_size == expected // page_size
    if isinstance(actual, float) or isinstance(expected, float):
        try:
            return abs(float(actual) - float(expected)) < 0.01
        except (TypeError, ValueError):
            return False
    return actual == expected
