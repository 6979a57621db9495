# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory side of a tier on real cgroup v2 hosts with systemd-oomd: MemoryMin=/MemoryMax=/MemoryHigh=,
ManagedOOMPreference= and a pressure-monitored slice, applied by oomguard.fleet.oom_protection without a
restart, judged against cgroupfs, and two real kills -- the kernel's inside a unit's memory.max and
systemd-oomd's on a slice under pressure -- checked against the audit's counters and prediction.

The tests run in order on one boot of each guest and share its state (converge -> kernel kill + audit ->
oomd kill -> hand change + check mode -> fix). The cgroup v1 side (same tiers, not in effect) is the molecule
scenario memory_stack. Everything is removed at the end, oomd's drop-in included.
"""

from __future__ import annotations

import json
import os

import pytest

from guestlib import thrash_loop, wait_for_oomd_kill, wait_until as _wait

HERE = os.path.dirname(os.path.abspath(__file__))
PROTECT = os.path.join(HERE, "playbooks", "protect.yml")
AUDIT = os.path.join(HERE, "..", "..", "playbooks", "audit.yml")
LIB = "/usr/local/lib/oomguard-memtest"
GO = "/run/oomguard-memtest"
OOMD_DROPIN = "/etc/systemd/oomd.conf.d/90-oomguard-memtest.conf"
MiB = 1024 * 1024
# A dash in a slice's name is its place in the tree: guest-oomd.slice lives in guest.slice (systemd creates
# that parent itself), and its cgroup, which systemd-oomd monitors and reports, is this one.
WATCHED = "/guest.slice/guest-oomd.slice"

TIERS = {
    # Must show 1: protection and a limit for what matters, and oomd told to leave it alone.
    "guarded": {"oom_score_adj": -500, "memory_min": "32M", "memory_max": "128M", "managed_oom_preference": "omit"},
    # Must show 2: an expendable service capped hard; OOMPolicy=continue keeps the unit (and its counters).
    "capped": {"oom_score_adj": 0, "oom_policy": "continue", "memory_max": "64M"},
    # Must show 3: the slice oomd watches, a throttled member, and a member oomd must never pick.
    "watched": {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "20%"},
    "squeezed": {"oom_score_adj": 0, "memory_high": "48M"},
    "kept": {"oom_score_adj": 0, "managed_oom_preference": "omit"},
}
UNITS = {
    "guest-mem.service": "guarded",
    "guest-hog.service": "capped",
    "guest-oomd.slice": "watched",
    "guest-squeeze.service": "squeezed",
    "guest-keep.service": "kept",
}
SERVICES = ["guest-mem.service", "guest-hog.service", "guest-squeeze.service", "guest-keep.service"]
EXTRA_VARS = {"oom_protection_custom_tiers": TIERS, "oom_protection_units": UNITS}

# Idle: holds N MiB of touched memory under its own name.
IDLE = """import sys, time
open('/proc/self/comm', 'w').write(sys.argv[1])
held = b'\\xa5' * (int(sys.argv[2]) * 1024 * 1024)
while True:
    time.sleep(3600)
"""
# The start of a workload that waits for its go file (argv[1]), so the tests decide when load begins.
WAIT_FOR_GO = """import os, sys, time
open('/proc/self/comm', 'w').write(sys.argv[2])
while not os.path.exists(sys.argv[1]):
    time.sleep(0.2)
"""
# Then forks a child that allocates until the kernel kills it; the parent stays.
HOG = WAIT_FOR_GO + """if os.fork() == 0:
    open('/proc/self/comm', 'w').write('guest-hog')
    chunks = []
    while True:
        chunks.append(b'\\x5a' * (4 * 1024 * 1024))
while True:
    time.sleep(3600)
"""
# Waits for its go file, then keeps 56 MiB of anonymous memory, above its 48M memory.high, and rereads a 64 MiB
# file: the kernel reclaims its page cache and throttles it without a pause (memory pressure with reclaim
# activity, which systemd-oomd's pressure rule needs).
THRASH = WAIT_FOR_GO + thrash_loop("/var/tmp/oomguard-memtest.bin")


def _unit(description, exec_start, slice_=None):
    lines = ["[Unit]", "Description=%s" % description, "[Service]", "ExecStart=%s" % exec_start]
    if slice_:
        lines.append("Slice=%s" % slice_)
    return "\n".join(lines) + "\n"


FILES = {
    LIB + "/idle.py": IDLE,
    LIB + "/hog.py": HOG,
    LIB + "/thrash.py": THRASH,
    "/etc/systemd/system/guest-mem.service": _unit("oomguard memtest: guarded", "/usr/bin/python3 %s/idle.py guest-mem 16" % LIB),
    "/etc/systemd/system/guest-hog.service": _unit("oomguard memtest: capped hog", "/usr/bin/python3 %s/hog.py %s/hog guest-hog-main" % (LIB, GO)),
    "/etc/systemd/system/guest-oomd.slice": "[Unit]\nDescription=oomguard memtest: watched slice\n",
    "/etc/systemd/system/guest-squeeze.service": _unit("oomguard memtest: squeezed",
                                                       "/usr/bin/python3 %s/thrash.py %s/squeeze guest-squeeze" % (LIB, GO),
                                                       "guest-oomd.slice"),
    "/etc/systemd/system/guest-keep.service": _unit("oomguard memtest: kept",
                                                    "/usr/bin/python3 %s/idle.py guest-keep 16" % LIB, "guest-oomd.slice"),
    # oomd's pressure rule waits for the limit to be exceeded this long (default 30 s).
    OOMD_DROPIN: "[OOM]\nDefaultMemoryPressureDurationSec=2s\n",
}

# One python run per guest reads every value the tests compare (cgroupfs, xattrs, systemd's view).
READ = """import json, os, subprocess, sys
units = sys.argv[1:]
out = {}
for unit in units:
    show = dict(line.split('=', 1) for line in subprocess.run(
        ['systemctl', 'show', '-p', 'ControlGroup,MainPID,Result,ActiveState', unit],
        capture_output=True, text=True).stdout.splitlines() if '=' in line)
    path = '/sys/fs/cgroup' + show.get('ControlGroup', '') if show.get('ControlGroup') else None
    facts = dict(show)
    if path and os.path.isdir(path):
        for name in ('memory.min', 'memory.high', 'memory.max'):
            facts[name] = open(path + '/' + name).read().strip()
        facts['events'] = dict(l.split() for l in open(path + '/memory.events').read().splitlines())
        for attr in ('user.oomd_omit', 'user.oomd_avoid'):
            try:
                facts[attr] = os.getxattr(path, attr).decode()
            except OSError:
                facts[attr] = None
    out[unit] = facts
print(json.dumps(out))
"""


def _read(guest, units=None):
    return guest.python(READ, *(units or list(UNITS)))


@pytest.fixture(scope="module")
def converged(guests, ansible):
    """The test units installed and started, oomd running with a short pressure duration, then the role."""
    for guest in guests.values():
        script = ["set -e", "mkdir -p %s %s /etc/systemd/oomd.conf.d" % (LIB, GO)]
        for path, text in FILES.items():
            script.append("cat >%s <<'EOF'\n%sEOF" % (path, text))
        script += ["systemctl daemon-reload", "systemctl restart systemd-oomd",
                   "systemctl start %s" % " ".join(SERVICES)]
        guest.ssh("\n".join(script))
    before = {name: _read(guest) for name, guest in guests.items()}
    try:
        yield before, ansible.playbook(PROTECT, EXTRA_VARS)
    finally:
        ansible.playbook(PROTECT, dict(EXTRA_VARS, oom_protection_state="absent"))
        for guest in guests.values():
            guest.ssh("systemctl stop %s guest-oomd.slice guest.slice; systemctl reset-failed %s 2>/dev/null; rm -rf %s %s %s "
                      "/var/tmp/oomguard-memtest.bin %s; systemctl daemon-reload; systemctl restart systemd-oomd"
                      % (" ".join(SERVICES), " ".join(SERVICES), LIB, GO, OOMD_DROPIN,
                         " ".join("/etc/systemd/system/" + unit for unit in UNITS)), check=False)


def test_memory_min_max_and_the_omit_mark_are_in_cgroupfs_without_a_restart_and_reported_ok(guests, converged):
    before, result = converged
    result.assert_ok()
    for name, guest in guests.items():
        now = _read(guest)
        for unit in SERVICES:
            assert now[unit]["MainPID"] == before[name][unit]["MainPID"] != "0", (name, unit, "restarted")
        mem = now["guest-mem.service"]
        assert (mem["memory.min"], mem["memory.max"], mem["user.oomd_omit"]) == (str(32 * MiB), str(128 * MiB), "1"), name
        assert mem["user.oomd_avoid"] is None, name
        assert now["guest-squeeze.service"]["memory.high"] == str(48 * MiB), name
        assert now["guest-keep.service"]["user.oomd_omit"] == "1", name
        records = result.compliance(name)
        for unit in UNITS:
            assert records[unit]["status"] == "ok", (name, records[unit])
        settings = {s["setting"]: s for s in records["guest-mem.service"]["settings"]}
        assert settings["memory_min"]["effective"] == 32 * MiB and settings["managed_oom_preference"]["effective"] == "omit"
        assert {s["setting"]: s["effective"] for s in records["guest-oomd.slice"]["settings"]} == {
            "managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": 20.0}, name


@pytest.fixture(scope="module")
def hog_killed_then_audited(guests, ansible, converged, tmp_path_factory):
    """The capped unit's child pushed over memory_max (the kernel kills it in the cgroup), then one audit,
    whose JSON report is returned per host, with the audit's systemd-oomd prediction taken before any load."""
    for guest in guests.values():
        guest.ssh("touch %s/hog" % GO)
    for name, guest in guests.items():
        _wait("the kernel OOM kill in guest-hog.service on %s" % name,
              lambda guest=guest: int(_read(guest, ["guest-hog.service"])["guest-hog.service"]["events"]["oom_kill"]),
              120)
    out = tmp_path_factory.mktemp("audit")
    result = ansible.playbook(AUDIT, dict(EXTRA_VARS, oom_audit_hosts="guests", oom_audit_report_dir=str(out),
                                          oom_audit_events_since="1h"))
    result.assert_ok()
    with open(os.path.join(str(out), "oom-audit.json")) as handle:
        report = json.load(handle)
    return {host["name"]: host for host in report["hosts"]}


def test_a_unit_over_memory_max_is_killed_in_its_cgroup_and_the_counter_and_the_journal_agree_in_the_audit(
        guests, hog_killed_then_audited):
    for name, guest in guests.items():
        now = _read(guest)
        hog = now["guest-hog.service"]
        assert hog["ActiveState"] == "active", (name, "OOMPolicy=continue keeps the unit")
        assert int(hog["events"]["oom_kill"]) == 1, (name, hog["events"])
        assert now["guest-mem.service"]["ActiveState"] == "active", name
        host = hog_killed_then_audited[name]
        records = {r["target"]: r for r in host["compliance"]["records"]}
        journal = [e for e in host["events"] if e["unit"] == "guest-hog.service"]
        assert records["guest-hog.service"]["oom_kills"] == len(journal) == 1, \
            (name, records["guest-hog.service"], journal)
        assert journal[0]["name"] == "guest-hog" and journal[0]["scope"] == "memcg", (name, journal)
        assert host["cgroup_oom_kills"] >= 1, name
        assert records["guest-mem.service"]["status"] == "ok", (name, records["guest-mem.service"])


def test_systemd_oomd_kills_the_predicted_cgroup_of_the_watched_slice_and_never_the_omitted_one(
        guests, hog_killed_then_audited):
    killed_lines = "journalctl -u systemd-oomd --no-pager -o cat | grep -E '(Killed|Marked) %s/'" % WATCHED
    for name, guest in guests.items():
        oomd = hog_killed_then_audited[name]["oomd"]
        assert oomd["running"], name
        (rule,) = [r for r in oomd["prediction"]["memory_pressure"] if r["monitored"] == WATCHED]
        assert rule["limit_percent"] == 20.0, (name, rule)
        assert rule["first"] == WATCHED + "/guest-squeeze.service", (name, rule)
        assert rule["omitted"] == [WATCHED + "/guest-keep.service"], (name, rule)
        keep_pid = _read(guest, ["guest-keep.service"])["guest-keep.service"]["MainPID"]
        guest.ssh("touch %s/squeeze" % GO)
        wait_for_oomd_kill(guest, WATCHED, "systemd-oomd's kill on %s" % name,
                           lambda guest=guest: guest.ssh(killed_lines, check=False).stdout, 180)
        killed = guest.sh(killed_lines)
        assert all(WATCHED + "/guest-squeeze.service" in line for line in killed.splitlines()), (name, killed)
        now = _read(guest, ["guest-squeeze.service", "guest-keep.service"])
        assert now["guest-keep.service"]["MainPID"] == keep_pid and now["guest-keep.service"]["ActiveState"] == "active"
        assert now["guest-squeeze.service"]["ActiveState"] != "active", (name, now["guest-squeeze.service"])


def test_a_hand_change_in_cgroupfs_is_drift_in_check_mode_and_the_next_run_puts_it_back(
        guests, ansible, hog_killed_then_audited):
    for guest in guests.values():
        guest.ssh("echo %d > /sys/fs/cgroup/system.slice/guest-mem.service/memory.max" % (256 * MiB))
    checked = ansible.playbook(PROTECT, EXTRA_VARS, check=True).assert_ok()
    for name, guest in guests.items():
        record = checked.compliance(name)["guest-mem.service"]
        assert record["status"] == "drift", (name, record)
        assert "holds memory.max %d, policy 128M" % (256 * MiB) in " ".join(record["reasons"]), (name, record)
        assert _read(guest, ["guest-mem.service"])["guest-mem.service"]["memory.max"] == str(256 * MiB), \
            (name, "check mode wrote")
    fixed = ansible.playbook(PROTECT, EXTRA_VARS).assert_ok()
    for name, guest in guests.items():
        assert _read(guest, ["guest-mem.service"])["guest-mem.service"]["memory.max"] == str(128 * MiB), name
        assert fixed.compliance(name)["guest-mem.service"]["status"] == "ok", name
