# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The cgroup filesystem: where the memory controller is mounted, and what a unit's cgroup holds.

Also the systemd memory settings a tier can carry (MemoryMin= .. MemoryMax=), their syntax, and how a
value turns into the bytes the kernel shows, because that is what "effective" is compared in.
Every reader takes the proc root and the cgroup root as parameters, so tests can point them at a tree.
Standard library only, Python >= 3.8: this runs on target hosts.
"""

from __future__ import annotations

import os
import re

from ansible_collections.oomguard.fleet.plugins.module_utils._pressure import parse_pressure

DEFAULT_ROOT = "/sys/fs/cgroup"
# systemd.resource-control(5): the unit types that take resource-control settings.
RESOURCE_CONTROL_TYPES = ("service", "slice", "scope", "socket", "mount", "swap")
# tier key -> (systemd directive, cgroup v2 file). Ordered: a protection never exceeds a limit after it.
MEMORY_SETTINGS = (
    ("memory_min", "MemoryMin", "memory.min"),
    ("memory_low", "MemoryLow", "memory.low"),
    ("memory_high", "MemoryHigh", "memory.high"),
    ("memory_max", "MemoryMax", "memory.max"),
)
MEMORY_KEYS = tuple(key for key, _directive, _file in MEMORY_SETTINGS)
# systemd rejects 0 for these ("out of range"): a zero limit would leave the unit no memory at all.
_NO_ZERO = ("memory_high", "memory_max")
_SIZE_RE = re.compile(r"^([0-9]+)([KMGT]?)$")
_PERCENT_RE = re.compile(r"^([0-9]+(?:\.[0-9]{1,2})?)%$")
_SUFFIX = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
# memory.events counters (cgroup-v2.rst); oom_group_kill exists since Linux 5.17.
EVENT_KEYS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")
# The marks systemd-oomd reads (user.oomd_avoid / user.oomd_omit, set by PID 1 from ManagedOOMPreference=)
# and the counters it keeps on the cgroups it killed.
XATTRS = ("user.oomd_avoid", "user.oomd_omit", "user.oomd_ooms", "user.oomd_kill")
# memory.limit_in_bytes of an unlimited v1 cgroup: PAGE_COUNTER_MAX pages, page-aligned; anything this
# large is "no limit".
V1_UNLIMITED = 1 << 62


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


def memory_value_error(key, value):
    """Why `value` cannot be the tier's `key`, or None."""
    try:
        kind, amount = parse_memory_value(value)
    except ValueError as exc:
        return "%s %s" % (key, exc)
    if key in _NO_ZERO and kind != "infinity" and not amount:
        return "%s must be more than 0 (systemd refuses a zero %s=)" % (key, _directive(key))
    return None


def _directive(key):
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


# ------------------------------------------------------------------------------------------------ reader

def mounts(proc_path="/proc"):
    """{"v2": mount point of the unified hierarchy or None, "v1_memory": mount point of the v1 memory
    controller or None, "v2_memory": whether the memory controller is enabled on the unified hierarchy}."""
    found = {"v2": None, "v1_memory": None, "v2_memory": False}
    try:
        with open(proc_path + "/self/mountinfo", "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return found
    for line in text.splitlines():
        fields, _sep, tail = line.partition(" - ")
        parts = fields.split(" ")
        rest = tail.split(" ")
        if len(parts) < 5 or len(rest) < 3:
            continue
        point = parts[4].replace("\\040", " ")
        if rest[0] == "cgroup2" and found["v2"] is None:
            found["v2"] = point
        elif rest[0] == "cgroup" and "memory" in rest[2].split(","):
            found["v1_memory"] = point
    if found["v2"] and found["v1_memory"] is None:
        controllers = _read_text(found["v2"] + "/cgroup.controllers")
        found["v2_memory"] = bool(controllers) and "memory" in controllers.split()
    return found


def layout_of(mount_info):
    """How the memory controller is reachable: "v2" (unified, memory enabled), "v1" (a v1 memory controller,
    hybrid hosts included), or None (no memory controller)."""
    if mount_info.get("v1_memory"):
        return "v1"
    if mount_info.get("v2") and mount_info.get("v2_memory"):
        return "v2"
    return None


def _read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(65536).decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def _value(path):
    """An int, "max", or None (missing or unreadable)."""
    text = _read_text(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return "max"
    try:
        return int(text)
    except ValueError:
        return None


def _flat_keyed(path):
    """memory.events / memory.oom_control style: "key value" lines -> {key: int}; None when missing."""
    text = _read_text(path)
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        key, _sep, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _xattrs(path):
    out = {}
    for name in XATTRS:
        try:
            out[name] = os.getxattr(path, name).decode("utf-8", "replace")
        except (OSError, AttributeError):
            out[name] = None
    return out


def stat_value(path, name):
    """One counter from memory.stat (e.g. pgscan), or None."""
    text = _read_text(path + "/memory.stat")
    for line in (text or "").splitlines():
        key, _sep, value = line.partition(" ")
        if key == name:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def unit_path(mount_info, control_group, layout):
    """The directory of a unit's memory cgroup (ControlGroup= from systemctl show), or None."""
    if not control_group or not control_group.startswith("/") or layout is None:
        return None
    base = mount_info["v1_memory"] if layout == "v1" else mount_info["v2"]
    return base.rstrip("/") + (control_group if control_group != "/" else "")


def read_cgroup(path, layout):
    """What one memory cgroup holds. Missing files are None, never an error (a stopped unit has no cgroup)."""
    exists = bool(path) and os.path.isdir(path)
    out = {"path": path, "exists": exists, "layout": layout}
    if layout == "v2":
        for _key, _directive, name in MEMORY_SETTINGS:
            out[name] = _value(path + "/" + name) if exists else None
        for name in ("memory.current", "memory.swap.current", "memory.oom.group"):
            out[name] = _value(path + "/" + name) if exists else None
        out["memory.events"] = _flat_keyed(path + "/memory.events") if exists else None
        pressure = _read_text(path + "/memory.pressure") if exists else None
        out["memory.pressure"] = parse_pressure(pressure) if pressure is not None else None
        out["xattrs"] = _xattrs(path) if exists else dict((name, None) for name in XATTRS)
        events = out["memory.events"] or {}
        out["oom_kills"] = events.get("oom_kill")
        out["ooms"] = events.get("oom")
    elif layout == "v1":
        limit = _value(path + "/memory.limit_in_bytes") if exists else None
        out["memory.limit_in_bytes"] = "max" if isinstance(limit, int) and limit >= V1_UNLIMITED else limit
        out["memory.usage_in_bytes"] = _value(path + "/memory.usage_in_bytes") if exists else None
        control = _flat_keyed(path + "/memory.oom_control") if exists else None
        out["memory.oom_control"] = control
        # oom_kill appeared in memory.oom_control in Linux 4.13; older kernels only say under_oom.
        out["oom_kills"] = (control or {}).get("oom_kill")
        out["ooms"] = None
    else:
        out["oom_kills"] = out["ooms"] = None
    return out


def effective(record, key):
    """The value of tier setting `key` the kernel holds in a read_cgroup() record, or None when it has none."""
    if record.get("layout") == "v2":
        return record.get(dict((k, f) for k, _d, f in MEMORY_SETTINGS)[key])
    if record.get("layout") == "v1" and key == "memory_max":
        return record.get("memory.limit_in_bytes")
    return None


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


def mark_of(record):
    """The ManagedOOMPreference= a v2 cgroup carries in its xattrs (none, avoid, omit), or None without one."""
    if record.get("layout") != "v2" or not record.get("exists"):
        return None
    marks = record.get("xattrs") or {}
    if marks.get("user.oomd_omit") == "1":
        return "omit"
    return "avoid" if marks.get("user.oomd_avoid") == "1" else "none"


def live_mismatches(settings, record, mem_total_bytes, page_size):
    """The tier settings a running v2 cgroup does not hold although systemd could apply them: memory.min ..
    memory.max and the preference mark. [(key, expected, held)]; empty on v1 or without a cgroup."""
    if record.get("layout") != "v2" or not record.get("exists"):
        return []
    found = []
    for key, value in sorted((settings or {}).items()):
        if key in MEMORY_KEYS:
            expected, held = expected_bytes(value, mem_total_bytes, page_size), effective(record, key)
        elif key == "managed_oom_preference":
            expected, held = value, mark_of(record)
        else:
            continue
        if expected is not None and not same_value(held, expected, page_size):
            found.append((key, expected, held))
    return found


def owner_uid(path):
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def children(path):
    """Child cgroup directories of a v2 cgroup, sorted; empty when unreadable."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [path + "/" + name for name in names if os.path.isdir(path + "/" + name)]
