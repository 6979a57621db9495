# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""What kubelet's QoS policy gives a pod container's processes, and whether a live value still is that
(pure functions, no I/O).

kubelet (pkg/kubelet/qos/policy.go) hands each container a value through the CRI when the container starts,
and nothing re-applies it to a running container, so a value changed by hand (or by a tool that fought the
runtime) stays wrong until the container restarts:

| what | value |
|---|---|
| Guaranteed pod, and any node-critical pod | -997 (-998 before Kubernetes 1.20) |
| BestEffort pod | 1000 |
| Burstable pod | 1000 - 1000 * memory request / node capacity, kept within 3..999 (2..999 before 1.20) |
| the pod's pause (sandbox) container | -998, set by the container runtime (containerd, CRI-O, dockershim) |

A Burstable container's exact value needs its memory request, which only the API server knows, so it is
judged by the range; a node-critical pod (system-node-critical) gets -997 whatever its QoS class, so -997 is
accepted in every class. A process inside a container may also set its own value (a workload that makes its
workers expendable): the result says so.
"""

from __future__ import annotations

GUARANTEED = (-997, -998)
BESTEFFORT = 1000
BURSTABLE = (2, 999)
SANDBOX = -998
NODE_CRITICAL = -997


def expectation(label):
    """(values allowed as a sorted tuple or None, (low, high) range or None, text) for a pod container's
    processes; None when kubelet's policy does not apply (not in a pod, a runtime helper, no QoS class)."""
    if label is None or label.get("pod_uid") is None or label.get("role") == "helper":
        return None
    if label.get("role") == "sandbox":
        return (SANDBOX,), None, "%d (the pod's sandbox, set by its runtime)" % SANDBOX
    qos = label.get("qos")
    if qos == "guaranteed":
        return GUARANTEED, None, "-997 (Guaranteed; -998 before Kubernetes 1.20)"
    if qos == "besteffort":
        return (BESTEFFORT, NODE_CRITICAL), None, "1000 (BestEffort; -997 for a node-critical pod)"
    if qos == "burstable":
        return (NODE_CRITICAL,), BURSTABLE, ("3..999 (Burstable: 1000 - 1000 * memory request / node memory; "
                                             "-997 for a node-critical pod)")
    return None


def judge(label, value):
    """None when value is what kubelet's policy gives (or the policy does not apply, or value is unknown);
    else {"expected": text, "expected_oom_score_adj": the one value it should be, or None for a range}."""
    found = expectation(label)
    if found is None or value is None:
        return None
    values, span, text = found
    if value in values or (span is not None and span[0] <= value <= span[1]):
        return None
    exact = None
    if span is None:
        exact = values[0]
    return {"expected": text, "expected_oom_score_adj": exact}
