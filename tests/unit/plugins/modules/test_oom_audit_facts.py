# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_audit_facts, the audit's one gathering call: on a fake proc tree it returns exactly what oom_score_info
(kill order, host, own processes, pod drift), oom_protection_leaks and oom_events_info return one by one; a part
that fails says so under its name while the others still report; bad options fail in one line before anything
is read. The kill history is this machine's real kernel log (fake trees have none)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_audit_facts
from ansible_collections.oomguard.fleet.plugins.modules import oom_events_info
from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_leaks
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

from modrun import run_module

MIB = 1024
SSH = "/system.slice/ssh.service"
SESSION = "/user.slice/user-0.slice/session-3.scope"
INFO_KEYS = ("host", "kill_order", "own_processes_excluded", "pod_drift")
EVENT_KEYS = ("events", "source_used", "sources_read", "killers_looked_for")


@pytest.fixture
def host(fakeproc):
    fakeproc.add(1, name=b"systemd", ppid=0, oom_score_adj=-1000, cgroup="/init.scope")
    fakeproc.add(2, name=b"kthreadd", ppid=0, flags=0x00208040, has_mm=False, oom_score=0)
    fakeproc.add(612, name=b"sshd", oom_score_adj=-900, rss_anon_kb=6 * MIB, cgroup=SSH)
    fakeproc.add(4241, name=b"sshd", ppid=612, oom_score_adj=-900, rss_anon_kb=2 * MIB, cgroup=SESSION)
    fakeproc.add(4242, name=b"bash", ppid=4241, oom_score_adj=-900, rss_anon_kb=3 * MIB, cgroup=SESSION)
    fakeproc.add(300, name=b"java", rss_anon_kb=900 * MIB, cgroup="/system.slice/batch.service")
    fakeproc.add(301, name=b"java", rss_anon_kb=100 * MIB, oom_score_adj=500, cgroup="/system.slice/batch.service")
    fakeproc.add(399, name=b"backupd", oom_score_adj=0, cgroup="/system.slice/backup.service")
    fakeproc.add(400, name=b"backup-agent", ppid=399, oom_score_adj=-500, rss_anon_kb=50 * MIB,
                 cgroup="/system.slice/backup.service")
    return fakeproc


def gather(host, **args):
    args.setdefault("proc_path", host.root)
    args.setdefault("oomd_sample_interval", 0)
    return run_module(oom_audit_facts.main, args)


def older_than(events, timestamp):
    """The kills logged before `timestamp`: other tests on this machine may cause kills between two reads."""
    return [event for event in events if event["timestamp"] is not None and event["timestamp"] < timestamp]


def test_one_call_returns_what_the_three_modules_return(host):
    start = time.time()
    args = dict(units=["ssh.service"], rules=[{"name": "backup-agent", "value": -500}])
    combined, failed = gather(host, top=3, since="7d", limit=20, **args)
    assert not failed and combined["changed"] is False and combined["part_errors"] == {}

    info, failed = run_module(oom_score_info.main, dict(proc_path=host.root, top=3, return_processes=False,
                                                        oomd_sample_interval=0))
    assert not failed
    for key in INFO_KEYS:
        assert combined[key] == info[key], key
    assert [victim["pid"] for victim in combined["kill_order"]][:2] == [301, 300]

    leaks, failed = run_module(oom_protection_leaks.main, dict(proc_path=host.root, **args))
    assert not failed and combined["leaks"] == leaks["leaks"]
    assert [leak["pid"] for leak in combined["leaks"]] == [4241, 4242]

    events, failed = run_module(oom_events_info.main, dict(since="7d", limit=20))
    assert not failed
    for key in EVENT_KEYS[1:]:
        assert combined[key] == events[key], key
    assert older_than(combined["events"], start) == older_than(events["events"], start)


@pytest.mark.parametrize("args", [{}, {"units": ["ssh.service"]}, {"rules": [{"name": "backup-agent"}]}])
def test_the_leaks_follow_the_units_and_rules_given(host, args):
    result, failed = gather(host, **args)
    alone, failed_alone = run_module(oom_protection_leaks.main, dict(proc_path=host.root, **args))
    assert not failed and not failed_alone and result["leaks"] == alone["leaks"]
    assert (400 in [leak["pid"] for leak in result["leaks"]]) == ("rules" not in args)


def test_a_part_that_fails_says_so_and_the_others_still_report(host):
    # No MemTotal: nothing to score against, so the kill order (and the host's settings with it) cannot be told.
    with open(host.path("meminfo"), "w") as handle:
        handle.write("MemFree:         1000000 kB\n")
    result, failed = gather(host, units=["ssh.service"])
    assert not failed
    assert list(result["part_errors"]) == ["kill_order"]
    assert result["part_errors"]["kill_order"].startswith("cannot read MemTotal from ")
    assert result["host"] is None and result["kill_order"] == []
    assert [leak["pid"] for leak in result["leaks"]] == [400, 4241, 4242]
    assert result["killers_looked_for"]


@pytest.mark.parametrize("args, message", [
    ({"since": "last tuesday"}, "since: "),
    ({"limit": -1}, "limit: must be 0 or more, got -1"),
    ({"top": -1}, "top must be 0 or more, got -1"),
    ({"units": ["no such unit"]}, "units[0]: 'no such unit' is not a valid systemd unit name"),
    ({"rules": [{"name_pattern": "("}]}, "rules[0]"),
])
def test_bad_options_fail_in_one_line_before_anything_is_read(host, args, message):
    result, failed = gather(host, **args)
    assert failed and message in result["msg"] and "\n" not in result["msg"]
    # Nothing was gathered: no part of the result is there to be mistaken for a finding.
    assert "kill_order" not in result and "leaks" not in result and "events" not in result


def test_a_proc_path_that_is_not_a_directory_fails(tmp_path):
    result, failed = run_module(oom_audit_facts.main, {"proc_path": str(tmp_path / "none")})
    assert failed and result["msg"] == "proc_path: %s is not a directory" % (tmp_path / "none")
