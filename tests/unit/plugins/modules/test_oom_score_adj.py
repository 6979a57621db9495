# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj: input validation against a real child process, and planning, ordering and rollback on fake
/proc trees (where the writer's files are plain files and the kernel's refusals are simulated)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as _adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._host import writer as _writer
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_adj

from modrun import run_module


def adjust(args, **kwargs):
    return run_module(oom_score_adj.main, args, **kwargs)


def read_adj(root, pid):
    with open("%s/%d/oom_score_adj" % (root, pid)) as handle:
        return int(handle.read().split()[0])


# -- the legacy scale ------------------------------------------------------------------------------------

@pytest.mark.parametrize("legacy, expected", [
    (-17, -1000), (-16, -941), (-1, -58), (0, 0), (1, 58), (2, 117), (5, 294), (8, 470), (10, 588), (14, 823),
    (15, 1000),
])
def test_legacy_oom_adj_converts_like_the_kernel(legacy, expected):
    assert _adj_task.legacy_to_score_adj(legacy) == expected


# -- bad input: a clear message naming the option, and nothing written -------------------------------------

@pytest.fixture
def child():
    """A real process at oom_score_adj 0 that every bad request also targets with a valid rule."""
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def live_adj(pid):
    with open("/proc/%d/oom_score_adj" % pid) as handle:
        return int(handle.read())


def with_valid_rule(pid, bad_rule):
    return {"rules": [{"pid": pid, "value": 500}, bad_rule]}


LONG = ["'systemd-journald' is 16 bytes", 'first 15 bytes', "'systemd-journal'", 'name_pattern or cmdline_pattern']
BAD_INPUT = [
    ("value 1001", lambda pid: {"pid": pid, "value": 1001}, ["value", "-1000", "1000", "1001"]),
    ("value -1001", lambda pid: {"pid": pid, "value": -1001}, ["value", "-1000", "1000", "-1001"]),
    ("value abc", lambda pid: {"pid": pid, "value": "abc"}, ["value"]),
    ("value abc in a rule", lambda pid: with_valid_rule(pid, {"pid": pid, "value": "abc"}), ["value", "rules"]),
    ("rule value 1001", lambda pid: with_valid_rule(pid, {"pid": pid, "value": 1001}), ["rules[1].value", "1001"]),
    ("oom_adj 16", lambda pid: {"pid": pid, "oom_adj": 16}, ["oom_adj", "-17", "15", "16"]),
    ("oom_adj -18", lambda pid: {"pid": pid, "oom_adj": -18}, ["oom_adj", "-17", "15", "-18"]),
    ("-1000 without allow_oom_disable", lambda pid: with_valid_rule(pid, {"pid": pid, "value": -1000}),
     ["rules[1].value -1000", "allow_oom_disable"]),
    ("oom_adj -17 without allow_oom_disable", lambda pid: {"pid": pid, "oom_adj": -17}, ["oom_adj -17", "allow_oom_disable"]),
    ("invalid name_pattern", lambda pid: with_valid_rule(pid, {"name_pattern": "(", "value": 1}),
     ["rules[1]", "name_pattern", "regular expression"]),
    ("invalid cmdline_pattern", lambda pid: with_valid_rule(pid, {"cmdline_pattern": "[a-", "value": 1}),
     ["rules[1]", "cmdline_pattern", "regular expression"]),
    ("rule with no selector", lambda pid: with_valid_rule(pid, {"value": 1}), ["rules[1] has no selector"]),
    ("rule with two values", lambda pid: with_valid_rule(pid, {"pid": pid, "value": 1, "oom_adj": 1}),
     ["rules[1]", "both value and oom_adj"]),
    ("rule with no value", lambda pid: with_valid_rule(pid, {"pid": pid}), ["rules[1]", "value", "oom_adj"]),
    ("unknown user", lambda pid: with_valid_rule(pid, {"user": "no-such-user-oomguard", "value": 1}),
     ["rules[1]", "user", "no-such-user-oomguard"]),
    ("unit ../x.service", lambda pid: with_valid_rule(pid, {"unit": "../x.service", "value": 1}),
     ["rules[1]", "unit", "../x.service"]),
    ("unit a/b.service", lambda pid: with_valid_rule(pid, {"unit": "a/b.service", "value": 1}),
     ["rules[1]", "unit", "a/b.service"]),
    ("unit without a suffix", lambda pid: {"unit": "sshd", "value": 1}, ["unit", "sshd"]),
    ("relative cgroup", lambda pid: with_valid_rule(pid, {"cgroup": "system.slice", "value": 1}), ["rules[1]", "cgroup"]),
    ("exclude with no selector", lambda pid: {"pid": pid, "value": 500, "exclude": [{"include_descendants": True}]},
     ["exclude[0] has no selector"]),
    ("no selector at all", lambda pid: {"value": 500}, ["no selector"]),
    ("empty rules", lambda pid: {"rules": []}, ["rules is empty"]),
    ("rules and a single-rule value", lambda pid: {"rules": [{"pid": pid, "value": 500}], "value": 1}, ["rules", "value"]),
    ("value and oom_adj", lambda pid: {"pid": pid, "value": 500, "oom_adj": 3}, ["value", "oom_adj"]),
    ("include_descendants outside the rules", lambda pid: {"rules": [{"pid": pid, "value": 500}], "include_descendants": True},
     ["include_descendants"]),
    ("on_denied choice", lambda pid: {"pid": pid, "value": 500, "on_denied": "ignore"}, ["on_denied"]),
    # comm holds 15 bytes: such a name never matches, whatever runs.
    ("name over 15 bytes", lambda pid: {"name": "systemd-journald", "value": 1}, ["options: name"] + LONG),
    ("rule name over 15 bytes", lambda pid: with_valid_rule(pid, {"name": "systemd-journald", "value": 1}),
     ["rules[1]: name"] + LONG),
    ("exclude name over 15 bytes", lambda pid: {"pid": pid, "value": 500, "exclude": [{"name": "systemd-journald"}]},
     ["exclude[0]: name"] + LONG),
    # Bytes, not characters: 8 two-byte letters are 16 bytes, and the kernel cuts the last one in half.
    ("UTF-8 name over 15 bytes", lambda pid: {"name": "\u00e9" * 8, "value": 1},
     ["is 16 bytes", "'" + "\u00e9" * 7 + "\\xc3'"]),
]


@pytest.mark.parametrize("case, make_args, expected", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_naming_the_option_and_writes_nothing(child, case, make_args, expected):
    result, failed = adjust(make_args(child))
    assert failed, case
    for fragment in expected:
        assert fragment in result["msg"], (fragment, result["msg"])
    assert "Traceback" not in result["msg"]
    assert "\n" not in result["msg"]
    assert result.get("changed") is not True
    assert live_adj(child) == 0


def test_every_problem_is_reported_in_one_message(child):
    result, failed = adjust({"rules": [
        {"pid": child, "value": 500},
        {"name_pattern": "(", "value": 1},
        {"user": "no-such-user-oomguard", "value": 1},
        {"unit": "a/b.service", "value": 1001},
    ]})
    assert failed
    for fragment in ("rules[1]: name_pattern", "rules[2]: user", "rules[3].value", "rules[3]: unit"):
        assert fragment in result["msg"]
    assert "nothing was read or written" in result["msg"]
    assert live_adj(child) == 0


def test_oom_adj_warns_about_the_legacy_scale_and_writes_the_converted_value(child):
    result, failed = adjust({"pid": child, "oom_adj": 5})
    assert not failed
    assert live_adj(child) == 294
    assert result["changes"][0]["after"] == 294
    assert any("legacy" in warning and "294" in warning for warning in result["warnings"])


# -- planning on fake trees -----------------------------------------------------------------------------

@pytest.fixture
def host(fakeproc):
    fakeproc.add(1, name=b"init", ppid=0)
    fakeproc.add(2, name=b"kthreadd", ppid=0, flags=0x00208040, has_mm=False)
    fakeproc.add(3, name=b"kworker/0:1", ppid=2, flags=0x04208060, has_mm=False)
    fakeproc.add(100, name=b"sshd", cgroup="/system.slice/ssh.service", cmdline=[b"sshd: /usr/sbin/sshd -D"])
    fakeproc.add(200, name=b"postgres", uid=65534, cgroup="/system.slice/postgresql.service",
                 cmdline=[b"/usr/lib/postgresql/bin/postgres", b"-D", b"/db"])
    fakeproc.add(201, name=b"postgres", ppid=200, uid=65534, cgroup="/system.slice/postgresql.service",
                 cmdline=[b"postgres: checkpointer"])
    fakeproc.add(300, name=b"java", oom_score_adj=500, cgroup="/system.slice/batch.service",
                 cmdline=[b"/usr/bin/java", b"-jar", b"batch.jar"])
    fakeproc.add(301, name=b"sh", ppid=300, cgroup="/system.slice/batch.service")
    fakeproc.add(400, name=b"app", cgroup="/user.slice/user-1000.slice/session-3.scope")
    return fakeproc


def fake(host, **args):
    args.setdefault("proc_path", host.root)
    return adjust(args, check_mode=args.pop("_check", False), diff=args.pop("_diff", False))


def test_the_last_matching_rule_wins_and_is_named(host):
    result, failed = fake(host, rules=[
        {"unit": "postgresql.service", "value": 100},
        {"name": "postgres", "value": 200},
        {"pid": 201, "value": 300},
    ])
    assert not failed
    after = dict((c["pid"], (c["after"], c["rule"]["index"])) for c in result["changes"])
    assert after == {200: (200, 1), 201: (300, 2)}
    assert result["changes"][1]["rule"] == {"index": 2, "description": "pid=201"}
    assert result["changes"][1]["unit"] == "postgresql.service"
    assert [(r["matched"], r["won"]) for r in result["rules"]] == [(2, 0), (2, 1), (1, 1)]
    assert result["matched"] == 2
    assert (read_adj(host.root, 200), read_adj(host.root, 201)) == (200, 300)


def test_a_second_identical_call_changes_nothing(host):
    rules = [{"cgroup": "/system.slice/*.service", "value": 250}]
    first, failed = fake(host, rules=rules)
    assert not failed and first["changed"]
    second, failed = fake(host, rules=rules)
    assert not failed
    assert not second["changed"]
    assert second["changes"] == []
    assert second["unchanged"] == first["matched"] == 5


def test_processes_already_at_the_value_are_listed_as_kept(host):
    rules = [{"cgroup": "/system.slice/*.service", "value": 250}]
    first, _failed = fake(host, rules=rules)
    assert first["kept"] == []
    second, _failed = fake(host, rules=rules)
    assert sorted(entry["pid"] for entry in second["kept"]) == sorted(change["pid"] for change in first["changes"])
    assert all(entry["oom_score_adj"] == 250 and entry["rule"]["index"] == 0 for entry in second["kept"])
    assert len(second["kept"]) == second["unchanged"]


def test_pid_1_and_kernel_threads_are_never_touched(host):
    result, failed = fake(host, rules=[{"user": "root", "value": 100}, {"pid": 1, "value": 100}])
    assert not failed
    skipped = dict((s["pid"], s["reason"]) for s in result["excluded"])
    assert "PID 1" in skipped[1]
    assert "kernel thread" in skipped[2] and "kernel thread" in skipped[3]
    assert 1 not in [c["pid"] for c in result["changes"]]
    assert read_adj(host.root, 1) == 0 and read_adj(host.root, 3) == 0
    assert any("rules[1] (pid=1)" in warning for warning in result["warnings"])


def test_excluded_processes_are_skipped_with_their_subtree(host):
    result, failed = fake(host, user="root", value=100, exclude=[{"unit": "batch.service"}, {"name": "sshd"}])
    assert not failed
    assert sorted(c["pid"] for c in result["changes"]) == [400]
    reasons = dict((s["pid"], s["reason"]) for s in result["excluded"])
    assert reasons[300].startswith("excluded by exclude[0] (unit=batch.service)")
    assert reasons[100].startswith("excluded by exclude[1]")


def test_include_descendants_adds_the_children(host):
    result, failed = fake(host, pid=300, include_descendants=True, value=700)
    assert not failed
    assert [c["pid"] for c in result["changes"]] == [300, 301]


def test_cmdline_and_exe_free_rules_do_not_read_cmdline(host):
    host.break_file(300, "cmdline")
    result, failed = fake(host, name="java", value=600)
    assert not failed
    assert result["warnings"] == []
    assert [c["pid"] for c in result["changes"]] == [300]


def test_check_mode_reports_changes_and_writes_nothing(host):
    before = host.digest()
    result, failed = fake(host, rules=[{"name": "postgres", "value": 100}, {"pid": 300, "value": -5}], _check=True,
                          _diff=True)
    assert not failed
    assert result["changed"]
    assert [(c["pid"], c["before"], c["after"]) for c in result["changes"]] == [(200, 0, 100), (201, 0, 100)]
    # 500 -> -5 goes below 0 and the fake host has no CAP_SYS_RESOURCE: a predicted, not a certain, denial.
    assert [(d["pid"], d["requested"], d["predicted"]) for d in result["denied"]] == [(300, -5, True)]
    assert result["denied"][0]["reason"].startswith("predicted:")
    assert "CAP_SYS_RESOURCE" in result["denied"][0]["reason"]
    assert result["diff"] == {"before": "200 postgres: 0\n201 postgres: 0\n", "after": "200 postgres: 100\n201 postgres: 100\n"}
    assert host.digest() == before


def test_check_mode_predicts_that_lowering_to_zero_or_above_works(host):
    before = host.digest()
    result, failed = fake(host, pid=300, value=0, _check=True)
    assert not failed and result["changed"]
    assert [(c["pid"], c["before"], c["after"]) for c in result["changes"]] == [(300, 500, 0)]
    assert result["denied"] == []
    assert host.digest() == before


def test_diff_is_returned_only_in_diff_mode(host):
    result, failed = fake(host, name="app", value=10)
    assert not failed and result["changed"]
    assert "diff" not in result


@pytest.mark.parametrize("mode, failed_expected, warned", [("ignore", False, False), ("warn", False, True), ("fail", True, False)])
def test_on_no_match(host, mode, failed_expected, warned):
    before = host.digest()
    result, failed = fake(host, rules=[{"name": "app", "value": 5}, {"name": "no-such-process", "value": 5}],
                          on_no_match=mode)
    assert failed is failed_expected
    assert any("rules[1] (name=no-such-process)" in w for w in result.get("warnings", [])) is warned
    if failed:
        assert "rules[1]" in result["msg"] and "nothing was written" in result["msg"]
        assert host.digest() == before


def test_only_pid_rules_read_only_those_processes(host, monkeypatch):
    seen = []
    original = _adj_task.scan

    def spy(proc_path, want=frozenset(), pids=None):
        seen.append(pids)
        return original(proc_path, want, pids)

    monkeypatch.setattr(_adj_task, "scan", spy)
    result, failed = fake(host, rules=[{"pid": 400, "value": 5}, {"pid": 100, "value": 6}])
    assert not failed
    assert seen == [[100, 400]]
    assert [c["pid"] for c in result["changes"]] == [100, 400]


# -- ordering, denial and rollback (the kernel's refusals simulated) --------------------------------------

class Kernel(object):
    """Wraps the writer: records every write and refuses or fails the ones a test names."""

    def __init__(self, monkeypatch, deny=(), fail=()):
        self.calls = []
        self.deny = set(deny)
        self.fail = set(fail)
        monkeypatch.setattr(_adj_task, "write_adj", self)

    def __call__(self, proc_path, pid, starttime, value, can_lower=None, dry_run=False):
        self.calls.append((pid, value))
        if pid in self.deny and len([c for c in self.calls if c[0] == pid]) == 1:
            before = read_adj(proc_path, pid)
            return _writer.WriteResult(pid, _writer.DENIED, before=before, after=before, err=13,
                                       message=_writer.denial_reason(before, value, can_lower))
        if pid in self.fail and len([c for c in self.calls if c[0] == pid]) == 1:
            return _writer.WriteResult(pid, _writer.FAILED, before=read_adj(proc_path, pid), message="I/O error")
        return _writer.write_adj(proc_path, pid, starttime, value, can_lower, dry_run)


def test_lowering_writes_go_first(host, monkeypatch):
    kernel = Kernel(monkeypatch)
    result, failed = fake(host, rules=[{"pid": 100, "value": 400}, {"pid": 300, "value": 100}, {"pid": 400, "value": 200}])
    assert not failed
    assert kernel.calls == [(300, 100), (100, 400), (400, 200)]


def test_a_denied_lowering_rolls_back_every_write_and_makes_no_raise(host, monkeypatch):
    host.add(500, name=b"cache", oom_score_adj=300)
    kernel = Kernel(monkeypatch, deny=[500])
    result, failed = fake(host, rules=[
        {"pid": 100, "value": 400},     # a raise: must never be attempted
        {"pid": 300, "value": 100},     # a lowering that works, then is reverted
        {"pid": 500, "value": -50},     # a lowering the kernel refuses
    ])
    assert failed
    assert (read_adj(host.root, 100), read_adj(host.root, 300), read_adj(host.root, 500)) == (0, 500, 300)
    assert (100, 400) not in kernel.calls
    assert kernel.calls[-1] == (300, 500)
    assert result["changed"] is False
    assert result["changes"] == []
    assert result["rolled_back"] == [{"pid": 300, "name": "java", "value": 500}]
    assert [(d["pid"], d["before"], d["requested"], d["predicted"]) for d in result["denied"]] == [(500, 300, -50, False)]
    msg = result["msg"]
    for fragment in ("pid 500 (cache)", "requested -50", "current 300", "CAP_SYS_RESOURCE", "rolled back"):
        assert fragment in msg


def test_a_failed_raise_reverts_raises_and_lowerings(host, monkeypatch):
    Kernel(monkeypatch, fail=[400])
    result, failed = fake(host, rules=[{"pid": 100, "value": 400}, {"pid": 300, "value": 100}, {"pid": 400, "value": 200}])
    assert failed
    assert (read_adj(host.root, 100), read_adj(host.root, 300), read_adj(host.root, 400)) == (0, 500, 0)
    assert sorted(r["pid"] for r in result["rolled_back"]) == [100, 300]
    assert "pid 400 (app)" in result["msg"] and "I/O error" in result["msg"]


def test_on_denied_warn_keeps_the_writes_that_worked(host, monkeypatch):
    Kernel(monkeypatch, deny=[300])
    result, failed = fake(host, rules=[{"pid": 300, "value": 100}, {"pid": 400, "value": 200}], on_denied="warn")
    assert not failed
    assert result["changed"]
    assert [c["pid"] for c in result["changes"]] == [400]
    assert [d["pid"] for d in result["denied"]] == [300]
    assert read_adj(host.root, 300) == 500 and read_adj(host.root, 400) == 200
    assert any("pid 300 (java)" in w and "requested 100" in w for w in result["warnings"])


def test_a_failing_rollback_is_reported_as_a_change(host, monkeypatch):
    calls = []

    def writer(proc_path, pid, starttime, value, can_lower=None, dry_run=False):
        calls.append(pid)
        if pid == 400:
            return _writer.WriteResult(pid, _writer.FAILED, before=0, message="I/O error")
        if len(calls) > 2:
            return _writer.WriteResult(pid, _writer.FAILED, before=value, message="still broken")
        return _writer.write_adj(proc_path, pid, starttime, value, can_lower, dry_run)

    monkeypatch.setattr(_adj_task, "write_adj", writer)
    result, failed = fake(host, rules=[{"pid": 100, "value": 400}, {"pid": 400, "value": 200}])
    assert failed
    assert result["changed"] is True
    assert [(c["pid"], c["after"]) for c in result["changes"]] == [(100, 400)]
    assert "keep the new value" in result["msg"]


def test_an_unexpected_os_error_is_a_failure_not_a_traceback(host, monkeypatch):
    def writer(*args, **kwargs):
        raise OSError(5, os.strerror(5))

    monkeypatch.setattr(_adj_task, "write_adj", writer)
    result, failed = fake(host, pid=400, value=3)
    assert failed
    assert "pid 400 (app)" in result["msg"] and os.strerror(5) in result["msg"]


def test_a_name_of_15_bytes_matches_the_name_the_kernel_keeps_of_a_longer_executable(host):
    host.add(600, name=b"postgres-export", cmdline=[b"/usr/bin/postgres-exporter"])
    result, failed = fake(host, name="postgres-export", value=300)
    assert not failed
    assert [c["pid"] for c in result["changes"]] == [600]


def test_the_full_name_of_a_longer_executable_is_refused_and_nothing_is_written(host):
    host.add(600, name=b"postgres-export", cmdline=[b"/usr/bin/postgres-exporter"])
    before = host.digest()
    result, failed = fake(host, name="postgres-exporter", value=300)
    assert failed
    assert "(the kernel shows 'postgres-export')" in result["msg"]
    assert host.digest() == before


def test_a_process_without_a_readable_start_time_is_not_written(host):
    host.add(700, name=b"odd", oom_score_adj=0)
    with open(host.path("700", "stat"), "w") as handle:
        handle.write("700 no parentheses here\n")
    result, failed = fake(host, pid=700, value=300)
    assert not failed
    assert result["changes"] == []
    assert [(s["pid"], "start time" in s["reason"]) for s in result["excluded"]] == [(700, True)]
    assert read_adj(host.root, 700) == 0
