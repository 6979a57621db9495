# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The userspace killers' grammars: one case per format row of each killer's versions (lines written from the
killers' format strings), the lines that must never become events, one kill written on several lines being one
event, and mixed logs where the kernel and a userspace killer act."""

from __future__ import annotations

import calendar

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import sources as ks

pytestmark = pytest.mark.usefixtures("utc")
# Traditional syslog lines carry no year: these are dated by a file written at the end of 2026.
REF = calendar.timegm((2026, 12, 31, 0, 0, 0))
T0 = calendar.timegm((2026, 11, 25, 21, 48, 0))
SCOPE = r"/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-google\x2dchrome-11396.scope"
SCOPE_UNIT = r"app-gnome-google\x2dchrome-11396.scope"
MONITORED = "/user.slice/user-1000.slice/user@1000.service"


def syslog(ident, message, second=0, pid=612):
    """One syslog line of `ident` at T0 + `second` (at most 59)."""
    tag = ident if pid is None else "%s[%d]" % (ident, pid)
    return "Nov 25 21:48:%02d fedora %s: %s" % (second, tag, message)


def events(*lines, killers=ks.KILLERS):
    return ks.parse_text("\n".join(lines) + "\n", killers=killers, ref_time=REF)


def brief(found, *keys):
    keys = keys or ("killer", "pid", "name", "cgroup", "unit", "pod", "reason", "signal", "line")
    return [tuple(e[k] for k in keys) for e in found]


# ---------------------------------------------------------------------------------------------------------
# systemd-oomd: the kill lines of every version.

@pytest.mark.parametrize("version, message, reason", [
    ("v248-v259 pressure",
     "Killed %s due to memory pressure for %s being 62.11%% > 50.00%% for > 20s with reclaim activity"
     % (SCOPE, MONITORED), "pressure"),
    ("v260+ pressure",
     "Marked %s for killing due to memory pressure for %s being 71.02%% > 60.00%% for > 1min 30s with reclaim "
     "activity" % (SCOPE, MONITORED), "pressure"),
    ("v248 swap",
     "Killed %s due to swap used (7340032000) / total (8589934592) being more than 90.00%%" % SCOPE, "swap"),
    ("v249-v259 swap",
     "Killed %s due to memory used (16101408768) / total (16377073664) and swap used (7730941132) / total "
     "(8589930496) being more than 90.00%%" % SCOPE, "swap"),
    ("v260+ swap",
     "Marked %s for killing due to memory used (16101408768) / total (16377073664) and swap used (7730941132) / "
     "total (8589930496) being more than 90.00%%" % SCOPE, "swap"),
])
def test_systemd_oomd_kill_line_is_one_event_with_the_killed_cgroup_and_its_escaped_unit(version, message, reason):
    assert brief(events(syslog("systemd-oomd", message))) == [
        ("systemd-oomd", None, None, SCOPE, SCOPE_UNIT, None, reason, "SIGKILL", "kill")]


def test_systemd_oomd_kill_of_a_system_service_names_the_service():
    found = events(syslog("systemd-oomd", "Killed /system.slice/mariadb.service due to memory pressure for "
                                          "/system.slice being 81.00% > 80.00% for > 30s with reclaim activity"))
    assert brief(found, "cgroup", "unit", "time") == [
        ("/system.slice/mariadb.service", "mariadb.service", "2026-11-25T21:48:00+00:00")]


def test_systemd_oomd_v247_pressure_decision_is_the_kill_and_names_only_the_monitored_cgroup():
    found = events(syslog("systemd-oomd", "Memory pressure for %s is greater than 6000 for more than 30000000 "
                                          "seconds and there was reclaim activity" % MONITORED))
    assert brief(found) == [("systemd-oomd", None, None, MONITORED, None, None, "pressure", "SIGKILL", "decision")]


def test_systemd_oomd_v247_swap_decision_is_the_kill():
    found = events(syslog("systemd-oomd", "Swap used (7730941132) / total (8589930496) is more than 90%"))
    assert brief(found) == [("systemd-oomd", None, None, None, None, None, "swap", "SIGKILL", "decision")]


@pytest.mark.parametrize("decision, failure", [
    ("Memory pressure for %s is greater than 6000 for more than 30000000 seconds and there was reclaim activity"
     % MONITORED, "Failed to kill any cgroup(s) under %s based on pressure" % MONITORED),
    ("Swap used (7730941132) / total (8589930496) is more than 90%", "Failed to kill any cgroup(s) based on swap"),
])
def test_systemd_oomd_v247_decision_followed_by_its_failure_is_no_kill(decision, failure):
    assert events(syslog("systemd-oomd", decision), syslog("systemd-oomd", failure, 1)) == []


def test_systemd_oomd_v247_decision_with_pid1_line_is_one_event_with_the_unit():
    found = events(
        syslog("systemd-oomd", "Memory pressure for %s is greater than 6000 for more than 30000000 seconds and "
                               "there was reclaim activity" % MONITORED),
        syslog("systemd", "%s: systemd-oomd killed 12 process(es) in this unit." % SCOPE_UNIT, 1, pid=1402))
    assert brief(found, "line", "cgroup", "unit") == [("decision", MONITORED, SCOPE_UNIT)]


@pytest.mark.parametrize("message", [
    # v248+ DEBUG: the same test, no kill
    "Memory pressure for %s is 62.11%% > 50.00%% for > 20s with reclaim activity" % MONITORED,
    # candidate dump (v251-v256 %d, v257+ %zu), printed even when nothing is killed
    "Considered 3 cgroups for killing, top candidates were:",
    "\tPath: %s" % SCOPE,
    "\t\tSwap Usage: 1.2G",
    "\t\tMemory Pressure Limit: 50.00%",
    "\t\tMemory Pressure Duration: 20s",
    "\t\tPressure: Avg10: 62.11, Avg60: 40.00, Avg300: 12.00, Total: 2min 3s",
    "\t\tCurrent Memory Usage: 3.1G",
    "\t\tMemory Min: 0B",
    "\t\tMemory Low: 0B",
    "\t\tPgscan: 123456",
    "\t\tLast Pgscan: 120000",
    # per-pid DEBUG, dry runs, prekill hooks
    "oomd attempting to kill 407 with KILL",
    "oomd dry-run: Would have tried to kill /sys/fs/cgroup%s with recurse=true" % SCOPE,
    "oomd dry-run: Would have tried to kill /sys/fs/cgroup%s and all its descendants" % SCOPE,
    "Invoking oomd prekill hook io.example.hook for cgroup %s" % SCOPE,
    "oomd prekill hook finished for cgroup %s" % SCOPE,
    # failures
    "Failed to kill any cgroup(s) under %s based on pressure: No such process" % MONITORED,
    "Failed to kill any cgroups under %s based on pressure: No such process" % MONITORED,
    "Failed to kill any cgroups based on swap: No such process",
])
def test_systemd_oomd_lines_that_are_not_kills(message):
    assert events(syslog("systemd-oomd", message)) == []


# ---------------------------------------------------------------------------------------------------------
# PID 1's and the user manager's lines about systemd-oomd's kills.

KILL_LINE = ("Killed %s due to memory pressure for %s being 62.11%% > 50.00%% for > 20s with reclaim activity"
             % (SCOPE, MONITORED))


@pytest.mark.parametrize("count", ["41", "some"])
def test_oomd_kill_with_the_managers_killed_and_failed_lines_is_one_event(count):
    found = events(
        syslog("systemd-oomd", KILL_LINE),
        syslog("systemd", "%s: systemd-oomd killed %s process(es) in this unit." % (SCOPE_UNIT, count), 1, pid=1402),
        syslog("systemd", "%s: Failed with result 'oom-kill'." % SCOPE_UNIT, 1, pid=1402),
        syslog("systemd", "%s: Consumed 2min 3.456s CPU time." % SCOPE_UNIT, 1, pid=1402))
    assert brief(found, "killer", "unit", "line", "raw") == [("systemd-oomd", SCOPE_UNIT, "kill", KILL_LINE)]


def test_pid1_lines_before_the_oomd_line_fold_into_it():
    found = events(
        syslog("systemd", "mariadb.service: systemd-oomd killed 3 process(es) in this unit.", 0, pid=1),
        syslog("systemd", "mariadb.service: Main process exited, code=killed, status=9/KILL", 0, pid=1),
        syslog("systemd", "mariadb.service: Failed with result 'oom-kill'.", 0, pid=1),
        syslog("systemd-oomd", "Killed /system.slice/mariadb.service due to memory pressure for /system.slice being "
                               "81.00% > 80.00% for > 30s with reclaim activity", 1))
    assert brief(found, "unit", "line") == [("mariadb.service", "kill")]


def test_pid1_oomd_line_without_oomd_own_line_is_the_event():
    found = events(
        syslog("systemd", "mariadb.service: systemd-oomd killed 3 process(es) in this unit.", 0, pid=1),
        syslog("systemd", "mariadb.service: Failed with result 'oom-kill'.", 0, pid=1))
    assert brief(found) == [("systemd-oomd", None, None, None, "mariadb.service", None, "unknown", "SIGKILL", "unit")]


@pytest.mark.parametrize("message", [
    # a kernel kill seen by PID 1, or the unit's end: the kernel's own line is the event
    "mariadb.service: A process of this unit has been killed by the OOM killer.",
    "mariadb.service: Failed with result 'oom-kill'.",
    # PID 1 stopping a unit: not OOM
    "mariadb.service: Killing process 4242 (mariadbd) with signal SIGKILL.",
    "mariadb.service: Main process exited, code=killed, status=9/KILL",
    "mariadb.service: Failed with result 'signal'.",
])
def test_pid1_lines_alone_are_not_kills(message):
    assert events(syslog("systemd", message, pid=1)) == []


# ---------------------------------------------------------------------------------------------------------
# earlyoom: one event per pid, every version's kill line.

@pytest.mark.parametrize("version, message, uid, adj, signal", [
    ("v1.0", "Killing process 4242 stress-ng", None, None, "SIGKILL"),
    ("v1.1", "Killing process: stress-ng, pid: 4242, badness: 870, VmRSS: 3012 MiB", None, None, "SIGKILL"),
    ("v1.2 SIGTERM", "Killing process 'stress-ng' with signal 15, pid: 4242, badness: 870, VmRSS: 3012 MiB",
     None, None, "SIGTERM"),
    ("v1.2 SIGKILL", "Killing process 'stress-ng' with signal 9, pid: 4242, badness: 870, VmRSS: 3012 MiB",
     None, None, "SIGKILL"),
    ("dev 2019-04", 'killing process 4242 "stress-ng" with signal 15: badness 870, VmRSS 3012 MiB',
     None, None, "SIGTERM"),
    ("v1.3", 'sending SIGTERM to process 4242 "stress-ng": badness 870, VmRSS 3012 MiB', None, None, "SIGTERM"),
    ("v1.4", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB',
     1000, None, "SIGTERM"),
    ("v1.5-v1.7", 'sending SIGKILL to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB',
     1000, None, "SIGKILL"),
    ("v1.8", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": oom_score 870, VmRSS 3012 MiB, cmdline '
     '"stress-ng --vm 1 --vm-bytes 90%"', 1000, None, "SIGTERM"),
    ("v1.9", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": oom_score 870, oom_score_adj 200, VmRSS 3012 '
     'MiB, cmdline "stress-ng --vm 1"', 1000, 200, "SIGTERM"),
])
def test_earlyoom_kill_line_of_every_version(version, message, uid, adj, signal):
    found = events(syslog("earlyoom", message))
    assert brief(found, "killer", "pid", "name", "uid", "oom_score_adj", "signal", "reason", "cgroup", "unit") == [
        ("earlyoom", 4242, "stress-ng", uid, adj, signal, "memory", None, None)]


def test_earlyoom_name_with_quotes_and_spaces_is_kept_whole():
    found = events(syslog("earlyoom", 'sending SIGTERM to process 77 uid 0 "Web Content": badness 900, '
                                      'VmRSS 800 MiB'))
    assert brief(found, "pid", "name") == [(77, "Web Content")]


def test_earlyoom_sigterm_escalation_and_exit_are_one_event_ending_in_sigkill():
    found = events(
        syslog("earlyoom", "low memory! at or below SIGTERM limits: mem  9.87%, swap  4.00%"),
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": oom_score 870, VmRSS 3012 MiB, '
                           'cmdline "stress-ng"'),
        syslog("earlyoom", "escalating to SIGKILL after 10.000 seconds", 10),
        syslog("earlyoom", "process 4242 exited after 10.120 seconds", 10))
    assert brief(found, "pid", "signal", "time") == [(4242, "SIGKILL", "2026-11-25T21:48:00+00:00")]


def test_earlyoom_v1_3_escalation_and_anonymous_exit_are_one_event():
    found = events(
        syslog("earlyoom", "low memory! at or below SIGTERM limits: mem 10 %, swap 5 %"),
        syslog("earlyoom", 'sending SIGTERM to process 4242 "stress-ng": badness 870, VmRSS 3012 MiB'),
        syslog("earlyoom", "escalating to SIGKILL after 0.5 seconds", 1),
        syslog("earlyoom", 'sending SIGKILL to process 4242 "stress-ng": badness 870, VmRSS 3012 MiB', 1),
        syslog("earlyoom", "process exited after 1.0 seconds", 1))
    assert brief(found, "pid", "signal") == [(4242, "SIGKILL")]


def test_earlyoom_retries_after_a_failed_kill_are_one_event():
    found = events(
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB'),
        syslog("earlyoom", "kill failed: Timer expired", 10),
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB', 10),
        syslog("earlyoom", "process 4242 did not exit", 20),
        syslog("earlyoom", "kill_release: pid=4242: process_mrelease pidfd=5 failed: Invalid argument", 20))
    assert brief(found, "pid", "signal") == [(4242, "SIGTERM")]


def test_earlyoom_v1_2_kill_line_repeated_every_poll_is_one_event():
    line = "Killing process 'stress-ng' with signal 15, pid: 4242, badness: 870, VmRSS: 3012 MiB"
    found = events(syslog("earlyoom", line), syslog("earlyoom", line), syslog("earlyoom", line, 1))
    assert brief(found, "pid", "signal") == [(4242, "SIGTERM")]


def test_earlyoom_dev_2023_cmdline_line_is_part_of_the_kill():
    found = events(
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB'),
        syslog("earlyoom", 'process 4242 cmdline "stress-ng --vm 1"'))
    assert len(found) == 1


def test_earlyoom_kills_of_two_processes_are_two_events():
    found = events(
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB'),
        syslog("earlyoom", "process 4242 exited after 0.300 seconds"),
        syslog("earlyoom", 'sending SIGTERM to process 4250 uid 1000 "stress-ng": badness 860, VmRSS 2900 MiB', 5))
    assert brief(found, "pid") == [(4242,), (4250,)]


@pytest.mark.parametrize("message", [
    "earlyoom v1.8.2",
    "mem total: 15619 MiB, swap total: 8191 MiB",
    "sending SIGTERM when mem <= 10.00% and swap <= 10.00%,",
    "        SIGKILL when mem <=  5.00% and swap <=  5.00%",
    "mem avail: 10240 of 15619 MiB (65.56%), swap free: 8191 of 8191 MiB (100.00%)",
    "Out of memory! avail: 120 MiB < min: 156 MiB",
    "Out of memory! mem min: 156 MiB, swap min: 409 MiB",
    "Low memory! At or below sigkill limits (mem: 5 %, swap: 5 %)",
    "low memory! at or below SIGTERM limits: mem  9.87%, swap  4.00%",
    "dryrun, not actually sending any signal",
    "Could not find a process to kill. Sleeping 1 second.",
    "process exited after 1.0 seconds",
    "process 4242 exited after 0.300 seconds",
    "escalating to SIGKILL after 10.000 seconds",
])
def test_earlyoom_lines_that_are_not_kills(message):
    assert events(syslog("earlyoom", message)) == []


# ---------------------------------------------------------------------------------------------------------
# nohang: several lines per kill.

def test_nohang_v0_1_victim_and_sending_lines_are_one_event():
    found = events(
        syslog("nohang", "Low memory; corrective action required!"),
        syslog("nohang", "  MemAvailable [402 MiB, 2.5 %] <= mem_min_sigterm [1574 MiB, 10.0 %]"),
        syslog("nohang", "  Finding the process with the highest badness"),
        syslog("nohang", "  Victim is stress, pid: 6120, badness: 880, VmRSS: 13126 MiB, VmSwap: 0 MiB"),
        syslog("nohang", "  Sending SIGTERM to the victim; OK; response time: 7 ms"))
    assert brief(found) == [("nohang", 6120, "stress", None, None, None, "memory", "SIGTERM", "kill")]


def test_nohang_2019_highest_badness_and_send_line_are_one_event():
    found = events(
        syslog("nohang", "Process with highest badness (found in 3 ms):"),
        syslog("nohang", "  PID: 6120, Name: stress, badness: 880"),
        syslog("nohang", "Implement a corrective action:"),
        syslog("nohang", "  Send SIGKILL to the victim; total response time: 9 ms"))
    assert brief(found, "pid", "name", "signal", "reason") == [(6120, "stress", "SIGKILL", "unknown")]


def test_nohang_2019_victim_status_block_gives_name_pid_and_cgroup():
    found = events(
        syslog("nohang", "Victim status (found in 4 ms):"),
        syslog("nohang", "  Name:      tail"),
        syslog("nohang", "  PID:       7001"),
        syslog("nohang", "  CGroup_v2: /user.slice/user-1000.slice/session-2.scope"),
        syslog("nohang", "Implement a corrective action:"),
        syslog("nohang", "  Send SIGTERM to the victim; total response time: 12 ms"))
    assert brief(found, "pid", "name", "cgroup", "unit") == [
        (7001, "tail", "/user.slice/user-1000.slice/session-2.scope", "session-2.scope")]


V02_BLOCK = [
    "Memory status that requires corrective actions:",
    "  MemAvailable [311.0 MiB, 2.0 %] <= soft_threshold_min_mem [1574.4 MiB, 10.0 %]",
    "  SwapFree [0.0 MiB, 0.0 %] <= soft_threshold_min_swap [0.0 MiB, 0.0 %]",
    "Victim status (found in 8ms):",
    "  PID: 6120, name: stress, state: R (running), EUID: 1000, SID: 2188 (bash), lifetime: 22.4s",
    "  badness: 884, oom_score: 884, oom_score_adj: 0",
    "  Vm, MiB: Size: 15018.2, RSS: 13126.1 (Anon: 13125.0, File: 1.1, Shmem: 0.0), Swap: 0.0",
    "  cgroup_v1: ",
    "  cgroup_v2: /user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-"
    "1f2e.scope",
    "  ancestry: PID 2188 (bash) <= PID 2170 (gnome-terminal-)",
    "Implementing a corrective action:",
    "  Sending SIGTERM to the victim",
    "OK; total response time: 11ms",
    "The victim died in 0.183s",
    "What happened in the last 1 min 2 sec:",
    "  [ OK ] Sending SIGTERM to stress: 1",
]


def test_nohang_v0_2_to_today_block_is_one_event_with_the_victim():
    found = events(*[syslog("nohang", line) for line in V02_BLOCK])
    assert brief(found) == [("nohang", 6120, "stress", "/user.slice/user-1000.slice/user@1000.service/app.slice/"
                             "app-org.gnome.Terminal.slice/vte-spawn-1f2e.scope", "vte-spawn-1f2e.scope", None,
                             "memory", "SIGTERM", "kill")]
    assert found[0]["oom_score_adj"] == 0


# A real kill by Debian 13's nohang 0.2.0 (journal, the guest lane's test_killers_on_guests.py): the victim
# status pads its labels into columns. The victim ignored the SIGTERM and was then killed by the kernel.
DEBIAN_V02_BLOCK = [
    "Memory status that requires corrective actions:",
    "  MemAvailable [425 MiB, 44.0 %] <= soft_threshold_min_mem [435 MiB, 45.0 %]",
    "  SwapFree [0 MiB, 0.0 %] <= soft_threshold_min_swap [0 MiB, - %]",
    "Victim status (found in 6ms):",
    "  PID:       606, name: gkill-nh-hog, state: S (sleeping), EUID: 0, SID: 606 (gkill-nh-hog), lifetime: 7.2s",
    "  badness:   1576, oom_score:  1576, oom_score_adj:  1000",
    "  Vm, MiB:   Size: 360, RSS: 354 (Anon: 348, File: 6, Shmem: 0), Swap: 0",
    "  cgroup_v1:",
    "  cgroup_v2: /system.slice/gkill-nohang-hog.service",
    "  ancestry:  PID 1 (systemd)",
    "  exe realpath: /usr/bin/python3.13",
    "  cwd realpath: /",
    "Memory info, MiB:",
    "  total=967, used=434, free=464, available=425, shared=0, buffers=4, cache=65,",
    "  swap_total=0, swap_used=0, swap_free=0",
    "Memory pressure (system-wide):",
    "  some avg10=0.70 avg60=5.66 avg300=2.48",
    "  full avg10=0.60 avg60=4.75 avg300=2.05",
    "Implementing a corrective action:",
    "  Sending SIGTERM to the victim",
    "OK; total response time: 69ms",
    "What happened in the last 8.7s:",
    "  [ OK ] Sending SIGTERM to gkill-nh-hog: 1",
    "The victim doesn't respond on corrective action in 0.026s",
    "Memory status after implementing a corrective action:",
    "  MemAvailable: 425.5 MiB, SwapFree: 0.0 MiB",
    "<<=== FINISHING implement_corrective_action() ===<<",
    ">>=== STARTING implement_corrective_action() ====>>",
    "victim_cache_time is not exceeded for 14135_pid606 (0.132 < 10.0)",
]


def test_nohang_v0_2_victim_status_padded_into_columns_gives_pid_name_adj_and_cgroup():
    found = events(*[syslog("nohang", line) for line in DEBIAN_V02_BLOCK])
    assert brief(found) == [("nohang", 606, "gkill-nh-hog", "/system.slice/gkill-nohang-hog.service",
                             "gkill-nohang-hog.service", None, "memory", "SIGTERM", "kill")]
    assert found[0]["oom_score_adj"] == 1000


def test_nohang_psi_decision_is_pressure_and_sigkill_is_kept():
    found = events(
        syslog("nohang", "Memory status that requires corrective actions:"),
        syslog("nohang", "  PSI avg (65.2) > hard_threshold_max_psi (60.0)"),
        syslog("nohang", "Victim status (found in 8ms):"),
        syslog("nohang", "  PID: 6120, name: stress, state: R (running), EUID: 1000, SID: 2188 (bash), lifetime: 2s"),
        syslog("nohang", "Implementing a corrective action:"),
        syslog("nohang", "  Sending SIGKILL to the victim"))
    assert brief(found, "reason", "signal") == [("pressure", "SIGKILL")]


def test_nohang_swapfree_decision_is_swap():
    found = events(
        syslog("nohang", "Memory status that requires corrective actions:"),
        syslog("nohang", "  SwapFree [10.0 MiB, 0.1 %] <= hard_threshold_min_swap [100.0 MiB, 1.0 %]"),
        syslog("nohang", "Implementing a corrective action:"),
        syslog("nohang", "  Sending SIGKILL to the victim"))
    assert brief(found, "reason", "pid") == [("swap", None)]


def test_nohang_own_log_file_with_untimed_continuation_lines(tmp_path):
    text = "".join("%s%s\n" % ("2026-11-25 21:48:05,123: " if not line.startswith(" ") else "", line)
                   for line in V02_BLOCK)
    found = ks.parse_text(text)
    assert brief(found, "killer", "pid", "name", "signal", "time") == [
        ("nohang", 6120, "stress", "SIGTERM", "2026-11-25T21:48:05.123000+00:00")]


@pytest.mark.parametrize("message", [
    "  [ OK ] Sending SIGTERM to stress: 3",
    "  Send SIGTERM to stress: 3",
    "Total stat (what happened in the last 2 min 3 sec):",
    "victim badness 12 < min_badness 20; nothing to do",
    "victim (PID: 6120, Name: stress) badness (12) < min_badness (20); nothing to do",
    "max_soft_exit_time is not exceeded for 6120",
    "victim_cache_time is not exceeded for 6120",
    "Selected process died before corrective action",
    "Executing the command: kill -SIGTERM 6120",
    "Run the command: kill -SIGTERM 6120",
    "Memory status that requires corrective actions:",
    "  MemAvailable [311.0 MiB, 2.0 %] <= soft_threshold_min_mem [1574.4 MiB, 10.0 %]",
    "Victim status (found in 8ms):",
    "  PID: 6120, name: stress, state: R (running), EUID: 1000, SID: 2188 (bash), lifetime: 22.4s",
    "The victim died in 0.183s",
    "The victim doesn't respond on corrective action in 10.0s",
])
def test_nohang_lines_that_are_not_kills(message):
    assert events(syslog("nohang", message)) == []


def test_nohang_victim_that_died_before_the_action_is_not_given_to_the_next_kill():
    found = events(
        syslog("nohang", "Victim status (found in 8ms):"),
        syslog("nohang", "  PID: 6120, name: stress, state: R (running), EUID: 1000, SID: 2188 (bash), lifetime: 2s"),
        syslog("nohang", "Selected process died before corrective action"),
        syslog("nohang", "Implementing a corrective action:"),
        syslog("nohang", "  Sending SIGTERM to the victim"))
    assert brief(found, "pid", "name") == [(None, None)]


# ---------------------------------------------------------------------------------------------------------
# kubelet's eviction manager.

KLOG = "I1125 21:48:05.123456    2231 eviction_manager.go:%d] "


@pytest.mark.parametrize("era, message", [
    ("1.4", "eviction manager: pod web-7d9f8_shop(8d6f2a1c-3b4e-11e6-9b5c-42010af00002) evicted successfully"),
    ("up to 1.20", "eviction manager: pod web-7d9f8_shop(8d6f2a1c-3b4e-11e6-9b5c-42010af00002) is evicted "
                   "successfully"),
    ("1.21+", '"Eviction manager: pod is evicted successfully" pod="shop/web-7d9f8"'),
])
def test_kubelet_eviction_of_every_era_is_one_event_with_the_pod(era, message):
    found = events(syslog("kubelet", KLOG % 374 + message, pid=2231))
    assert brief(found) == [("kubelet", None, "web-7d9f8", None, None, "shop/web-7d9f8", "eviction", None, "kill")]


@pytest.mark.parametrize("pods", [
    "[shop/web-7d9f8 kube-system/coredns-1]",
    '"[shop/web-7d9f8 kube-system/coredns-1]"',
    '["shop/web-7d9f8","kube-system/coredns-1"]',
])
def test_kubelet_structured_eviction_with_its_other_lines_is_one_event(pods):
    found = events(*[syslog("kubelet", KLOG % n + m, pid=2231) for n, m in [
        (345, '"Eviction manager: attempting to reclaim" resourceName="memory"'),
        (356, '"Eviction manager: must evict pod(s) to reclaim" resourceName="memory"'),
        (366, '"Eviction manager: pods ranked for eviction" pods=%s' % pods),
        (374, '"Eviction manager: pod is evicted successfully" pod="shop/web-7d9f8"'),
        (399, '"Eviction manager: pods evicted, waiting for pod to be cleaned up" pods=%s' % pods),
        (411, '"Eviction manager: pods successfully cleaned up" pods=%s' % pods),
    ]])
    assert brief(found, "pod") == [("shop/web-7d9f8",)]


def test_kubelet_printf_eviction_with_its_other_lines_is_one_event():
    pod = "web-7d9f8_shop(8d6f2a1c-3b4e-11e6-9b5c-42010af00002)"
    found = events(*[syslog("kubelet", KLOG % n + m, pid=2231) for n, m in [
        (320, "eviction manager: attempting to reclaim memory"),
        (330, "eviction manager: must evict pod(s) to reclaim memory"),
        (340, "eviction manager: pods ranked for eviction: %s, coredns-1_kube-system(11)" % pod),
        (350, "eviction manager: pod %s is evicted successfully" % pod),
        (360, "eviction manager: pods %s evicted, waiting for pod to be cleaned up" % pod),
        (370, "eviction manager: pods %s successfully cleaned up" % pod),
    ]])
    assert brief(found, "pod") == [("shop/web-7d9f8",)]


@pytest.mark.parametrize("message", [
    '"Eviction manager: pod failed to evict" err="rpc error" pod="shop/web-7d9f8"',
    "eviction manager: pod web-7d9f8_shop(8d6f) failed to evict rpc error",
    '"Eviction manager: pods evicted, waiting for pod to be cleaned up" pods=["shop/web-7d9f8"]',
    '"Eviction manager: timed out waiting for pods to be cleaned up" pods=["shop/web-7d9f8"]',
    '"Evicting pod" pod="shop/web-7d9f8" podUID="8d6f" message="The node was low on resource: memory. "',
])
def test_kubelet_lines_that_are_not_evictions(message):
    assert events(syslog("kubelet", KLOG % 374 + message, pid=2231)) == []


# ---------------------------------------------------------------------------------------------------------
# Facebook oomd.

def test_fb_oomd_kill_lines_and_kernel_log_line_are_one_event():
    cgroup = "/sys/fs/cgroup/workload.slice/workload-tw.slice/job7.service"
    found = events(
        syslog("oomd", '[../src/oomd/plugins/BaseKillPlugin.cpp:243] Picked "workload.slice/workload-tw.slice/'
                       'job7.service" (2048MB) based on pressure at 71.20', pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:96] Trying to kill %s" % cgroup, pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:120] Killed 1: 9001(job7)", pid=810),
        syslog("kernel", "oomd kill: 71.20 60.11 30.02 workload.slice/workload-tw.slice/job7.service 2147483648 "
                         "ruleset:[protection against high memory pressure] detectorgroup:[memory pressure] "
                         "killer:kill_by_pressure v2", pid=None))
    assert brief(found) == [("oomd", 9001, "job7", "workload.slice/workload-tw.slice/job7.service", "job7.service",
                             None, "pressure", "SIGKILL", "kill")]


def test_fb_oomd_v0_3_order_and_swap_basis():
    found = events(
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:96] Trying to kill /sys/fs/cgroup/system.slice/"
                       "a.service", pid=810),
        syslog("oomd", '[../src/oomd/plugins/BaseKillPlugin.cpp:243] Picked "system.slice/a.service" (900MB) based '
                       "on swap usage at 800MB", pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:120] Killed 2: 10(a) 11(a-worker)", pid=810))
    assert brief(found, "pid", "cgroup", "unit", "reason") == [
        (None, "system.slice/a.service", "a.service", "swap")]


def test_fb_oomd_kernel_log_line_alone_is_the_event():
    found = ks.parse_text("[  812.000001] oomd kill: 71.20 60.11 30.02 system.slice/b.service 2147483648 "
                          "ruleset:[r] detectorgroup:[d] killer:kill_by_memory_size_or_growth v2\n")
    assert brief(found, "killer", "cgroup", "unit", "reason") == [
        ("oomd", "system.slice/b.service", "b.service", "memory")]


@pytest.mark.parametrize("message", [
    "[../src/oomd/plugins/BaseKillPlugin.cpp:120] Killed 0: ",
    "[../src/oomd/plugins/BaseKillPlugin.cpp:120] Killed 0: 10(a)[E3]",
    "[../src/oomd/plugins/BaseKillPlugin.cpp:210] OOMD: In dry-run mode; would have tried to kill /sys/fs/cgroup/a",
    '[../src/oomd/plugins/BaseKillPlugin.cpp:243] Picked "system.slice/a.service" (900MB) based on size',
])
def test_fb_oomd_lines_that_are_not_kills(message):
    assert events(syslog("oomd", message, pid=810)) == []


# ---------------------------------------------------------------------------------------------------------
# Mixed logs: one kill once, two killers twice.

KERNEL_KILL = ("Out of memory: Killed process 4242 (stress-ng) total-vm:3100000kB, anon-rss:3000000kB, "
               "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:6000kB oom_score_adj:200")


def test_earlyoom_then_the_kernel_on_the_same_process_are_two_events():
    found = events(
        syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": oom_score 870, oom_score_adj 200, '
                           'VmRSS 3012 MiB, cmdline "stress-ng"'),
        syslog("kernel", KERNEL_KILL, 3, pid=None),
        syslog("earlyoom", "process 4242 exited after 3.100 seconds", 3))
    assert brief(found, "killer", "pid", "signal") == [("earlyoom", 4242, "SIGTERM"), ("kernel", 4242, "SIGKILL")]


def test_kernel_oomd_and_pid1_lines_give_each_kill_once():
    found = events(
        syslog("kernel", "Memory cgroup out of memory: Killed process 5150 (mariadbd) total-vm:900000kB, "
                         "anon-rss:800000kB, file-rss:0kB, shmem-rss:0kB, UID:27 pgtables:1800kB oom_score_adj:0",
               pid=None),
        syslog("systemd", "mariadb.service: A process of this unit has been killed by the OOM killer.", 0, pid=1),
        syslog("systemd", "mariadb.service: Main process exited, code=killed, status=9/KILL", 0, pid=1),
        syslog("systemd", "mariadb.service: Failed with result 'oom-kill'.", 0, pid=1),
        syslog("systemd-oomd", "Considered 1 cgroups for killing, top candidates were:", 5),
        syslog("systemd-oomd", "\tPath: %s" % SCOPE, 5),
        syslog("systemd-oomd", KILL_LINE, 5),
        syslog("systemd", "%s: systemd-oomd killed 41 process(es) in this unit." % SCOPE_UNIT, 6, pid=1402),
        syslog("systemd", "%s: Failed with result 'oom-kill'." % SCOPE_UNIT, 6, pid=1402))
    assert brief(found, "killer", "pid", "unit", "reason") == [
        ("kernel", 5150, None, "memory"), ("systemd-oomd", None, SCOPE_UNIT, "pressure")]


def test_killers_filter_keeps_only_the_chosen_killers():
    lines = (syslog("earlyoom", 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB'),
             syslog("kernel", KERNEL_KILL, 3, pid=None))
    assert brief(events(*lines, killers=["earlyoom"]), "killer") == [("earlyoom",)]
    assert brief(events(*lines, killers=["kernel"]), "killer") == [("kernel",)]


@pytest.mark.parametrize("line", [
    # journalctl -o short-iso, short-precise, short-unix, short-monotonic, and RFC 3339 syslog
    "2026-11-25T21:48:00+0000 fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    "Nov 25 21:48:00.123456 fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    "1795643280.123456 fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    "[  812.123456] fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    "2026-11-25T21:48:00.123456+00:00 fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, "
    "VmRSS 1 MiB",
    # busybox syslogd's facility.level, and a German journalctl month
    "Nov 25 21:48:00 fedora daemon.err earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    "Dez 25 21:48:00 fedora earlyoom[700]: sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
    # a bare message (grep of earlyoom's stderr)
    "sending SIGTERM to process 4242 \"x\": badness 1, VmRSS 1 MiB",
])
def test_every_prefix_the_kernel_reader_strips_is_stripped_for_the_killers(line):
    assert brief(events(line), "killer", "pid", "name") == [("earlyoom", 4242, "x")]


def test_another_programs_line_that_looks_like_a_kill_is_not_one():
    assert events(syslog("myapp", 'sending SIGTERM to process 4242 "x": badness 1, VmRSS 1 MiB')) == []


def test_systemd_oomd_kill_line_cut_short_by_a_journalctl_paste_is_still_the_kill():
    found = events(syslog("systemd-oomd", "Killed /system.slice/batch.service due to memory pressure for /system.slice "
                                          "be>"))
    assert brief(found, "cgroup", "unit", "reason") == [("/system.slice/batch.service", "batch.service", "pressure")]


def test_fb_oomd_failed_kill_leaves_its_target_to_no_later_kill():
    found = events(
        syslog("oomd", '[../src/oomd/plugins/KillMemoryGrowth-inl.h:168] Picked "system.slice/a.service" (900MB) '
                       "based on size > 10% of total 6989MB", pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:141] Killed 0: 10(a)[E1] 11(b)[E1]", pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:141] Killed 1: 20(c)", 30, pid=810))
    assert brief(found, "pid", "cgroup", "reason") == [(20, None, "unknown")]


def test_a_paste_that_lost_the_host_keeps_the_tag():
    found = events("Nov 25 21:48:00 systemd-oomd[612]: " + KILL_LINE)
    assert brief(found, "killer", "unit") == [("systemd-oomd", SCOPE_UNIT)]


def test_nohang_own_log_with_top_list_and_no_victim_status_names_the_highest_badness_process():
    text = ("2026-11-25 21:48:05,100: Memory status that requires corrective actions:\n"
            "  MemAvailable [383 MiB, 5.0 %] <= soft_threshold_min_mem [384 MiB, 5.0 %]\n"
            "2026-11-25 21:48:05,101: TOP-2 tasks by badness:\n"
            "2026-11-25 21:48:05,101:   Name                PID badness\n"
            "2026-11-25 21:48:05,101:   mysqld           903309     849\n"
            "2026-11-25 21:48:05,101:   monit              7469      17\n"
            "2026-11-25 21:48:05,102: TOP printed in 1ms; process with highest badness:\n"
            "  PID: 903309, name: mysqld, badness: 849\n"
            "2026-11-25 21:48:05,103: Implementing a corrective action:\n"
            "  Sending SIGTERM to the victim\n")
    assert brief(ks.parse_text(text), "killer", "pid", "name", "reason", "signal") == [
        ("nohang", 903309, "mysqld", "memory", "SIGTERM")]


def test_pid1_stop_timeout_line_without_its_unit_prefix_is_not_an_earlyoom_v1_0_kill():
    assert events("Killing process 4242 (mariadbd) with signal SIGKILL.") == []
    assert brief(events("Killing process 4242 mariadbd"), "killer", "pid") == [("earlyoom", 4242)]


def test_short_monotonic_paste_without_host_keeps_the_tag():
    found = ks.parse_text("[2406674.127782] systemd-oomd[2261673]: Killed /system.slice/httpd.service due to memory "
                          "used (32305733632) / total (33046589440) and swap used (7730941132) / total (8589930496) "
                          "being more than 90.00%\n", boot_time=1790000000.0)
    assert brief(found, "killer", "unit", "reason", "timestamp") == [
        ("systemd-oomd", "httpd.service", "swap", 1790000000.0 + 2406674.127782)]


def test_earlyoom_desktop_notification_text_is_not_a_kill():
    assert events(syslog("earlyoom", "Low memory! Killing process 4242 stress-ng")) == []


def test_nohang_desktop_identifier_is_nohang():
    found = events(syslog("nohang-desktop", "Implementing a corrective action:"),
                   syslog("nohang-desktop", "  Sending SIGTERM to the victim"))
    assert brief(found, "killer", "signal") == [("nohang", "SIGTERM")]


def test_fb_oomd_head_trying_line_with_cgroup_kill_names_the_cgroup():
    found = events(
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:310] Trying to kill /sys/fs/cgroup/system.slice/"
                       "c.service with cgroup.freeze and cgroup.kill", pid=810),
        syslog("oomd", "[../src/oomd/plugins/BaseKillPlugin.cpp:341] Killed 1: 30(c)", pid=810))
    assert brief(found, "pid", "name", "cgroup", "unit") == [(30, "c", "/sys/fs/cgroup/system.slice/c.service",
                                                             "c.service")]
