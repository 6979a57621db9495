# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj never fights a container runtime: processes in containers and pods are left to their runtime
unless a rule says `containers: include`/`only`, runtime helpers only move when named by pid, runtime daemons
only by pid or unit. Fake /proc trees with each runtime's cgroup shapes (the real side: Podman containers in
tests/integration/test_containers_live.py)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.oomguard.fleet.plugins.modules import oom_score_adj

from modrun import run_module

CID = "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
UID = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
POD_CGROUP = ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
              % (UID.replace("-", "_"), CID))


@pytest.fixture
def node(fakeproc):
    """A Kubernetes node with a host java, a java in a pod, containerd with a shim, kubelet, and a Podman
    container with its conmon, on a hybrid host (the memory line tells)."""
    fakeproc.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
    fakeproc.add(10, name=b"java", cgroup="/system.slice/batch.service")
    fakeproc.add(20, name=b"java", oom_score_adj=968, cgroup=POD_CGROUP)
    fakeproc.add(30, name=b"containerd", oom_score_adj=-999, cgroup="/system.slice/containerd.service")
    fakeproc.add(31, name=b"containerd-shim", oom_score_adj=-998, cgroup="/system.slice/containerd.service")
    fakeproc.add(40, name=b"kubelet", oom_score_adj=-999, cgroup="/system.slice/kubelet.service")
    fakeproc.add(50, name=b"java", cgroup_text=(
        "4:memory:/machine.slice/libpod-%s.scope\n1:name=systemd:/user.slice/user-0.slice/session-1.scope\n0::/\n"
        % CID))
    fakeproc.add(51, name=b"conmon", oom_score_adj=-1000, cgroup="/machine.slice/libpod-conmon-%s.scope" % CID)
    # The runtime's own files name the pod's container (containerd's CRI annotations beside the proc root).
    bundle = os.path.join(os.path.dirname(fakeproc.root),
                          "run/containerd/io.containerd.runtime.v2.task/k8s.io/%s" % CID)
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as handle:
        json.dump({"annotations": {"io.kubernetes.cri.container-name": "web",
                                   "io.kubernetes.cri.sandbox-name": "web-7f9c",
                                   "io.kubernetes.cri.sandbox-namespace": "shop"}}, handle)
    return fakeproc


def adjust(node, check_mode=False, **args):
    args.setdefault("proc_path", node.root)
    return run_module(oom_score_adj.main, args, check_mode=check_mode)


def read_adj(node, pid):
    with open("%s/%d/oom_score_adj" % (node.root, pid)) as handle:
        return int(handle.read().split()[0])


def test_a_name_rule_changes_the_hosts_twin_and_leaves_the_containers_to_their_runtime(node):
    result, failed = adjust(node, name="java", value=300)
    assert not failed, result.get("msg")
    assert [(c["pid"], c["after"]) for c in result["changes"]] == [(10, 300)]
    reasons = dict((e["pid"], e["reason"]) for e in result["excluded"])
    assert sorted(reasons) == [20, 50]
    assert reasons[20].startswith("managed by containerd (container web, pod shop/web-7f9c): "), reasons[20]
    assert reasons[50].startswith("managed by podman (container %s): " % CID[:12]), reasons[50]
    assert "containers: include" in reasons[20]
    assert (read_adj(node, 10), read_adj(node, 20), read_adj(node, 50)) == (300, 968, 0)
    assert result["matched"] == 1


def test_containers_include_changes_them_and_only_changes_nothing_else(node):
    result, failed = adjust(node, rules=[{"name": "java", "value": 300, "containers": "include"}])
    assert not failed, result.get("msg")
    assert sorted(c["pid"] for c in result["changes"]) == [10, 20, 50]
    assert result["excluded"] == []
    result, failed = adjust(node, name="java", value=400, containers="only")
    assert not failed, result.get("msg")
    assert sorted(c["pid"] for c in result["changes"]) == [20, 50]
    assert (read_adj(node, 10), read_adj(node, 20), read_adj(node, 50)) == (300, 400, 400)


def test_check_mode_predicts_the_same_and_writes_nothing(node):
    before = node.digest()
    result, failed = adjust(node, check_mode=True, name="java", value=300)
    assert not failed
    assert [c["pid"] for c in result["changes"]] == [10]
    assert sorted(e["pid"] for e in result["excluded"]) == [20, 50]
    assert node.digest() == before


def test_runtime_helpers_move_only_when_named_by_pid(node):
    result, failed = adjust(node, rules=[{"name_pattern": "^(conmon|containerd-shim)$", "value": 0,
                                          "containers": "include"}], on_no_match="ignore")
    assert not failed, result.get("msg")
    assert result["changes"] == []
    reasons = dict((e["pid"], e["reason"]) for e in result["excluded"])
    assert sorted(reasons) == [31, 51] and all("name it by pid" in r for r in reasons.values()), reasons
    assert "a helper of podman" in reasons[51]
    result, failed = adjust(node, pid=51, value=0)
    assert not failed, result.get("msg")
    assert read_adj(node, 51) == 0


def test_runtime_daemons_move_only_by_pid_or_unit(node):
    result, failed = adjust(node, name_pattern="^(kubelet|containerd)$", value=-500, on_no_match="ignore")
    assert not failed
    assert result["changes"] == []
    reasons = dict((e["pid"], e["reason"]) for e in result["excluded"])
    assert sorted(reasons) == [30, 40]
    assert all(r.startswith("a container runtime daemon: protect it through its unit") for r in reasons.values())
    result, failed = adjust(node, unit="containerd.service", value=-500)
    assert not failed, result.get("msg")
    # The daemon moves with its unit; its shim, in the same unit, keeps the runtime's value.
    assert [c["pid"] for c in result["changes"]] == [30]
    assert [e["pid"] for e in result["excluded"]] == [31]
    assert (read_adj(node, 30), read_adj(node, 31)) == (-500, -998)


def test_an_earlier_rule_that_includes_containers_still_wins_over_a_later_one_that_does_not(node):
    result, failed = adjust(node, rules=[{"pid": 20, "value": 500, "containers": "include"},
                                         {"name": "java", "value": 300}])
    assert not failed, result.get("msg")
    assert sorted((c["pid"], c["after"]) for c in result["changes"]) == [(10, 300), (20, 500)]
    assert [e["pid"] for e in result["excluded"]] == [50]


def test_containers_with_rules_is_a_one_line_error_that_changes_nothing(node):
    before = node.digest()
    result, failed = adjust(node, rules=[{"name": "java", "value": 300}], containers="include")
    assert failed
    assert "rules" in result["msg"] and "containers" in result["msg"] and "\n" not in result["msg"]
    result, failed = adjust(node, rules=[{"name": "java", "value": 300, "containers": "some"}])
    assert failed and "containers" in result["msg"] and "\n" not in result["msg"]
    assert node.digest() == before


def test_runtime_given_negative_values_in_containers_are_no_leaks_and_are_never_reset(node):
    from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_leaks

    node.add(60, name=b"java", oom_score_adj=-997, cgroup=POD_CGROUP.replace(CID, "a" * 64))
    node.add(61, name=b"pause", oom_score_adj=-998, cgroup=POD_CGROUP.replace(CID, "b" * 64))
    node.add(70, name=b"bash", ppid=1, oom_score_adj=-900, cgroup="/user.slice/user-0.slice/session-4.scope")
    before = node.digest()
    result, failed = run_module(oom_protection_leaks.main, {"proc_path": node.root, "reset_to": 0})
    assert not failed, result.get("msg")
    # The session's bash leaked; the pod's -997 and -998 and conmon's -1000 are their runtime's.
    assert [leak["pid"] for leak in result["leaks"]] == [70]
    assert [entry["pid"] for entry in result["reset"]] == [70]
    assert (read_adj(node, 51), read_adj(node, 60), read_adj(node, 61)) == (-1000, -997, -998)
    assert node.digest() != before


def test_on_a_host_that_is_itself_a_container_its_own_processes_are_the_hosts(node):
    """oomguard run inside the Podman container (the fleet's container hosts): that container's processes are
    this host's to change and can leak; the pod's container, another owner's, is still left alone."""
    node._write("self/cgroup", "4:memory:/machine.slice/libpod-%s.scope\n0::/\n" % CID)
    result, failed = adjust(node, name="java", value=300)
    assert not failed, result.get("msg")
    assert sorted(c["pid"] for c in result["changes"]) == [10, 50]
    assert [e["pid"] for e in result["excluded"]] == [20]
    from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_leaks

    node.add(52, name=b"bash", ppid=1, oom_score_adj=-900, cgroup_text=(
        "4:memory:/machine.slice/libpod-%s.scope\n0::/\n" % CID))
    node.add(21, name=b"java", oom_score_adj=-997, cgroup=POD_CGROUP)
    result, failed = run_module(oom_protection_leaks.main, {"proc_path": node.root})
    assert not failed, result.get("msg")
    # This host's own bash leaked; the pod's -997 and conmon's -1000 stay their runtimes'.
    assert [leak["pid"] for leak in result["leaks"]] == [52]
