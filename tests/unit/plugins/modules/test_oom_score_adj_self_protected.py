# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A process that put itself at -1000 (OpenSSH's sshd listener does at every start) is never raised to a
protective (negative) value: that would fight the daemon after each restart for less protection. A value of
0 or more still applies to it (the operator wants it killable)."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_score_adj

from fakeproc import FakeProc
from modrun import run_module

CAP_SYS_RESOURCE = 1 << 24


@pytest.fixture
def sshd(tmp_path):
    """A host where root can lower values (a real server), with sshd's listener at its own -1000."""
    fakeproc = FakeProc(tmp_path / "proc", cap_eff=CAP_SYS_RESOURCE)
    fakeproc.add(1, name=b"init", ppid=0)
    fakeproc.add(100, name=b"sshd", oom_score_adj=-1000, cgroup="/system.slice/ssh.service",
                 cmdline=[b"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"])
    fakeproc.add(101, name=b"sshd", ppid=100, oom_score_adj=0, cgroup="/system.slice/ssh.service",
                 cmdline=[b"sshd: root@pts/0"])
    return fakeproc


def read_adj(root, pid):
    with open("%s/%d/oom_score_adj" % (root, pid)) as handle:
        return int(handle.read().split()[0])


def adjust(fakeproc, value, check_mode=False):
    return run_module(oom_score_adj.main, {"proc_path": fakeproc.root,
                                           "rules": [{"unit": "ssh.service", "value": value}]},
                      check_mode=check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_self_protected_listener_is_left_at_minus_1000_and_the_reason_given(sshd, check_mode):
    result, failed = adjust(sshd, -900, check_mode=check_mode)
    assert not failed
    assert [c["pid"] for c in result["changes"]] == [101]
    (skipped,) = result["excluded"]
    assert skipped["pid"] == 100 and "protects itself at -1000" in skipped["reason"]
    assert read_adj(sshd.root, 100) == -1000


def test_a_killable_value_still_applies_to_a_self_protected_process(sshd):
    result, failed = adjust(sshd, 0)
    assert not failed
    assert [c["pid"] for c in result["changes"]] == [100]
    assert result["excluded"] == []
    assert read_adj(sshd.root, 100) == 0
