# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's findings beyond compliance on real hosts (Debian 12 and 13 guests, 1 GiB each):

  - a real memory hog makes a guest `at risk` in every report, with the figure that crossed; idle, it is not;
  - an SSH session under a protected sshd is a protection leak, reported with the sshd it came out of; the
    role's opt-in reset gives it back 0 (check mode first: nothing changes), and leaves sshd itself alone;
  - the opt-in exporter's timer writes a textfile that Prometheus' own parser reads, refreshes it on
    schedule, and `state: absent` takes all of it away.
The module's guests carry one protected sshd and one session each from its first test to its last (a module
fixture: each role run costs an emulated guest about a minute), and one audit of them serves every test that
reads an idle host. At the end the guests are as the module found them (no hog, no session, no exporter, no
drop-in).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guestlib import HACK

PROTECT = os.path.join(os.path.dirname(__file__), "playbooks", "protect.yml")
CRITICAL_SSH = {"oom_protection_units": {"ssh.service": "critical"}}
# The guests have 1 GiB; the hog leaves HOG_LEAVES_MIB available, so more than 85 % of memory is in use.
HOG_LEAVES_MIB = 100
RISK = {"oom_audit_thresholds": {"memory_used_percent": {"warning": 70, "at_risk": 85}}}
TEXTFILE_DIR = "/var/lib/oomguard-test-textfile"
# One exporter run costs an emulated guest several seconds of CPU (a real host a fraction of one): an interval
# much shorter than that would keep a guest's CPU busy and slow everything else down.
EXPORTER_INTERVAL = 15
EXPORTER = dict(CRITICAL_SSH, oom_protection_exporter=True, oom_protection_exporter_interval=EXPORTER_INTERVAL,
                oom_protection_exporter_dir=TEXTFILE_DIR)
LEAK_TASK = "Reset protection that leaks out of the assigned units and processes (opt-in)"

# Takes all but HOG_LEAVES_MIB of MemAvailable, touches every page, and says so; adj 1000 makes it the
# first victim if the guest runs out anyway.
_HOG = r"""
import sys, time
with open("/proc/meminfo") as handle:
    info = dict((line.split(":")[0], int(line.split()[1])) for line in handle)
size = (info["MemAvailable"] - int(sys.argv[1]) * 1024) * 1024
block = bytearray(size)
for offset in range(0, size, 4096):
    block[offset] = 1
print("ready", size, flush=True)
time.sleep(3600)
"""


def audit(ansible, tmp_path, extra=None):
    """The audit over both guests; returns (JSON report, JUnit root, HTML text)."""
    report_dir = tmp_path / "reports"
    variables = {"oom_audit_hosts": "guests", "oom_audit_report_dir": str(report_dir)}
    variables.update(extra or {})
    ansible.playbook("oomguard.fleet.audit", variables).assert_ok()
    return (json.loads((report_dir / "oom-audit.json").read_text()),
            ET.parse(str(report_dir / "oom-audit.xml")).getroot(), (report_dir / "oom-audit.html").read_text())


def by_name(document):
    return dict((host["name"], host) for host in document["hosts"])


def headroom_failure(junit, host):
    case = junit.find(".//testsuite[@name='%s']/testcase[@name='headroom']" % host)
    assert case is not None, host
    return case.find("failure")


# --- one protected sshd, one session per guest, one audit of the idle guests ------------------------------


@pytest.fixture(scope="module")
def protected_sshd(guests, ansible):
    """ssh.service critical, sshd restarted so its sessions start at -900 (docs/sshd.md)."""
    try:
        ansible.playbook(PROTECT, CRITICAL_SSH).assert_ok()
        for guest in guests.values():
            guest.ssh("systemctl restart ssh")
        yield
    finally:
        ansible.playbook(PROTECT, dict(CRITICAL_SSH, oom_protection_state="absent"))
        for guest in guests.values():
            guest.ssh("systemctl restart ssh", check=False)


@pytest.fixture(scope="module")
def sessions(guests, protected_sshd):
    """One interactive-like SSH session per guest, running `sleep` under its login shell."""
    started = {}
    try:
        for name, guest in guests.items():
            started[name] = subprocess.Popen([os.path.join(HACK, "ssh"), "--fresh", guest.dir,
                                              "exec -a oomguard-sess sleep 1800"],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        pids = {}
        for name, guest in guests.items():
            deadline = time.time() + 60
            while not guest.ssh("pgrep -f -n '^oomguard-sess'", check=False).stdout.strip():
                assert time.time() < deadline, "the session's sleep did not start on %s" % name
                time.sleep(1)
            pids[name] = int(guest.sh("pgrep -f -n '^oomguard-sess'").strip())
        yield pids
    finally:
        for name, proc in started.items():
            guests[name].ssh("pkill -f '^oomguard-sess'", check=False)
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def idle_audit(ansible, tmp_path_factory, sessions):
    """One audit of both guests, idle but for the sessions: (JSON report, JUnit root, HTML text)."""
    return audit(ansible, tmp_path_factory.mktemp("idle"), RISK)


# --- at risk ---------------------------------------------------------------------------------------------


def test_idle_guests_are_not_at_risk(guests, idle_audit):
    document, junit, _html = idle_audit
    for name in guests:
        host = by_name(document)[name]
        assert host["risk"]["at_risk"] is False, (name, host["risk"])
        offers_psi = guests[name].ssh("cat /proc/pressure/memory", check=False).returncode == 0
        assert (host["headroom"]["pressure"] is not None) is offers_psi, (name, host["headroom"])
        assert headroom_failure(junit, name) is None


@pytest.fixture
def hogs(guests):
    try:
        for guest in guests.values():
            guest.ssh("systemd-run --quiet --unit=oomguard-hog --collect -p OOMScoreAdjust=1000 "
                      "python3 -c '%s' %d" % (_HOG.replace("'", "'\\''"), HOG_LEAVES_MIB))
        for guest in guests.values():
            deadline = time.time() + 180
            while "ready" not in guest.sh("journalctl -q -u oomguard-hog -o cat"):
                assert time.time() < deadline, guest.sh("systemctl status oomguard-hog || true")
                time.sleep(2)
        yield
    finally:
        for guest in guests.values():
            guest.ssh("systemctl stop oomguard-hog", check=False)


def test_a_real_memory_hog_makes_each_guest_at_risk_in_every_report(guests, ansible, tmp_path, hogs):
    document, junit, html = audit(ansible, tmp_path, RISK)
    for name in guests:
        host = by_name(document)[name]
        assert host["risk"]["at_risk"] is True, (name, host["risk"], host["headroom"])
        [finding] = [f for f in host["risk"]["findings"] if f["figure"] == "memory_used_percent"]
        assert finding["level"] == "at_risk" and finding["value"] >= 85.0 and finding["threshold"] == 85
        failure = headroom_failure(junit, name)
        assert failure is not None and failure.get("type") == "at_risk"
        assert "memory used %.1f%% &gt;= 85.0%% (at risk)" % finding["value"] in html
    assert document["summary"]["at_risk"] == 2


# --- leaks -----------------------------------------------------------------------------------------------


def test_an_ssh_session_under_a_protected_sshd_is_a_leak_with_sshd_as_its_source(guests, ansible, sessions):
    found = ansible.module_results("oomguard.fleet.oom_protection_leaks", {"units": ["ssh.service"]})
    for name, guest in guests.items():
        leaks = dict((leak["pid"], leak) for leak in found[name]["leaks"])
        leak = leaks[sessions[name]]
        assert leak["oom_score_adj"] == -900 and leak["unit"].startswith("session-"), (name, leak)
        assert leak["source"]["unit"] == "ssh.service" and leak["source"]["name"].startswith("sshd"), leak
        assert leak["memory_kb"] > 0
        # The module's own session (Ansible's SSH connection) is not reported, nor is sshd's listener.
        listener = guest.main_pids(["ssh.service"])["ssh.service"]
        assert listener not in leaks
        assert found[name]["changed"] is False


def test_the_audit_reports_the_session_in_every_report(guests, sessions, idle_audit):
    document, junit, html = idle_audit
    for name in guests:
        leaks = by_name(document)[name]["leaks"]
        assert sessions[name] in [leak["pid"] for leak in leaks], (name, leaks)
        # comm stays "sleep" (exec -a changes only argv[0])
        case = junit.find(".//testsuite[@name='%s']/testcase[@name='leak:sleep[%d]']" % (name, sessions[name]))
        assert case is not None and case.find("failure").get("type") == "leak"
        section = html[html.index(">%s <" % name):].split("</section>", 1)[0]
        assert '<td class="num">%d</td><td><code class="name">sleep</code>' % sessions[name] in section


def test_the_opt_in_reset_fixes_the_leak_after_a_check_mode_that_changes_nothing(guests, ansible, sessions):
    listeners = dict((name, guest.main_pids(["ssh.service"])["ssh.service"]) for name, guest in guests.items())
    reset = dict(CRITICAL_SSH, oom_protection_leak_reset=True)

    checked = ansible.playbook(PROTECT, reset, check=True).assert_ok()
    for name, guest in guests.items():
        would = checked.task(name, LEAK_TASK)
        assert sessions[name] in [r["pid"] for r in would["reset"]], would
        assert guest.adj([sessions[name]])[str(sessions[name])] == -900, name  # check mode wrote nothing

    done = ansible.playbook(PROTECT, reset).assert_ok()
    for name, guest in guests.items():
        assert [r for r in done.task(name, LEAK_TASK)["reset"] if r["pid"] == sessions[name]][0]["after"] == 0
        assert guest.adj([sessions[name]])[str(sessions[name])] == 0, name
        # sshd itself: same process, still protecting itself at -1000.
        assert guest.main_pids(["ssh.service"])["ssh.service"] == listeners[name]
        assert guest.adj([listeners[name]])[str(listeners[name])] == -1000, name

    again = ansible.playbook(PROTECT, reset).assert_ok()
    for name in guests:
        assert again.changed(name) == [], (name, again.changed(name))


# --- the exporter ----------------------------------------------------------------------------------------


def textfile(guest):
    return guest.ssh("cat %s/oomguard.prom" % TEXTFILE_DIR, check=False).stdout


def mtime(guest):
    out = guest.ssh("date -r %s/oomguard.prom +%%s.%%N" % TEXTFILE_DIR, check=False).stdout.strip()
    return float(out) if out else None


def test_the_exporter_timer_writes_a_valid_textfile_on_schedule_and_absent_removes_it(guests, ansible, protected_sshd):
    try:
        installed = ansible.playbook(PROTECT, EXPORTER).assert_ok()
        for name, guest in guests.items():
            assert "Start the exporter's timer (restarted when its units changed)" in " ".join(installed.changed(name))
            deadline = time.time() + 90
            while mtime(guest) is None:
                assert time.time() < deadline, guest.sh("systemctl status oomguard-exporter.service || true")
                time.sleep(2)
            families = dict((f.name, f) for f in text_string_to_metric_families(textfile(guest)))
            for metric in ("oomguard_host_at_risk", "oomguard_memory_available_bytes", "oomguard_next_victim_oom_score",
                           "oomguard_protection_leaks", "oomguard_assignment_status", "oomguard_kernel_oom_kills"):
                assert metric in families, (name, sorted(families))
            status = [s for s in families["oomguard_assignment_status"].samples
                      if s.labels["target"] == "ssh.service" and s.value == 1]
            assert [s.labels["status"] for s in status] == ["ok"], status
        # Refreshed on schedule: every guest's file is rewritten twice more within a few intervals (both guests
        # are watched at once).
        seen = dict((name, [mtime(guest)]) for name, guest in guests.items())
        deadline = time.time() + 5 * EXPORTER_INTERVAL
        while any(len(set(times)) < 3 for times in seen.values()):
            assert time.time() < deadline, seen
            time.sleep(2)
            for name, guest in guests.items():
                seen[name].append(mtime(guest))
        rerun = ansible.playbook(PROTECT, EXPORTER).assert_ok()
        for name in guests:
            assert rerun.changed(name) == [], (name, rerun.changed(name))
    finally:
        ansible.playbook(PROTECT, dict(EXPORTER, oom_protection_state="absent")).assert_ok()
    for name, guest in guests.items():
        left = guest.ssh("ls /etc/systemd/system/oomguard-exporter.* /usr/local/lib/oomguard-exporter.py "
                         "/etc/oomguard-exporter.json %s/oomguard.prom" % TEXTFILE_DIR, check=False)
        assert left.stdout.strip() == "", (name, left.stdout)
        assert guest.ssh("systemctl is-active oomguard-exporter.timer", check=False).stdout.strip() in (
            "inactive", "unknown"), name
        guest.ssh("rmdir %s" % TEXTFILE_DIR, check=False)
