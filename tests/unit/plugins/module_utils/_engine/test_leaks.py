# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Protection leaks on fake process tables: what is a leak, where its value came from, what never is one.

The real thing (a child moved out of a protected unit, SSH sessions under a protected sshd) is shown on
guests in tests/guests/test_audit_findings.py; this machine cannot hold negative values (no CAP_SYS_RESOURCE).
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import leaks as _leaks
from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import Process
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import Matcher

SSH = "/system.slice/ssh.service"
SESSION = "/user.slice/user-0.slice/session-3.scope"


def proc(pid, name, adj, cgroup, ppid=1, rss_anon_kb=4096):
    return Process(pid=pid, ppid=ppid, name=name, oom_score_adj=adj, cgroup=cgroup, kthread=False, starttime=pid,
                   rss_anon_kb=rss_anon_kb, rss_file_kb=0, rss_shmem_kb=0, swap_kb=0, pgtables_kb=0)


def table():
    return [
        proc(1, "systemd", 0, "/init.scope", ppid=0),
        proc(612, "sshd", -900, SSH),
        proc(700, "sshd", -900, SSH, ppid=612),          # a connection's privileged half, still in ssh.service
        proc(4241, "sshd", -900, SESSION, ppid=700),     # the session, moved to its scope by pam_systemd
        proc(4242, "bash", -900, SESSION, ppid=4241, rss_anon_kb=8192),
        proc(5000, "worker", 0, SESSION, ppid=4242),
    ]


DECLARED = {"ssh.service": -900, "session-3.scope": None}


def test_an_ssh_session_under_a_protected_sshd_leaks_with_sshd_as_its_source():
    leaks = _leaks.find_leaks(table(), DECLARED)
    assert [(leak["pid"], leak["name"], leak["unit"]) for leak in leaks] == [
        (4241, "sshd", "session-3.scope"), (4242, "bash", "session-3.scope")]
    bash = leaks[1]
    # Not the session's own sshd: the one in ssh.service the session came out of.
    assert bash["source"] == {"pid": 700, "name": "sshd", "unit": "ssh.service", "oom_score_adj": -900}
    assert bash["memory_kb"] == 8192
    assert leaks[0]["source"] == {"pid": 700, "name": "sshd", "unit": "ssh.service", "oom_score_adj": -900}
    assert leaks[0]["reason"] == "inherited from sshd (pid 700, ssh.service) at fork; " \
                                 "ssh.service declares OOMScoreAdjust=-900"


def test_processes_of_the_unit_that_declares_their_value_are_not_leaks():
    assert not [leak for leak in _leaks.find_leaks(table(), DECLARED) if leak["unit"] == "ssh.service"]


def test_a_service_daemon_that_protects_itself_is_not_a_leak_but_what_it_forks_is():
    # sshd's listener writes -1000 into itself at start, whatever ssh.service declares.
    procs = [proc(1, "systemd", 0, "/init.scope", ppid=0), proc(612, "sshd", -1000, SSH),
             proc(4241, "sshd", -900, SESSION, ppid=612)]
    leaks = _leaks.find_leaks(procs, {"ssh.service": 0})
    assert [(leak["pid"], leak["source"]["pid"]) for leak in leaks] == [(4241, 612)]


def test_a_unit_that_declares_another_value_does_not_cover_its_process():
    procs = [proc(1, "systemd", 0, "/init.scope", ppid=0), proc(9, "pg-main", 0, "/system.slice/pg.service"),
             proc(10, "postgres", -1000, "/system.slice/pg.service", ppid=9)]
    [leak] = _leaks.find_leaks(procs, {"pg.service": -500})
    assert leak["source"] is None
    assert leak["reason"].startswith("no living ancestor holds -1000")
    assert leak["reason"].endswith("; its own unit pg.service declares -500")


def test_assigned_units_and_assigned_selectors_are_never_leaks():
    assert _leaks.find_leaks(table(), DECLARED, assigned_units=["session-3.scope"]) == []
    leaks = _leaks.find_leaks(table(), DECLARED, matchers=[Matcher({"name": "bash"})])
    assert [leak["pid"] for leak in leaks] == [4241]


def test_pid_1_and_kernel_threads_are_never_leaks():
    procs = [proc(1, "systemd", -1000, "/init.scope", ppid=0), proc(2, "kthreadd", -1000, None, ppid=0)]
    procs[1].kthread = True
    assert _leaks.find_leaks(procs, {}) == []


def test_pid_1_is_never_named_as_the_source():
    procs = [proc(1, "systemd", -1000, "/init.scope", ppid=0), proc(10, "agent", -500, "/user.slice/x.scope")]
    assert _leaks.find_leaks(procs, {})[0]["source"] is None


def test_the_source_is_the_ancestor_of_an_unbroken_line_of_protected_processes():
    procs = table()
    procs[2].oom_score_adj = 0  # the connection's sshd in ssh.service was raised: the line breaks there
    leaks = _leaks.find_leaks(procs, DECLARED)
    assert [(leak["pid"], leak["source"]["pid"] if leak["source"] else None) for leak in leaks] == [
        (4241, None), (4242, 4241)]


def test_a_child_that_raised_its_value_again_is_not_a_leak():
    procs = table()
    procs[4].oom_score_adj = 0
    assert [leak["pid"] for leak in _leaks.find_leaks(procs, DECLARED)] == [4241]


def test_the_units_to_ask_systemd_about_are_those_of_the_candidates():
    assert _leaks.units_to_show(table()) == ["session-3.scope", "ssh.service"]
    assert _leaks.declared_values({"ssh.service": {"OOMScoreAdjust": "-900"}, "x.scope": {}}) == \
        {"ssh.service": -900, "x.scope": None}


def test_a_selector_with_include_descendants_assigns_the_whole_subtree():
    leaks = _leaks.find_leaks(table(), DECLARED, matchers=[Matcher({"pid": 4241, "include_descendants": True})])
    assert leaks == []
