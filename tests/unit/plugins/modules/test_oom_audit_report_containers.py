# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers and pods in the audit's reports: a Kubernetes node's host record (next victims in pods, a memcg kill
in a pod container read from a real-format kernel log by the same engine and labelled as oom_events_info labels
it, a pod container not at kubelet's value) shows the container and pod in JSON (schema-valid), the console,
JUnit, HTML, Prometheus (bounded labels) and merged reports."""

from __future__ import annotations

import calendar
import json
import os
import xml.etree.ElementTree as ET

import jsonschema

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import sources as ks
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import merge as _report_merge
from ansible_collections.oomguard.fleet.plugins.module_utils._host.container_names import ContainerNames
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.kube_policy import judge
from ansible_collections.oomguard.fleet.plugins.module_utils._report import console as _console
from ansible_collections.oomguard.fleet.plugins.module_utils._report import junit as _junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus as _prometheus
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render
from ansible_collections.oomguard.fleet.plugins.module_utils._report import text as _text

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "oom-audit.schema.json")
REF = calendar.timegm((2026, 12, 31, 0, 0, 0))
CID = "5c1f0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
UID_ = "7a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d"
POD = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope" % (UID_, CID)
LOG = (
    "Dec  2 10:01:05 node7 kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-%s.scope,"
    "mems_allowed=0,oom_memcg=%s,task_memcg=%s,task=java,pid=9911,uid=1001\n"
    "Dec  2 10:01:05 node7 kernel: Memory cgroup out of memory: Killed process 9911 (java) total-vm:4194304kB, "
    "anon-rss:1048576kB, file-rss:1024kB, shmem-rss:0kB, UID:1001 pgtables:2100kB oom_score_adj:968\n"
) % (CID, POD, POD)


def labelled(tmp_path):
    """The node's label of the pod container, named from containerd's annotations as on the host."""
    bundle = tmp_path / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / CID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps({"annotations": {
        "io.kubernetes.cri.container-name": "web", "io.kubernetes.cri.sandbox-name": "web-7f9c",
        "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.image-name": "shop/web:2"}}))
    return ContainerNames(str(tmp_path)).label(container_of(POD), "java")


def node_record(tmp_path, utc_events, label):
    drifted = dict(label, qos="guaranteed")
    verdict = judge(drifted, -500)
    return {"name": "node7", "reachable": True, "errors": [],
            "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present",
                           "records": [], "skipped_units": []},
            "host": {"kernel_release": "6.8.0", "mem_total_kb": 1 << 22},
            "kill_order": [{"rank": 1, "pid": 9950, "name": "java", "unit": None, "oom_score_adj": 968,
                            "oom_score": 1500, "badness": 100, "share_percent": 25.0, "reason": "first victim: x",
                            "container": label},
                           {"rank": 2, "pid": 812, "name": "postgres", "unit": "postgresql.service", "oom_score_adj": 0,
                            "oom_score": 300, "badness": 50, "share_percent": 5.0, "reason": "#2: y", "container": None}],
            "events": utc_events, "events_source": "journal", "sources_read": ["journal"],
            "killers_looked_for": list(ks.KILLERS),
            "pod_drift": [dict({"pid": 4711, "name": "java", "oom_score_adj": -500, "container": drifted}, **verdict)]}


def events_of(tmp_path):
    found = ks.parse_text(LOG, killers=ks.KILLERS, ref_time=REF)
    names = ContainerNames(str(tmp_path))
    for event in found:  # as oom_events_info labels them
        event["container"] = names.label(container_of(event["cgroup"]), event["name"])
    return found


def report_of(record):
    return _report.build_report([record], generated_at="2026-12-02T11:00:00Z", events_since="7d")


def test_every_format_names_the_pod_and_container_of_victims_kills_and_drift(tmp_path, utc):  # noqa: E501  pylint: disable=unused-argument
    label = labelled(tmp_path)
    record = node_record(tmp_path, events_of(tmp_path), label)
    report = report_of(record)
    document = json.loads(_render.render_json(report))
    with open(SCHEMA_PATH) as handle:
        jsonschema.Draft202012Validator(json.load(handle)).validate(document)
    host = document["hosts"][0]
    (event,) = host["events"]
    assert (event["container"]["runtime"], event["container"]["name"], event["container"]["pod"],
            event["container"]["qos"]) == ("containerd", "web", "shop/web-7f9c", "burstable")
    assert host["kill_order"][0]["container"]["pod"] == "shop/web-7f9c" and host["kill_order"][1]["container"] is None
    assert host["pod_drift"][0]["expected_oom_score_adj"] == -997 and report["summary"]["pod_drift"] == 1

    (line,) = [line for line in _console.summary_lines(report) if "node7" in line]
    assert "1 pod process not at kubelet's value" in line
    assert "next victim #1 java (pid 9950, 25.00% of memory, oom_score_adj 968, container web of pod " \
           "shop/web-7f9c (containerd, burstable))" in line
    assert _text.victim_line(report["hosts"][0]["kill_order"][0]).startswith(
        "#1 java (pid 9950, container web of pod shop/web-7f9c (containerd, burstable), oom_score 1500)")

    suite = ET.fromstring(_junit.render_junit(report)).find("testsuite")
    (case,) = [c for c in suite.findall("testcase") if c.get("name").startswith("pod-drift:")]
    assert case.get("name") == "pod-drift:shop/web-7f9c:web[4711]"
    assert case.find("failure").get("message") == (
        "java (pid 4711) in container web of pod shop/web-7f9c (containerd, guaranteed) runs at oom_score_adj -500; "
        "kubelet gives it -997 (Guaranteed; -998 before Kubernetes 1.20)")
    assert "in container web of pod shop/web-7f9c (containerd, burstable)" in suite.find("system-out").text

    page = _render.render_html(report)
    assert "Pod containers not at kubelet's value" in page
    assert page.count("container web of pod shop/web-7f9c (containerd, burstable)") == 3  # victim, fleet kill, host kill
    assert "None" not in page

    prom = _prometheus.render_prometheus(report["hosts"][0])
    assert "oomguard_pod_drift 1" in prom
    assert 'oomguard_recent_container_oom_kills{killer="kernel",runtime="containerd",pod="shop/web-7f9c",' \
           'container="web"} 1' in prom
    victims = [line for line in prom.splitlines() if line.startswith("oomguard_next_victim_oom_score{")]
    assert any('container="web"' in v and 'pod="shop/web-7f9c"' in v and 'pid="9950"' in v for v in victims)
    assert any('container=""' in v and 'pod=""' in v and 'pid="812"' in v for v in victims)


def test_a_merged_report_keeps_the_labels_and_an_old_report_has_none(tmp_path, utc):  # noqa: E501  pylint: disable=unused-argument
    label = labelled(tmp_path)
    report = report_of(node_record(tmp_path, events_of(tmp_path), label))
    document = json.loads(_render.render_json(report))
    old = json.loads(_render.render_json(report))
    old["hosts"][0]["name"] = "old1"
    for entry in old["hosts"][0]["kill_order"] + old["hosts"][0]["events"]:
        entry.pop("container")
    old["hosts"][0].pop("pod_drift")
    merged, _notes = _report_merge.merge_reports([("node7.json", document), ("old1.json", old)])
    hosts = dict((h["name"], h) for h in merged["hosts"])
    assert hosts["node7"]["events"][0]["container"]["pod"] == "shop/web-7f9c"
    assert hosts["node7"]["pod_drift"][0]["pid"] == 4711
    assert hosts["old1"]["events"][0]["container"] is None and hosts["old1"]["pod_drift"] == []
    with open(SCHEMA_PATH) as handle:
        jsonschema.Draft202012Validator(json.load(handle)).validate(json.loads(_render.render_json(merged)))
