# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real OOM kill on this machine, found in the kernel log.

A Python child joins a fresh memory cgroup limited to 64 MiB, raises its own oom_score_adj to 345, names itself
with spaces and parentheses, and allocates until the kernel's memory-cgroup OOM killer kills it. The engine
(against dmesg) and oom_events_info run through real `ansible` must then report that kill with the child's
pid, name and adj, scoped to the memory cgroup. Without a usable memory controller the tests skip, saying why.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils import _kernel_log as kl

from memcg import MemcgUnavailable, memory_cgroup

LIMIT = 64 * 1024 * 1024
VICTIM_ADJ = 345
# comm is at most 15 bytes; spaces and parentheses are what a parser most easily gets wrong.
VICTIM_NAME = "oomguard (ev) 1"

_VICTIM = r"""
import sys
name, adj = sys.argv[1], sys.argv[2]
sys.stdin.readline()            # the parent has moved us into the cgroup
with open("/proc/self/oom_score_adj", "w") as handle:
    handle.write(adj)
with open("/proc/self/comm", "w") as handle:
    handle.write(name)
hold = []
while True:
    hold.append(b"\x5a" * (1 << 20))   # touched pages, charged to the cgroup until it OOMs
"""


def _kill_in_memory_cgroup():
    with memory_cgroup(LIMIT) as cgroup:
        before = kl.oom_kill_counter()
        started = time.time()
        victim = subprocess.Popen([sys.executable, "-S", "-E", "-c", _VICTIM, VICTIM_NAME, str(VICTIM_ADJ)],
                                  stdin=subprocess.PIPE, close_fds=True)
        try:
            cgroup.add(victim.pid)
            victim.stdin.write(b"go\n")
            victim.stdin.flush()
            returncode = victim.wait(timeout=120)
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait()
            victim.stdin.close()
        if returncode != -signal.SIGKILL:
            raise AssertionError("the victim was not OOM-killed (exit %r) in %s" % (returncode, cgroup.path))
        kill = {"pid": victim.pid, "cgroup": cgroup.name, "path": cgroup.path, "started": started,
                "ended": time.time(), "counter_before": before}
    return kill


@pytest.fixture(scope="module")
def oom_kill():
    """One real memory-cgroup OOM kill for all tests of this file."""
    try:
        return _kill_in_memory_cgroup()
    except MemcgUnavailable as exc:
        pytest.skip("no usable memory cgroup on this machine: %s" % exc)


def test_the_cgroup_is_gone_after_the_kill(oom_kill):
    assert not os.path.exists(oom_kill["path"])


def _run(argv):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, LANG="C", LC_ALL="C"))
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def _victim_events(events, kill):
    return [e for e in events if e["pid"] == kill["pid"] and e["name"] == VICTIM_NAME]


def test_engine_finds_the_kill_in_dmesg_with_pid_name_adj_and_memcg(oom_kill):
    found = kl.collect(source="dmesg", since=oom_kill["started"] - 60, run_command=_run, which=shutil.which,
                       warn=pytest.fail)
    matches = _victim_events(found["events"], oom_kill)
    assert len(matches) == 1, "pid %d not found once in %r" % (oom_kill["pid"], found["events"])
    (event,) = matches
    assert (event["oom_score_adj"], event["scope"], event["uid"]) == (VICTIM_ADJ, "memcg", os.getuid())
    # The kernel prints cgroup paths from the hierarchy root; the leaf is the cgroup this test made.
    assert event["oom_memcg"].endswith("/" + oom_kill["cgroup"])
    assert event["task_memcg"] == event["oom_memcg"]
    assert event["trigger"]["name"] == VICTIM_NAME
    assert event["raw"].startswith("Memory cgroup out of memory: Killed process %d (%s) " % (oom_kill["pid"], VICTIM_NAME))
    # dmesg times are boot time plus the printk clock: close to, not exactly, the wall clock.
    assert oom_kill["started"] - 5 <= event["timestamp"] <= oom_kill["ended"] + 5


def test_kernel_oom_kill_counter_counted_it(oom_kill):
    if oom_kill["counter_before"] is None:
        pytest.skip("this kernel has no oom_kill field in /proc/vmstat")
    assert kl.oom_kill_counter() >= oom_kill["counter_before"] + 1


def _needs_ansible():
    if importlib.util.find_spec("ansible") is None:
        pytest.skip("ansible is not importable by %s; the integration pipeline runs these tests in a venv with "
                    "ansible-core" % sys.executable)
    import livetools  # pylint: disable=import-outside-toplevel
    return livetools


def test_module_through_ansible_reports_the_kill_from_dmesg(oom_kill):
    livetools = _needs_ansible()
    result = livetools.run_module_ok("oom_events_info", {"source": "dmesg", "since": "1h"})
    assert (result["changed"], result["source_used"], result["source_path"]) == (False, "dmesg", None)
    (event,) = _victim_events(result["events"], oom_kill)
    assert (event["oom_score_adj"], event["scope"]) == (VICTIM_ADJ, "memcg")
    assert event["oom_memcg"].endswith("/" + oom_kill["cgroup"])


def test_module_through_ansible_in_check_mode_with_auto_source_finds_it_too(oom_kill):
    livetools = _needs_ansible()
    # journald (where it runs) picks kernel messages up asynchronously: give it a moment.
    deadline = time.time() + 15
    while True:
        result = livetools.run_module_ok("oom_events_info", {"since": "1h"}, check=True)
        matches = _victim_events(result["events"], oom_kill)
        if matches or time.time() > deadline:
            break
        time.sleep(1)
    assert len(matches) == 1, "not found with source=auto (read %s)" % result["source_used"]
    assert (matches[0]["oom_score_adj"], matches[0]["scope"]) == (VICTIM_ADJ, "memcg")
