# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The raw headroom figures of a host (memory, swap, commit charge, PSI, OOM kill counter), read through the
procfs and PSI readers; _engine.headroom judges them.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._host import pressure, procfs


def read_headroom(proc_path="/proc", meminfo=None):
    """Raw headroom figures of the host (None for what the kernel does not offer). `meminfo`: what
    procfs.read_meminfo() gave the caller already, so that one run reads the file once."""
    if meminfo is None:
        meminfo = procfs.read_meminfo(proc_path, missing_ok=True)
    return headroom_from(meminfo, procfs.read_int_file(proc_path + "/sys/vm/overcommit_memory"),
                         pressure.read_memory_pressure(proc_path),
                         procfs.read_vmstat_counter(proc_path, "oom_kill"))


def headroom_from(meminfo, overcommit_memory, pressure, oom_kill_count):
    return {
        "mem_total_kb": meminfo.get("MemTotal"),
        # MemAvailable exists since 3.14; without it the kernel gives no honest estimate, so none is made.
        "mem_available_kb": meminfo.get("MemAvailable"),
        "swap_total_kb": meminfo.get("SwapTotal"),
        "swap_free_kb": meminfo.get("SwapFree"),
        "committed_kb": meminfo.get("Committed_AS"),
        "commit_limit_kb": meminfo.get("CommitLimit"),
        "overcommit_memory": overcommit_memory,
        "pressure": pressure,
        "oom_kill_count": oom_kill_count,
    }
