# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oom_protection role on this machine with the usual mistakes, as a new user makes them: a misspelled
tier, a misspelled variable, a wrongly typed variable. Real ansible-playbook runs on localhost.

Bad input stops the role in its first task, with one short message (ansible prints a failed task as its
[ERROR] line and then the task's result, whose `msg` is the same message: that echo is all), and changes
nothing, in check mode and without it. A misspelled variable is one ansible warning, and the role goes on."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")

import livetools  # noqa: E402  pylint: disable=wrong-import-position

# Where the role writes (drop-ins, the default sysctl file); each run must leave them exactly as they were.
WATCHED = ("/etc/systemd/system", "/etc/sysctl.d")
# A drop-in name of these tests only, so that a drop-in written by mistake would be found (and by nobody else).
DROPIN = "61-oomguard-input-test.conf"
TIERS = "critical, essential, standard, expendable"
# A required process assignment that matches nothing: the role runs to its summary without touching anything
# (this machine may have no systemd, so no unit assignment is used where the role must go on).
MISSING = {"name": "oomguard-nosuch", "tier": "expendable", "required": True}


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


def run_role(tmp_path, role_vars, check):
    """The role on localhost with role_vars; (rc, the whole console output, stdout and stderr as one)."""
    role_vars = dict(role_vars, oom_protection_dropin_name=DROPIN,
                     oom_protection_sysctl_file=str(tmp_path / "60-oomguard.conf"))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                     "roles": [{"role": "oomguard.fleet.oom_protection", "vars": role_vars}]}]))
    env = livetools.ansible_env()
    env["ANSIBLE_HOME"] = str(tmp_path / "ansible-home")
    argv = [livetools.ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    if check:
        argv.append("--check")
    before = tree_state(WATCHED)
    done = subprocess.run(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert tree_state(WATCHED) == before, "the role changed files under %s:\n%s" % (", ".join(WATCHED), out)
    assert not (tmp_path / "60-oomguard.conf").exists()
    return done.returncode, out


BAD_INPUT = [
    pytest.param({"oom_protection_units": {"ssh.service": "critcal"}},
                 "oom_protection_units: ssh.service: unknown tier 'critcal' (did you mean 'critical'? tiers: %s)"
                 % TIERS, id="misspelled-tier"),
    pytest.param({"oom_protection_units_web": {"nginx.service": "esential"}},
                 "oom_protection_units_web: nginx.service: unknown tier 'esential' (did you mean 'essential'? "
                 "tiers: %s)" % TIERS, id="misspelled-tier-in-a-group-variable"),
    pytest.param({"oom_protection_units": ["ssh.service"]},
                 "oom_protection_units must be a mapping, got a list", id="list-for-a-dict"),
    pytest.param({"oom_protection_processes": "sshd"},
                 "oom_protection_processes must be a list, got the string 'sshd'", id="string-for-a-list"),
    pytest.param({"oom_protection_exporter_top": "five"},
                 "oom_protection_exporter_top must be an integer, got the string 'five'", id="string-for-an-int"),
    pytest.param({"oom_protection_state": "presnt"},
                 "oom_protection_state: unknown value 'presnt' (did you mean 'present'? choices: present, absent)",
                 id="misspelled-choice"),
]


@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
@pytest.mark.parametrize("role_vars, message", BAD_INPUT)
def test_bad_input_is_one_short_message_and_changes_nothing(tmp_path, role_vars, message, check):
    rc, out = run_role(tmp_path, role_vars, check)
    assert rc == 2, out
    lines = out.splitlines()
    # The message once, as ansible's error line; the only other line with it is ansible's echo of the failed
    # task's result, whose msg is exactly the message.
    errors = [line for line in lines if line.startswith("[ERROR]")]
    assert errors == ["[ERROR]: Task failed: Action failed: " + message], out
    fatal = [line for line in lines if line.startswith("fatal: ")]
    assert len(fatal) == 1, out
    assert json.loads(fatal[0].split(" => ", 1)[1])["msg"] == message, out
    assert sum(line.count(message) for line in lines if not line.startswith("fatal: ")) == 1, out
    # Short: the whole run is the play, one task and the recap; no wrapper text, no argument spec dump.
    assert len([line for line in lines if line.strip()]) <= 12, out
    for noise in ("caused by", "argument_spec", "Validating arguments", "Traceback", "[WARNING]"):
        assert noise not in out, out
    # The role stopped in its first task: nothing after it ran, not the module that writes.
    assert re.findall(r"^TASK \[(.*)\]", out, re.M) == ["oomguard.fleet.oom_protection_input : Check the input of "
                                                        "the oom_protection role"], out


def test_a_misspelled_variable_warns_once_and_the_role_goes_on(tmp_path):
    rc, out = run_role(tmp_path, {"oom_protection_unit": {"ssh.service": "critical"},
                                  "oom_protection_processes": [MISSING]}, check=True)
    assert rc == 0, out
    warning = ("[WARNING]: oom_protection: the variable oom_protection_unit is not known to oomguard.fleet and is "
               "ignored (did you mean oom_protection_units?)")
    warnings = [line for line in out.splitlines() if line.startswith("[WARNING]")]
    assert warnings == [warning], out
    # It went on: planned, applied (in check mode), and summed up in lines.
    assert "TASK [oomguard.fleet.oom_protection : Apply the drop-ins" in out, out
    assert '"oom_protection: 1 missing",' in out, out
    assert '"process name=oomguard-nosuch: missing (no process matches name=oomguard-nosuch)"' in out, out


def test_variables_the_role_and_the_audit_know_give_no_warning(tmp_path):
    rc, out = run_role(tmp_path, {"oom_protection_units_web": {}, "oom_protection_processes_batch": [MISSING],
                                  "oom_audit_report_dir": "reports",
                                  "oom_audit_fail_on_findings": False}, check=True)
    assert rc == 0, out
    assert "[WARNING]" not in out, out
    assert "oom_protection: 1 missing" in out, out
