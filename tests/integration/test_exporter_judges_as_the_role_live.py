# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One judge: on this machine (real processes, its real /proc, no systemd, no CAP_SYS_RESOURCE), the live
exporter reports the same compliance records -- kind, target, tier, status and reasons -- as the
oomguard.fleet.oom_protection role in check mode, given the configuration the role itself writes for it (its
own task vars in tasks/exporter.yml). The assignments cover ok, drift, denied, not_running, missing, and a unit
that the role cannot judge without systemd."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import yaml

from livetools import ansible_bin, ansible_env, collections_root, workers, write_adj

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import exporter as _exporter

REPO = os.path.join(collections_root(), "ansible_collections", "oomguard", "fleet")
ROLE = os.path.join(REPO, "roles", "oom_protection")


def config_task_vars():
    """The vars of the role's task that writes the exporter's configuration."""
    with open(os.path.join(ROLE, "tasks", "exporter.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    for task in tasks:
        for inner in task.get("block") or ():
            if "__oom_protection_exporter_settings" in (inner.get("vars") or {}):
                return inner["vars"]
    raise AssertionError("the role has no task writing the exporter's configuration")


def role_check(tmp_path, processes):
    """The role in check mode on this machine: its compliance fact and the exporter configuration it would
    write, both saved on the controller."""
    fact, settings = tmp_path / "compliance.json", tmp_path / "exporter.json"
    playbook = [{
        "hosts": "localhost", "gather_facts": False, "check_mode": True,
        "vars": {"oom_protection_processes": processes, "oom_protection_units": {"ssh.service": "critical"},
                 "oom_protection_exporter_dir": str(tmp_path / "textfile")},
        "tasks": [
            {"ansible.builtin.include_role": {"name": "oomguard.fleet.oom_protection", "public": True}},
            {"ansible.builtin.copy": {"content": "{{ oom_protection_compliance | to_json }}", "dest": str(fact)},
             "check_mode": False},
            {"ansible.builtin.copy": {"content": "{{ __oom_protection_exporter_settings | to_json }}",
                                      "dest": str(settings)},
             "check_mode": False, "vars": config_task_vars()},
        ],
    }]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook), encoding="utf-8")
    done = subprocess.run([ansible_bin("ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
                          env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert done.returncode == 0, done.stdout.decode()
    return json.loads(fact.read_text()), str(settings)


def judged(compliance):
    return [(r["kind"], r["target"], r["tier"], r["status"], r["reasons"]) for r in compliance["records"]]


def test_the_exporter_reports_the_statuses_the_role_reports(tmp_path):
    tag = uuid.uuid4().hex[:6]
    names = dict((case, "ogj-%s-%s" % (case, tag)) for case in ("ok", "drf", "den"))
    with workers([(name, 1 << 20) for name in names.values()]) as started:
        pids = dict(zip(names, (worker.pid for worker in started)))
        write_adj(pids["ok"], 500)  # already at its expendable value
        # den: at 0 under a critical (-900) policy on a host that cannot lower a value: denied, not drift.
        processes = [
            {"tier": "expendable", "name": names["ok"]},
            {"tier": "expendable", "name": names["drf"]},
            {"tier": "critical", "name": names["den"]},
            {"tier": "standard", "name": "ogj-gone-%s" % tag},
            {"tier": "standard", "name": "ogj-need-%s" % tag, "required": True},
        ]
        role, settings = role_check(tmp_path, processes)
        exported = _exporter.collect(_exporter.load_config(settings))["compliance"]
    assert [status for _kind, _target, _tier, status, _reasons in judged(role)] == [
        "ok", "drift", "denied", "not_running", "missing"]
    # No systemd here: the role judges no unit, and neither does the exporter.
    assert role["skipped_units"] == ["ssh.service"]
    assert judged(exported) == judged(role)
    assert exported["summary"] == role["summary"]
