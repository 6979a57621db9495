# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oomguard.fleet.audit against this machine, as `make run` does: it finishes, changes nothing on the
target, leaves the three reports (the JSON valid against its schema, the JUnit parseable), and prints no
ansible-core warning, deprecation warning or error on the way (every audit run here is checked for them, with
ansible-core's warnings all switched on)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")
jsonschema = pytest.importorskip("jsonschema")

import killerdaemons  # noqa: E402  pylint: disable=wrong-import-position
import livetools  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(REPO, "docs", "oom-audit.schema.json")
# Where the oom_protection role would write; a read-only audit must leave them exactly as they were.
WATCHED = ("/etc/systemd/system", "/etc/sysctl.d")
# ansible-core's switches for its warnings, all on: the audit must be clean as it is, not by configuration.
ALL_WARNINGS = dict((name, "true") for name in (
    "ANSIBLE_ACTION_WARNINGS", "ANSIBLE_DEPRECATION_WARNINGS", "ANSIBLE_DEVEL_WARNING", "ANSIBLE_LOCALHOST_WARNING",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING", "ANSIBLE_SYSTEM_WARNINGS"))
# How ansible-core starts a warning, a deprecation warning or an error on the console (2.19 and later; `ERROR!`
# before), whatever the callback.
UNREACHABLE = "[ERROR]: Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1"
# A host without Python: the role's call fails (rescued) and then oom_audit_facts (ignored), each on screen.
NO_PYTHON = ["[ERROR]: Task failed: Action failed: The module interpreter '/nonexistent/python3' was not found"] * 2
COMPLAINT = re.compile(r"^\s*(\[(WARNING|DEPRECATION WARNING|ERROR)\]|ERROR!)")


def tree_state(roots):
    state = {}
    for root in roots:
        for directory, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                state[path] = (info.st_size, info.st_mtime_ns)
    return state


def complaints(out):
    """The console lines where ansible-core warns or reports an error."""
    return [line for line in out.splitlines() if COMPLAINT.match(line)]


def run_audit(workdir, *extra, **kwargs):
    """The audit with a bare `localhost,` inventory (no oomguard variables); returns its console output, which
    must hold no warning and no error (`errors`: how each error line starts that the run expects, in order)."""
    env = livetools.ansible_env()
    env.update(ALL_WARNINGS)
    env["ANSIBLE_HOME"] = str(workdir / "ansible-home")
    argv = [livetools.ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", "oomguard.fleet.audit",
            "-e", "oom_audit_report_dir=reports"] + list(extra)
    done = subprocess.run(argv, cwd=str(workdir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600, check=False)
    out = done.stdout.decode("utf-8", "replace")
    expected_rc = kwargs.get("rc", 0)
    assert done.returncode == expected_rc, "audit ended with rc %d, not %d:\n%s" % (
        done.returncode, expected_rc, out[-8000:])
    found = complaints(out)
    expected = kwargs.get("errors", [])
    assert len(found) == len(expected) and all(line.startswith(start) for line, start in zip(found, expected)), \
        "%r, expected lines starting %r:\n%s" % (found, expected, out[-8000:])
    return out


def changed_tasks(out):
    """(play, task, host) for every `changed: [host]` line of the default callback's output."""
    play = task = None
    changed = []
    for line in out.splitlines():
        header = re.match(r"^(PLAY|TASK) \[(.*)\] \**$", line)
        if header:
            if header.group(1) == "PLAY":
                play = header.group(2)
            else:
                task = header.group(2)
            continue
        match = re.match(r"^changed: \[([^\]]+)\]", line)
        if match:
            changed.append((play, task, match.group(1)))
    return changed


def recap(out, host):
    match = re.search(r"^%s\s*:\s*(.*)$" % re.escape(host), out, re.M)
    return dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1)))


def test_the_warning_check_sees_what_ansible_core_prints():
    # The line every audit printed in 0.1.0, a deprecation, and errors in both of ansible-core's forms.
    out = ("TASK [Find processes holding a negative oom_score_adj that no assignment gives them] ***\n"
           "[WARNING]: Value for result key 'skipped' of type list was converted to bool.\n"
           "Origin: <unknown>\n\n[]\n\nok: [localhost]\n"
           "[DEPRECATION WARNING]: something. This feature will be removed in version 2.23.\n"
           "[ERROR]: Task failed: boom\nERROR! old style\n"
           'ok: [localhost] => {"msg": "no [WARNING] at the start of this line"}\n')
    assert [line.split(":")[0] for line in complaints(out)] == [
        "[WARNING]", "[DEPRECATION WARNING]", "[ERROR]", "ERROR! old style"]


def test_make_run_prints_no_warning_and_no_error(tmp_path):
    # `make run` as it is: the playbook file, a bare `localhost,` inventory, the controller's Python on the
    # target, ansible-core's own settings (only its home and the collections path given).
    env = dict(os.environ)
    env.update(ALL_WARNINGS)
    env.update({"ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_COLLECTIONS_PATH": livetools.collections_root(),
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    argv = [livetools.ansible_bin("ansible-playbook"), os.path.join(REPO, "playbooks", "audit.yml"), "-i", "localhost,",
            "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
            "-e", "oom_audit_report_dir=%s" % (tmp_path / "reports")]
    done = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, out[-8000:]
    assert complaints(out) == [], out
    assert "WARNING" not in out and "ERROR" not in out, out
    assert recap(out, "localhost")["ok"] > 0


def test_audit_of_this_machine_changes_nothing_and_leaves_three_reports(tmp_path):
    before = tree_state(WATCHED)
    result = run_audit(tmp_path)
    assert tree_state(WATCHED) == before

    # The only change anywhere is the reports, written on the controller.
    assert changed_tasks(result) == [
        ("Write the fleet audit reports on the controller", "Write oom-audit.json, oom-audit.xml and oom-audit.html",
         "localhost"),
    ]
    assert recap(result, "localhost")["failed"] == 0 and recap(result, "localhost")["unreachable"] == 0

    reports = tmp_path / "reports"
    assert sorted(os.listdir(str(reports))) == ["oom-audit.html", "oom-audit.json", "oom-audit.xml"]
    document = json.loads((reports / "oom-audit.json").read_text())
    jsonschema.Draft202012Validator(json.load(open(SCHEMA))).validate(document)
    [host] = document["hosts"]
    # A machine that never saw oomguard has no assignments, but its kill order and host facts are there.
    assert (host["name"], host["status"], host["errors"]) == ("localhost", "no_assignments", [])
    assert host["kill_order"] and host["host"]["kernel_release"] == os.uname().release
    assert host["events_source"] in ("journal", "dmesg", "file")
    suites = ET.parse(str(reports / "oom-audit.xml")).getroot()
    assert suites.get("failures") == "0" and suites.get("errors") == "0"
    assert "oomguard fleet audit" in (reports / "oom-audit.html").read_text()


def test_audit_in_check_mode_still_writes_the_reports_and_the_opted_in_prometheus_file(tmp_path):
    prom = tmp_path / "textfile"
    prom.mkdir()
    out = run_audit(tmp_path, "--check", "-e", "oom_audit_prometheus_dir=%s" % prom)
    assert sorted(os.listdir(str(tmp_path / "reports"))) == ["oom-audit.html", "oom-audit.json", "oom-audit.xml"]
    text = (prom / "oomguard.prom").read_text()
    assert "oomguard_compliant 1\n" in text and "# TYPE oomguard_kernel_oom_kills_total counter\n" in text
    assert [task for _play, task, _host in changed_tasks(out)] == [
        "Write oomguard.prom into the textfile collector directory",
        "Write oom-audit.json, oom-audit.xml and oom-audit.html"]


def test_unreachable_host_is_reported_and_does_not_stop_the_audit(tmp_path):
    inventory = tmp_path / "inventory.ini"
    # Port 1 on the loopback: nothing listens, so ssh is refused at once.
    inventory.write_text("localhost ansible_connection=local\n"
                         "gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh\n")
    # The one error on screen is the unreachable host's (the audit goes on and reports it).
    result = run_audit(tmp_path, "-i", str(inventory), errors=[UNREACHABLE])
    assert recap(result, "gone")["unreachable"] == 0 and recap(result, "gone")["ignored"] == 1
    document = json.loads((tmp_path / "reports" / "oom-audit.json").read_text())
    statuses = [(h["name"], h["status"]) for h in document["hosts"]]
    assert statuses == [("gone", "unreachable"), ("localhost", "no_assignments")]
    assert "Connection refused" in document["hosts"][0]["errors"][0]


def test_a_host_without_python_is_one_error_line_in_the_report(tmp_path):
    """Both module runs fail there for the same reason: the report says it once, naming every part."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local\n"
                         "nopython ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n")
    result = run_audit(tmp_path, "-i", str(inventory), errors=NO_PYTHON)
    assert recap(result, "nopython")["failed"] == 0 and recap(result, "nopython")["ignored"] == 1
    document = json.loads((tmp_path / "reports" / "oom-audit.json").read_text())
    hosts = dict((h["name"], h) for h in document["hosts"])
    assert hosts["nopython"]["status"] == "failed"
    errors = hosts["nopython"]["errors"]
    assert len(errors) == 1, errors
    assert errors[0].startswith("compliance check, kill order, protection leaks, OOM kill history: ")
    assert "/nonexistent/python3" in errors[0] and "Task failed" not in errors[0]
    assert hosts["localhost"]["status"] == "no_assignments" and hosts["localhost"]["errors"] == []


def test_fail_on_findings_fails_the_run_after_writing_the_reports(tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local\n"
                         "gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh\n")
    out = run_audit(tmp_path, "-i", str(inventory), "-e", "oom_audit_fail_on_findings=true", rc=2,
                    errors=[UNREACHABLE, "[ERROR]: Task failed: Action failed: The audit found hosts that are not"])
    assert "The audit found hosts that are not compliant, at risk, leaking protection, unreachable or failed" in out
    assert sorted(os.listdir(str(tmp_path / "reports"))) == ["oom-audit.html", "oom-audit.json", "oom-audit.xml"]


def test_audit_reports_a_process_assignment_that_needs_a_change_as_drift_and_leaves_it(tmp_path):
    # The audit playbook runs in check mode through the play's check_mode keyword, under which
    # ansible_check_mode stays false: the record must still show the value the kernel holds, not the planned one.
    name = "og-audit-drift"
    processes = json.dumps({"oom_protection_processes": [{"tier": "expendable", "name": name}]})
    with livetools.workers([(name, 1 << 20)]) as [worker]:
        run_audit(tmp_path, "-e", processes)
        with open("/proc/%d/oom_score_adj" % worker.pid) as handle:
            assert handle.read().strip() == "0"
    [host] = json.loads((tmp_path / "reports" / "oom-audit.json").read_text())["hosts"]
    [record] = [rec for rec in host["compliance"]["records"] if rec["target"] == "name=%s" % name]
    assert record["status"] == "drift", record
    assert [proc["oom_score_adj"] for proc in record["processes"]] == [0], record
    assert host["status"] == "drifting"


def test_audit_of_this_machine_with_a_policy_prints_no_warning_and_reports_what_the_host_cannot_do(tmp_path):
    # A unit to protect and a process to lower: on a machine without systemd as PID 1 the unit cannot be
    # protected, and without CAP_SYS_RESOURCE the kernel would refuse the lowering. Both are true and belong
    # in the reports (and the role's summary), not on screen as warnings of a read-only audit (run_audit
    # fails on any warning).
    name = "og-audit-denied"
    policy = json.dumps({"oom_protection_units": {"ssh.service": "critical"},
                         "oom_protection_processes": [{"tier": "critical", "name": name}]})
    with livetools.workers([(name, 1 << 20)]) as [worker]:
        out = run_audit(tmp_path, "-e", policy)
        with open("/proc/%d/oom_score_adj" % worker.pid) as handle:
            assert handle.read().strip() == "0"
    [host] = json.loads((tmp_path / "reports" / "oom-audit.json").read_text())["hosts"]
    [record] = [rec for rec in host["compliance"]["records"] if rec["target"] == "name=%s" % name]
    if host["host"]["can_lower_adj"]:
        assert record["status"] == "drift", record
    else:
        assert record["status"] == "denied" and "CAP_SYS_RESOURCE" in record["reasons"][0], record
    if not host["host"]["systemd_running"]:
        assert host["compliance"]["skipped_units"] == ["ssh.service"]
        assert "no systemd on this host: skipped the unit assignments ssh.service" in out
        cases = ET.parse(str(tmp_path / "reports" / "oom-audit.xml")).getroot().iter("testcase")
        assert [case.find("skipped").get("message") for case in cases if case.get("name") == "unit:ssh.service"] \
            == ["not applied: localhost has no systemd"]


def test_audit_names_the_userspace_killers_that_run_and_says_which_acts_before_the_kernel(tmp_path):
    # The real earlyoom (--dryrun: never acts) and nohang (acts at 2 MiB of MemAvailable) run during the audit.
    (tmp_path / "textfile").mkdir()
    with killerdaemons.running_killers(tmp_path) as daemons:
        out = run_audit(tmp_path, "-e", "oom_audit_prometheus_dir=%s" % (tmp_path / "textfile"))
    document = json.loads((tmp_path / "reports" / "oom-audit.json").read_text())
    jsonschema.Draft202012Validator(json.load(open(SCHEMA))).validate(document)
    [host] = document["hosts"]
    killers = dict((entry["pid"], entry) for entry in host["userspace_killers"])
    earlyoom, nohang = killers[daemons["earlyoom"].pid], killers[daemons["nohang"].pid]
    assert (earlyoom["killer"], earlyoom["acts_before_kernel"], earlyoom["settings"]["dryrun"]) == ("earlyoom", False, True)
    assert (nohang["killer"], nohang["acts_before_kernel"]) == ("nohang", True)
    assert nohang["config_file"] == daemons["nohang_config"]
    # The console: the host's summary line has the clause, and the single-host view says when each acts.
    [line] = [line for line in out.splitlines() if "localhost" in line and "next victim" in line]
    assert "nohang acts before the kernel" in line and "earlyoom acts" not in line, line
    assert nohang["when"] in out and earlyoom["when"] in out
    prom = (tmp_path / "textfile" / "oomguard.prom").read_text()
    assert 'oomguard_userspace_killer_running{killer="nohang"} 1' in prom
    assert 'oomguard_userspace_killer_acts_before_kernel{killer="earlyoom"} 0' in prom
    html = (tmp_path / "reports" / "oom-audit.html").read_text()
    assert "Userspace killers" in html and "protected but killed<b>0</b>" in html
