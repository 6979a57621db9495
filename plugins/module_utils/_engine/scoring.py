# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The kernel's OOM arithmetic (mm/oom_kill.c oom_badness(), fs/proc/base.c proc_oom_score()). No I/O.

badness (pages) = RSS(anon + file + shmem) + swap entries + page-table pages
                  + oom_score_adj * (total_pages // 1000)
where total_pages is RAM + swap for a global OOM, or the memory cgroup's limit for a memcg OOM.
Since 5.9 /proc/PID/oom_score = (1000 + badness * 1000 / total_pages) * 2 / 3 (range 0..2000);
from 2.6.36 to 5.8 it was max(badness, 1) * 1000 / total_pages (range 0..1000), with a 3 % bonus for
CAP_SYS_ADMIN processes until 4.17. All divisions are C integer divisions (truncation toward zero).
"""

from __future__ import annotations

import functools
import re

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
CAP_SYS_ADMIN = 21
SCALE_2000 = "0-2000"
SCALE_1000 = "0-1000"


def c_div(numerator, denominator):
    """C's integer division: truncates toward zero (Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


@functools.lru_cache(maxsize=64)  # asked once per process while ranking, always with the same release
def kernel_version(release):
    """(major, minor) of a kernel release string such as '6.18.44-fc' or '3.10.0-1160.el7.x86_64'."""
    match = re.match(r"(\d+)\.(\d+)", release or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def scale_for_release(release):
    version = kernel_version(release)
    if version is not None and version < (5, 9):
        return SCALE_1000
    return SCALE_2000


def root_bonus_applies(release):
    """3.14 .. 4.16 subtracted 3 % of the points of CAP_SYS_ADMIN processes (removed by d46078b28889)."""
    version = kernel_version(release)
    return version is not None and (3, 14) <= version < (4, 17)


def memory_pages(proc, page_size):
    """The memory part of badness, in pages: resident anon+file+shmem, swap entries, page tables."""
    kb_per_page = page_size // 1024
    return (proc.rss_kb + (proc.swap_kb or 0) + (proc.pgtables_kb or 0)) // kb_per_page


def unkillable_reason(proc):
    """Why oom_badness() returns LONG_MIN for this process, or None when it is a candidate."""
    if proc.kthread:
        return "kernel thread"
    if proc.pid == 1 and not proc.oom_score:
        # Global init is never chosen. Inside a container PID 1 is not the global init and the kernel
        # scores it like any process, so trust the kernel's own reading of 0 here.
        return "init"
    if not proc.has_mm:
        return "zombie" if proc.state == "Z" else "no memory (exiting)"
    if proc.oom_score_adj == OOM_SCORE_ADJ_MIN:
        return "oom_score_adj -1000"
    return None


def badness_pages(proc, total_pages, page_size, adj=None, release=None):
    """oom_badness() for a candidate; None when the kernel would never select it."""
    if unkillable_reason(proc) is not None:
        return None
    if adj is None:
        adj = proc.oom_score_adj or 0
    if adj == OOM_SCORE_ADJ_MIN:
        return None
    points = memory_pages(proc, page_size)
    if release is not None and root_bonus_applies(release) and proc.cap_eff is not None \
            and proc.cap_eff >> CAP_SYS_ADMIN & 1:
        points -= c_div(points * 3, 100)
    return points + adj * (total_pages // 1000)


def predicted_oom_score(badness, total_pages, scale=SCALE_2000):
    """What /proc/PID/oom_score shows for a given badness (None = never selected -> 0)."""
    if badness is None:
        return 0
    if scale == SCALE_1000:
        # Pre-5.9: badness was clamped to at least 1 point for any eligible task.
        return c_div(max(badness, 1) * 1000, total_pages)
    return c_div((1000 + c_div(badness * 1000, total_pages)) * 2, 3)


def selection_key(scale):
    """Pre-5.9 kernels clamped every candidate to >= 1 point, so negative badness tied at 1."""
    if scale == SCALE_1000:
        return lambda badness: max(badness, 1)
    return lambda badness: badness


def kill_order(procs, total_pages, page_size, scale=SCALE_2000, release=None):
    """Candidates in the order the OOM killer would take them, if memory stood still.

    select_bad_process() keeps the maximum badness and replaces the current choice on a tie
    (`points < chosen_points` is the skip test), walking the task list oldest first: a tie goes to the
    younger process. Returns [(proc, badness)], first victim first.
    """
    key = selection_key(scale)
    ranked = []
    for proc in procs:
        badness = badness_pages(proc, total_pages, page_size, release=release)
        if badness is not None:
            ranked.append((proc, badness))
    ranked.sort(key=lambda item: (key(item[1]), item[0].starttime or 0, item[0].pid), reverse=True)
    return ranked


def share_percent(pages, total_pages):
    return 100.0 * pages / total_pages if total_pages else 0.0


def format_percent(value, signed=False):
    """Small shares keep two decimals so that 0.04 % does not read as nothing."""
    digits = 1 if abs(value) >= 1 else 2
    return ("%+.*f%%" if signed else "%.*f%%") % (digits, value)


def kill_reason(position, proc, badness, total_pages, page_size, scope="RAM+swap"):
    """One line saying why this process is where it is in the kill order."""
    mem = memory_pages(proc, page_size)
    adj = proc.oom_score_adj or 0
    parts = ["%s of %s" % (format_percent(share_percent(mem, total_pages)), scope)]
    if adj:
        shift = adj * (total_pages // 1000)
        parts.append("adj %+d (%s)" % (adj, format_percent(share_percent(shift, total_pages), signed=True)))
    else:
        parts.append("adj 0")
    lead = "first victim" if position == 1 else "#%d" % position
    return "%s: %s, badness %d pages" % (lead, ", ".join(parts), badness)
