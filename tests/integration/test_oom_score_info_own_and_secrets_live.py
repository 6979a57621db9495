# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ad hoc oom_score_info call on the real kernel: it leaves its own processes out of the kill order and
names them with their kernel ranks; and a secret in a real process's arguments is matched by
cmdline_patterns but appears in no module result, no audit report and no line the audit prints."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")

import livetools  # noqa: E402  pylint: disable=wrong-import-position

SECRET = "hunter2"
# Holds 64 MiB of touched memory under its own name, with the secret in its arguments, until stdin closes.
_HOLDER = r"""
import sys
with open("/proc/self/comm", "w") as handle:
    handle.write("oomguard-secret")
data = b"\xa5" * (64 << 20)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
"""


def adhoc(args, *options):
    """`ansible localhost -m oomguard.fleet.oom_score_info -a <json> [options]`: (ansible's pid, result, output)."""
    argv = [livetools.ansible_bin(), "localhost", "-m", "oomguard.fleet.oom_score_info", "-a", json.dumps(args)]
    argv += list(options)
    proc = subprocess.Popen(argv, env=livetools.ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.communicate(timeout=300)[0].decode("utf-8", "replace")
    head, sep, body = out.partition(" => ")
    assert sep and "SUCCESS" in head, "ansible printed no successful result (rc %d):\n%s" % (proc.returncode, out)
    return proc.pid, json.loads(body), out


def ancestors(pid):
    """pid and its parents, as /proc shows them now."""
    chain = []
    while pid > 1:
        chain.append(pid)
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return chain


def test_an_ad_hoc_call_leaves_its_own_chain_out_and_names_it_with_the_kernels_ranks():
    ansible_pid, result, _out = adhoc({"top": 20})
    excluded = result["own_processes_excluded"]
    rows = dict((row["pid"], row) for row in result["processes"])
    by_pid = dict((entry["pid"], entry) for entry in excluded)
    # The ansible CLI itself is left out, under its own name, and so is the module's Python below it.
    assert by_pid[ansible_pid]["name"] == "ansible"
    below = [pid for pid in by_pid if pid != ansible_pid and _descends(rows, pid, ansible_pid)]
    assert below, "the module's own Python is not among %s" % excluded
    # Nothing else: every excluded process is below the ansible CLI or above it (this test and its parents).
    above = set(ancestors(os.getpid()))
    assert all(pid in above or pid == ansible_pid or pid in below for pid in by_pid), excluded
    # None of them is a next victim, and each keeps the rank the process table gives it.
    victims = result["kill_order"]
    assert victims and not set(by_pid) & set(row["pid"] for row in victims)
    for entry in excluded:
        assert rows[entry["pid"]]["rank"] == entry["rank"]
    # One rank: the kernel's positions, the kill order's and the left-out ones fill 1..last without a gap or a
    # double, and each reason names the same position.
    last = victims[-1]["rank"]
    ranks = [row["rank"] for row in victims] + [entry["rank"] for entry in excluded if entry["rank"] <= last]
    assert sorted(ranks) == list(range(1, last + 1))
    for row in victims:
        assert row["reason"].startswith("first victim:" if row["rank"] == 1 else "#%d:" % row["rank"]), row


def _descends(rows, pid, ancestor):
    seen = set()
    while pid in rows and pid not in seen:
        seen.add(pid)
        pid = rows[pid]["ppid"]
        if pid == ancestor:
            return True
    return False


@pytest.fixture
def holder():
    """A real process with `--password=hunter2` in its arguments, always killed at the end."""
    proc = subprocess.Popen([sys.executable, "-S", "-E", "-c", _HOLDER, "--password=" + SECRET, "--db", "orders"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
    try:
        assert proc.stdout.readline() == b"ready\n", "the holder did not start"
        yield proc.pid
    finally:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def test_the_secret_is_matched_on_the_host_and_returned_nowhere(holder):
    _pid, result, out = adhoc({"cmdline_patterns": ["--password=" + SECRET], "top": 5}, "-v")
    rows = dict((row["pid"], row) for row in result["processes"])
    assert holder in rows, "cmdline_patterns did not select the holder: %s" % sorted(rows)
    assert rows[holder]["cmdline"][-3:] == ["--password=********", "--db", "orders"]
    assert SECRET not in out


def test_the_secret_is_in_no_report_and_no_line_of_an_audit(holder, tmp_path):
    env = livetools.ansible_env()
    env["ANSIBLE_HOME"] = str(tmp_path / "ansible-home")
    reports = tmp_path / "reports"
    argv = [livetools.ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", "oomguard.fleet.audit",
            "-e", "oom_audit_report_dir=%s" % reports, "-e", "oom_audit_kill_order_top=100000", "-v"]
    done = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, out[-6000:]
    document = json.loads((reports / "oom-audit.json").read_text())
    assert holder in [victim["pid"] for victim in document["hosts"][0]["kill_order"]]
    files = [path for path in reports.rglob("*") if path.is_file()]
    assert {path.suffix for path in files} >= {".json", ".xml", ".html"}
    assert [path.name for path in files if SECRET in path.read_text(errors="replace")] == []
    assert [line for line in out.splitlines() if SECRET in line] == []
