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

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._host.pressure import parse_pressure
from ansible_collections.oomguard.fleet.plugins.module_utils._model.memory_settings import MEMORY_SETTINGS

DEFAULT_ROOT = "/sys/fs/cgroup"
# memory.events counters (cgroup-v2.rst); oom_group_kill exists since Linux 5.17.
EVENT_KEYS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")
# The marks systemd-oomd reads (user.oomd_avoid / user.oomd_omit, set by PID 1 from ManagedOOMPreference=)
# and the counters it keeps on the cgroups it killed.
XATTRS = ("user.oomd_avoid", "user.oomd_omit", "user.oomd_ooms", "user.oomd_kill")
# memory.limit_in_bytes of an unlimited v1 cgroup: PAGE_COUNTER_MAX pages, page-aligned; anything this
# large is "no limit".
V1_UNLIMITED = 1 << 62


# ------------------------------------------------------------------------------------------------ reader

def mounts(proc_path="/proc", table=None):
    """{"v2": mount point of the unified hierarchy or None, "v1_memory": mount point of the v1 memory
    controller or None, "v2_memory": whether the memory controller is enabled on the unified hierarchy}.
    `table`: procfs.mount_table(), when the caller has already read it."""
    found = {"v2": None, "v1_memory": None, "v2_memory": False}
    if table is None:
        table = procfs.mount_table(proc_path)
    for point, fstype, options in table or ():
        if point is None or options is None:
            continue
        if fstype == "cgroup2" and found["v2"] is None:
            found["v2"] = point
        elif fstype == "cgroup" and "memory" in options.split(","):
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
