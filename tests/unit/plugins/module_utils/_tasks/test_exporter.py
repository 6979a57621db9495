# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exporter's refresh on a fake proc tree: a textfile a Prometheus parser accepts, with the headroom,
the next victims (its own process left out), the leaks and the per-unit status; bad configuration is one
line. The timer on real systemd is tested on the guests (tests/guests/test_audit_findings.py)."""

from __future__ import annotations

import json
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import exporter as _exporter

SESSION = "/user.slice/user-0.slice/session-3.scope"


@pytest.fixture
def host(fakeproc):
    fakeproc._write("meminfo", "MemTotal: 4000000 kB\nMemAvailable: 200000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
                    "CommitLimit: 2000000 kB\nCommitted_AS: 3000000 kB\n")
    fakeproc._write("pressure/memory", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4000000\n"
                                       "full avg10=0.00 avg60=0.50 avg300=0.25 total=1000\n")
    fakeproc.add(1, name="systemd", ppid=0, cgroup="/init.scope")
    # sshd's listener protects itself at -1000: ok for a -900 policy, as the role judges it.
    fakeproc.add(612, name="sshd", oom_score_adj=-1000, cgroup="/system.slice/ssh.service")
    fakeproc.add(4242, name="bash", ppid=612, oom_score_adj=-900, cgroup=SESSION)
    fakeproc.add(800, name="java", rss_anon_kb=900000, cgroup="/system.slice/app.service")
    # The exporter's own process is in the fake tree too: it must not be listed as a victim.
    fakeproc.add(os.getpid(), name="python3", ppid=1, rss_anon_kb=2000000, cgroup="/system.slice/x.service")
    return fakeproc


def config(host, tmp_path, **extra):
    data = {"output_dir": str(tmp_path / "textfile"), "top": 3, "proc_path": host.root,
            "units": [{"name": "ssh.service", "tier": "critical", "oom_score_adj": -900}],
            # As the role's plan writes it (tasks/exporter.yml: the plan's units and processes).
            "rules": [{"selector": {"name": "sshd"}, "tier": "critical", "required": False, "source": "test",
                       "target": "name=sshd", "oom_score_adj": -900}]}
    data.update(extra)
    path = tmp_path / "exporter.json"
    path.write_text(json.dumps(data))
    return str(path)


def samples(text):
    return dict(((s.name, tuple(sorted(s.labels.items()))), s.value)
                for family in text_string_to_metric_families(text) for s in family.samples)


def test_a_refresh_writes_a_textfile_that_a_prometheus_parser_reads(host, tmp_path):
    assert _exporter.main([config(host, tmp_path)]) == 0
    text = (tmp_path / "textfile" / "oomguard.prom").read_text()
    values = samples(text)
    assert values[("oomguard_host_at_risk", ())] == 1.0  # 95 % of memory used
    assert values[("oomguard_memory_available_bytes", ())] == 200000 * 1024
    assert values[("oomguard_memory_pressure_percent", (("kind", "some"), ("window", "60s")))] == 2.0
    assert values[("oomguard_protection_leaks", ())] == 1.0
    # The role's judgement: without systemd (this test host) units are not judged, processes are.
    assert values[("oomguard_assignment_status", (("kind", "process"), ("status", "ok"), ("target", "name=sshd"),
                                                  ("tier", "critical")))] == 1.0
    assert not [labels for (name, labels), _v in values.items()
                if name == "oomguard_assignment_status" and dict(labels)["kind"] == "unit"]
    victims = [labels for (name, labels), _v in values.items() if name == "oomguard_next_victim_oom_score"]
    assert [dict(labels)["name"] for labels in sorted(victims, key=lambda l: dict(l)["rank"])][0] == "java"
    assert str(os.getpid()) not in [dict(labels)["pid"] for labels in victims]
    assert not [name for name in os.listdir(str(tmp_path / "textfile")) if name != "oomguard.prom"]


@pytest.mark.parametrize("content, message", [
    ("{", "cannot read the exporter configuration"),
    ('{"top": 3}', "must be a JSON object with at least output_dir"),
    ('{"output_dir": "/x", "top": -1}', "top must be an integer >= 0, got -1"),
    ('{"output_dir": "/x", "thresholds": {"ram": 1}}', "unknown threshold 'ram'"),
    ('{"output_dir": "/x", "rules": [{"selector": {"name_pattern": "("}}]}', "rules[0]: name_pattern '('"),
])
def test_a_bad_configuration_is_one_line_and_writes_nothing(tmp_path, capsys, content, message):
    path = tmp_path / "exporter.json"
    path.write_text(content)
    assert _exporter.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not os.path.exists("/x")


@pytest.mark.parametrize("cap_eff, record_status, host_status", [
    (0, "denied", "denied"),                  # no CAP_SYS_RESOURCE: no run can lower the value here
    (1 << 24, "drift", "drifting"),           # CAP_SYS_RESOURCE: harden would fix it
])
def test_a_process_above_a_negative_policy_is_denied_only_without_cap_sys_resource(
        host, tmp_path, cap_eff, record_status, host_status):
    host._write("self/status", "Name:\tpython3\nUid:\t0\t0\t0\t0\nCapEff:\t%016x\n" % cap_eff)
    host.add(613, name="sshd", ppid=612, oom_score_adj=0, cgroup="/system.slice/ssh.service")
    assert _exporter.main([config(host, tmp_path)]) == 0
    values = samples((tmp_path / "textfile" / "oomguard.prom").read_text())
    assert values[("oomguard_assignment_status", (("kind", "process"), ("status", record_status),
                                                  ("target", "name=sshd"), ("tier", "critical")))] == 1.0
    assert values[("oomguard_host_status", (("status", host_status),))] == 1.0
    assert values[("oomguard_compliant", ())] == 0.0


def test_a_refresh_scans_proc_once_also_when_the_policy_has_process_rules(host, tmp_path, monkeypatch):
    """The leaks, the kill order, the units and the compliance judgement's predicted pass share one scan."""
    from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs

    scans = []
    real_scan = procfs.scan

    def counting_scan(*args, **kwargs):
        scans.append(args[:1])
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(procfs, "scan", counting_scan)
    monkeypatch.setattr(_exporter.leaks_task.procfs, "scan", counting_scan)
    monkeypatch.setattr(_exporter.adj_task, "scan", counting_scan)
    host.add(613, name="sshd", ppid=612, oom_score_adj=0, cgroup="/system.slice/ssh.service")
    result = _exporter.collect(_exporter.load_config(config(host, tmp_path)), hostname="h1")
    assert len(scans) == 1
    # And the judgement still saw the processes: the sshd child at 0 is judged against the -900 rule.
    records = [r for r in result["compliance"]["records"] if r["kind"] == "process"]
    assert records and records[0]["status"] in ("denied", "drift")


def test_a_refresh_reads_systemctl_in_the_c_locale(host, tmp_path, monkeypatch):
    """The units' declared values come from `systemctl show`, parsed as the modules parse it: in the C locale."""
    from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import C_LOCALE

    calls = []

    def run_command(argv, environ_update=None):
        calls.append((argv[:2], environ_update))
        return 1, "", "no bus here"

    monkeypatch.setattr(_exporter, "run_command", run_command)
    monkeypatch.setattr(_exporter.leaks_task, "systemd_running", lambda: True)
    try:
        _exporter.collect(_exporter.load_config(config(host, tmp_path)), hostname="h1")
    except RuntimeError:
        pass  # systemctl "failed": what matters is how it was called
    shows = [env for argv, env in calls if argv[:2] == ["systemctl", "show"]]
    assert shows and all(env == C_LOCALE for env in shows)
