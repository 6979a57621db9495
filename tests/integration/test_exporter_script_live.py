# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exporter script the role installs carries the engine's layers inside it: render it with the role's own
template and variables (tasks/exporter.yml, vars/main.yml), run it with the oldest target Python found against
this machine's /proc, and read the textfile it writes. Nothing is installed on the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from livetools import ansible_bin, ansible_env, collections_root

REPO = os.path.join(collections_root(), "ansible_collections", "oomguard", "fleet")
ROLE = os.path.join(REPO, "roles", "oom_protection")


def install_task_vars():
    """The vars of the role's task that renders the script: the list of bundled sources is the role's own."""
    with open(os.path.join(ROLE, "tasks", "exporter.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    for task in tasks:
        for inner in task.get("block") or ():
            if "oomguard-exporter.py.j2" in str(inner.get("ansible.builtin.template", {}).get("src", "")):
                return inner["vars"]
    raise AssertionError("the role has no task rendering oomguard-exporter.py.j2")


def target_python():
    done = subprocess.run([os.path.join(REPO, "hack", "find-python"), "3.8", "3.8"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=False)
    return done.stdout.decode().strip() or sys.executable


def test_the_rendered_exporter_script_runs_the_bundled_engine(tmp_path):
    script = tmp_path / "oomguard-exporter.py"
    playbook = [{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [os.path.join(ROLE, "vars", "main.yml")],
        "vars": {"role_path": ROLE, "__oom_protection_owner_tag": "test", "ansible_managed": "test"},
        "tasks": [{"ansible.builtin.template": {"src": os.path.join(ROLE, "templates", "oomguard-exporter.py.j2"),
                                                "dest": str(script), "mode": "0644"},
                   "vars": install_task_vars()}],
    }]
    (tmp_path / "render.yml").write_text(yaml.safe_dump(playbook), encoding="utf-8")
    done = subprocess.run([ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "render.yml")],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert done.returncode == 0, done.stdout.decode()
    layers = sorted(entry for entry in os.listdir(os.path.join(REPO, "plugins", "module_utils")) if entry.startswith("_"))
    text = script.read_text(encoding="utf-8")
    for layer in layers:
        assert '    "%s.' % layer in text, "%s is not bundled" % layer
    config = tmp_path / "exporter.json"
    config.write_text(json.dumps({"output_dir": str(tmp_path / "out"), "top": 3, "thresholds": {}, "units": [],
                                  "rules": []}), encoding="utf-8")
    ran = subprocess.run([target_python(), str(script), str(config)], cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300, check=False)
    assert ran.returncode == 0, ran.stdout.decode()
    prom = (tmp_path / "out" / "oomguard.prom").read_text(encoding="utf-8")
    assert "\noomguard_next_victim_oom_score{" in prom
    assert "oomguard_host_status{" in prom
