# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The global OOM drill on real hosts: no memory cgroup limit, no swap, the whole guest runs out of memory.

Four services get their tiers from oomguard.fleet.oom_protection (real negative values): drill-db critical
(-900), drill-web essential (-500), drill-batch-a and drill-batch-b expendable (+500). oom_score_info
predicts the kill order; its first two entries must be the expendable services, bigger one first. Then a hog
(its own transient service at -250) allocates and touches 16 MiB chunks. With T = guest RAM in pages,
badness is rss + adj x T / 1000: each expendable service counts about 0.5 T, the hog at most its RSS minus
0.25 T, which stays below them until both are gone; after that the hog outranks every other process, so the
kernel must kill exactly: batch-a, batch-b, the hog. The protected services keep their MainPID, sshd keeps
answering, oom_events_info reads the three kills from the journal with their units, and the audit playbook
shows them in its three reports. The hog is bounded by the guest's RAM and a timeout, so a wrong prediction
fails the drill instead of hanging it. Three runs in a row on one boot must give the same result.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import xml.etree.ElementTree as ET

import pytest

from guestlib import WORKLOAD_DIR

PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "protect.yml")
AUDIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "playbooks", "audit.yml")
WORKLOADS = {"drill-db.service": 96, "drill-web.service": 64, "drill-batch-a.service": 96,
             "drill-batch-b.service": 48}
UNITS = {"drill-db.service": "critical", "drill-web.service": "essential",
         "drill-batch-a.service": "expendable", "drill-batch-b.service": "expendable"}
PROTECTED = ["drill-db.service", "drill-web.service", "ssh.service"]
EXPENDABLE = ["drill-batch-a", "drill-batch-b"]
HOG = "drill-hog"
HOG_ADJ = -250
HOG_TIMEOUT = 120
RUNS = 3

_HOG = r"""
import sys, time
with open("/proc/self/comm", "w") as handle:
    handle.write("drill-hog")
with open("/proc/meminfo") as handle:
    bound = int(handle.readline().split()[1]) * 1024      # MemTotal: more than can ever be allocated
deadline = time.monotonic() + float(sys.argv[1])
chunks = []
while len(chunks) * 16 * 1024 * 1024 < bound:
    if time.monotonic() > deadline:
        sys.exit("drill-hog: no OOM kill ended me within %s s" % sys.argv[1])
    chunks.append(b"\x5a" * (16 * 1024 * 1024))            # allocated and touched: all of it resident
sys.exit("drill-hog: allocated more than MemTotal without being killed")
"""


class DrillMismatch(AssertionError):
    """The kernel killed other processes, or in another order, than predicted."""


def check_kills(predicted_first, kills):
    """The kills must be the predicted first victims in the predicted order, then the hog, and nothing else."""
    expected = list(predicted_first) + [HOG]
    if [kill["name"] for kill in kills] != expected:
        raise DrillMismatch("predicted kills %s, the kernel killed %s"
                            % (expected, [(kill["name"], kill.get("unit")) for kill in kills]))


def _oom_kill_count(guest):
    return int(guest.sh("awk '$1 == \"oom_kill\" {print $2}' /proc/vmstat"))


def _hog(guest):
    """Let the hog grow until the kernel kills it; returns what the drill observed on this guest."""
    since, epoch = guest.sh("date --iso-8601=seconds; date +%s").split()
    kills_before = _oom_kill_count(guest)
    pids = guest.main_pids(PROTECTED)
    hog = guest.ssh("systemd-run --unit %s --quiet --wait -p OOMScoreAdjust=%d /usr/bin/python3 %s/hog.py %d"
                    % (HOG, HOG_ADJ, WORKLOAD_DIR, HOG_TIMEOUT), check=False, timeout=HOG_TIMEOUT + 60)
    result = guest.sh("systemctl show -P Result %s; systemctl reset-failed %s 2>/dev/null || true" % (HOG, HOG))
    return {
        "since": since,
        "since_epoch": int(epoch),
        "hog_result": result.split()[0] if result.split() else None,
        "hog_output": hog.stderr[-500:],
        "kills_counted": _oom_kill_count(guest) - kills_before,
        "protected_pids_before": pids,
        "protected_pids_after": guest.main_pids(PROTECTED),
        "sshd_answers": guest.ssh("true", check=False, fresh=True).returncode == 0,
    }


def _drill(guests, ansible):
    """One drill on every guest at once; returns {guest: (predicted names, kills oldest first, facts)}."""
    with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
        list(pool.map(lambda guest: guest.ssh("systemctl start %s" % " ".join(WORKLOADS)), guests.values()))
        info = ansible.module_results("oomguard.fleet.oom_score_info", {"top": 8})
        observed = dict(zip(guests, pool.map(_hog, guests.values())))
    since = min(facts["since"] for facts in observed.values())
    events = ansible.module_results("oomguard.fleet.oom_events_info", {"since": since})
    found = {}
    for name, facts in observed.items():
        facts.update(info=info[name], source=events[name]["source_used"])
        # The other guest may have started a moment earlier: only this drill's kills.
        kills = [e for e in events[name]["events"] if (e.get("timestamp") or 0) >= facts["since_epoch"]]
        predicted = [entry["name"] for entry in info[name]["kill_order"]]
        found[name] = (predicted, sorted(kills, key=lambda e: (e.get("timestamp") or 0, e["pid"])), facts)
    return found


@pytest.fixture(scope="module")
def drills(guests, ansible):
    """RUNS drills per guest, after one converge of the role; everything removed afterwards."""
    for guest in guests.values():
        guest.install_workloads(WORKLOADS)
        guest.ssh("cat >%s/hog.py" % WORKLOAD_DIR, stdin=_HOG)
    runs = {name: [] for name in guests}
    try:
        ansible.playbook(PLAYBOOK, {"oom_protection_units": UNITS}).assert_ok()
        for dummy in range(RUNS):
            for name, found in _drill(guests, ansible).items():
                runs[name].append(found)
        yield runs
    finally:
        # The units and their drop-in directories go together (test_role_on_guests covers state: absent).
        for guest in guests.values():
            guest.remove_workloads(list(WORKLOADS) + [HOG + ".service"])


def test_the_prediction_puts_the_expendable_services_first_and_the_protected_ones_last(drills):
    for name, runs in drills.items():
        for predicted, dummy, facts in runs:
            assert predicted[:2] == EXPENDABLE, (name, predicted)
            order = {entry["name"]: entry for entry in facts["info"]["kill_order"]}
            for protected in ("drill-db", "drill-web"):
                assert protected not in order or order[protected]["badness"] <= 1, (name, order.get(protected))


def test_the_kernel_kills_in_the_predicted_order_three_times_in_a_row(drills):
    for name, runs in drills.items():
        assert len(runs) == RUNS
        for predicted, kills, facts in runs:
            assert facts["hog_result"] == "oom-kill", (name, facts["hog_result"], facts["hog_output"])
            check_kills(predicted[:2], kills)
            assert facts["kills_counted"] == 3, (name, facts["kills_counted"])


def test_the_kills_come_from_the_journal_with_their_units(drills):
    for name, runs in drills.items():
        for dummy, kills, facts in runs:
            assert facts["source"] == "journal", name
            assert [kill.get("unit") for kill in kills] == [n + ".service" for n in EXPENDABLE + [HOG]], kills
            assert [kill.get("oom_score_adj") for kill in kills] == [500, 500, HOG_ADJ], kills


def test_protected_services_and_sshd_survive_every_run(drills):
    for name, runs in drills.items():
        for run in runs:
            facts = run[2]
            assert facts["protected_pids_after"] == facts["protected_pids_before"], name
            assert all(facts["protected_pids_after"].values()), name
            assert facts["sshd_answers"], name


def test_the_checker_fails_when_fed_a_wrong_prediction(drills):
    kills = drills["bookworm"][0][1]
    with pytest.raises(DrillMismatch):
        check_kills(list(reversed(EXPENDABLE)), kills)
    with pytest.raises(DrillMismatch):
        check_kills(["drill-db"] + EXPENDABLE[:1], kills)


def test_the_audit_shows_the_kills_in_all_three_reports(drills, ansible, tmp_path):
    result = ansible.playbook(AUDIT, {"oom_audit_report_dir": str(tmp_path), "oom_audit_events_since": "1h",
                                      "oom_audit_events_limit": 100})
    result.assert_ok()
    document = json.loads((tmp_path / "oom-audit.json").read_text())
    hosts = {host["name"]: host for host in document["hosts"]}
    xml_text = (tmp_path / "oom-audit.xml").read_text()
    ET.fromstring(xml_text)
    html = (tmp_path / "oom-audit.html").read_text()
    for name in drills:
        host = hosts[name]
        assert host["events_source"] == "journal", name
        units = [event.get("unit") for event in host["events"]]
        for victim in EXPENDABLE + [HOG]:
            assert units.count(victim + ".service") == RUNS, (name, victim, units)
        assert host["host"]["can_lower_adj"] is True and host["host"]["cgroup_version"] == "v2", name
        for victim in EXPENDABLE + [HOG]:
            assert victim in xml_text and victim in html, (name, victim)
