# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Targets need nothing but Python >= 3.8 and its standard library: prove it with a real Python 3.8.

ansible-test sanity compiles the modules only for the controller's Python, so this test compiles every
target-side file with Python 3.8 and runs the modules through ansible-core 2.19 (the newest controller that
still drives 3.8 targets) with a 3.8 interpreter against this machine's real /proc.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

from livetools import ansible_env, collections_root, workers

REPO = os.path.join(collections_root(), "ansible_collections", "oomguard", "fleet")
# Code that runs only on the controller (delegate_to: localhost) may use newer Python. The report package is
# not in it: the live exporter renders its Prometheus text with it on the hosts.
CONTROLLER_ONLY = ("plugins/modules/oom_audit_report.py",)


def python38():
    finder = os.path.join(REPO, "hack", "find-python")
    done = subprocess.run([finder, "3.8", "3.8"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    path = done.stdout.decode().strip()
    if done.returncode != 0 or not path:
        pytest.skip("no Python 3.8 on this machine: cannot prove the 3.8 target floor here")
    return path


def ansible_219():
    path = os.path.join(REPO, ".build", "venv-2.19", "bin", "ansible")
    if not os.path.exists(path):
        pytest.skip("the ansible-core 2.19 environment (.build/venv-2.19) is not built")
    return path


def target_files():
    files = glob.glob(os.path.join(REPO, "plugins", "module_utils", "**", "*.py"), recursive=True)
    files += glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
    return sorted(f for f in files if os.path.relpath(f, REPO) not in CONTROLLER_ONLY)


def run_on_38(module, args, check=False):
    argv = [ansible_219(), "localhost", "-m", "oomguard.fleet." + module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    env = ansible_env()
    env["ANSIBLE_PYTHON_INTERPRETER"] = python38()
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180, check=False)
    out = done.stdout.decode("utf-8", "replace")
    head, sep, body = out.partition(" => ")
    assert sep, "no result from ansible (rc %d): %s %s" % (done.returncode, out, done.stderr.decode())
    result = json.loads(body)
    assert head.rsplit("|", 1)[-1].strip() in ("SUCCESS", "CHANGED"), json.dumps(result)[:3000]
    return result


def test_every_target_file_compiles_with_python_38():
    files = target_files()
    assert len(files) >= 10
    done = subprocess.run([python38(), "-m", "py_compile"] + files, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    assert done.returncode == 0, done.stdout.decode()


def test_oom_score_info_runs_on_python_38_and_agrees_with_the_kernel():
    result = run_on_38("oom_score_info", {"top": 3, "names": ["sshd", "python3.8", "ansible"]})
    assert result["host"]["total_pages"] > 0
    assert len(result["kill_order"]) <= 3
    # Five killable processes of its own: the machine may have few others outside the module's own chain.
    with workers([("oomguard-py38-%d" % i, 1024 * 1024) for i in range(5)]):
        full = run_on_38("oom_score_info", {"top": 5})
    assert full["host"]["process_count"] >= 6
    assert len(full["kill_order"]) == 5


def test_oom_score_adj_runs_on_python_38_and_the_kernel_shows_the_value():
    with workers([("oomguard-py38", 1024 * 1024)]) as (worker,):
        planned = run_on_38("oom_score_adj", {"pid": worker.pid, "value": 250}, check=True)
        assert planned["changed"] and open("/proc/%d/oom_score_adj" % worker.pid).read().strip() == "0"
        done = run_on_38("oom_score_adj", {"pid": worker.pid, "value": 250})
        assert done["changed"]
        with open("/proc/%d/oom_score_adj" % worker.pid) as handle:
            assert handle.read().strip() == "250"
        again = run_on_38("oom_score_adj", {"pid": worker.pid, "value": 250})
        assert not again["changed"]


def test_oom_events_info_runs_on_python_38():
    result = run_on_38("oom_events_info", {"source": "dmesg", "limit": 5})
    assert result["source_used"] == "dmesg"
    assert isinstance(result["events"], list)
