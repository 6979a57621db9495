# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oomguard.fleet.merge_reports on the reports of real audit runs: merging the reports of two slices of a
fleet gives, in every format, the report the audit wrote for the whole fleet, apart from the generation time.

One real audit of a four-host inventory writes the whole fleet's report through oomguard.fleet.audit: three
local hosts, one with no assignments, one where a worker process of ours is assigned the tier it has
(compliant), one whose assignment names a tier that does not exist (its compliance check fails), and one host
that is unreachable over SSH. A play right after
it writes the two slices' reports from the same host records, with the same module, as two audit runs over
the halves of the inventory would; the hosts' records are gathered once, so the live data (memory, process
tables) is the same in both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")
jsonschema = pytest.importorskip("jsonschema")

import livetools  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(REPO, "docs", "oom-audit.schema.json")

INVENTORY = """\
all:
  hosts:
    alpha: {ansible_connection: local}
    beta:
      ansible_connection: local
      oom_protection_processes: [{tier: no-such-tier, name: %(worker)s}]
    gamma:
      ansible_connection: local
      oom_protection_processes: [{tier: standard, name: %(worker)s}]
    # Port 1 on the loopback: nothing listens, so ssh is refused at once.
    gone: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh}
"""
WORKER = "merge-worker"
SLICES = (["alpha", "gone"], ["beta", "gamma"])

# The audit as the collection ships it, then the slices' reports from the records it gathered.
AUDIT_AND_SLICES = """\
- name: The audit of the whole inventory
  ansible.builtin.import_playbook: oomguard.fleet.audit

- name: The reports two audit runs over the halves of the inventory would write, from the same records
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write one report per slice
      oomguard.fleet.oom_audit_report:
        dest: "{{ playbook_dir }}/slice-{{ item.0 }}"
        targets: "{{ item.1 }}"
        hosts: "{{ item.1 | map('extract', hostvars) | selectattr('oom_audit_result', 'defined')
                   | map(attribute='oom_audit_result') }}"
        events_since: 7d
      loop: %(slices)s
      vars:
        ansible_python_interpreter: "{{ ansible_playbook_python }}"

    - name: Write the whole fleet's Prometheus file (the audit writes the other three formats)
      oomguard.fleet.oom_audit_report:
        dest: "{{ playbook_dir }}/reports-prom"
        targets: "{{ __oom_audit_targets }}"
        hosts: "{{ __oom_audit_targets | map('extract', hostvars) | selectattr('oom_audit_result', 'defined')
                   | map(attribute='oom_audit_result') }}"
        events_since: 7d
        formats: [prometheus]
      vars:
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
""" % {"slices": json.dumps([[1, SLICES[0]], [2, SLICES[1]]])}


def playbook(workdir, *argv):
    env = livetools.ansible_env()
    env["ANSIBLE_HOME"] = str(workdir / "ansible-home")
    done = subprocess.run([livetools.ansible_bin("ansible-playbook")] + list(argv), cwd=str(workdir), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, "ansible-playbook %s ended with rc %d:\n%s" % (argv, done.returncode, out[-8000:])
    return out


def files_without_time(directory):
    """Each report file, its generation time (the one difference a merge may have) replaced by TIME."""
    with open(os.path.join(directory, "oom-audit.json")) as handle:
        stamp = json.load(handle)["generated_at"]
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as handle:
            out[name] = re.sub(re.escape(stamp[:-1]) + "Z?", "TIME", handle.read())
    return out


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("merge")
    (workdir / "inventory.yml").write_text(INVENTORY % {"worker": WORKER})
    (workdir / "audit_and_slices.yml").write_text(AUDIT_AND_SLICES)
    with livetools.workers([(WORKER, 0)]):  # at oom_score_adj 0, the standard tier's value
        playbook(workdir, "-i", "inventory.yml", "audit_and_slices.yml", "-e", "oom_audit_report_dir=reports")
    return workdir


def test_the_audit_gathered_hosts_of_every_kind(audited):
    with open(str(audited / "reports" / "oom-audit.json")) as handle:
        whole = json.load(handle)
    statuses = dict((h["name"], h["status"]) for h in whole["hosts"])
    assert statuses == {"gone": "unreachable", "beta": "failed", "alpha": "no_assignments", "gamma": "compliant"}
    assert all(h["kill_order"] for h in whole["hosts"] if h["name"] != "gone")


def test_merging_the_slices_reports_gives_the_whole_audits_report_in_every_format(audited):
    out = playbook(audited, "oomguard.fleet.merge_reports",
                   "-e", "oom_audit_merge=slice-1/oom-audit.json,slice-2/oom-audit.json",
                   "-e", "oom_audit_report_dir=fleet")
    assert "Merged 2 reports: 0 duplicate and 0 conflicting host entries" in out
    merged = files_without_time(str(audited / "fleet"))
    whole = files_without_time(str(audited / "reports"))
    with open(str(audited / "reports-prom" / "oom-audit.prom")) as handle:
        whole["oom-audit.prom"] = handle.read()
    assert sorted(merged) == ["oom-audit.html", "oom-audit.json", "oom-audit.prom", "oom-audit.xml"]
    for name in sorted(merged):
        assert merged[name] == whole[name], "%s of the merge differs from the whole audit's" % name
    with open(str(audited / "fleet" / "oom-audit.json")) as handle:
        jsonschema.Draft202012Validator(json.load(open(SCHEMA))).validate(json.load(handle))


def test_merging_a_slice_with_itself_and_the_other_reports_the_duplicates(audited):
    out = playbook(audited, "oomguard.fleet.merge_reports",
                   "-e", "oom_audit_merge=slice-*/oom-audit.json,slice-1/oom-audit.json",
                   "-e", "oom_audit_report_dir=fleet-dup")
    assert "Merged 3 reports: 2 duplicate and 0 conflicting host entries" in out
    with open(str(audited / "fleet-dup" / "oom-audit.json")) as handle:
        merged = json.load(handle)
    assert sorted(d["host"] for d in merged["merge"]["duplicates"]) == sorted(SLICES[0])
    assert merged["summary"]["hosts"] == 4
