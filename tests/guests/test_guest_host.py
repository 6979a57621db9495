# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a real host is, as the collection sees it, and what the lane's guests can reach.

A guest is a stock Debian server: systemd as PID 1, cgroup v2, journald, root with every capability. The
facts oom_score_info reports must say so (they differ from every container of the molecule fleet, where
lowering is impossible and the memory controller is on cgroup v1), and the guest may reach nothing but the
one loopback forward the tests use to log in. The audit of such hosts prints no warning.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import pytest

from guestlib import _bin

# Tried from inside each guest: QEMU's user-network gateway (which is also the host), its DNS and SMB
# addresses, the host's own addresses, and addresses outside. Every one must fail.
SLIRP = [("10.0.2.2", 22), ("10.0.2.2", 80), ("10.0.2.3", 53), ("10.0.2.4", 445)]
OUTSIDE = [("1.1.1.1", 443), ("8.8.8.8", 53), ("151.101.2.132", 80)]
# ansible-core's switches for its warnings, all on (the lane's runs turn deprecation warnings off).
ALL_WARNINGS = dict((name, "true") for name in (
    "ANSIBLE_ACTION_WARNINGS", "ANSIBLE_DEPRECATION_WARNINGS", "ANSIBLE_DEVEL_WARNING", "ANSIBLE_LOCALHOST_WARNING",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING", "ANSIBLE_SYSTEM_WARNINGS"))
# How ansible-core starts a warning, a deprecation warning or an error on the console (`ERROR!` before 2.19).
COMPLAINT = re.compile(r"^\s*(\[(WARNING|DEPRECATION WARNING|ERROR)\]|ERROR!)")
# A policy for the audit to compare the guests with (read-only: the audit runs the role in check mode).
POLICY = {"oom_protection_units": {"ssh.service": "critical", "systemd-journald.service": "essential"},
          "oom_protection_processes": [{"tier": "expendable", "name": "cron"}]}

_PROBE = r"""
import json, socket, sys, concurrent.futures
targets = json.loads(sys.argv[1])

def tcp(target):
    host, port = target
    sock = socket.socket()
    sock.settimeout(4)
    try:
        sock.connect((host, port))
        return "connected"
    except OSError as exc:
        return type(exc).__name__
    finally:
        sock.close()

def dns():
    # A real query to QEMU's DNS forwarder, which restrict=on must leave unanswered.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(4)
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06debian\x03org\x00\x00\x01\x00\x01"
    try:
        sock.sendto(query, ("10.0.2.3", 53))
        sock.recvfrom(512)
        return "answered"
    except OSError as exc:
        return type(exc).__name__

with concurrent.futures.ThreadPoolExecutor(len(targets) + 1) as pool:
    found = dict(zip(["%s:%d" % tuple(t) for t in targets], pool.map(tcp, [tuple(t) for t in targets])))
    found["dns-udp"] = pool.submit(dns).result()
print(json.dumps(found))
"""


def _host_addresses():
    """This machine's own non-loopback IPv4 addresses (what a guest escaping through the host would hit)."""
    addresses = set()
    with os.popen("ip -4 -o addr show scope global 2>/dev/null") as out:
        for line in out:
            parts = line.split()
            if "inet" in parts:
                addresses.add(parts[parts.index("inet") + 1].split("/")[0])
    return sorted(addresses)


@pytest.fixture(scope="module")
def facts(ansible):
    return ansible.module_results("oomguard.fleet.oom_score_info", {"top": 5})


def test_a_guest_is_a_real_host_where_protection_can_happen(facts):
    for name, result in facts.items():
        host = result["host"]
        assert host["can_lower_adj"] is True, name
        assert host["cgroup_version"] == "v2", name
        assert host["systemd_running"] is True, name
        assert host["swap_total_kb"] == 0, name
        assert host["score_scale"] == "0-2000", name


def test_systemd_oomd_is_reported_as_it_really_runs(facts, guests):
    # Debian enables no systemd-oomd, but user@.service wants it: it runs from the first root login on.
    for name, result in facts.items():
        active = guests[name].sh("systemctl is-active systemd-oomd || true").strip()
        assert result["host"]["systemd_oomd_running"] is (active == "active"), (name, active)
        assert active == "active", name
        assert guests[name].sh("systemctl show -P Wants user@0.service").split().count("systemd-oomd.service") == 1


def test_the_kill_history_comes_from_the_journal(ansible):
    events = ansible.module_results("oomguard.fleet.oom_events_info", {"since": "1h"})
    for name, result in events.items():
        assert result["source_used"] == "journal", (name, result["source_used"])


def test_the_guest_reaches_nothing_but_its_own_loopback_forward(guests):
    targets = SLIRP + OUTSIDE + [(address, 22) for address in _host_addresses()] + [("127.0.0.1", 22)]
    for guest in guests.values():
        found = guest.python(_PROBE, json.dumps(targets), timeout=60)
        # The probe itself works: the guest's own sshd answers on its loopback.
        assert found.pop("127.0.0.1:22") == "connected", (guest.name, found)
        reached = {target: outcome for target, outcome in found.items() if outcome in ("connected", "answered")}
        assert reached == {}, (guest.name, reached)
        assert len(found) == len(targets), found


def test_qemu_runs_each_guest_with_one_loopback_forward_and_a_restricted_network(guests):
    for guest in guests.values():
        with open("/proc/%d/cmdline" % guest.qemu_pid(), "rb") as handle:
            argv = handle.read().decode().split("\0")
        netdevs = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-netdev"]
        assert netdevs == ["user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % guest.port], netdevs
        assert [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-device" and "netdev=" in argv[i + 1]] \
            == ["virtio-net-pci,netdev=n0,romfile="]
        # And the forward really is on loopback only: the host's other addresses do not answer.
        for address in _host_addresses():
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((address, guest.port)) != 0, address


@pytest.mark.parametrize("policy", [{}, POLICY], ids=["no_policy", "policy"])
def test_the_audit_of_both_guests_prints_no_warning(ansible, tmp_path, policy):
    # The audit as a user runs it, on hosts with systemd and every capability: with the default console
    # callback (not the lane's recording one) and ansible-core's warnings on. Nothing on screen may be a
    # warning, a deprecation warning or an error, whether the hosts have a policy or not.
    env = ansible.env()
    for name in ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_LOAD_CALLBACK_PLUGINS"):
        env.pop(name)
    env.update(ALL_WARNINGS)
    report_dir = tmp_path / "reports"
    variables = dict(policy, oom_audit_hosts="guests", oom_audit_report_dir=str(report_dir))
    done = subprocess.run([_bin("ansible-playbook"), "-i", ansible.inventory, "oomguard.fleet.audit",
                           "-e", json.dumps(variables)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-6000:]
    assert [line for line in done.stdout.splitlines() if COMPLAINT.match(line)] == [], done.stdout
    assert re.search(r"^bookworm\s*:\s*ok=\d+.* failed=0 ", done.stdout, re.M), done.stdout[-3000:]
    assert re.search(r"^trixie\s*:\s*ok=\d+.* failed=0 ", done.stdout, re.M), done.stdout[-3000:]
    document = json.loads((report_dir / "oom-audit.json").read_text())
    assert sorted((h["name"], h["errors"]) for h in document["hosts"]) == [("bookworm", []), ("trixie", [])]
    records = [len((h["compliance"] or {}).get("records") or []) for h in document["hosts"]]
    assert records == ([3, 3] if policy else [0, 0]), records
