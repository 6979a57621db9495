# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel-log engine on real log text: one fixture per kernel format generation (3.10 to 2026), the
prefixes of every source, interleaved, split and ratelimited reports, since/limit, and source selection."""

from __future__ import annotations

import calendar
import gzip
import json
import os
import time

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel_log
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import lines as log_lines

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "kernel_log")
# Traditional syslog lines carry no year; these fixtures are dated by a file written on New Year 2026.
NEW_YEAR_2026 = calendar.timegm((2026, 1, 1, 0, 0, 0))
BOOT = 1700000000.0
pytestmark = pytest.mark.usefixtures("utc")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def events_of(name, **kwargs):
    if name.endswith(".json"):
        return kl.parse_records(log_lines.records_from_journal_json(fixture_text(name)), **kwargs)
    return kl.parse_text(fixture_text(name), **kwargs)


def utc_ts(text, fraction=0.0):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")) + fraction


def event(**fields):
    """An event read from a kill line, with every field null unless given."""
    base = dict.fromkeys(kl.EVENT_FIELDS)
    base.update(line="kill", killer="kernel", reason="memory", signal="SIGKILL")
    base.update(fields)
    base["cgroup"] = base["task_memcg"]
    return base


def without_raw(item):
    return {key: value for key, value in item.items() if key != "raw"}


# ---------------------------------------------------------------------------------------------------------
# One fixture per kernel format generation.

def test_rhel7_3_10_global_kill_has_uid_from_the_backported_uid_field_and_no_scope():
    first = events_of("v3.10-rhel7-messages.log", ref_time=NEW_YEAR_2026)[0]
    assert first == event(
        time="2025-06-19T22:42:14+00:00", timestamp=utc_ts("2025-06-19 22:42:14"), pid=45465, name="tail", uid=0,
        oom_score_adj=0, total_vm_kb=7582132, anon_rss_kb=7420324, file_rss_kb=0, shmem_rss_kb=0,
        trigger={"name": "tail", "gfp_mask": "0x201da", "order": 0, "oom_score_adj": 0},
        raw="Killed process 45465 (tail), UID 0, total-vm:7582132kB, anon-rss:7420324kB, file-rss:0kB, shmem-rss:0kB",
    )


def test_rhel7_3_10_memcg_kill_takes_cgroups_from_the_task_in_line_and_adj_from_the_task_table():
    second = events_of("v3.10-rhel7-messages.log", ref_time=NEW_YEAR_2026)[1]
    pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1b.slice"
    assert without_raw(second) == without_raw(event(
        time="2025-06-20T03:10:02+00:00", timestamp=utc_ts("2025-06-20 03:10:02"), pid=30188, name="java",
        uid=1000, oom_score_adj=969, total_vm_kb=3249380, anon_rss_kb=520484, file_rss_kb=3596, shmem_rss_kb=0,
        scope="memcg", oom_memcg=pod, task_memcg=pod + "/docker-4f2e0c1d9a7b.scope",
        trigger={"name": "java", "gfp_mask": "0xd0", "order": 0, "oom_score_adj": 969},
        unit="docker-4f2e0c1d9a7b.scope",
    ))


def test_syslog_line_of_another_program_quoting_a_kill_line_is_not_an_event():
    # The fixture ends with "oom-notifier[2211]: Killed process 30188 (java), ..." after the kernel's own line.
    assert [e["pid"] for e in events_of("v3.10-rhel7-messages.log", ref_time=NEW_YEAR_2026)] == [45465, 30188]


def test_3_x_trigger_with_oom_adj_and_kill_line_without_shmem():
    assert events_of("v3.x-oom_adj.txt") == [event(
        pid=957, name="app.out", uid=0, oom_score_adj=0, total_vm_kb=67472, anon_rss_kb=14496, file_rss_kb=516,
        trigger={"name": "app.out", "gfp_mask": "0x200da", "order": 0, "oom_score_adj": 0},
        raw="Killed process 957 (app.out) total-vm:67472kB, anon-rss:14496kB, file-rss:516kB",
    )]


def test_4_4_sacrificed_child_is_one_event_for_the_child_with_its_task_table_row():
    # "Kill process 1021 (apache2) score 412 or sacrifice child" then "Killed process 28790 (apache2) ...".
    assert events_of("v4.4-ubuntu-kern.log", ref_time=NEW_YEAR_2026) == [event(
        time="2025-03-10T02:14:33+00:00", timestamp=utc_ts("2025-03-10 02:14:33"), pid=28790, name="apache2",
        uid=33, oom_score_adj=100, total_vm_kb=512340, anon_rss_kb=402112, file_rss_kb=2044,
        trigger={"name": "php5-fpm", "gfp_mask": "0x24201ca", "order": 0, "oom_score_adj": 0},
        raw="Killed process 28790 (apache2) total-vm:512340kB, anon-rss:402112kB, file-rss:2044kB",
    )]


def test_4_9_dmesg_uptime_stamps_are_added_to_the_boot_time_and_the_reaper_line_is_joined():
    assert events_of("v4.9-debian9-dmesg.txt", boot_time=BOOT) == [event(
        time=log_lines._iso(BOOT + 53542.948520), timestamp=BOOT + 53542.948520, pid=1439, name="tor", uid=108,
        oom_score_adj=0, total_vm_kb=1117360, anon_rss_kb=912416, file_rss_kb=0, shmem_rss_kb=0,
        trigger={"name": "tor", "gfp_mask": "0x24201ca", "order": 0, "oom_score_adj": 0}, reaped=True,
        raw="Killed process 1439 (tor) total-vm:1117360kB, anon-rss:912416kB, file-rss:0kB, shmem-rss:0kB",
    )]


def test_4_14_trigger_with_two_spaces_after_the_nodemask_is_parsed():
    assert events_of("v4.14-amzn2-journal-short-iso.txt") == [event(
        time="2019-03-10T02:14:33+00:00", timestamp=utc_ts("2019-03-10 02:14:33"), pid=3350, name="java", uid=498,
        oom_score_adj=0, total_vm_kb=5873316, anon_rss_kb=3764536, file_rss_kb=0, shmem_rss_kb=0,
        trigger={"name": "java", "gfp_mask": "0x14200ca", "order": 0, "oom_score_adj": 0}, reaped=True,
        raw="Killed process 3350 (java) total-vm:5873316kB, anon-rss:3764536kB, file-rss:0kB, shmem-rss:0kB",
    )]


def test_4_19_memcg_kill_in_dmesg_iso_with_offset():
    assert events_of("v4.19-debian10-dmesg-iso.txt") == [event(
        time="2020-05-04T09:02:17.339921+00:00", timestamp=utc_ts("2020-05-04 09:02:17", 0.339921), pid=20905,
        name="java", uid=1000, oom_score_adj=500, total_vm_kb=3685516, anon_rss_kb=1028908, file_rss_kb=13940,
        shmem_rss_kb=0, scope="memcg", oom_memcg="/docker/9c6e1f0c2b5a", task_memcg="/docker/9c6e1f0c2b5a",
        trigger={"name": "java", "gfp_mask": "0x6000c0", "order": 0, "oom_score_adj": 500}, reaped=True,
        raw="Killed process 20905 (java) total-vm:3685516kB, anon-rss:1028908kB, file-rss:13940kB, shmem-rss:0kB",
    )]


def test_5_0_memcg_oom_printed_as_constraint_none_is_scoped_memcg():
    assert events_of("v5.0-memcg-constraint-none-dmesg-raw.txt", boot_time=BOOT) == [event(
        time=log_lines._iso(BOOT + 712.301786), timestamp=BOOT + 712.301786, pid=2718, name="stress", uid=0,
        oom_score_adj=0, total_vm_kb=110340, anon_rss_kb=100260, file_rss_kb=1052, shmem_rss_kb=0,
        scope="memcg", constraint="CONSTRAINT_NONE", oom_memcg="/test.slice/stress-test.service",
        task_memcg="/test.slice/stress-test.service", unit="stress-test.service",
        trigger={"name": "stress", "gfp_mask": "0x6000c0", "order": 0, "oom_score_adj": 0}, reaped=True,
        raw="Killed process 2718 (stress) total-vm:110340kB, anon-rss:100260kB, file-rss:1052kB, shmem-rss:0kB",
    )]


def test_5_4_0_pgtables_printed_in_bytes_become_kb():
    (only,) = events_of("v5.4.0-pgtables-bytes-dmesg-iso.txt")
    assert without_raw(only) == without_raw(event(
        time="2019-12-02T14:05:51.118719+00:00", timestamp=utc_ts("2019-12-02 14:05:51", 0.118719), pid=1878,
        name="python3", uid=1000, oom_score_adj=0, total_vm_kb=869012, anon_rss_kb=604572, file_rss_kb=4,
        shmem_rss_kb=0, pgtables_kb=1264, scope="global", constraint="CONSTRAINT_NONE",
        task_memcg="/user.slice/user-1000.slice/session-3.scope", unit="session-3.scope",
        trigger={"name": "python3", "gfp_mask": "0x100cca", "order": 0, "oom_score_adj": 0}, reaped=True,
    ))
    assert "pgtables:1294336kB" in only["raw"]


def test_ubuntu_5_4_0_abi_kernel_prints_pgtables_in_kb_already():
    (only,) = events_of("v5.4-ubuntu2004-kern.log", ref_time=NEW_YEAR_2026)
    assert (only["pgtables_kb"], only["scope"], only["unit"]) == (1264, "global", "session-3.scope")


def test_5_10_journal_json_previous_boot_kill_with_exact_time_and_unit():
    first = events_of("v5.10-debian11-journal.json")[0]
    assert first == event(
        time="2023-11-15T22:06:40.000610+00:00", timestamp=1700086000.00061, pid=2290, name="mariadbd", uid=106,
        oom_score_adj=-600, total_vm_kb=4139508, anon_rss_kb=3794848, file_rss_kb=0, shmem_rss_kb=0,
        pgtables_kb=7932, scope="global", constraint="CONSTRAINT_NONE", task_memcg="/system.slice/mariadb.service",
        unit="mariadb.service", trigger={"name": "mariadbd", "gfp_mask": "0x100cca", "order": 0, "oom_score_adj": -600},
        reaped=True,
        raw="Out of memory: Killed process 2290 (mariadbd) total-vm:4139508kB, anon-rss:3794848kB, file-rss:0kB, "
            "shmem-rss:0kB, UID:106 pgtables:7932kB oom_score_adj:-600",
    )


def test_journal_message_stored_as_bytes_is_decoded_with_replacement():
    second = events_of("v5.10-debian11-journal.json")[1]
    assert (second["pid"], second["name"], second["task_memcg"]) == (
        3301, "caf\ufffd", "/user.slice/user-1000.slice/session-4.scope")


def test_6_1_rsyslog_rfc3339_memcg_kill_of_a_service():
    assert events_of("v6.1-debian12-kern.log") == [event(
        time="2024-02-01T09:22:33.457031+00:00", timestamp=utc_ts("2024-02-01 09:22:33", 0.457031), pid=40112,
        name="php-fpm8.2", uid=33, oom_score_adj=0, total_vm_kb=682096, anon_rss_kb=512004, file_rss_kb=3016,
        shmem_rss_kb=0, pgtables_kb=1092, scope="memcg", constraint="CONSTRAINT_MEMCG",
        oom_memcg="/system.slice/php8.2-fpm.service", task_memcg="/system.slice/php8.2-fpm.service",
        unit="php8.2-fpm.service", trigger={"name": "php-fpm8.2", "gfp_mask": "0xcc0", "order": 0, "oom_score_adj": 0},
        raw="Memory cgroup out of memory: Killed process 40112 (php-fpm8.2) total-vm:682096kB, anon-rss:512004kB, "
            "file-rss:3016kB, shmem-rss:0kB, UID:33 pgtables:1092kB oom_score_adj:0",
    )]


def test_6_8_printk_caller_prefix_rss_columns_and_a_name_with_spaces():
    assert events_of("v6.8-printk-caller-dmesg.txt", boot_time=BOOT) == [event(
        time=log_lines._iso(BOOT + 3021.554642), timestamp=BOOT + 3021.554642, pid=5521, name="Isolated Web Co", uid=1000,
        oom_score_adj=167, total_vm_kb=2860972, anon_rss_kb=1595060, file_rss_kb=9244, shmem_rss_kb=4144,
        pgtables_kb=4316, scope="global", constraint="CONSTRAINT_NONE",
        task_memcg="/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4120.scope",
        unit="user@1000.service", reaped=True,
        trigger={"name": "Isolated Web Co", "gfp_mask": "0x140dca", "order": 0, "oom_score_adj": 167},
        raw="Out of memory: Killed process 5521 (Isolated Web Co) total-vm:2860972kB, anon-rss:1595060kB, "
            "file-rss:9244kB, shmem-rss:4144kB, UID:1000 pgtables:4316kB oom_score_adj:167",
    )]


def test_6_18_real_memcg_v1_report_recorded_on_a_test_machine():
    cgroup = "/runner/job-1187/oomguard-test-9703-c4f19ab9"
    assert without_raw(events_of("v6.18-real-memcg-v1-dmesg-iso.txt")[0]) == without_raw(event(
        time="2026-11-25T21:56:46.047064+00:00", timestamp=utc_ts("2026-11-25 21:56:46", 0.047064), pid=9751,
        name="oom victim (t)", uid=0, oom_score_adj=345, total_vm_kb=79276, anon_rss_kb=68736, file_rss_kb=6736,
        shmem_rss_kb=0, pgtables_kb=192, scope="memcg", constraint="CONSTRAINT_MEMCG", oom_memcg=cgroup,
        task_memcg=cgroup, trigger={"name": "oom victim (t)", "gfp_mask": "0xcc0", "order": 0, "oom_score_adj": 345},
    ))


def test_2026_memory_oom_group_kills_share_the_report_and_a_victim_logged_twice_is_one_event():
    victim, main, other = events_of("v7.0-2026-oom-group-journal-short-unix.txt")
    trigger = {"name": "worker", "gfp_mask": "0xcc0", "order": 0, "oom_score_adj": 200}
    assert without_raw(victim) == without_raw(event(
        time="2026-11-25T20:53:20.100120+00:00", timestamp=1795640000.100120, pid=7101, name="worker", uid=998,
        oom_score_adj=200, total_vm_kb=160000, anon_rss_kb=126000, file_rss_kb=2000, shmem_rss_kb=0,
        pgtables_kb=300, scope="memcg", constraint="CONSTRAINT_MEMCG", oom_memcg="/system.slice/batch.service",
        task_memcg="/system.slice/batch.service", unit="batch.service", trigger=trigger, reaped=True,
    ))
    # Members killed for the group: report-level facts apply, the victim's own cgroup line does not.
    assert [(e["pid"], e["name"], e["scope"], e["oom_memcg"], e["task_memcg"], e["unit"], e["trigger"])
            for e in (main, other)] == [
        (7100, "batch-main", "memcg", "/system.slice/batch.service", None, "batch.service", trigger),
        (7102, "worker", "memcg", "/system.slice/batch.service", None, "batch.service", trigger),
    ]


# ---------------------------------------------------------------------------------------------------------
# Grouping: interleaving, split lines, ratelimiting, names.

def test_interleaved_reports_keep_their_own_trigger_summary_and_reaper():
    first, second = events_of("interleaved-v6.6-dmesg-iso.txt")
    assert [(e["pid"], e["trigger"]["name"], e["scope"], e["unit"], e["reaped"]) for e in (first, second)] == [
        (4100, "stress-ng-vm", "global", "my-app.service", True),
        (8800, "redis-server", "memcg", "redis-server.service", True),
    ]


def test_summary_line_split_by_a_concurrent_printk_is_joined():
    first = events_of("interleaved-v6.6-dmesg-iso.txt")[0]
    assert (first["constraint"], first["task_memcg"], first["uid"]) == (
        "CONSTRAINT_NONE", "/system.slice/my-app.service", 0)


def test_name_with_spaces_parentheses_and_a_comma():
    first = events_of("interleaved-v6.6-dmesg-iso.txt")[0]
    assert (first["pid"], first["name"], first["oom_score_adj"], first["pgtables_kb"]) == (4100, "my (app), v2", 300, 3232)


def test_ratelimited_kill_lines_are_events_without_the_lines_the_kernel_skipped():
    events = events_of("ratelimited-v5.15-kern.log", ref_time=NEW_YEAR_2026)
    assert [(e["pid"], e["name"], e["trigger"] is not None, e["constraint"], e["oom_memcg"], e["unit"], e["scope"])
            for e in events] == [
        (61002, "cc1plus", True, "CONSTRAINT_MEMCG", "/system.slice/ci-runner.service", "ci-runner.service", "memcg"),
        (61001, "cc1plus", False, None, None, None, "memcg"),
        (61007, "ld (deferred)", False, None, None, None, "memcg"),
    ]


def test_out_of_memory_kill_without_summary_leaves_the_scope_unknown():
    (only,) = kl.parse_text("Out of memory: Killed process 77 (java) total-vm:100kB, anon-rss:80kB, file-rss:0kB, "
                            "shmem-rss:0kB, UID:0 pgtables:8kB oom_score_adj:0")
    assert (only["scope"], only["constraint"], only["trigger"]) == (None, None, None)


def test_kill_of_oom_kill_allocating_task_is_parsed_with_its_prefix():
    (only,) = kl.parse_text("Out of memory (oom_kill_allocating_task): Killed process 31 (make) total-vm:8kB, "
                            "anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0")
    assert (only["pid"], only["name"], only["scope"]) == (31, "make", None)


@pytest.mark.parametrize("constraint, scope", [
    ("CONSTRAINT_NONE", "global"),
    ("CONSTRAINT_CPUSET", "cpuset"),
    ("CONSTRAINT_MEMORY_POLICY", "mempolicy"),
    ("CONSTRAINT_MEMCG", "memcg"),
    ("CONSTRAINT_BPF", None),
])
def test_scope_follows_the_constraint(constraint, scope):
    (only,) = kl.parse_text(
        "oom-kill:constraint=%s,nodemask=0-1,3,cpuset=db,mems_allowed=0-1,global_oom,task_memcg=/,task=x,pid=5,uid=0\n"
        "Out of memory: Killed process 5 (x) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, "
        "UID:0 pgtables:4kB oom_score_adj:0" % constraint)
    assert (only["scope"], only["constraint"]) == (scope, constraint)


def test_trigger_of_a_report_that_killed_nothing_is_not_given_to_a_later_kill():
    (only,) = kl.parse_text(
        "[ 10.000000] a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
        "[ 10.000100] Out of memory and no killable processes...\n"
        "[ 11.000000] Memory cgroup out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, "
        "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0", boot_time=BOOT)
    assert (only["pid"], only["trigger"]) == (9, None)


def test_report_older_than_thirty_seconds_is_not_joined_to_a_kill_line():
    (only,) = kl.parse_text(
        "[ 10.000000] a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
        "[ 50.000000] Out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB",
        boot_time=BOOT)
    assert only["trigger"] is None


def test_reaper_that_could_not_reap_marks_the_event_not_reaped():
    (only,) = kl.parse_text(
        "Out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB\n"
        "oom_reaper: unable to reap pid:9 (b)")
    assert only["reaped"] is False


def test_reaper_line_goes_to_the_latest_kill_of_that_pid():
    events = kl.parse_text(
        "Out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB\n"
        "oom_reaper: reaped process 9 (b), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n"
        "Out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB\n"
        "oom_reaper: unable to reap pid:9 (b)")
    assert [e["reaped"] for e in events] == [True, False]


def test_events_of_a_previous_boot_use_that_boots_banner_to_read_pgtables():
    kill = ("Out of memory: Killed process 9 (b) total-vm:900000kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB, "
            "UID:0 pgtables:8192kB oom_score_adj:0")
    records = [
        log_lines.Record(1.0, "Linux version 5.4.0 (builder@host) (gcc version 9.2.1) #1 SMP Mon Nov 25 2019", "old"),
        log_lines.Record(2.0, kill, "old"),
        log_lines.Record(3.0, kill, "current"),
    ]
    events = kl.parse_records(records, boot_releases={"current": "6.1.0-17-amd64"})
    assert [e["pgtables_kb"] for e in events] == [8, 8192]


def test_banner_upstream_version_of_a_distribution_kernel_decides():
    records = [
        log_lines.Record(1.0, "Linux version 5.4.0-26-generic (buildd@lgw01-amd64-039) (gcc version 9.3.0 (Ubuntu 9.3.0-10ubuntu2)) "
                         "#30-Ubuntu SMP Mon Apr 20 16:58:30 UTC 2020 (Ubuntu 5.4.0-26.30-generic 5.4.30)"),
        log_lines.Record(2.0, "Out of memory: Killed process 9 (b) total-vm:900000kB, anon-rss:4kB, file-rss:0kB, "
                         "shmem-rss:0kB, UID:0 pgtables:8192kB oom_score_adj:0"),
    ]
    assert kl.parse_records(records)[0]["pgtables_kb"] == 8192


@pytest.mark.parametrize("pgtables, expected", [(1294336, 1264), (1264, 1264)])
def test_pgtables_of_an_unknown_release_are_bytes_only_when_kb_is_impossible(pgtables, expected):
    (only,) = kl.parse_text("Out of memory: Killed process 1878 (python3) total-vm:869012kB, anon-rss:604572kB, "
                            "file-rss:4kB, shmem-rss:0kB, UID:1000 pgtables:%dkB oom_score_adj:0" % pgtables)
    assert only["pgtables_kb"] == expected


@pytest.mark.parametrize("release, in_bytes", [
    ("5.4.0", True),
    ("5.4.0-rc8", True),
    ("5.4.0+", True),
    ("5.4.0-26-generic", False),
    ("5.4.0-1010-aws", False),
    ("5.4.17", False),
    ("5.5.0", False),
    ("4.19.0-8-amd64", False),
    ("6.18.44", False),
    (None, None),
    ("unknown", None),
])
def test_pgtables_in_bytes_only_for_5_4_0(release, in_bytes):
    assert kl.pgtables_in_bytes(release) is in_bytes


# ---------------------------------------------------------------------------------------------------------
# Line prefixes.

MESSAGE = "Out of memory: Killed process 9 (b) total-vm:4kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB"


@pytest.mark.parametrize("line, ts", [
    ("[ 1234.500000] " + MESSAGE, BOOT + 1234.5),                                        # dmesg
    ("<3>[ 1234.500000] " + MESSAGE, BOOT + 1234.5),                                     # dmesg -r
    ("kern  :err   : [ 1234.500000] " + MESSAGE, BOOT + 1234.5),                         # dmesg -x
    ("[ 1234.500000] [  T1022] " + MESSAGE, BOOT + 1234.5),                             # dmesg, CONFIG_PRINTK_CALLER
    ("[ 1234.500000][    C3] " + MESSAGE, BOOT + 1234.5),                                # console style, caller
    ("[Wed Nov 25 21:48:05 2026] " + MESSAGE, utc_ts("2026-11-25 21:48:05")),            # dmesg -T
    ("2026-11-25T21:48:05,250000+00:00 " + MESSAGE, utc_ts("2026-11-25 21:48:05", 0.25)),  # dmesg --time-format iso
    ("Nov 25 21:48:05 db1 kernel: [ 1234.500000] " + MESSAGE, utc_ts("2025-11-25 21:48:05")),  # syslog
    ("2026-11-25T22:48:05.250000+01:00 db1 kernel: " + MESSAGE, utc_ts("2026-11-25 21:48:05", 0.25)),  # RFC 3339
    ("2026-11-25T21:48:05+0000 db1 kernel: " + MESSAGE, utc_ts("2026-11-25 21:48:05")),  # journalctl short-iso
    ("1795643285.250000 db1 kernel: " + MESSAGE, 1795643285.25),                         # journalctl short-unix
    ("Nov 25 21:48:05.250000 db1 kernel: " + MESSAGE, utc_ts("2025-11-25 21:48:05", 0.25)),  # short-precise
    ("[ 1234.500000] db1 kernel: " + MESSAGE, BOOT + 1234.5),                            # short-monotonic
    ("Nov 25 21:48:05 db1 kern.err kernel: " + MESSAGE, utc_ts("2025-11-25 21:48:05")),  # busybox syslogd
    (MESSAGE, None),                                                                     # dmesg -t
])
def test_prefixes_of_every_source_are_removed(line, ts):
    assert log_lines.split_line(line, boot_time=BOOT, ref_time=NEW_YEAR_2026) == (ts, MESSAGE)


def test_syslog_line_of_another_program_is_skipped():
    assert log_lines.split_line("Nov 25 21:48:05 db1 systemd[1]: " + MESSAGE, ref_time=NEW_YEAR_2026) is None


def test_traditional_syslog_date_after_the_file_time_belongs_to_the_year_before():
    ts = log_lines.split_line("Dec 31 23:59:59 db1 kernel: " + MESSAGE, ref_time=calendar.timegm((2026, 1, 2, 0, 0, 0)))[0]
    assert ts == utc_ts("2025-12-31 23:59:59")


# ---------------------------------------------------------------------------------------------------------
# since and limit.

NOW = utc_ts("2026-11-25 12:00:00")


@pytest.mark.parametrize("value, expected", [
    ("90s", NOW - 90),
    ("30m", NOW - 1800),
    ("2h", NOW - 7200),
    ("7d", NOW - 7 * 86400),
    ("1w", NOW - 7 * 86400),
    ("1h30m", NOW - 5400),
    ("2026-11-25", utc_ts("2026-11-25 00:00:00")),
    ("2026-11-25T08:00", utc_ts("2026-11-25 08:00:00")),
    ("2026-11-25 08:00:00", utc_ts("2026-11-25 08:00:00")),
    ("2026-11-25T08:00:00Z", utc_ts("2026-11-25 08:00:00")),
    ("2026-11-25T08:00:00.5+01:00", utc_ts("2026-11-25 07:00:00", 0.5)),
    ("2026-11-25T08:00:00-0230", utc_ts("2026-11-25 10:30:00")),
])
def test_since_accepts_durations_and_iso_times(value, expected):
    assert log_lines.parse_since(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "2h ago", "12", "-2h", "2026-13-01", "2026-11-25T25:00", ""])
def test_since_rejects_anything_else_with_examples_of_both_forms(value):
    with pytest.raises(ValueError, match=r"neither a duration .* nor an ISO 8601 time"):
        log_lines.parse_since(value, now=NOW)


def test_select_keeps_events_of_unknown_time_and_returns_the_most_recent():
    events = [{"timestamp": t, "pid": n} for n, t in enumerate([None, 10.0, 20.0, 30.0])]
    assert [e["pid"] for e in log_lines.select(events, since=15.0)] == [0, 2, 3]
    assert [e["pid"] for e in log_lines.select(events, limit=2)] == [2, 3]
    assert [e["pid"] for e in log_lines.select(events, limit=10)] == [0, 1, 2, 3]
    assert log_lines.select(events, limit=0) == []


# ---------------------------------------------------------------------------------------------------------
# Sources: which one is read, and how failures are reported.

class FakeHost(object):
    """Commands answer from a table; `which` knows the commands in it."""

    def __init__(self, tmp_path, commands, vmstat="oom_kill 3\n"):
        self.commands = commands
        self.calls = []
        self.warnings = []
        self.proc = tmp_path / "proc"
        (self.proc / "sys/kernel/random").mkdir(parents=True)
        (self.proc / "stat").write_text("cpu  1 2 3\nbtime %d\n" % BOOT)
        (self.proc / "sys/kernel/osrelease").write_text("6.1.0-17-amd64\n")
        (self.proc / "sys/kernel/random/boot_id").write_text("9a8b7c6d-5e4f-4031-2233-445566778899\n")
        if vmstat is not None:
            (self.proc / "vmstat").write_text("nr_free_pages 1\n" + vmstat)

    def run(self, argv):
        self.calls.append(argv)
        name = os.path.basename(argv[0])
        answer = self.commands[name]
        return answer(argv) if callable(answer) else answer

    def which(self, name):
        return "/usr/bin/" + name if name in self.commands else None

    def collect(self, **kwargs):
        kwargs.setdefault("log_files", ())
        return kernel_log.collect(run_command=self.run, which=self.which, warn=self.warnings.append,
                                  proc_path=str(self.proc), **kwargs)


JOURNAL = fixture_text("v5.10-debian11-journal.json")
DMESG_ISO = fixture_text("v6.18-real-memcg-v1-dmesg-iso.txt")


def test_auto_reads_the_journal_when_it_holds_kernel_messages(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, ""), "dmesg": (0, DMESG_ISO, "")})
    result = host.collect()
    assert (result["source_used"], [e["pid"] for e in result["events"]], result["oom_kill_counter"]) == (
        "journal", [2290, 3301], 3)


def test_journal_is_read_for_every_boot_as_json_with_few_fields(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, "")})
    host.collect(source="journal")
    assert host.calls == [["/usr/bin/journalctl", "--no-pager", "--quiet", "--output=json", "_TRANSPORT=kernel",
                           "--output-fields=MESSAGE,_BOOT_ID"]]


def test_journalctl_without_output_fields_is_asked_again_without_it(tmp_path):
    def journalctl(argv):
        if any(arg.startswith("--output-fields") for arg in argv):
            return 1, "", "journalctl: unrecognized option '--output-fields=MESSAGE,_BOOT_ID'"
        return 0, JOURNAL, ""
    host = FakeHost(tmp_path, {"journalctl": journalctl})
    assert len(host.collect(source="journal")["events"]) == 2


def test_since_narrows_the_journal_read_with_a_margin_and_filters_exactly(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, "")})
    result = host.collect(source="journal", since=1700090000.0)
    assert host.calls[0][-2] == "--since=" + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1700090000.0 - 120))
    assert [e["pid"] for e in result["events"]] == [3301]


def test_auto_falls_through_to_dmesg_silently_when_the_journal_has_no_kernel_messages(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, "", ""), "dmesg": (0, DMESG_ISO, "")})
    result = host.collect()
    assert (result["source_used"], [e["pid"] for e in result["events"]], host.warnings) == ("dmesg", [9751], [])


def test_auto_warns_and_falls_through_when_journalctl_fails(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (1, "", "Failed to open journal: Permission denied"),
                               "dmesg": (0, DMESG_ISO, "")})
    result = host.collect()
    assert result["source_used"] == "dmesg"
    assert host.warnings == ["source=auto: skipping the journal: journalctl failed (rc=1): "
                             "Failed to open journal: Permission denied"]


def test_dmesg_without_time_format_option_uses_boot_time_plus_uptime(tmp_path):
    def dmesg(argv):
        if "--time-format" in argv:
            return 1, "", "dmesg: unrecognized option '--time-format'"
        return 0, "[  712.301786] " + MESSAGE + "\n", ""
    host = FakeHost(tmp_path, {"dmesg": dmesg})
    (only,) = host.collect(source="dmesg")["events"]
    assert only["timestamp"] == BOOT + 712.301786


def test_auto_reads_the_first_existing_log_file_when_dmesg_is_refused(tmp_path):
    refused = (1, "", "dmesg: read kernel buffer failed: Operation not permitted")
    kern_log = tmp_path / "kern.log"
    kern_log.write_text("Nov 25 21:48:05 db1 kernel: " + MESSAGE + "\n")
    host = FakeHost(tmp_path, {"dmesg": refused})
    result = host.collect(log_files=(str(tmp_path / "missing.log"), str(kern_log)))
    assert (result["source_used"], result["source_path"], len(result["events"])) == ("file", str(kern_log), 1)
    assert host.warnings == ["source=auto: skipping dmesg: dmesg failed (rc=1): "
                             "dmesg: read kernel buffer failed: Operation not permitted"]


def test_auto_without_any_readable_source_says_the_history_is_unknown(tmp_path):
    host = FakeHost(tmp_path, {})
    result = host.collect(log_files=(str(tmp_path / "kern.log"),))
    assert (result["events"], result["source_used"], result["source_path"]) == ([], None, None)
    assert host.warnings == ["source=auto: no kernel log could be read (journal: journalctl not found; dmesg: not found; "
                             "none of %s is readable); the OOM kill history of this host is unknown" % (tmp_path / "kern.log")]


def test_explicit_dmesg_that_fails_raises_instead_of_falling_through(tmp_path):
    host = FakeHost(tmp_path, {"dmesg": (1, "", "dmesg: read kernel buffer failed: Operation not permitted")})
    with pytest.raises(kernel_log.KernelLogError, match="dmesg failed .*Operation not permitted"):
        host.collect(source="dmesg")


def test_explicit_journal_without_kernel_messages_warns_and_returns_nothing(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, "", "")})
    result = host.collect(source="journal", since=NOW)
    assert (result["events"], len(host.calls)) == ([], 2)
    assert host.warnings == ["the journal holds no kernel messages (is journald storing them, and may this user read them?)"]


def test_file_source_reads_gzip_rotated_logs(tmp_path):
    rotated = tmp_path / "kern.log.2.gz"
    with gzip.open(str(rotated), "wt") as handle:
        handle.write(fixture_text("v6.1-debian12-kern.log"))
    result = FakeHost(tmp_path, {}).collect(source="file", path=str(rotated))
    assert [(e["pid"], e["unit"]) for e in result["events"]] == [(40112, "php8.2-fpm.service")]


def test_file_source_that_cannot_be_read_names_the_file(tmp_path):
    with pytest.raises(kernel_log.KernelLogError, match="cannot read .*nope.log: No such file or directory"):
        FakeHost(tmp_path, {}).collect(source="file", path=str(tmp_path / "nope.log"))


def test_oom_kill_counter_is_null_without_the_vmstat_field(tmp_path):
    host = FakeHost(tmp_path, {"dmesg": (0, "", "")}, vmstat="")
    assert host.collect(source="dmesg")["oom_kill_counter"] is None


def test_limit_returns_the_most_recent_events_oldest_first(tmp_path):
    host = FakeHost(tmp_path, {"dmesg": (0, fixture_text("ratelimited-v5.15-kern.log"), "")})
    assert [e["pid"] for e in host.collect(source="dmesg", limit=2)["events"]] == [61001, 61007]


def test_journal_json_lines_that_are_not_json_are_ignored():
    text = "-- No entries --\n{broken\n" + json.dumps({"MESSAGE": MESSAGE, "__REALTIME_TIMESTAMP": "1500000"}) + "\n"
    assert [(r.ts, r.text) for r in log_lines.records_from_journal_json(text)] == [(1.5, MESSAGE)]
