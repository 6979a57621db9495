# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OOM drill: the kernel must kill in exactly the order oom_score_info predicts.

A memory cgroup is created under this test's own one, and four workers of different sizes are started in it.
`oomguard.fleet.oom_score_adj` (a real `ansible localhost` run) gives them tiers with positive values only,
chosen so that the tiers turn the order by size around: inside a cgroup of L pages adj counts
adj x (L // 1000) pages, so a small worker with adj 600 outranks a big one with adj 0.
`oomguard.fleet.oom_score_info` (`cgroup_limit`) predicts the order. Then a pusher process inside the same
cgroup writes into a memfd one MiB at a time. memfd pages are charged to the cgroup but are in no process's
RSS, so the pusher stays the smallest member while the cgroup fills up. After every MiB the cgroup's own
oom_kill counter is read: a step ends with the kill (normally exactly one), the victim is awaited (waitpid)
and compared with the next predicted one. The pusher is a member too: it is predicted last, and it is the
last kill. Finally `oomguard.fleet.oom_events_info` must report every kill, in the predicted order, with
pid, name and adj.

The second test feeds the same checker a wrong (reversed) prediction and requires it to fail.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from livetools import MIB, run_module_ok, workers
from memcg import MemcgUnavailable, memory_cgroup

LIMIT = 1024 * MIB
CHUNK = 1 * MIB
# (name, bytes, adj). With L = 262144 pages adj counts 262 pages per point:
#   a:  400 MiB + 0            = 102400 pages     by size:     a > b > c > d
#   b:  200 MiB + 100 x 262    =  77400 pages     by badness:  d > c > a > b
#   c:  120 MiB + 300 x 262    = 109320 pages     (plus ~2600 pages of interpreter each; the smallest gap,
#   d:   64 MiB + 600 x 262    = 173584 pages      c over a, is 6920 pages = 27 MiB)
# Every worker holds well over the ~38 MiB an exiting process frees in its last batch (mmu_gather), so
# some of a victim's memory is uncharged before the kernel hides it from the next selection; that keeps
# a second kill within one step unlikely (run_drill copes with one anyway).
TIERS = [
    ("drill-a-adj0", 400 * MIB, 0),
    ("drill-b-adj100", 200 * MIB, 100),
    ("drill-c-adj300", 120 * MIB, 300),
    ("drill-d-adj600", 64 * MIB, 600),
]
DESIGNED_ORDER = ["drill-d-adj600", "drill-c-adj300", "drill-a-adj0", "drill-b-adj100", "drill-pusher"]
STEP_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0

_PUSHER = r"""
import os, sys
with open("/proc/self/comm", "w") as handle:
    handle.write("drill-pusher")
fd = os.memfd_create("drill-pusher")
chunk = b"\x5a" * int(sys.argv[1])
os.write(1, b"ready\n")
while os.read(0, 1):
    try:
        os.write(fd, chunk)
        os.write(1, b"ok\n")
    except OSError as exc:
        os.write(1, b"err %d\n" % exc.errno)
"""


class DrillMismatch(AssertionError):
    """The kernel killed another process than the one predicted next."""


class Pusher(object):
    """A process in the cgroup that grows the cgroup's charge on request without growing its own RSS."""

    def __init__(self):
        self.popen = subprocess.Popen([sys.executable, "-S", "-E", "-c", _PUSHER, str(CHUNK)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.pid = self.popen.pid

    def _answer(self, timeout):
        ready, _w, _x = select.select([self.popen.stdout], [], [], timeout)
        if not ready:
            raise AssertionError("the pusher did not answer within %.0f s" % timeout)
        return os.read(self.popen.stdout.fileno(), 64)

    def start(self):
        assert self._answer(STEP_TIMEOUT) == b"ready\n"

    def push(self):
        """Charge one more chunk. True when written, False when the pusher was killed doing it."""
        try:
            self.popen.stdin.write(b"x")
        except BrokenPipeError:
            return False
        answer = self._answer(STEP_TIMEOUT)
        if not answer:
            return False
        if answer != b"ok\n":
            raise AssertionError("the pusher could not charge memory: %r" % answer)
        return True

    def poll(self):
        return self.popen.poll()

    def stop(self):
        with contextlib.suppress(OSError):
            self.popen.kill()
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def oom_kills(cgroup):
    """The cgroup's own OOM kill counter (v1 memory.oom_control, v2 memory.events)."""
    name = "memory.oom_control" if cgroup.version == 1 else "memory.events"
    with open(os.path.join(cgroup.path, name)) as handle:
        for line in handle:
            key, _sep, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    raise AssertionError("%s/%s has no oom_kill counter (kernel older than 4.13?)" % (cgroup.path, name))


def _wait_for_exits(cgroup, members, alive, before, timeout):
    """(exited members, kills counted) once as many members have exited as the kernel counted kills."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [pid for pid in sorted(alive) if members[pid].poll() is not None]
        kills = oom_kills(cgroup) - before
        if (dead and len(dead) >= kills) or time.monotonic() > deadline:
            return dead, kills
        time.sleep(0.01)


def run_drill(cgroup, members, pusher, predicted, names):
    """Push the cgroup over its limit step by step; each step must kill the next predicted member.

    `members`: pid -> object with poll() (our children, so we see how they ended). Returns the steps, each
    the list of members killed in it. Raises DrillMismatch at the first step whose victims differ from the
    prediction.

    A step is one MiB written at a time until the cgroup's oom_kill counter moves. Normally that is one
    kill. Under heavy load the kernel can kill the next victim too within the same allocation: a dying
    victim is hidden from the OOM killer (MMF_OOM_SKIP) a moment before the last of its pages are
    uncharged, and an allocation still short of memory then selects again. Such a step must kill the next
    members of the prediction; the order inside it is the kernel log's (checked by the caller).
    """
    alive = set(members)
    steps = []
    done = 0
    max_chunks = cgroup.limit_bytes // CHUNK + 64
    while alive:
        before = oom_kills(cgroup)
        for _chunk in range(max_chunks):
            written = pusher.push()
            if not written or oom_kills(cgroup) != before:
                break
        else:
            raise AssertionError("no OOM kill after charging %d more MiB" % (max_chunks * CHUNK // MIB))
        dead, kills = _wait_for_exits(cgroup, members, alive, before, EXIT_TIMEOUT)
        if not dead or len(dead) != kills:
            raise AssertionError("step #%d: the kernel counted %d kills but %r exited" % (len(steps) + 1, kills, dead))
        for victim in dead:
            status = members[victim].poll()
            if status != -signal.SIGKILL:
                raise AssertionError("%d (%s) ended with status %r, not by SIGKILL" % (victim, names[victim], status))
        alive.difference_update(dead)
        expected = predicted[done:done + kills]
        # (Listed in predicted order; the kernel log orders a step with several kills.)
        dead.sort(key=lambda pid: predicted.index(pid) if pid in predicted else len(predicted))
        steps.append(dead)
        done += kills
        if sorted(dead) != sorted(expected):
            raise DrillMismatch(
                "step #%d: the kernel killed %s, the prediction said %s; killed before: %s"
                % (len(steps), _named(dead, names), _named(expected, names) or "nobody",
                   _named([pid for step in steps[:-1] for pid in step], names)))
    return steps


def _named(pids, names):
    return ", ".join("%d (%s)" % (pid, names.get(pid)) for pid in pids)


@contextlib.contextmanager
def drill_cgroup():
    """The cgroup with the four workers and the pusher inside, all allocated; everything removed after,
    whatever happens (pusher, workers, then the cgroup, which also kills anything left inside)."""
    available = _mem_available()
    if available is not None and available < 2 * LIMIT:
        pytest.skip("the OOM drill fills a %d MiB memory cgroup; only %d MiB of memory are available"
                    % (LIMIT // MIB, available // MIB))
    with contextlib.ExitStack() as stack:
        try:
            cgroup = stack.enter_context(memory_cgroup(LIMIT))
        except MemcgUnavailable as exc:
            pytest.skip("no usable memory cgroup for the OOM drill: %s" % exc)
        started = stack.enter_context(workers([(name, size) for name, size, _adj in TIERS], allocate=False))
        for worker in started:
            cgroup.add(worker.pid)
            worker.allocate()
        pusher = Pusher()
        stack.callback(pusher.stop)
        cgroup.add(pusher.pid)
        pusher.start()
        assert sorted(cgroup.pids()) == sorted([w.pid for w in started] + [pusher.pid])
        yield cgroup, started, pusher


def _mem_available():
    """MemAvailable in bytes, or None when /proc/meminfo does not say."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def assign_tiers(started, pusher):
    """Tiers through the real module: one call, one rule per process."""
    rules = [{"pid": worker.pid, "value": adj} for worker, (_n, _s, adj) in zip(started, TIERS)]
    rules.append({"pid": pusher.pid, "value": 0})
    result = run_module_ok("oom_score_adj", {"rules": rules})
    assert not result["denied"], result["denied"]
    for worker, (name, _size, adj) in zip(started, TIERS):
        with open("/proc/%d/oom_score_adj" % worker.pid) as handle:
            assert int(handle.read()) == adj, name
    return result


def predict(cgroup):
    """The kill order oom_score_info predicts for the cgroup's members at its limit (pids, first first)."""
    members = sorted(cgroup.pids())
    # Selected by the memory cgroup's path as /proc/PID/cgroup lists it (the v1 memory hierarchy on a v1 or
    # hybrid host, the unified one on v2), as a user would, not by the pids the test knows.
    result = run_module_ok("oom_score_info", {
        "cgroups": [cgroup.kernel_path], "cgroup_limit": str(cgroup.limit_bytes), "top": len(members) + 1,
        "return_processes": False})
    assert result["host"]["cgroup_limit_bytes"] == cgroup.limit_bytes
    assert sorted(entry["pid"] for entry in result["kill_order"]) == members, (result["kill_order"], members)
    return result["kill_order"]


def _names(started, pusher):
    names = {worker.pid: worker.name for worker in started}
    names[pusher.pid] = "drill-pusher"
    return names


def test_kernel_kills_in_the_predicted_order_and_the_log_reports_each_kill():
    with drill_cgroup() as (cgroup, started, pusher):
        assign_tiers(started, pusher)
        kill_order = predict(cgroup)
        predicted = [entry["pid"] for entry in kill_order]
        names = _names(started, pusher)
        # The tiers matter: the prediction is the designed one, not the order by size.
        assert [names[pid] for pid in predicted] == DESIGNED_ORDER, kill_order
        by_size = [name for name, _size, _adj in sorted(TIERS, key=lambda tier: -tier[1])]
        assert DESIGNED_ORDER[:4] != by_size
        members = {worker.pid: worker.popen for worker in started}
        members[pusher.pid] = pusher
        started_at = time.time()

        steps = run_drill(cgroup, members, pusher, predicted, names)

        assert [pid for step in steps for pid in step] == predicted
        assert cgroup.pids() == []
        log = run_module_ok("oom_events_info", {"since": "%ds" % (time.time() - started_at + 60)})
        events = log["events"]
        adj_of = {worker.pid: adj for worker, (_n, _s, adj) in zip(started, TIERS)}
        adj_of[pusher.pid] = 0
        ours = [event for event in events if event["pid"] in members and event["name"] == names[event["pid"]]]
        # The kernel's own record: every kill, in the predicted order (this also orders a step that killed
        # twice), with the name and adj the victim had.
        assert [(event["pid"], event["name"], event["oom_score_adj"]) for event in ours] == [
            (pid, names[pid], adj_of[pid]) for pid in predicted], (log.get("source_used"), log.get("warnings"), events[-10:])
        for event in ours:
            assert event["scope"] == "memcg", event
            # The summary line that names the cgroup is ratelimited by the kernel; when it is there, it is ours.
            assert event["oom_memcg"] in (None, cgroup.kernel_path), event
        print("drill: %d kills in %d steps: %s" % (len(predicted), len(steps), " | ".join(
            _named(step, names) for step in steps)))


def test_drill_fails_when_the_prediction_is_wrong():
    with drill_cgroup() as (cgroup, started, pusher):
        assign_tiers(started, pusher)
        predicted = [entry["pid"] for entry in predict(cgroup)]
        wrong = list(reversed(predicted))
        names = _names(started, pusher)
        members = {worker.pid: worker.popen for worker in started}
        members[pusher.pid] = pusher
        with pytest.raises(DrillMismatch) as failure:
            run_drill(cgroup, members, pusher, wrong, names)
        # It failed at the very first step, whose victim was the real first one.
        assert str(failure.value).startswith("step #1: the kernel killed %d (%s)" % (predicted[0], names[predicted[0]]))
