# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_events_info in-process: options in, events out, and a clear message naming the option for bad input."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible.module_utils import basic
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.modules import oom_events_info

from modrun import run_module

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "kernel_log")
KERN_LOG = os.path.join(FIXTURES, "v6.1-debian12-kern.log")
RATELIMITED = os.path.join(FIXTURES, "ratelimited-v5.15-kern.log")


def events_info(**args):
    return run_module(oom_events_info.main, args)


@pytest.fixture
def commands(monkeypatch):
    """Fake journalctl/dmesg: {name: (rc, out, err)}; names not in it are not installed."""
    table = {}

    def get_bin_path(self, name, *args, **kwargs):
        return "/usr/bin/" + name if name in table else None

    def run_command(self, argv, *args, **kwargs):
        return table[os.path.basename(argv[0])]

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return table


def test_file_source_returns_the_kill_with_its_unit():
    result, failed = events_info(source="file", path=KERN_LOG)
    assert not failed
    assert (result["source_used"], result["source_path"], result["changed"]) == ("file", KERN_LOG, False)
    assert [(e["pid"], e["name"], e["unit"], e["scope"]) for e in result["events"]] == [
        (40112, "php-fpm8.2", "php8.2-fpm.service", "memcg")]


CORPUS = os.path.join(FIXTURES, "corpus")


def test_returned_fields_and_their_choices_are_the_engines():
    contains = yaml.safe_load(oom_events_info.RETURN)["events"]["contains"]
    assert sorted(contains) == sorted(kl.EVENT_FIELDS)
    assert contains["killer"]["choices"] == list(kl.KILLERS)
    assert contains["reason"]["choices"] == list(kl.REASONS)
    assert contains["scope"]["choices"] == list(kl.SCOPES)
    assert contains["line"]["choices"] == list(kl.LINE_KINDS)


@pytest.mark.parametrize("name, expected", [
    # RHEL 6: the uid before the name.
    ("rhel6-2.6.32-messages-uid-before-name.log", [(11726, "mysqld", 498, "kill", None)]),
    # What a grep for "oom-kill" keeps: the summary line is the kill.
    ("dmesg-grep-summary-only-global-docker.txt", [(7134, "java", 1000, "summary", "global")]),
    # Summary and kill line of one kill, newest first (journalctl -r), in a Polish locale.
    ("journal-reverse-polish-locale.txt", [(142701, "convert", 1000, "kill", "global")]),
    # A selection line and the trigger of another report, neither a kill.
    ("dmesg-T-en-trigger-without-kill.txt", []),
])
def test_file_source_on_real_excerpts_gives_the_kills_and_the_line_each_was_read_from(name, expected):
    result, failed = events_info(source="file", path=os.path.join(CORPUS, name))
    assert not failed, result.get("msg")
    assert [(e["pid"], e["name"], e["uid"], e["line"], e["scope"]) for e in result["events"]] == expected


@pytest.mark.usefixtures("utc")
def test_dmesg_T_file_in_a_german_locale_gives_the_kill_its_time():
    result, failed = events_info(source="file", path=os.path.join(CORPUS, "dmesg-T-de-locale-sparc64-report.txt"))
    assert not failed
    (event,) = result["events"]
    assert event["time"] == "2026-12-01T21:34:18+00:00"


def test_check_mode_returns_the_same_events():
    normal = events_info(source="file", path=RATELIMITED)[0]
    checked, failed = run_module(oom_events_info.main, {"source": "file", "path": RATELIMITED}, check_mode=True)
    assert not failed and checked["events"] == normal["events"]


def test_limit_keeps_the_most_recent_events():
    result = events_info(source="file", path=RATELIMITED, limit=1)[0]
    assert [e["pid"] for e in result["events"]] == [61007]


def test_since_in_the_future_returns_no_events():
    result, failed = events_info(source="file", path=RATELIMITED, since="2999-01-01")
    assert not failed and result["events"] == []


def test_bad_since_fails_naming_the_option():
    result, failed = events_info(source="file", path=KERN_LOG, since="last tuesday")
    assert failed and result["msg"].startswith("since: 'last tuesday' is neither a duration")


def test_negative_limit_fails_naming_the_option():
    result, failed = events_info(source="file", path=KERN_LOG, limit=-1)
    assert failed and result["msg"] == "limit: must be 0 or more, got -1"


def test_file_source_without_path_fails():
    result, failed = events_info(source="file")
    assert failed and result["msg"] == "source is file but all of the following are missing: path"


def test_unreadable_path_fails_naming_the_option(tmp_path):
    missing = str(tmp_path / "kern.log")
    result, failed = events_info(source="file", path=missing)
    assert failed
    assert result["msg"] == ("path: cannot read the kernel log with source=file: cannot read %s: "
                             "No such file or directory" % missing)


def test_path_with_another_source_fails():
    result, failed = events_info(source="dmesg", path=KERN_LOG)
    assert failed and result["msg"] == "path: only valid with source=file (source is dmesg)"


def test_auto_warns_about_a_failing_source_and_uses_the_next(commands):
    commands["journalctl"] = (1, "", "Failed to get journal access: Permission denied")
    with open(KERN_LOG, encoding="utf-8") as handle:
        commands["dmesg"] = (0, handle.read(), "")
    result, failed = events_info()
    assert not failed
    assert (result["source_used"], [e["pid"] for e in result["events"]]) == ("dmesg", [40112])
    assert result["warnings"] == ["source=auto: skipping the journal: journalctl failed (rc=1): "
                                  "Failed to get journal access: Permission denied"]


def test_explicit_source_that_fails_is_an_error_not_a_fallback(commands):
    commands["dmesg"] = (1, "", "dmesg: read kernel buffer failed: Operation not permitted")
    result, failed = events_info(source="dmesg")
    assert failed
    assert result["msg"] == ("source: cannot read the kernel log with source=dmesg: dmesg failed (rc=1): "
                             "dmesg: read kernel buffer failed: Operation not permitted")


def test_missing_journalctl_with_source_journal_fails(commands):
    result, failed = events_info(source="journal")
    assert failed and result["msg"].endswith("journalctl was not found on this host")


KILLERS_LOG = (
    "Nov 25 21:48:01 fedora systemd-oomd[612]: Killed /system.slice/mariadb.service due to memory pressure for "
    "/system.slice being 81.00% > 80.00% for > 30s with reclaim activity\n"
    "Nov 25 21:48:01 fedora systemd[1]: mariadb.service: systemd-oomd killed 3 process(es) in this unit.\n"
    "Nov 25 21:48:01 fedora systemd[1]: mariadb.service: Failed with result 'oom-kill'.\n"
    'Nov 25 21:49:05 fedora earlyoom[700]: sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, '
    "VmRSS 3012 MiB\n"
    "Nov 25 21:49:05 fedora earlyoom[700]: process 4242 exited after 0.300 seconds\n"
)


def test_file_source_returns_each_killers_kill_once_and_says_what_was_looked_for(tmp_path):
    log = tmp_path / "syslog"
    log.write_text(KILLERS_LOG)
    result, failed = events_info(source="file", path=str(log))
    assert not failed, result.get("msg")
    assert [(e["killer"], e["pid"], e["unit"], e["cgroup"], e["reason"], e["signal"]) for e in result["events"]] == [
        ("systemd-oomd", None, "mariadb.service", "/system.slice/mariadb.service", "pressure", "SIGKILL"),
        ("earlyoom", 4242, None, None, "memory", "SIGTERM")]
    assert result["sources_read"] == ["file:" + str(log)]
    assert result["killers_looked_for"] == list(kl.KILLERS)


def test_killers_option_filters_by_killer(tmp_path):
    log = tmp_path / "syslog"
    log.write_text(KILLERS_LOG)
    result, failed = events_info(source="file", path=str(log), killers=["earlyoom"])
    assert not failed
    assert ([e["killer"] for e in result["events"]], result["killers_looked_for"]) == (["earlyoom"], ["earlyoom"])


def test_unknown_killer_fails_naming_the_option():
    result, failed = events_info(source="file", path=KERN_LOG, killers=["oom-killer"])
    assert failed and result["msg"].startswith("value of killers must be one or more of:")


def test_empty_killers_fails_naming_the_option():
    result, failed = events_info(source="file", path=KERN_LOG, killers=[])
    assert failed
    assert result["msg"] == "killers: name at least one of kernel, systemd-oomd, earlyoom, nohang, kubelet, oomd"


def test_auto_reads_the_killers_from_the_journal(commands):
    commands["journalctl"] = (0, "\n".join([
        '{"__REALTIME_TIMESTAMP": "1795643281000000", "_TRANSPORT": "stdout", "SYSLOG_IDENTIFIER": "earlyoom", '
        '"MESSAGE": "sending SIGKILL to process 4242 uid 1000 \\"stress-ng\\": badness 870, VmRSS 3012 MiB"}',
        '{"__REALTIME_TIMESTAMP": "1795643282000000", "_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", '
        '"MESSAGE": "Linux version 6.8.0"}']) + "\n", "")
    result, failed = events_info()
    assert not failed
    assert [(e["killer"], e["pid"], e["signal"]) for e in result["events"]] == [("earlyoom", 4242, "SIGKILL")]
    assert (result["source_used"], result["sources_read"]) == ("journal", ["journal"])


POD_ID = "5c1f0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
POD_UID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CONTAINER_KILLS_LOG = (
    "Dec  2 10:01:05 node7 kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-"
    + POD_ID + ".scope,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
    + POD_UID.replace("-", "_") + ".slice/cri-containerd-" + POD_ID + ".scope,task_memcg=/kubepods.slice/"
    "kubepods-burstable.slice/kubepods-burstable-pod" + POD_UID.replace("-", "_") + ".slice/cri-containerd-"
    + POD_ID + ".scope,task=java,pid=9911,uid=1001\n"
    "Dec  2 10:01:05 node7 kernel: Memory cgroup out of memory: Killed process 9911 (java) total-vm:4194304kB, "
    "anon-rss:1048576kB, file-rss:1024kB, shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:968\n"
    "Dec  2 10:02:10 node7 systemd-oomd[612]: Killed /machine.slice/libpod-" + POD_ID + ".scope due to memory "
    "pressure for /machine.slice being 81.00% > 80.00% for > 30s with reclaim activity\n"
    "Dec  2 10:03:00 node7 kernel: Out of memory: Killed process 4100 (sshd) total-vm:10000kB, anon-rss:100kB, "
    "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0\n"
)


def test_a_kill_in_a_pod_or_a_container_is_labelled_with_it(tmp_path):
    log = tmp_path / "kern.log"
    log.write_text(CONTAINER_KILLS_LOG)
    result, failed = events_info(source="file", path=str(log))
    assert not failed, result.get("msg")
    labels = [(e["killer"], e["pid"], e["container"]) for e in result["events"]]
    assert labels[0][:2] == ("kernel", 9911)
    assert {k: labels[0][2][k] for k in ("runtime", "id", "pod_uid", "qos", "role")} == {
        "runtime": "containerd", "id": POD_ID, "pod_uid": POD_UID, "qos": "burstable", "role": "workload"}
    assert labels[1][:2] == ("systemd-oomd", None)
    assert (labels[1][2]["runtime"], labels[1][2]["id"]) == ("podman", POD_ID)
    # A kill whose cgroup the log does not print is no container's as far as anyone can tell.
    assert labels[2] == ("kernel", 4100, None)
