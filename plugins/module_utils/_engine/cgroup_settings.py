# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""What a unit's cgroup holds against what its tier asks: the effective value of a setting in a cgroup record,
the systemd-oomd preference mark, and the settings a running cgroup does not hold. Pure: the records come from
_host.cgroupfs.
"""

from __future__ import annotations
from ansible_collections.oomguard.fleet.plugins.module_utils._model.memory_settings import (
    MEMORY_KEYS, MEMORY_SETTINGS, expected_bytes, same_value,
)


def effective(record, key):
    """The value of tier setting `key` the kernel holds in a read_cgroup() record, or None when it has none."""
    if record.get("layout") == "v2":
        return record.get(dict((k, f) for k, _d, f in MEMORY_SETTINGS)[key])
    if record.get("layout") == "v1" and key == "memory_max":
        return record.get("memory.limit_in_bytes")
    return None


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
