# -*- coding: utf-8 -*-
"""kubelet's QoS policy for pod containers: exact values for Guaranteed, BestEffort and the sandbox, the
Burstable range, node-critical pods, and no judgement outside pods."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import kube_policy as policy
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of

UID_ = "1f2e3d4c_5b6a_4789_8a9b_0c1d2e3f4a5b"
CID = "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
PATHS = {
    "guaranteed": "0::/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%s.scope" % (UID_, CID),
    "burstable": "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
                 % (UID_, CID),
    "besteffort": "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/crio-%s.scope"
                  % (UID_, CID),
}


@pytest.mark.parametrize("qos, value, expected", [
    ("guaranteed", -997, None),
    ("guaranteed", -998, None),  # before Kubernetes 1.20
    ("guaranteed", 0, (-997, "Guaranteed")),
    ("guaranteed", -999, (-997, "Guaranteed")),
    ("besteffort", 1000, None),
    ("besteffort", -997, None),  # node-critical
    ("besteffort", 500, (1000, "BestEffort")),
    ("burstable", 999, None),
    ("burstable", 3, None),
    ("burstable", 2, None),  # the floor before 1.20
    ("burstable", -997, None),  # node-critical
    ("burstable", 1000, (None, "Burstable")),
    ("burstable", -500, (None, "Burstable")),
    ("burstable", 1, (None, "Burstable")),
])
def test_each_qos_class_gets_kubelets_value(qos, value, expected):
    verdict = policy.judge(container_of(PATHS[qos]), value)
    if expected is None:
        assert verdict is None
    else:
        assert verdict["expected_oom_score_adj"] == expected[0]
        assert expected[1] in verdict["expected"]


def test_the_sandbox_is_the_runtimes_minus_998():
    label = dict(container_of(PATHS["burstable"]), role="sandbox")
    assert policy.judge(label, -998) is None
    assert policy.judge(label, 0)["expected_oom_score_adj"] == -998


def test_no_judgement_outside_pods_for_helpers_or_unknown_values():
    assert policy.judge(None, 500) is None
    assert policy.judge(container_of("/docker/" + CID), 500) is None
    conmon = container_of("0::/kubepods.slice/kubepods-pod%s.slice/crio-conmon-%s.scope" % (UID_, CID))
    assert conmon["role"] == "helper" and policy.judge(conmon, -1000) is None
    assert policy.judge(container_of(PATHS["guaranteed"]), None) is None
    # A pod-level cgroup with no QoS word is Guaranteed; the pod's own slice is judged like its containers.
    assert policy.judge(container_of("/kubepods.slice/kubepods-pod%s.slice" % UID_), 0) is not None
