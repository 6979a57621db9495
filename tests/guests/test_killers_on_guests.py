# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every killer in the kill history, on real hosts: three real kills per guest, one audit, one event per kill.

1. systemd-oomd: a slice it monitors (ManagedOOMMemoryPressure=kill, 20 %, a 2 s pressure duration from an
   oomd.conf drop-in) holds a service held above its MemoryHigh= that rereads a file, until oomd kills it. PID 1
   logs the kill too ("systemd-oomd killed N process(es)", "Failed with result 'oom-kill'"): the audit must
   show one event, killer systemd-oomd, with the service's cgroup and unit. The service is in a protective
   tier (ManagedOOMPreference=avoid) of the policy given to the audit, so the kill is also a protected kill.
2. earlyoom (Debian's package, its own unit with a drop-in of ours) and 3. nohang (its unit, a config of ours):
   a hog with oom_score_adj 1000, in a transient service with MemoryMax=, grows until the killer sends SIGTERM,
   ignores it and grows on until the kernel's memcg OOM killer kills it: two events with the hog's pid, one
   per killer. The thresholds are set from the guest's MemAvailable just before, so the killer acts well
   before memory.max and the kernel well before the killer's SIGKILL threshold.
The killers run one after the other (they would race each other), each only while its kill is provoked: the
guest image has them installed but disabled, which the test proves first. Then the audit playbook runs once
and everything is asserted on its JSON report. All units, drop-ins, configs and files are removed at the end.
Exhausts memory inside memory cgroups only (no global OOM).
"""

from __future__ import annotations

import concurrent.futures
import json
import os

import pytest

from guestlib import thrash_loop, wait_for_oomd_kill, wait_until as _wait

AUDIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "playbooks", "audit.yml")
LIB = "/usr/local/lib/oomguard-killtest"
RUN = "/run/oomguard-killtest"
OOMD_DROPIN = "/etc/systemd/oomd.conf.d/90-oomguard-killtest.conf"
KILLERS = ("earlyoom", "nohang")
KILLER_UNITS = ("earlyoom.service", "nohang.service", "nohang-desktop.service")
DROPINS = {"earlyoom": "/run/systemd/system/earlyoom.service.d/90-oomguard-killtest.conf",
           "nohang": "/run/systemd/system/nohang.service.d/90-oomguard-killtest.conf"}
# A dash in a slice's name is its place in the tree: gkill-oomd.slice lives in gkill.slice.
WATCHED = "/gkill.slice/gkill-oomd.slice"
SQUEEZE = "gkill-squeeze.service"
HOGS = {"earlyoom": ("gkill-earlyoom-hog.service", "gkill-eo-hog"),
        "nohang": ("gkill-nohang-hog.service", "gkill-nh-hog")}
MiB = 1024
# MiB: the killer's SIGTERM threshold lies this far below MemAvailable at the start, and the hog's memory.max
# this far past that point. earlyoom 1.8 turns -M into a percentage of MemTotal but compares it with
# MemAvailable as a percentage of MemAvailable + AnonPages, so it acts up to ~80 MiB later than -M says.
TERM_ROOM = 150
MAX_ROOM = 250
KILL_AT = 32
HOG_TIMEOUT = 120
OOMD_TIMEOUT = 240

TIERS = {
    "gkill-avoided": {"oom_score_adj": 0, "managed_oom_preference": "avoid", "memory_high": "48M"},
    "gkill-watched": {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": "20%"},
}
POLICY = {"oom_protection_custom_tiers": TIERS,
          "oom_protection_units": {SQUEEZE: "gkill-avoided", "gkill-oomd.slice": "gkill-watched"}}

# Keeps 56 MiB above its 48M memory.high and rereads a 64 MiB file: the kernel reclaims its page cache and
# throttles it without a pause (memory pressure with reclaim activity, which systemd-oomd's pressure rule needs).
THRASH = """import os, sys
open('/proc/self/comm', 'w').write('gkill-squeeze')
""" + thrash_loop("/var/tmp/oomguard-killtest.bin")
# Grows by 4 MiB every 50 ms (so a killer polling every 100 ms sees it cross its threshold), notes its pid and
# any SIGTERM, ignores the SIGTERM and then grows without pause until the kernel kills it in its memory.max.
HOG = """import os, signal, sys, time
name, pidfile, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
open('/proc/self/comm', 'w').write(name)
termed = []
def on_term(signum, frame):
    termed.append(1)
    with open(pidfile + '.term', 'w') as handle:
        handle.write('%d\\n' % os.getpid())
signal.signal(signal.SIGTERM, on_term)
with open(pidfile + '.tmp', 'w') as handle:
    handle.write('%d\\n' % os.getpid())
os.rename(pidfile + '.tmp', pidfile)
deadline = time.monotonic() + timeout
chunks = []
while time.monotonic() < deadline:
    chunks.append(b'\\x5a' * (4 * 1024 * 1024))
    if not termed:
        time.sleep(0.05)
sys.exit('%s: not killed within %s s' % (name, timeout))
"""

FILES = {
    LIB + "/thrash.py": THRASH,
    LIB + "/hog.py": HOG,
    OOMD_DROPIN: "[OOM]\nDefaultMemoryPressureDurationSec=2s\n",
    "/etc/systemd/system/gkill-oomd.slice": "[Unit]\nDescription=oomguard killtest: slice watched by systemd-oomd\n"
                                            "[Slice]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=20%\n",
    "/etc/systemd/system/" + SQUEEZE: "[Unit]\nDescription=oomguard killtest: squeezed, avoided by systemd-oomd\n"
                                      "[Service]\nSlice=gkill-oomd.slice\nMemoryHigh=48M\nManagedOOMPreference=avoid\n"
                                      "ExecStart=/usr/bin/python3 %s/thrash.py\n" % LIB,
}


def _journal(guest, since, selector, pattern):
    return guest.ssh("journalctl %s --since @%s --no-pager -o cat | grep -E -- '%s'" % (selector, since, pattern),
                     check=False).stdout


def _killer_state(guest):
    """{unit: (is-enabled, is-active)} of the killers' units, and the pids of any killer process."""
    out = guest.ssh("for u in %s; do echo $u $(systemctl is-enabled $u) $(systemctl is-active $u); done; "
                    "echo pids $(pgrep -x earlyoom) $(pgrep -f '^/usr/bin/python3 /usr/sbin/nohang')"
                    % " ".join(KILLER_UNITS), check=False).stdout.split("\n")
    units = {}
    pids = []
    for line in out:
        fields = line.split()
        if fields and fields[0] == "pids":
            pids = fields[1:]
        elif len(fields) == 3:
            units[fields[0]] = (fields[1], fields[2])
    return {"units": units, "pids": pids}


def _thresholds(guest):
    """(MiB at which the killer sends SIGTERM, SIGKILL; the hog's MemoryMax in MiB) from MemAvailable now."""
    meminfo = dict(line.split(":", 1) for line in guest.sh("cat /proc/meminfo").splitlines())
    total = int(meminfo["MemTotal"].split()[0]) // MiB
    avail = int(meminfo["MemAvailable"].split()[0]) // MiB
    # nohang refuses a threshold above half of MemTotal.
    term = min(avail - TERM_ROOM, int(total * 0.45))
    if term - MAX_ROOM < KILL_AT + 32:
        raise AssertionError("%s: only %d MiB available, too little to provoke a killer safely" % (guest.name, avail))
    return term, KILL_AT, avail - term + MAX_ROOM


def _oomd_kill(guest, since):
    guest.ssh("systemctl restart systemd-oomd && systemctl start %s" % SQUEEZE)
    killed = "(Killed|Marked) %s/%s" % (WATCHED, SQUEEZE)
    oomd = wait_for_oomd_kill(guest, WATCHED, "systemd-oomd's kill of %s on %s" % (SQUEEZE, guest.name),
                              lambda: _journal(guest, since, "-u systemd-oomd", killed), OOMD_TIMEOUT)
    pid1 = "^%s: (systemd-oomd killed .* process|Failed with result .oom-kill.)" % SQUEEZE
    try:
        pid1_lines = _wait("PID 1's lines about it", lambda: _journal(guest, since, "_PID=1", pid1), 60)
    except AssertionError:
        pid1_lines = ""
    return {"oomd_lines": oomd.splitlines(), "pid1_lines": pid1_lines.splitlines(),
            "squeeze": guest.sh("systemctl show -P ActiveState,Result %s" % SQUEEZE).split()}


def _start_killer(guest, killer, term, kill, since):
    if killer == "earlyoom":
        # -M SIZE,KILL_SIZE in KiB; without swap earlyoom counts free swap as 0 %, below any swap minimum, so
        # memory alone decides. Its lines go to the journal under the identifier earlyoom.
        dropin = "[Service]\nExecStart=\nExecStart=/usr/bin/earlyoom -M %d,%d\n" % (term * MiB, kill * MiB)
        config = ""
        ready = "sending SIGTERM when mem"
    else:
        # The package's own config with our thresholds: nohang needs every key; without swap SwapFree (0) is at
        # or below any swap threshold, so memory alone decides.
        dropin = ("[Service]\nExecStart=\nExecStart=/usr/sbin/nohang --monitor --config %s/nohang.conf\n" % RUN)
        config = ("sed -e 's/^soft_threshold_min_mem *=.*/soft_threshold_min_mem = %d M/' "
                  "-e 's/^hard_threshold_min_mem *=.*/hard_threshold_min_mem = %d M/' "
                  "/etc/nohang/nohang.conf >%s/nohang.conf && chmod 0644 %s/nohang.conf" % (term, kill, RUN, RUN))
        ready = "Monitoring has started"
    path = DROPINS[killer]
    guest.ssh("set -e\nmkdir -p %s\ncat >%s <<'EOF'\n%sEOF\n%s\nsystemctl daemon-reload\nsystemctl start %s.service"
              % (os.path.dirname(path), path, dropin, config, killer))
    _wait("%s to start monitoring on %s" % (killer, guest.name),
          lambda: _journal(guest, since, "-u %s.service" % killer, ready), 60, every=1)


def _killer_kill(guest, killer, since):
    """Start the killer, let the hog grow until the killer's SIGTERM and the kernel's kill, stop the killer."""
    unit, name = HOGS[killer]
    term, kill, memory_max = _thresholds(guest)
    _start_killer(guest, killer, term, kill, since)
    try:
        pidfile = "%s/%s.pid" % (RUN, killer)
        run = guest.ssh("systemd-run --unit %s --wait -p MemoryMax=%dM -p OOMScoreAdjust=1000 /usr/bin/python3 "
                        "%s/hog.py %s %s %d" % (unit, memory_max, LIB, name, pidfile, HOG_TIMEOUT),
                        check=False, timeout=HOG_TIMEOUT + 60)
        files = guest.ssh("cat %s; echo /; cat %s.term" % (pidfile, pidfile), check=False).stdout.split("/")
    finally:
        guest.ssh("systemctl stop %s.service" % killer, check=False)
    return {"thresholds": (term, kill, memory_max), "hog_run": run.stdout + run.stderr,
            "pid": int(files[0]) if files[0].strip() else None,
            "termed_pid": int(files[1]) if files[1].strip() else None,
            "lines": _journal(guest, since, "-t %s" % killer, ".").splitlines()}


def _provoke(guest):
    since = guest.sh("date +%s").strip()
    facts = {"before": _killer_state(guest), "since": since}
    script = ["set -e", "mkdir -p %s %s /etc/systemd/oomd.conf.d" % (LIB, RUN)]
    for path, text in FILES.items():
        script.append("cat >%s <<'EOF'\n%sEOF" % (path, text))
    script.append("systemctl daemon-reload")
    guest.ssh("\n".join(script))
    facts["oomd"] = _oomd_kill(guest, since)
    for killer in KILLERS:
        facts[killer] = _killer_kill(guest, killer, since)
    facts["after"] = _killer_state(guest)
    return facts


def _cleanup(guest):
    units = [SQUEEZE, "gkill-oomd.slice", "gkill.slice"] + [unit for unit, _name in HOGS.values()]
    guest.ssh("systemctl stop earlyoom.service nohang.service %s; systemctl reset-failed %s earlyoom.service "
              "nohang.service 2>/dev/null; rm -rf %s %s %s %s /var/tmp/oomguard-killtest.bin; "
              "rmdir %s /etc/systemd/oomd.conf.d 2>/dev/null; systemctl daemon-reload; systemctl restart systemd-oomd"
              % (" ".join(units), " ".join(units), LIB, RUN, " ".join(FILES), " ".join(DROPINS.values()),
                 " ".join(os.path.dirname(path) for path in DROPINS.values())), check=False)


@pytest.fixture(scope="module")
def provoked(guests, ansible, tmp_path_factory):
    """The three kills on both guests at once (each guest's killers one after the other), then one audit with
    the policy; ({guest: facts}, {guest: host entry of oom-audit.json})."""
    try:
        with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
            facts = dict(zip(guests, pool.map(_provoke, guests.values())))
        out = tmp_path_factory.mktemp("killers-audit")
        result = ansible.playbook(AUDIT, dict(POLICY, oom_audit_hosts="guests", oom_audit_report_dir=str(out),
                                              oom_audit_events_since="1h", oom_audit_events_limit=200))
        result.assert_ok()
        with open(os.path.join(str(out), "oom-audit.json")) as handle:
            report = json.load(handle)
        yield facts, {host["name"]: host for host in report["hosts"]}
    finally:
        with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
            list(pool.map(_cleanup, guests.values()))


def _events(host, killer):
    return [e for e in host["events"] if e["killer"] == killer]


def test_the_killers_are_installed_but_neither_enabled_nor_running_until_the_test_starts_them(guests, provoked):
    facts, _hosts = provoked
    for name in guests:
        for state in ("before", "after"):
            seen = facts[name][state]
            assert seen["pids"] == [], (name, state, seen)
            for unit in KILLER_UNITS:
                assert seen["units"][unit] == ("disabled", "inactive"), (name, state, unit, seen)


def test_a_systemd_oomd_pressure_kill_is_one_event_with_its_cgroup_and_unit_although_pid_1_logs_it_too(
        guests, provoked):
    facts, hosts = provoked
    for name in guests:
        seen = facts[name]["oomd"]
        assert seen["oomd_lines"] and seen["pid1_lines"], (name, seen)
        assert seen["squeeze"][0] != "active", (name, seen)
        host = hosts[name]
        mine = [e for e in host["events"] if e["unit"] == SQUEEZE]
        assert len(mine) == 1, (name, mine, seen)
        (event,) = mine
        assert event["killer"] == "systemd-oomd", (name, event)
        assert event["cgroup"] == "%s/%s" % (WATCHED, SQUEEZE), (name, event)
        assert (event["reason"], event["signal"], event["pid"]) == ("pressure", "SIGKILL", None), (name, event)
        assert host["kills_by_killer"].get("systemd-oomd", 0) >= 1, (name, host["kills_by_killer"])


def test_a_systemd_oomd_kill_of_a_unit_its_tier_asks_oomd_to_avoid_is_a_protected_kill(guests, provoked):
    _facts, hosts = provoked
    for name in guests:
        protected = [p for p in hosts[name]["protected_but_killed"] if p["target"] == SQUEEZE]
        assert len(protected) == 1, (name, hosts[name]["protected_but_killed"])
        entry = protected[0]
        assert (entry["killer"], entry["tier"], entry["protection"]) == \
            ("systemd-oomd", "gkill-avoided", "ManagedOOMPreference=avoid"), (name, entry)


@pytest.mark.parametrize("killer", KILLERS)
def test_a_userspace_killers_sigterm_and_the_kernels_memcg_kill_of_the_same_hog_are_two_events(
        guests, provoked, killer):
    facts, hosts = provoked
    unit, comm = HOGS[killer]
    for name in guests:
        seen = facts[name][killer]
        pid = seen["pid"]
        assert pid and seen["termed_pid"] == pid, (name, killer, "the hog got no SIGTERM", seen)
        assert "oom-kill" in seen["hog_run"], (name, killer, seen)
        host = hosts[name]
        # Only this test runs the userspace killers in the lane: every one of their events is one of its kills.
        by_killer = _events(host, killer)
        assert len(by_killer) == 1, (name, killer, by_killer, seen["lines"])
        (event,) = by_killer
        assert (event["pid"], event["name"], event["signal"]) == (pid, comm, "SIGTERM"), (name, event, seen["lines"])
        by_kernel = [e for e in _events(host, "kernel") if e["pid"] == pid]
        assert len(by_kernel) == 1, (name, killer, by_kernel)
        assert (by_kernel[0]["name"], by_kernel[0]["unit"], by_kernel[0]["scope"]) == (comm, unit, "memcg"), \
            (name, by_kernel[0])
        assert host["kills_by_killer"][killer] == 1, (name, host["kills_by_killer"])
        if killer == "nohang":
            # nohang's victim status names the cgroup, and the adj the hog ran with.
            assert (event["cgroup"], event["unit"], event["oom_score_adj"]) == \
                ("/system.slice/" + unit, unit, 1000), (name, event, seen["lines"])
