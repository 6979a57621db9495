# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's findings on this machine's real kernel: a real memory hog makes the host `at risk` (and the
idle host is not), and the audit leaves its own processes out of the next victims unless asked.

This machine is shared and has tens of GiB, so the hog does not fill it: the test moves the at_risk
threshold of memory_used_percent (an inventory override, as users would) to halfway between the usage
measured just before and what the hog adds. The figure that crosses it is the kernel's real MemAvailable.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")
jsonschema = pytest.importorskip("jsonschema")

import livetools  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(REPO, "docs", "oom-audit.schema.json")
MIB = 1024 * 1024
HOG_SHARE = 0.12  # of MemTotal; the threshold sits HOG_SHARE / 2 above the usage before the run


def meminfo():
    values = {}
    with open("/proc/meminfo") as handle:
        for line in handle:
            key, _sep, rest = line.partition(":")
            values[key] = int(rest.split()[0])
    return values


def used_percent():
    info = meminfo()
    return 100.0 * (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"]


def audit(workdir, *extra):
    """The audit against localhost; returns (its JSON report, the ansible-playbook pid, console output)."""
    env = livetools.ansible_env()
    env["ANSIBLE_HOME"] = str(workdir / "ansible-home")
    argv = [livetools.ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", "oomguard.fleet.audit",
            "-e", "oom_audit_report_dir=reports", "-e", "oom_audit_kill_order_top=100000"] + list(extra)
    proc = subprocess.Popen(argv, cwd=str(workdir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.communicate(timeout=600)[0].decode("utf-8", "replace")
    assert proc.returncode == 0, out[-6000:]
    document = json.loads((workdir / "reports" / "oom-audit.json").read_text())
    jsonschema.Draft202012Validator(json.load(open(SCHEMA))).validate(document)
    return document, proc.pid, out


def threshold_args(at_risk):
    return ["-e", json.dumps({"oom_audit_thresholds": {"memory_used_percent": {"warning": None,
                                                                               "at_risk": round(at_risk, 1)}}})]


def test_a_real_memory_hog_makes_the_host_at_risk_with_the_memory_figure_that_crossed(tmp_path):
    hog_bytes = int(meminfo()["MemTotal"] * 1024 * HOG_SHARE)
    with livetools.workers([("oomguard-hog", hog_bytes)]):
        threshold = used_percent() - 100 * HOG_SHARE / 2
        document, _pid, out = audit(tmp_path, *threshold_args(threshold))
    [host] = document["hosts"]
    assert host["risk"]["at_risk"] is True
    [finding] = host["risk"]["findings"]
    assert finding["figure"] == "memory_used_percent" and finding["level"] == "at_risk"
    assert finding["value"] >= finding["threshold"] == round(threshold, 1)
    assert document["summary"]["at_risk"] == 1
    assert "AT RISK: memory used" in out
    suites = ET.parse(str(tmp_path / "reports" / "oom-audit.xml")).getroot()
    failure = suites.find(".//testcase[@name='headroom']/failure")
    assert failure is not None and failure.get("type") == "at_risk"
    assert '<span class="badge s-at_risk">at risk</span>' in (tmp_path / "reports" / "oom-audit.html").read_text()


def test_the_same_threshold_without_the_hog_finds_the_host_not_at_risk(tmp_path):
    threshold = used_percent() + 100 * HOG_SHARE / 2
    document, _pid, _out = audit(tmp_path, *threshold_args(threshold))
    [host] = document["hosts"]
    assert host["risk"]["at_risk"] is False and host["risk"]["findings"] == []
    assert host["headroom"]["mem_available_kb"] > 0 and host["headroom"]["pressure"] is not None
    suites = ET.parse(str(tmp_path / "reports" / "oom-audit.xml")).getroot()
    assert suites.find(".//testcase[@name='headroom']/failure") is None
    assert suites.find(".//testcase[@name='headroom']") is not None


def test_the_audit_leaves_its_own_processes_out_of_the_next_victims(tmp_path):
    document, playbook_pid, _out = audit(tmp_path)
    victims = set(v["pid"] for v in document["hosts"][0]["kill_order"])
    assert victims, "the kill order is empty"
    # ansible-playbook and this test (its parent) ran the audit; neither is listed.
    assert playbook_pid not in victims and os.getpid() not in victims


def test_the_audit_lists_its_own_processes_when_asked(tmp_path):
    document, playbook_pid, _out = audit(tmp_path, "-e", "oom_audit_include_own_processes=true")
    victims = set(v["pid"] for v in document["hosts"][0]["kill_order"])
    assert playbook_pid in victims and os.getpid() in victims
