# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Protection that leaks: processes holding a negative oom_score_adj that nothing assigns them.

The kernel copies oom_score_adj to every child at fork, and systemd applies OOMScoreAdjust= only to the
processes it starts in the unit's cgroup. So a child that a protected service forks and that then lives
outside the service (an SSH session moved to its session scope, a job a daemon hands to another unit, a
process whose parent set itself to -1000) keeps the protection without anyone having asked for it.

A leak here: a process (not PID 1, not a kernel thread) with oom_score_adj < 0 whose own unit does not
declare exactly that value, and that the policy does not assign (its unit is not assigned and no assigned
selector matches it). A service's daemon started by init that holds its value without a protected
ancestor set it itself (sshd's listener does) and is not a leak; its children are. Nor is a process in a
container or pod (`_model.containers`): its runtime or kubelet gave it the value on purpose. Its source is the
protected ancestor it came out of (for an SSH session, the sshd of ssh.service). Pure logic over a process
table; the caller reads /proc and systemd. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import foreign_container
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.scoring import memory_pages
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import children_map, unit_matches
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_of_cgroup


def candidates(procs):
    """Processes that may leak: negative value, not PID 1, not a kernel thread."""
    return [p for p in procs if p.pid != 1 and not p.kthread and p.oom_score_adj is not None and p.oom_score_adj < 0]


def _assigned(proc, unit, assigned_units, assigned_pids):
    if unit is not None and any(unit_matches(wanted, unit) for wanted in assigned_units):
        return True
    return proc.pid in assigned_pids


def _source(proc, unit, by_pid):
    """The protected ancestor the value came out of: up the unbroken line of ancestors holding a value as low
    or lower, the first one outside the process's own unit (the service it left), else the topmost of them."""
    seen = set([proc.pid])
    found = None
    parent = by_pid.get(proc.ppid)
    while parent is not None and parent.pid not in seen and parent.pid != 1:
        seen.add(parent.pid)
        if parent.oom_score_adj is None or parent.oom_score_adj > proc.oom_score_adj:
            break
        found = parent
        if unit_of_cgroup(parent.cgroup) != unit:
            break
        parent = by_pid.get(parent.ppid)
    return found


def find_leaks(procs, declared, assigned_units=(), matchers=(), page_size=4096, own_container=None):
    """[leak dict] sorted by pid. `procs` need their cgroup read; `declared`: {unit: OOMScoreAdjust or None}.

    A leak: {pid, name, unit, oom_score_adj, memory_kb, starttime, source: {pid, name, unit, oom_score_adj}
    or None, reason}. `own_container`: the container the caller runs in, whose processes are the host's own.
    """
    by_pid = dict((p.pid, p) for p in procs)
    children = children_map(procs)
    # select() and not matches(): a rule with include_descendants assigns the whole subtree.
    assigned_pids = set(p.pid for matcher in matchers for p in matcher.select(procs, children))
    leaks = []
    for proc in candidates(procs):
        if foreign_container(proc.container, own_container) is not None:
            # A container runtime or kubelet set it (Guaranteed pods at -997, pause at -998, conmon at -1000):
            # it is the runtime's value, given on purpose, and the runtime puts it back at the next start.
            continue
        unit = unit_of_cgroup(proc.cgroup)
        if declared.get(unit) == proc.oom_score_adj or _assigned(proc, unit, assigned_units, assigned_pids):
            continue
        source = _source(proc, unit, by_pid)
        if source is None and proc.ppid in (0, 1) and unit is not None and unit.endswith(".service"):
            # A service's daemon that set its own value (sshd's listener writes -1000 into itself at start)
            # protects itself by design; what it forks is what leaks.
            continue
        source_unit = unit_of_cgroup(source.cgroup) if source is not None else None
        if source is None:
            reason = "no living ancestor holds %d: the process set it itself or inherited it from a parent that " \
                     "is gone" % proc.oom_score_adj
        else:
            reason = "inherited from %s (pid %d%s) at fork" % (
                source.name, source.pid, ", " + source_unit if source_unit else "")
            if source_unit and source_unit != unit and declared.get(source_unit) is not None:
                reason += "; %s declares OOMScoreAdjust=%d" % (source_unit, declared[source_unit])
        if unit is not None and declared.get(unit) is not None:
            reason += "; its own unit %s declares %d" % (unit, declared[unit])
        leaks.append({
            "pid": proc.pid, "name": proc.name, "unit": unit, "oom_score_adj": proc.oom_score_adj,
            "memory_kb": memory_pages(proc, page_size) * page_size // 1024, "starttime": proc.starttime,
            "source": None if source is None else {
                "pid": source.pid, "name": source.name, "unit": source_unit, "oom_score_adj": source.oom_score_adj,
            },
            "reason": reason,
        })
    return sorted(leaks, key=lambda leak: leak["pid"])


def units_to_show(procs):
    """The units whose declared value decides about the candidates and their sources."""
    units = set()
    for proc in candidates(procs):
        unit = unit_of_cgroup(proc.cgroup)
        if unit is not None:
            units.add(unit)
    return sorted(units)


def declared_values(shown):
    """{unit: int or None} from _host.systemd.show_units' answer (OOMScoreAdjust, absent for units without one)."""
    out = {}
    for unit, props in shown.items():
        try:
            out[unit] = int(props.get("OOMScoreAdjust"))
        except (TypeError, ValueError):
            out[unit] = None
    return out
