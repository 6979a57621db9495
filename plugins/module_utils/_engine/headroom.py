# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""How close a host is to an OOM: headroom figures, thresholds and the `at risk` judgement.

The raw figures come from _host.headroom.read_headroom; everything here is pure, so the modules, the reports
on the controller and the exporter on the hosts judge a host the same way. Memory in kB, like /proc/meminfo.
Standard library only, Python >= 3.8.
"""

from __future__ import annotations

LEVELS = ("warning", "at_risk")
# value >= threshold crosses it; None switches a level off. The seed's monitor warned at 80 % and 90 % of
# memory used; PSI avg60 because a 10 s average flaps with every burst of reclaim.
DEFAULT_THRESHOLDS = {
    "memory_used_percent": {"warning": 80.0, "at_risk": 90.0},
    "swap_used_percent": {"warning": 50.0, "at_risk": 80.0},
    # Only judged in overcommit mode 2, the only mode in which the commit limit refuses allocations.
    "commit_used_percent": {"warning": 90.0, "at_risk": 100.0},
    "psi_some_avg60": {"warning": 10.0, "at_risk": 25.0},
    "psi_full_avg60": {"warning": 2.0, "at_risk": 10.0},
    # A kill since the previous report means the host did run out.
    "oom_kills_since_previous": {"warning": None, "at_risk": 1},
}
FIGURE_LABELS = {
    "memory_used_percent": "memory used",
    "swap_used_percent": "swap used",
    "commit_used_percent": "commit charge of the commit limit",
    "psi_some_avg60": "memory pressure some avg60",
    "psi_full_avg60": "memory pressure full avg60",
    "oom_kills_since_previous": "OOM kills since the previous report",
}


def _percent(part, whole):
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def figures(headroom, previous_oom_kill_count=None):
    """The figures thresholds apply to, from raw headroom (None where unknown)."""
    h = headroom or {}
    total, available = h.get("mem_total_kb"), h.get("mem_available_kb")
    swap_total, swap_free = h.get("swap_total_kb"), h.get("swap_free_kb")
    used = total - available if total is not None and available is not None else None
    swap_used = swap_total - swap_free if swap_total is not None and swap_free is not None else None
    pressure = h.get("pressure") or {}
    kills, growth = h.get("oom_kill_count"), None
    # The counter restarts at boot: a smaller value means a reboot in between, and the growth is unknown.
    if kills is not None and previous_oom_kill_count is not None and kills >= previous_oom_kill_count:
        growth = kills - previous_oom_kill_count
    return {
        "memory_used_percent": _percent(used, total),
        "swap_used_percent": _percent(swap_used, swap_total),
        "commit_used_percent": _percent(h.get("committed_kb"), h.get("commit_limit_kb")),
        "psi_some_avg60": (pressure.get("some") or {}).get("avg60"),
        "psi_full_avg60": (pressure.get("full") or {}).get("avg60"),
        "oom_kills_since_previous": growth,
    }


def merge_thresholds(overrides):
    """Defaults with inventory overrides: {figure: {warning, at_risk}} or {figure: number} (= at_risk).

    Raises ValueError with a one-line message naming the bad key or value.
    """
    merged = dict((name, dict(levels)) for name, levels in DEFAULT_THRESHOLDS.items())
    if overrides is None:
        return merged
    if not isinstance(overrides, dict):
        raise ValueError("thresholds must be a mapping of figure names to levels, got %s" % type(overrides).__name__)
    for name in sorted(overrides, key=str):
        if name not in merged:
            raise ValueError("unknown threshold %r; known: %s" % (name, ", ".join(sorted(merged))))
        value = overrides[name]
        levels = value if isinstance(value, dict) else {"at_risk": value}
        for level in sorted(levels, key=str):
            number = levels[level]
            if level not in LEVELS:
                raise ValueError("threshold %s has no level %r; levels are warning and at_risk" % (name, level))
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                                       or number < 0):
                raise ValueError("threshold %s.%s must be a number >= 0 or null, got %r" % (name, level, number))
            merged[name][level] = number
    return merged


def _shown(name, value):
    return "%d" % value if name == "oom_kills_since_previous" else "%.1f%%" % value


def evaluate(headroom, thresholds, previous_oom_kill_count=None):
    """Findings, worst level first: [{figure, value, level, threshold, text}]; [] when nothing crosses."""
    h = headroom or {}
    values = figures(h, previous_oom_kill_count)
    findings = []
    for name in sorted(values):
        value = values[name]
        if value is None or (name == "commit_used_percent" and h.get("overcommit_memory") != 2):
            continue
        for level in reversed(LEVELS):
            limit = thresholds[name][level]
            if limit is not None and value >= limit:
                findings.append({
                    "figure": name, "value": value, "level": level, "threshold": limit,
                    "text": "%s %s >= %s (%s)" % (FIGURE_LABELS[name], _shown(name, value), _shown(name, limit),
                                                  level.replace("_", " ")),
                })
                break
    findings.sort(key=lambda f: (-LEVELS.index(f["level"]), f["figure"]))
    return findings


def at_risk(findings):
    return any(f["level"] == "at_risk" for f in findings)
