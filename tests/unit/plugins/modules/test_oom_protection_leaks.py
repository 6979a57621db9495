# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_leaks on fake proc trees: report, reset on request, never the assigned ones or PID 1,
check mode writes nothing, bad input is one line that changes nothing. (No systemd on this test host:
no unit declares anything, so the assigned units are what protects a process from being a leak.)"""

from __future__ import annotations

import os

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_leaks

from modrun import run_module

SSH = "/system.slice/ssh.service"
SESSION = "/user.slice/user-0.slice/session-3.scope"


@pytest.fixture
def host(fakeproc):
    fakeproc.add(1, name="systemd", ppid=0, oom_score_adj=-1000, cgroup="/init.scope")
    fakeproc.add(612, name="sshd", oom_score_adj=-900, cgroup=SSH)
    fakeproc.add(4241, name="sshd", ppid=612, oom_score_adj=-900, cgroup=SESSION)
    fakeproc.add(4242, name="bash", ppid=4241, oom_score_adj=-900, cgroup=SESSION)
    # A worker that lowered its own value under a daemon that did not (no protected ancestor to name).
    fakeproc.add(4299, name="backupd", ppid=1, oom_score_adj=0, cgroup="/system.slice/backup.service")
    fakeproc.add(4300, name="backup-agent", ppid=4299, oom_score_adj=-500, cgroup="/system.slice/backup.service")
    return fakeproc


def adj(host, pid):
    with open(os.path.join(host.root, str(pid), "oom_score_adj")) as handle:
        return int(handle.read().split()[0])  # a fake file keeps the tail of a longer old value


def leaks(host, check_mode=False, diff=False, **args):
    args.setdefault("proc_path", host.root)
    args.setdefault("units", ["ssh.service"])
    return run_module(oom_protection_leaks.main, args, check_mode=check_mode, diff=diff)


def test_report_only_lists_the_leaks_with_their_source_and_changes_nothing(host):
    result, failed = leaks(host)
    assert not failed and result["changed"] is False and result["reset"] == []
    assert [(leak["pid"], leak["source"]["pid"] if leak["source"] else None) for leak in result["leaks"]] == [
        (4241, 612), (4242, 612), (4300, None)]
    assert [adj(host, pid) for pid in (4241, 4242, 4300)] == [-900, -900, -500]


def test_reset_raises_the_leaks_and_leaves_the_assigned_service_and_pid_1_alone(host):
    result, failed = leaks(host, reset_to=0, rules=[{"name": "backup-agent"}])
    assert not failed and result["changed"] is True
    assert [(r["pid"], r["before"], r["after"]) for r in result["reset"]] == [(4241, -900, 0), (4242, -900, 0)]
    assert [adj(host, pid) for pid in (1, 612, 4241, 4242, 4300)] == [-1000, -900, 0, 0, -500]
    again, _failed = leaks(host, reset_to=0, rules=[{"name": "backup-agent"}])
    assert again["changed"] is False and again["leaks"] == []


def test_check_mode_shows_the_resets_and_writes_nothing(host):
    result, failed = leaks(host, check_mode=True, diff=True, reset_to=0)
    assert not failed and result["changed"] is True
    assert [r["pid"] for r in result["reset"]] == [4241, 4242, 4300]
    assert result["diff"]["after"] == "4241 sshd: 0\n4242 bash: 0\n4300 backup-agent: 0\n"
    assert [adj(host, pid) for pid in (4241, 4242, 4300)] == [-900, -900, -500]


def test_a_pid_reused_since_the_scan_is_not_reset(host, monkeypatch):
    from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import leaks as _leaks_task
    real = _leaks_task.gather

    def gather_then_reuse(*args, **kwargs):
        found = real(*args, **kwargs)
        host.add(4242, name="newcomer", ppid=1, oom_score_adj=-900, cgroup=SESSION, starttime=999999)
        return found
    monkeypatch.setattr(_leaks_task, "gather", gather_then_reuse)
    result, _failed = leaks(host, reset_to=0)
    assert [(s["pid"], s["name"]) for s in result["not_reset"]] == [(4242, "bash")] and adj(host, 4242) == -900
    assert "now belongs to another process" in result["not_reset"][0]["reason"]
    # Not under `skipped`, which ansible-core reserves (it turns the list into a bool).
    assert "skipped" not in result


@pytest.mark.parametrize("args, message", [
    ({"reset_to": -5}, "reset_to must be between 0 and 1000 (a reset only raises a leaked negative value), got -5"),
    ({"reset_to": 1001}, "reset_to must be between 0 and 1000"),
    ({"units": ["not a unit"]}, "units[0]: 'not a unit' is not a valid systemd unit name"),
    ({"rules": [{"name_pattern": "("}]}, "rules[0]: name_pattern '(' is not a valid regular expression"),
    ({"rules": [{}]}, "rules[0] has no selector"),
])
def test_bad_input_is_one_line_and_writes_nothing(host, args, message):
    args.setdefault("reset_to", 0)
    result, failed = leaks(host, **args)
    assert failed and result["msg"].startswith(message) and "\n" not in result["msg"]
    assert [adj(host, pid) for pid in (4241, 4242, 4300)] == [-900, -900, -500]
