# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info on fake /proc trees: its own processes are left out of the kill order by default and named
with their ranks in own_processes_excluded; credential-like arguments are masked in what it returns, while
cmdline_patterns still match the real text."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

from modrun import run_module

MIB = 1024
SELF = os.getpid()
PARENT = os.getppid()


def info(fakeproc, **args):
    args.setdefault("proc_path", fakeproc.root)
    result, failed = run_module(oom_score_info.main, args)
    assert not failed, result.get("msg")
    return result


def free_pids(count):
    """Pids for the other processes that are neither this test's own nor its parent's."""
    return [pid for pid in range(500, 600) if pid not in (SELF, PARENT)][:count]


@pytest.fixture
def own(fakeproc):
    """This test's python (the module's own process, rank 1) and its parent, `ansible` (rank 3), started from
    init; two other workers at ranks 2 and 4."""
    big, small = free_pids(2)
    fakeproc.add(1, name=b"systemd", ppid=0, oom_score=0, rss_anon_kb=8 * MIB, cgroup="/init.scope")
    fakeproc.add(PARENT, name=b"ansible", ppid=1, rss_anon_kb=300 * MIB)
    fakeproc.add(SELF, name=b"python3", ppid=PARENT, rss_anon_kb=900 * MIB)
    fakeproc.add(big, name=b"java", rss_anon_kb=500 * MIB)
    fakeproc.add(small, name=b"cron", rss_anon_kb=100 * MIB)
    fakeproc.big, fakeproc.small = big, small
    return fakeproc


def test_own_processes_are_left_out_of_the_kill_order_by_default_and_named_with_their_ranks(own):
    result = info(own)
    assert [(row["rank"], row["pid"]) for row in result["kill_order"]] == [(2, own.big), (4, own.small)]
    assert result["own_processes_excluded"] == [{"rank": 1, "pid": SELF, "name": "python3"},
                                                {"rank": 3, "pid": PARENT, "name": "ansible"}]
    # The kill order's reasons keep the same kernel positions as the ranks.
    assert [row["reason"][:3] for row in result["kill_order"]] == ["#2:", "#4:"]


def test_the_process_table_still_lists_them_with_their_ranks(own):
    rows = {row["pid"]: row for row in info(own)["processes"]}
    assert (rows[SELF]["rank"], rows[PARENT]["rank"]) == (1, 3)


def test_own_processes_beyond_top_are_still_named(own):
    result = info(own, top=1)
    assert [row["pid"] for row in result["kill_order"]] == [own.big]
    assert [entry["rank"] for entry in result["own_processes_excluded"]] == [1, 3]


def test_exclude_own_processes_false_lists_them_like_any_other(own):
    result = info(own, exclude_own_processes=False)
    assert [(row["rank"], row["pid"]) for row in result["kill_order"]] == [
        (1, SELF), (2, own.big), (3, PARENT), (4, own.small)]
    assert result["own_processes_excluded"] == []


def test_own_processes_that_the_filters_do_not_select_are_not_named(own):
    result = info(own, names=["java"])
    assert [row["pid"] for row in result["kill_order"]] == [own.big]
    assert result["own_processes_excluded"] == []


@pytest.fixture
def secrets(fakeproc):
    fakeproc.add(1, name=b"systemd", ppid=0, oom_score=0, rss_anon_kb=8 * MIB, cgroup="/init.scope")
    pid, other, dump = free_pids(3)
    fakeproc.add(pid, name=b"app", rss_anon_kb=500 * MIB,
                 cmdline=[b"/usr/bin/app", b"--password=hunter2", b"--db", b"postgresql://app:hunter3@db/app"])
    fakeproc.add(other, name=b"worker", rss_anon_kb=100 * MIB, cmdline=[b"worker", b"--token", b"hunter4"])
    fakeproc.add(dump, name=b"mysqldump", rss_anon_kb=50 * MIB, cmdline=[b"mysqldump", b"-phunter5", b"db"])
    fakeproc.pids = (pid, other, dump)
    return fakeproc


def test_credential_values_are_masked_in_the_returned_command_lines(secrets):
    result = info(secrets)
    rows = {row["pid"]: row["cmdline"] for row in result["processes"]}
    pid, other, dump = secrets.pids
    assert rows[pid] == ["/usr/bin/app", "--password=********", "--db", "postgresql://app:********@db/app"]
    assert rows[other] == ["worker", "--token", "********"]
    assert rows[dump] == ["mysqldump", "-p********", "db"]
    assert "hunter" not in json.dumps(result)


def test_cmdline_patterns_match_the_real_text_and_the_result_stays_masked(secrets):
    result = info(secrets, cmdline_patterns=["--password=hunter2"])
    assert [row["pid"] for row in result["processes"]] == [secrets.pids[0]]
    assert "hunter2" not in json.dumps(result)


def test_scrub_cmdline_false_returns_the_command_lines_as_they_are(secrets):
    result = info(secrets, scrub_cmdline=False, pids=[secrets.pids[0]])
    assert result["processes"][0]["cmdline"][1] == "--password=hunter2"
