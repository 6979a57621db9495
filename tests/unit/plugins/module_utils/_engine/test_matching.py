# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Selector rules against fake processes: each selector kind, combinations, descendants, bad rules."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import Process, all_cgroup_paths
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import Matcher
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import SelectorError, fields_needed


def proc(pid, name, ppid=1, uid=0, cmdline=None, cgroup="/", exe=None):
    return Process(pid=pid, ppid=ppid, name=name, uid=uid, cmdline=cmdline or [name], cgroup=cgroup, exe=exe)


SNAPSHOT = [
    proc(10, "sshd", cgroup="/system.slice/ssh.service", exe="/usr/sbin/sshd"),
    proc(11, "sshd", ppid=10, uid=1000, cgroup="/system.slice/ssh.service", exe="/usr/sbin/sshd"),
    proc(12, "bash", ppid=11, uid=1000, cgroup="/system.slice/ssh.service", exe="/usr/bin/bash"),
    proc(20, "postgres", uid=65534, cmdline=["postgres", "-D", "/db"],
         cgroup="/system.slice/system-postgresql.slice/postgresql@15-main.service", exe="/usr/lib/pg (deleted)"),
    proc(30, "a-very-long-pro", cmdline=["a-very-long-program-name"], cgroup="/batch.slice/job.service"),
]


def pick(rule):
    return [p.pid for p in Matcher(rule).select(SNAPSHOT)]


@pytest.mark.parametrize("rule, expected", [
    ({"pid": 20}, [20]),
    ({"name": "sshd"}, [10, 11]),
    ({"name": "a-very-long-pro"}, [30]),
    ({"name_pattern": "^post"}, [20]),
    ({"cmdline_pattern": "-D /db"}, [20]),
    ({"exe": "/usr/sbin/sshd"}, [10, 11]),
    ({"exe": "/usr/lib/pg"}, [20]),
    ({"user": "nobody"}, [20]),
    ({"user": "1000"}, [11, 12]),
    ({"unit": "ssh.service"}, [10, 11, 12]),
    ({"unit": "postgresql@.service"}, [20]),
    ({"cgroup": "/system.slice"}, [10, 11, 12, 20]),
    ({"cgroup": "/batch.slice/*.service"}, [30]),
    ({"name": "sshd", "user": "1000"}, [11]),
    ({"pid": 10, "include_descendants": True}, [10, 11, 12]),
])
def test_each_selector_kind(rule, expected):
    assert pick(rule) == expected


@pytest.mark.parametrize("rule, words", [
    ({}, "no selector"),
    ({"name_pattern": "(x"}, "name_pattern"),
    ({"cmdline_pattern": "[z"}, "cmdline_pattern"),
    ({"user": "no-such-user-oomguard"}, "unknown user"),
    ({"unit": "../x.service"}, "not a valid systemd unit name"),
    ({"unit": "a/b.service"}, "not a valid systemd unit name"),
    ({"cgroup": "system.slice"}, "absolute"),
    ({"name": "a-very-long-program-name"}, r"rules\[0\]: name 'a-very-long-program-name' is 24 bytes .*the kernel "
                                           r"shows 'a-very-long-pro'.*name_pattern or cmdline_pattern"),
])
def test_bad_rules_raise_with_the_option_named(rule, words):
    with pytest.raises(SelectorError, match=words):
        Matcher(rule, label="rules[0]")


def test_only_the_fields_a_rule_needs_are_read():
    assert fields_needed([{"name": "x"}, {"pid": 1}]) == set()
    assert fields_needed([{"unit": "a.service"}, {"cmdline_pattern": "x"}, {"exe": "/x"}]) == {"cgroup", "cmdline", "exe"}


def test_cgroup_rule_matches_the_path_in_any_hierarchy():
    """A v1 memory cgroup (hybrid host) is a tree of its own: its path selects, the systemd path still does."""
    data = b"12:memory:/jobs/nightly\n1:name=systemd:/system.slice/cron.service\n0::/\n"
    assert all_cgroup_paths(data) == ("/jobs/nightly", "/system.slice/cron.service", "/")
    job = Process(pid=7, name="etl", cgroup="/system.slice/cron.service", cgroup_paths=all_cgroup_paths(data))
    other = Process(pid=8, name="cron", cgroup="/system.slice/cron.service",
                    cgroup_paths=all_cgroup_paths(data.replace(b"/jobs/nightly", b"/")))
    assert [p.pid for p in Matcher({"cgroup": "/jobs/nightly"}).select([job, other])] == [7]
    assert [p.pid for p in Matcher({"cgroup": "/jobs/*"}).select([job, other])] == [7]
    assert [p.pid for p in Matcher({"cgroup": "/system.slice/cron.service"}).select([job, other])] == [7, 8]
    assert [p.pid for p in Matcher({"cgroup": "/jobs/weekly"}).select([job, other])] == []
