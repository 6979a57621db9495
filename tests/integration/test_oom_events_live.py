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

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel_log

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
        before = kernel_log.oom_kill_counter()
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
    found = kernel_log.collect(source="dmesg", since=oom_kill["started"] - 60, run_command=_run, which=shutil.which,
                               warn=pytest.fail)
    matches = _victim_events(found["events"], oom_kill)
    assert len(matches) == 1, "pid %d not found once in %r" % (oom_kill["pid"], found["events"])
    (event,) = matches
    assert (event["oom_score_adj"], event["scope"], event["uid"]) == (VICTIM_ADJ, "memcg", os.getuid())
    # The kernel prints cgroup paths from the hierarchy root; the leaf is the cgroup this test made.
    assert event["oom_memcg"].endswith("/" + oom_kill["cgroup"])
    assert event["task_memcg"] == event["oom_memcg"]
    assert event["trigger"]["name"] == VICTIM_NAME
    # The summary line names the victim too; the kill is still one event, read from its kill line.
    assert event["line"] == "kill"
    assert event["raw"].startswith("Memory cgroup out of memory: Killed process %d (%s) " % (oom_kill["pid"], VICTIM_NAME))
    # dmesg times are boot time plus the printk clock: close to, not exactly, the wall clock.
    assert oom_kill["started"] - 5 <= event["timestamp"] <= oom_kill["ended"] + 5


def _dmesg(*args, **env):
    done = subprocess.run(["dmesg"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, **env))
    if done.returncode != 0:
        pytest.skip("dmesg %s failed here: %s" % (" ".join(args), done.stderr.decode("utf-8", "replace").strip()))
    return done.stdout.decode("utf-8", "replace")


def test_a_grep_for_oom_kill_keeps_only_the_summary_line_and_that_is_the_kill(oom_kill):
    grepped = [line for line in _dmesg("--time-format", "iso", LC_ALL="C").splitlines() if "oom-kill:" in line]
    (event,) = _victim_events(kl.parse_text(grepped), oom_kill)
    assert (event["line"], event["uid"], event["constraint"]) == ("summary", os.getuid(), "CONSTRAINT_MEMCG")
    assert event["task_memcg"].endswith("/" + oom_kill["cgroup"])
    assert event["total_vm_kb"] is None
    assert oom_kill["started"] - 5 <= event["timestamp"] <= oom_kill["ended"] + 5


@pytest.mark.parametrize("locale", ["de_DE", "fr_FR", "es_ES", "ru_RU", "zh_CN", "ja_JP"])
def test_dmesg_T_in_another_locale_gives_the_kill_with_its_time_and_a_clean_trigger_name(oom_kill, locale, tmp_path):
    # dmesg -T writes its time with strftime in the reader's locale: build that locale from glibc's sources.
    if not shutil.which("localedef") or not os.path.exists("/usr/share/i18n/locales/" + locale):
        pytest.skip("glibc's locale sources for %s are not installed here" % locale)
    built = subprocess.run(["localedef", "-i", locale, "-f", "UTF-8", str(tmp_path / (locale + ".UTF-8"))],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if built.returncode not in (0, 1):  # 1: built with warnings
        pytest.skip("localedef %s failed: %s" % (locale, built.stdout.decode("utf-8", "replace").strip()))
    # dmesg and the engine read the time in the same time zone, this process's.
    text = _dmesg("-T", LOCPATH=str(tmp_path), LC_ALL=locale + ".UTF-8")
    # Not C's English names: otherwise this would test nothing new.
    assert "[%s " % time.strftime("%a", time.localtime(oom_kill["started"])) not in text
    (event,) = _victim_events(kl.parse_text(text), oom_kill)
    assert event["trigger"]["name"] == VICTIM_NAME
    # dmesg -T whole seconds from the boot time plus the printk clock.
    assert oom_kill["started"] - 6 <= event["timestamp"] <= oom_kill["ended"] + 6


def test_kernel_oom_kill_counter_counted_it(oom_kill):
    if oom_kill["counter_before"] is None:
        pytest.skip("this kernel has no oom_kill field in /proc/vmstat")
    assert kernel_log.oom_kill_counter() >= oom_kill["counter_before"] + 1


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
