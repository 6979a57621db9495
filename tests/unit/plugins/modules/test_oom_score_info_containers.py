# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info on a Kubernetes node's layout (fake /proc and cgroup tree): pod containers are labelled with
pod, QoS and names from the runtime's files, and a pod container whose value is not kubelet's is pod drift
with the expected value; no drift is judged on a host without kubelet's cgroups."""

from __future__ import annotations

import json

from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

from fakeproc import FakeProc
from modrun import run_module

UID_G = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
UID_B = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
C_WEB = "a" * 64
C_PAUSE = "b" * 64
C_JOB = "c" * 64


def node(tmp_path, kubepods=True):
    cgroot = tmp_path / "cgroup"
    cgroot.mkdir()
    if kubepods:
        (cgroot / "kubepods.slice").mkdir()
    fake = FakeProc(tmp_path / "proc", mountinfo="30 1 0:26 / %s rw,nosuid - cgroup2 cgroup2 rw\n" % cgroot)
    fake.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
    guaranteed = "/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%%s.scope" % UID_G.replace("-", "_")
    burstable = ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%%s.scope"
                 % UID_B.replace("-", "_"))
    fake.add(100, name=b"java", oom_score_adj=-500, cgroup=guaranteed % C_WEB)  # changed by hand
    fake.add(101, name=b"pause", oom_score_adj=-998, cgroup=guaranteed % C_PAUSE)
    fake.add(200, name=b"worker", oom_score_adj=900, cgroup=burstable % C_JOB)
    fake.add(201, name=b"worker", oom_score_adj=1000, ppid=200, cgroup=burstable % C_JOB)  # set itself
    fake.add(300, name=b"kubelet", oom_score_adj=-999, cgroup="/system.slice/kubelet.service")
    bundle = tmp_path / "run/containerd/io.containerd.runtime.v2.task/k8s.io"
    for cid, name, kind in ((C_WEB, "web", "container"), (C_PAUSE, None, "sandbox")):
        (bundle / cid).mkdir(parents=True)
        (bundle / cid / "config.json").write_text(json.dumps({"annotations": {
            "io.kubernetes.cri.container-type": kind, "io.kubernetes.cri.container-name": name,
            "io.kubernetes.cri.sandbox-name": "web-7f9c", "io.kubernetes.cri.sandbox-namespace": "shop"}}))
    return fake


def info(fake):
    result, failed = run_module(oom_score_info.main, {"proc_path": fake.root, "top": 10})
    assert not failed, result.get("msg")
    return result


def test_pod_containers_are_labelled_and_a_changed_value_is_drift_with_kubelets_value(tmp_path):
    result = info(node(tmp_path))
    rows = dict((row["pid"], row) for row in result["processes"])
    web = rows[100]["container"]
    assert (web["runtime"], web["qos"], web["pod_uid"], web["name"], web["pod"], web["role"]) == \
        ("containerd", "guaranteed", UID_G, "web", "shop/web-7f9c", "workload")
    assert rows[101]["container"]["role"] == "sandbox"
    assert rows[300]["container"] is None
    drift = dict((entry["pid"], entry) for entry in result["pod_drift"])
    assert sorted(drift) == [100, 201]
    assert drift[100]["expected_oom_score_adj"] == -997 and drift[100]["container"]["name"] == "web"
    assert drift[201]["expected_oom_score_adj"] is None and "Burstable" in drift[201]["expected"]
    # The next victims name their pods too.
    victims = dict((row["pid"], row) for row in result["kill_order"])
    assert victims[201]["container"]["qos"] == "burstable"


def test_no_pod_drift_is_judged_without_kubelets_cgroups(tmp_path):
    result = info(node(tmp_path, kubepods=False))
    assert result["pod_drift"] == []
