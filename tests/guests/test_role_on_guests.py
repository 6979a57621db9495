# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oomguard.fleet.oom_protection end to end on real hosts, with the default tiers and real negative values,
and sshd as it really behaves (docs/sshd.md).

On these hosts root can lower oom_score_adj, so every negative tier must be applied and reported `ok`. The
molecule fleet runs the same role on containers without CAP_SYS_RESOURCE, where the same negative tiers
must be reported `denied` (extensions/molecule/oom_protection/verify_applied.yml); one `make test` shows
both sides.

sshd: its listener puts itself at -1000 at every start, and each connection's child goes back to the value
systemd gave ssh.service before it runs the session. So `critical` for ssh.service means: sessions (and
everything started from them, Ansible's modules included) run at -900; the listener keeps its own -1000,
which the role never raises and reports `ok` with the reason.

The tests below run in order on one boot of each guest and share its state (each Ansible run costs about
a minute in the emulated guests, so there are few): stock sshd -> converge -> restart -> rerun -> hand
reset + check mode -> reboot + rerun -> state absent.
"""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from guestlib import WORKLOAD_DIR

PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "protect.yml")
DROPIN = "60-oomguard.conf"
# unit -> MiB held (a database-like, a web-like and a batch service)
WORKLOADS = {"guest-db.service": 48, "guest-web.service": 24, "guest-batch.service": 32}
UNITS = {
    "ssh.service": "critical",
    "guest-db.service": "critical",
    "guest-web.service": "essential",
    "guest-batch.service": "expendable",
}
TIER_VALUE = {"critical": -900, "essential": -500, "expendable": 500}
# A process outside any role-assigned unit, assigned by its command line.
CRUNCHER = "systemd-run --unit guest-cruncher --quiet /usr/bin/python3 %s/hold.py guest-cruncher 8 --queue nightly"
PROCESSES = [{"cmdline_pattern": "hold.py guest-cruncher .*--queue nightly", "tier": "expendable"}]
EXTRA_VARS = {"oom_protection_units": UNITS, "oom_protection_processes": PROCESSES}
SERVICES = [unit for unit in UNITS if unit != "ssh.service"]
EXPECTED = {unit: TIER_VALUE[UNITS[unit]] for unit in SERVICES}

# The processes of this SSH session, from the command up to (not including) sshd's listener: [[comm, adj]].
_SESSION = r"""
import json, os
def read(pid, name):
    with open("/proc/%d/%s" % (pid, name)) as handle:
        return handle.read()
chain, pid = [], os.getpid()
while pid > 1:
    if "[listener]" in read(pid, "cmdline").replace("\0", " "):
        break
    chain.append([read(pid, "comm").strip(), int(read(pid, "oom_score_adj"))])
    pid = int(read(pid, "stat").rsplit(")", 1)[1].split()[1])
print(json.dumps(chain))
"""


def _service_values(guest):
    pids = guest.main_pids(SERVICES)
    adj = guest.adj(pids.values())
    return {unit: adj.get(str(pid)) for unit, pid in pids.items()}


def _cruncher_value(guest):
    pid = guest.main_pids(["guest-cruncher.service"])["guest-cruncher.service"]
    return guest.adj([pid]).get(str(pid))


def _sshd(guest):
    """(listener pid, listener adj, [[comm, adj]] of a new session)."""
    pid = guest.main_pids(["ssh.service"])["ssh.service"]
    return pid, guest.adj([pid])[str(pid)], guest.python(_SESSION, fresh=True)


@pytest.fixture(scope="module")
def scenario(guests, ansible):
    """The workloads installed and started, sshd measured as Debian ships it, then the role's first converge.
    Everything is removed at the end, also when a test failed half-way."""
    found = {"stock_sshd": {}, "before": {}, "removed": False}
    for name, guest in guests.items():
        guest.install_workloads(WORKLOADS)
        guest.ssh(CRUNCHER % WORKLOAD_DIR)
        found["stock_sshd"][name] = _sshd(guest)
        found["before"][name] = guest.main_pids(SERVICES)
    try:
        found["converge"] = ansible.playbook(PLAYBOOK, EXTRA_VARS)
        yield found
    finally:
        if not found["removed"]:
            ansible.playbook(PLAYBOOK, dict(EXTRA_VARS, oom_protection_state="absent"))
        for guest in guests.values():
            guest.remove_workloads(list(WORKLOADS) + ["guest-cruncher.service"])
            guest.ssh("systemctl restart ssh", check=False)


def test_stock_sshd_protects_its_listener_itself_and_its_sessions_run_at_zero(guests, scenario):
    for name in guests:
        listener, session = scenario["stock_sshd"][name][1:]
        assert listener == -1000, name
        assert session and all(entry[1] == 0 for entry in session), (name, session)


def test_the_first_converge_applies_negative_tiers_live_without_a_restart_and_reports_ok(guests, scenario):
    result = scenario["converge"].assert_ok()
    for name, guest in guests.items():
        assert guest.main_pids(SERVICES) == scenario["before"][name], "no service was restarted on %s" % name
        assert _service_values(guest) == EXPECTED, name
        assert _cruncher_value(guest) == 500, name
        records = result.compliance(name)
        for unit in UNITS:
            assert records[unit]["status"] == "ok", (name, records[unit])
        cruncher = [r for target, r in records.items() if target not in UNITS]
        assert [r["status"] for r in cruncher] == ["ok"], (name, cruncher)
        # Real negative values: nothing was refused, unlike on the containers.
        assert not [r for r in records.values() if r["status"] == "denied"], name
        for unit, tier in UNITS.items():
            dropin = guest.sh("cat /etc/systemd/system/%s.d/%s" % (unit, DROPIN))
            assert "OOMScoreAdjust=%d" % TIER_VALUE[tier] in dropin, (name, unit, dropin)
            assert guest.sh("systemctl show -P OOMScoreAdjust %s" % unit).strip() == str(TIER_VALUE[tier])


def test_the_role_leaves_sshds_self_protected_listener_alone_and_says_why(guests, scenario):
    for name, guest in guests.items():
        pid, listener = _sshd(guest)[:2]
        assert (pid, listener) == (scenario["stock_sshd"][name][0], -1000), name
        record = scenario["converge"].compliance(name)["ssh.service"]
        assert record["status"] == "ok", (name, record)
        assert any("pid %d (sshd) protects itself at -1000" % pid in reason for reason in record["reasons"]), record


def test_after_a_restart_systemd_applies_the_tiers_and_ssh_sessions_run_at_minus_900(guests, ansible, scenario):
    for name, guest in guests.items():
        guest.ssh("systemctl restart %s ssh.service" % " ".join(SERVICES))
        assert _service_values(guest) == EXPECTED, name
        listener, session = _sshd(guest)[1:]
        assert listener == -1000, name
        assert session and all(entry[1] == -900 for entry in session), (name, session)
    # Ansible's own modules run in such a session too (a new one: its kept connection predates the restart).
    ansible.close_connections()
    module = ansible.module_results("ansible.builtin.command", {"cmd": "cat /proc/self/oom_score_adj"})
    for name in guests:
        assert module[name]["stdout"].strip() == "-900", name


def test_a_rerun_changes_nothing_not_even_the_restarted_sshd(ansible, scenario):
    result = ansible.playbook(PLAYBOOK, EXTRA_VARS).assert_ok()
    for host in ("bookworm", "trixie"):
        assert result.changed(host) == [], (host, result.changed(host))
        assert {target: r["status"] for target, r in result.compliance(host).items() if target in UNITS} \
            == {unit: "ok" for unit in UNITS}


def test_check_mode_catches_a_negative_value_reset_by_hand_and_writes_nothing(guests, ansible, scenario):
    pids = {}
    for name, guest in guests.items():
        pids[name] = guest.main_pids(["guest-db.service"])["guest-db.service"]
        guest.ssh("echo 0 >/proc/%d/oom_score_adj" % pids[name])
    result = ansible.playbook(PLAYBOOK, EXTRA_VARS, check=True).assert_ok()
    for name, guest in guests.items():
        records = result.compliance(name)
        assert records["guest-db.service"]["status"] == "drift", (name, records["guest-db.service"])
        assert "pid %d (guest-db) has oom_score_adj 0, policy -900" % pids[name] \
            in records["guest-db.service"]["reasons"]
        # sshd back at its own -1000 after the restart is not drift.
        assert records["ssh.service"]["status"] == "ok", records["ssh.service"]
        assert guest.adj([pids[name]]) == {str(pids[name]): 0}, "check mode wrote to /proc on %s" % name


def test_the_tiers_hold_after_a_reboot_and_a_rerun_reaches_the_new_process(guests, ansible, scenario):
    with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
        list(pool.map(lambda guest: guest.reboot(), guests.values()))
    ansible.close_connections()
    for name, guest in guests.items():
        # The enabled services came up with their tiers from the drop-ins alone; sshd protects itself again.
        assert _service_values(guest) == EXPECTED, name
        assert _sshd(guest)[1] == -1000, name
        guest.ssh(CRUNCHER % WORKLOAD_DIR)
        assert _cruncher_value(guest) == 0, name
    result = ansible.playbook(PLAYBOOK, EXTRA_VARS).assert_ok()
    for name, guest in guests.items():
        assert _cruncher_value(guest) == 500, name
        assert all(r["status"] == "ok" for target, r in result.compliance(name).items() if target in UNITS), name


def test_state_absent_removes_exactly_what_the_role_wrote(guests, ansible, scenario):
    for guest in guests.values():
        # Someone else's drop-in next to the role's: it must stay.
        guest.ssh("printf '[Service]\\nEnvironment=KEEP=1\\n' >/etc/systemd/system/guest-db.service.d/10-local.conf")
    ansible.playbook(PLAYBOOK, dict(EXTRA_VARS, oom_protection_state="absent")).assert_ok()
    scenario["removed"] = True
    for name, guest in guests.items():
        # The role never wrote sshd's own -1000, so removing the role leaves it too.
        assert _sshd(guest)[1] == -1000, name
        left = guest.sh("cd /etc/systemd/system && ls -1 */%s 2>/dev/null || true" % DROPIN).split()
        assert left == [], (name, left)
        assert guest.sh("ls /etc/systemd/system/guest-db.service.d/").split() == ["10-local.conf"], name
        assert guest.sh("systemctl show -P Environment guest-db.service").strip() == "KEEP=1"
        assert guest.sh("systemctl show -P OOMScoreAdjust ssh.service").strip() == "0", name
        # systemd's own values again (0), live, without a restart.
        assert _service_values(guest) == {unit: 0 for unit in SERVICES}, name
        assert _cruncher_value(guest) == 0, name
