# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info against the running kernel, through a real `ansible localhost` run.

The kernel is the oracle: for every process whose memory did not move while we looked, the score the module
computes from the memory parts must be exactly what /proc/PID/oom_score says, and an independent reader
(psutil) must see the same resident memory and name. Processes we spawn add the cases a quiet machine may
not have: positive adj values around the rounding edges and known, large footprints.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from livetools import MIB, memory_state, run_module_ok, snapshot, stable_pids, workers, write_adj
from memcg import MemcgUnavailable, memory_cgroup

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import scoring as _scoring

# (name, bytes, adj): small ones show adj alone (7 and 16 sit next to the x2/3 truncation), big ones show
# memory and adj added up.
SPAWNED = [
    ("live-adj7", 0, 7),
    ("live-adj16", 1 * MIB, 16),
    ("live-adj100", 8 * MIB, 100),
    ("live-adj500", 32 * MIB, 500),
    ("live-adj1000", 64 * MIB, 1000),
    ("live-adj0-big", 96 * MIB, 0),
]

# On a busy machine some processes change memory while the module reads them: other test runs, editors, the
# CI agent, and under `make test` the guest stage running alongside (two QEMUs, their SSH and Ansible, a dozen
# processes that never sit still). They are excluded, but they must stay a minority, or the comparison would
# prove little; it stays strict for all the others, and at least 20 of them.
MAX_UNSTABLE_SHARE = 0.25
ATTEMPTS = 5


@pytest.fixture
def spawned():
    with workers([(name, size) for name, size, _adj in SPAWNED]) as started:
        for worker, (_name, _size, adj) in zip(started, SPAWNED):
            write_adj(worker.pid, adj)
        yield started


def _quiet_scan(args, side_read=None):
    """Run the module between two snapshots of /proc until few processes changed memory meanwhile.

    Returns (result, rows by pid, pids present and unchanged throughout, what side_read() returned; it runs
    right after the module, inside the bracket). Another workload starting up next to the test can make a
    moment noisy; the comparison is only made on a quiet one, and it is strict there.
    """
    for attempt in range(1, ATTEMPTS + 1):
        before = snapshot()
        result = run_module_ok("oom_score_info", args)
        side = side_read() if side_read else None
        after = snapshot()
        rows = {row["pid"]: row for row in result["processes"]}
        existed = [pid for pid in rows if pid in before and pid in after and before[pid][0] == after[pid][0]]
        # Equal before and after is not enough: a process can grow and shrink back meanwhile (this test's own
        # process does, reading the module's output). So the module's own reading must show that state too,
        # and this test and its parents, busy throughout, are never compared.
        stable = set(pid for pid in stable_pids(before, after)
                     if pid in rows and _same_memory(rows[pid], after[pid])) - _busy_pids()
        unstable = sorted(pid for pid in existed if pid not in stable)
        if len(unstable) <= max(3, MAX_UNSTABLE_SHARE * len(existed)):
            return result, rows, [pid for pid in existed if pid in stable], side, after
        if attempt == ATTEMPTS:
            raise AssertionError(
                "in %d attempts, never fewer than %d%% of the processes changed memory during the read; last: "
                "%d of %d (%s)" % (ATTEMPTS, MAX_UNSTABLE_SHARE * 100, len(unstable), len(existed),
                                   ", ".join("%d %s" % (pid, rows[pid]["name"]) for pid in unstable[:50])))
        time.sleep(2)
    raise AssertionError("unreachable")


# /proc/PID/status keys as the module reports them (kB).
_ROW_KEYS = {b"RssAnon": "rss_anon_kb", b"RssFile": "rss_file_kb", b"RssShmem": "rss_shmem_kb",
             b"VmSwap": "swap_kb", b"VmPTE": "pgtables_kb"}


def _same_memory(row, state):
    """Whether the module's row shows the memory lines of a memory_state() (processes without an mm have none)."""
    for line in state[1]:
        key, _sep, value = line.partition(b":")
        if row.get(_ROW_KEYS[key]) != int(value.split()[0]):
            return False
    return True


def _busy_pids():
    """This test process and its ancestors: they run while the module reads them."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as handle:
                stat = handle.read()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return pids


def _kernel_score_now(pid, state):
    """/proc/PID/oom_score read again, if the process is still in the same memory state (else None)."""
    try:
        with open("/proc/%d/oom_score" % pid) as handle:
            score = int(handle.read())
    except (OSError, ValueError):
        return None
    return score if memory_state(pid) == state else None


def test_predicted_oom_score_equals_the_kernels_for_every_stable_process(spawned):
    result, rows, compared, _side, after = _quiet_scan({"include_kernel_threads": True, "top": 0})
    assert len(compared) >= 20, "too few processes to compare: %d" % len(compared)

    mismatches = []
    for pid in compared:
        row = rows[pid]
        kernel_now = _kernel_score_now(pid, after[pid])
        if row["predicted_oom_score"] != row["oom_score"] or (
                kernel_now is not None and row["predicted_oom_score"] != kernel_now):
            mismatches.append((pid, row["name"], row["predicted_oom_score"], row["oom_score"], kernel_now))
    assert not mismatches, "predicted != kernel (pid, name, predicted, read by module, read after): %r" % mismatches

    # The spawned processes are all among the compared ones, with the memory and adj we gave them.
    for worker, (name, size, adj) in zip(spawned, SPAWNED):
        assert worker.pid in compared, "%s changed memory during the read" % name
        row = rows[worker.pid]
        assert (row["name"], row["oom_score_adj"], row["killable"]) == (name, adj, True)
        assert row["rss_anon_kb"] >= size // 1024
    # And the machine's special cases were seen: kernel threads and adj values off the default.
    assert any(rows[pid]["kernel_thread"] and rows[pid]["predicted_oom_score"] == 0 for pid in compared)
    assert result["host"]["score_scale"] == _scoring.scale_for_release(os.uname()[2])


def _psutil_view():
    psutil = pytest.importorskip("psutil")
    seen = {}
    for proc in psutil.process_iter():
        try:
            seen[proc.pid] = (proc.memory_info().rss, proc.name())
        except psutil.Error:
            continue
    return seen


def test_psutil_agrees_on_resident_memory_and_names(spawned):
    pytest.importorskip("psutil")
    _result, rows, compared, seen, _after = _quiet_scan({"include_kernel_threads": True, "top": 0}, _psutil_view)
    compared = [pid for pid in compared if pid in seen]
    assert len(compared) >= 20

    disagree = []
    for pid in compared:
        row = rows[pid]
        rss = (row["rss_anon_kb"] + row["rss_file_kb"] + row["rss_shmem_kb"]) * 1024
        ps_rss, ps_name = seen[pid]
        if rss != ps_rss or not _same_name(row, ps_name):
            disagree.append((pid, row["name"], ps_name, rss, ps_rss))
    assert not disagree, "module vs psutil (pid, name, psutil name, rss, psutil rss): %r" % disagree
    for worker in spawned:
        assert worker.pid in compared


def _same_name(row, ps_name):
    name = row["name"]
    if row["kernel_thread"] and name.startswith("kworker/"):
        # A kworker's name carries its state and the workqueue it is serving at that instant
        # ("kworker/0:0-events" idle, "kworker/1:2+events" busy); the kernel rewrites it all the time, so only
        # the worker's own part is a stable name.
        return re.split(r"[+-]", ps_name, maxsplit=1)[0] == re.split(r"[+-]", name, maxsplit=1)[0]
    # psutil completes a comm truncated at 15 bytes from the command line; the kernel's name is its prefix.
    return ps_name == name or (len(name.encode()) == 15 and ps_name.startswith(name))


def test_cgroup_limit_ranks_members_by_the_kernels_selection_rule():
    """Inside a memory cgroup adj counts adj x limit_pages/1000, so small high-adj members outrank big ones."""
    limit = 256 * MIB
    page_size = os.sysconf("SC_PAGE_SIZE")
    specs = [("cg-big-adj0", 64 * MIB, 0), ("cg-mid-adj200", 24 * MIB, 200), ("cg-tiny-adj400", 0, 400)]
    try:
        cgroup_cm = memory_cgroup(limit)
        cgroup = cgroup_cm.__enter__()
    except MemcgUnavailable as exc:
        pytest.skip("no usable memory cgroup: %s" % exc)
    try:
        with workers([(name, size) for name, size, _adj in specs], allocate=False) as started:
            for worker, (_name, _size, adj) in zip(started, specs):
                cgroup.add(worker.pid)
                worker.allocate()
                write_adj(worker.pid, adj)
            members = sorted(cgroup.pids())
            assert members == sorted(worker.pid for worker in started)
            before = snapshot()
            result = run_module_ok("oom_score_info", {
                "pids": members, "cgroup_limit": str(limit), "top": 10, "return_processes": False})
            after = snapshot()
            assert all(before[pid] == after[pid] for pid in members), "a member changed memory during the read"

            # The rule, computed here from /proc independently of the engine: badness = (rss + swap +
            # page tables) in pages + adj * (limit_pages // 1000); the maximum goes first; equal badness goes
            # to the process later in the task list (younger).
            limit_pages = limit // page_size
            expected = []
            for pid in members:
                proc = _procfs.read_process("/proc", pid)
                pages = (proc.rss_kb + proc.swap_kb + proc.pgtables_kb) * 1024 // page_size
                expected.append((pages + proc.oom_score_adj * (limit_pages // 1000), proc.starttime, pid))
            expected.sort(reverse=True)
            got = [(entry["badness"], entry["pid"]) for entry in result["kill_order"]]
            assert got == [(badness, pid) for badness, _start, pid in expected]
            # adj reorders: the order by size alone is the reverse of the kernel's order here.
            names = [entry["name"] for entry in result["kill_order"]]
            assert names == ["cg-tiny-adj400", "cg-mid-adj200", "cg-big-adj0"]
            assert result["host"]["cgroup_limit_bytes"] == limit
    finally:
        cgroup_cm.__exit__(None, None, None)
