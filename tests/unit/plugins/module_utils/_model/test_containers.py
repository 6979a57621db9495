# -*- coding: utf-8 -*-
"""Every cgroup path shape of the containers facts sheet -> runtime, id, pod uid, QoS and role.

The paths are written as each runtime builds them (sources named in the sheet) and as they appear in
/proc/PID/cgroup, in the kernel's OOM report and under /sys/fs/cgroup; the ids are made up but of the real
lengths (64 hex for containers, 36-character pod uids, 32 hex for static pods).
"""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._model import containers

ID = "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
ID2 = "9d1c0b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c"
UID = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
UID_ = UID.replace("-", "_")
STATIC_UID = "6d8a3e0f2b1c4a5d9e7f8a0b1c2d3e4f"  # a static pod: the hash of its manifest


def _expect(runtime, cid, pod_uid=None, qos=None, role="workload"):
    return {"runtime": runtime, "id": cid, "pod_uid": pod_uid, "qos": qos, "role": role,
            "name": None, "pod": None, "image": None}


CASES = [
    # Docker
    ("docker cgroupfs v1", "/docker/" + ID, _expect("docker", ID)),
    ("docker cgroupfs, /proc line", "9:memory:/docker/" + ID, _expect("docker", ID)),
    ("docker cgroup-parent", "/ci-jobs/docker-" + ID + ".scope", _expect("docker", ID)),
    ("docker systemd v2", "0::/system.slice/docker-" + ID + ".scope", _expect("docker", ID)),
    ("docker rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + ID + ".scope",
     _expect("docker", ID)),
    ("docker truncated id (32 hex, as posted)", "/docker/" + ID[:32], _expect("docker", ID[:32])),
    ("docker short id (12 hex)", "/docker/" + ID[:12], _expect("docker", ID[:12])),
    ("docker redacted id in a scope", "/system.slice/docker-<id>.scope", _expect("docker", "<id>")),
    ("docker buildkit", "/docker/buildkit", _expect("docker", None, role="helper")),
    ("docker daemon is not a container", "0::/system.slice/docker.service", None),
    ("docker socket unit", "/system.slice/docker.socket", None),
    # Podman
    ("podman rootful systemd", "0::/machine.slice/libpod-" + ID + ".scope", _expect("podman", ID)),
    ("podman crun subgroup", "0::/machine.slice/libpod-" + ID + ".scope/container", _expect("podman", ID)),
    ("podman pod member", "0::/machine.slice/machine-libpod_pod_" + ID2 + ".slice/libpod-" + ID + ".scope",
     _expect("podman", ID)),
    ("podman pod slice itself", "/machine.slice/machine-libpod_pod_" + ID2 + ".slice", _expect("podman", None)),
    ("podman rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + ID
     + ".scope/container", _expect("podman", ID)),
    ("podman rootless pod slice", "/user.slice/user-1000.slice/user@1000.service/user.slice/user-libpod_pod_"
     + ID2 + ".slice/libpod-" + ID + ".scope", _expect("podman", ID)),
    ("podman cgroupfs", "/libpod_parent/libpod-" + ID, _expect("podman", ID)),
    ("podman cgroupfs conmon", "/libpod_parent/conmon", _expect("podman", None, role="helper")),
    ("podman conmon scope", "0::/machine.slice/libpod-conmon-" + ID + ".scope",
     _expect("podman", None, role="helper")),
    ("podman split (quadlet) payload", "0::/system.slice/web.service/libpod-payload-" + ID,
     _expect("podman", ID)),
    ("podman split (quadlet) runtime is the unit's", "0::/system.slice/web.service/runtime", None),
    # containerd
    ("containerd CRI systemd burstable",
     "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/cri-containerd-"
     + ID + ".scope", _expect("containerd", ID, UID, "burstable")),
    ("containerd CRI systemd besteffort",
     "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + UID_ + ".slice/cri-containerd-"
     + ID + ".scope", _expect("containerd", ID, UID, "besteffort")),
    ("containerd CRI systemd guaranteed",
     "0::/kubepods.slice/kubepods-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope",
     _expect("containerd", ID, UID, "guaranteed")),
    ("containerd CRI cgroupfs burstable (runtime invisible)", "/kubepods/burstable/pod" + UID + "/" + ID,
     _expect("kubepods", ID, UID, "burstable")),
    ("containerd CRI cgroupfs guaranteed, v1 memory line", "11:memory:/kubepods/pod" + UID + "/" + ID,
     _expect("kubepods", ID, UID, "guaranteed")),
    ("containerd misconfigured systemd/cgroupfs",
     "0::/system.slice/containerd.service/kubepods-burstable-pod" + UID_ + ".slice:cri-containerd:" + ID,
     _expect("containerd", ID, UID, "burstable")),
    ("containerd misconfigured, escaped colons",
     "/system.slice/containerd.service/kubepods-besteffort-pod" + UID_ + ".slice\\:cri-containerd\\:" + ID,
     _expect("containerd", ID, UID, "besteffort")),
    ("containerd daemon and its shims are not containers", "0::/system.slice/containerd.service", None),
    # CRI-O
    ("cri-o systemd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
     + ".slice/crio-" + ID + ".scope", _expect("cri-o", ID, UID, "burstable")),
    ("cri-o systemd with crun", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
     + ".slice/crio-" + ID + ".scope/container", _expect("cri-o", ID, UID, "burstable")),
    ("cri-o conmon in the pod slice", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
     + UID_ + ".slice/crio-conmon-" + ID + ".scope", _expect("cri-o", None, UID, "besteffort", "helper")),
    ("cri-o cgroupfs", "/kubepods/besteffort/pod" + UID + "/crio-" + ID, _expect("cri-o", ID, UID, "besteffort")),
    ("cri-o cgroupfs default parent", "/crio/crio-" + ID, _expect("cri-o", ID)),
    ("cri-o cgroupfs conmon", "/crio/crio-conmon-" + ID, _expect("cri-o", None, role="helper")),
    ("cri-o daemon", "0::/system.slice/crio.service", None),
    # kubelet pods without a visible engine, pod-level cgroups, static pods, kind, k3s
    ("pod-level cgroup (oom_memcg of a pod limit)", "oom_memcg=/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod" + UID_ + ".slice", _expect("kubepods", None, UID, "burstable")),
    ("static pod (32 hex uid, no dashes added)", "0::/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod" + STATIC_UID + ".slice/cri-containerd-" + ID + ".scope",
     _expect("containerd", ID, STATIC_UID, "burstable")),
    ("static pod cgroupfs", "/kubepods/burstable/pod" + STATIC_UID + "/" + ID,
     _expect("kubepods", ID, STATIC_UID, "burstable")),
    ("legacy 1.5-alpha BestEffort slice", "/kubepods.slice/BestEffort-pod" + UID_ + ".slice/" + ID,
     _expect("kubepods", ID, UID, "besteffort")),
    ("kind node inside", "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope",
     _expect("containerd", ID, UID, "besteffort")),
    ("kind / minikube seen from the host: the innermost owner wins", "0::/docker/" + ID2 + "/kubepods.slice/"
     "kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope",
     _expect("containerd", ID, UID, "burstable")),
    ("kind node's own systemd inside the docker container", "0::/docker/" + ID2 + "/init.scope",
     _expect("docker", ID2)),
    ("kubepods qos slice itself is not a pod", "/kubepods.slice/kubepods-burstable.slice", None),
    ("kubelet's own unit", "0::/system.slice/kubelet.service", None),
    ("a vte scope with a uuid is not a pod", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
     "vte-spawn-" + UID + ".scope", None),
    # LXC / LXD / Incus / Proxmox
    ("lxc 4+ payload", "0::/lxc.payload.web1", _expect("lxc", "web1")),
    ("lxc 4+ payload, an attached process", "0::/lxc.payload.web1/.lxc", _expect("lxc", "web1")),
    ("lxc monitor is not the container", "0::/lxc.monitor.web1", _expect("lxc", None, role="helper")),
    ("lxd project", "0::/lxc.payload.prod_web1/system.slice/nginx.service", _expect("lxc", "prod_web1")),
    ("lxc name collision suffix", "/lxc.payload.web1-1", _expect("lxc", "web1-1")),
    ("lxc <=3.0", "4:memory:/lxc/web1", _expect("lxc", "web1")),
    ("proxmox, container's own systemd inside", "0::/lxc/101/ns/system.slice/postgresql.service",
     _expect("lxc", "101")),
    ("lxc 3.1-3.2 payload dir", "/lxc.payload/web1", _expect("lxc", "web1")),
    ("lxc 3.1-3.2 monitor dir", "/lxc.monitor/web1", _expect("lxc", None, role="helper")),
    ("docker inside lxc: innermost wins", "0::/lxc.payload.web1/system.slice/docker-" + ID + ".scope",
     _expect("docker", ID)),
    # systemd-nspawn and what only looks like it
    ("nspawn via machined, escaped name", "0::/machine.slice/machine-build\\x2dbox.scope/payload/system.slice",
     _expect("nspawn", "build-box")),
    ("nspawn's own supervisor beside the payload", "0::/machine.slice/machine-build\\x2dbox.scope/supervisor",
     _expect("nspawn", None, role="helper")),
    ("nspawn --keep-unit template", "0::/machine.slice/systemd-nspawn@debian.service/payload",
     _expect("nspawn", "debian")),
    ("nspawn --user", "0::/user.slice/user-1000.slice/user@1000.service/machine.slice/sid.scope",
     _expect("nspawn", "sid")),
    ("libvirt VM is not a container", "0::/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/vcpu0", None),
    # Not containers at all
    ("a service", "0::/system.slice/ssh.service", None),
    ("a login session", "1:name=systemd:/user.slice/user-0.slice/session-3.scope", None),
    ("the root", "0::/", None),
    ("init", "0::/init.scope", None),
    ("nothing", "", None),
    # Printed forms
    ("kernel OOM report task_memcg", "task_memcg=/system.slice/docker-" + ID + ".scope", _expect("docker", ID)),
    ("kernel OOM report oom_memcg", "oom_memcg=/machine.slice/libpod-" + ID + ".scope/container",
     _expect("podman", ID)),
    ("kernel cpuset= prints the last component only", "cpuset=docker-" + ID + ".scope", _expect("docker", ID)),
    ("kernel cpuset=container says nothing", "cpuset=container", None),
    ("cgroupfs v2 file", "/sys/fs/cgroup/system.slice/docker-" + ID + ".scope/memory.max", _expect("docker", ID)),
    ("cgroupfs v1 memory dir", "/sys/fs/cgroup/memory/docker/" + ID + "/memory.limit_in_bytes",
     _expect("docker", ID)),
    ("cgroupfs v1 joined controllers", "/sys/fs/cgroup/cpu,cpuacct/kubepods/besteffort/pod" + UID + "/" + ID
     + "/tasks", _expect("kubepods", ID, UID, "besteffort")),
    ("cgroup namespace relative path", "0::/../../docker-" + ID + ".scope", _expect("docker", ID)),
]


@pytest.mark.parametrize("path,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_path_shape_is_labelled_as_its_runtime_builds_it(path, expected):
    assert containers.container_of(path) == expected


def test_every_label_uses_the_documented_vocabulary():
    for _name, path, _expected in CASES:
        label = containers.container_of(path)
        if label is None:
            continue
        assert label["runtime"] in containers.RUNTIMES, path
        assert label["role"] in containers.ROLES, path
        assert label["qos"] in containers.QOS_CLASSES + (None,), path
        assert label["pod_uid"] is None or "_" not in label["pod_uid"], path


def _cgroup_file(*lines):
    return "\n".join(lines) + "\n"


def test_a_hybrid_host_labels_by_the_memory_controller_over_name_systemd():
    # ctrsploit#280's shape: v1 controllers in /docker/<id>, the unified line in containerd.service.
    data = _cgroup_file(
        "12:blkio:/docker/" + ID,
        "11:memory:/docker/" + ID,
        "1:name=systemd:/docker/" + ID,
        "0::/system.slice/containerd.service",
    )
    assert containers.container_of_lines(data) == _expect("docker", ID)
    assert containers.container_of_lines(data.encode()) == _expect("docker", ID)


def test_memory_moved_out_of_the_container_still_finds_it_on_another_controller():
    # moby#34220: memory moved to /user.slice, cpuset and freezer stayed in /docker/<id>.
    data = _cgroup_file(
        "10:memory:/user.slice",
        "6:cpuset:/docker/" + ID,
        "4:freezer:/docker/" + ID,
        "1:name=systemd:/user.slice/user-1000.slice/session-2.scope",
    )
    assert containers.container_of_lines(data) == _expect("docker", ID)


def test_the_memory_controller_wins_when_two_controllers_disagree():
    data = _cgroup_file(
        "6:cpuset:/docker/" + ID2,
        "10:memory:/docker/" + ID,
    )
    assert containers.container_of_lines(data)["id"] == ID


def test_a_process_outside_containers_has_no_label_on_v1_v2_and_hybrid_hosts():
    assert containers.container_of_lines("0::/system.slice/ssh.service\n") is None
    assert containers.container_of_lines(_cgroup_file(
        "11:memory:/system.slice/ssh.service", "1:name=systemd:/system.slice/ssh.service", "0::/")) is None
    assert containers.container_of_lines("") is None


def test_the_pause_container_is_a_sandbox_by_metadata_or_by_its_name_in_a_pod():
    path = "0::/kubepods.slice/kubepods-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope"
    assert containers.refine_role(containers.container_of(path), comm="pause")["role"] == "sandbox"
    assert containers.refine_role(containers.container_of(path), container_type="sandbox")["role"] == "sandbox"
    assert containers.refine_role(containers.container_of(path), comm="nginx")["role"] == "workload"
    # A process called pause outside a pod is just a process with that name.
    outside = containers.container_of("/docker/" + ID)
    assert containers.refine_role(outside, comm="pause")["role"] == "workload"
    docker_pod = containers.container_of("/docker/" + ID)
    assert containers.refine_role(docker_pod, container_type="podsandbox")["role"] == "sandbox"
    helper = containers.container_of("0::/machine.slice/libpod-conmon-" + ID + ".scope")
    assert containers.refine_role(helper, comm="pause")["role"] == "helper"
    assert containers.refine_role(None, comm="pause") is None


def test_components_normalise_every_printed_form_the_same_way():
    expected = ["system.slice", "docker-" + ID + ".scope"]
    for form in ("/system.slice/docker-" + ID + ".scope",
                 "0::/system.slice/docker-" + ID + ".scope",
                 "5:memory:/system.slice/docker-" + ID + ".scope",
                 "task_memcg=/system.slice/docker-" + ID + ".scope",
                 "/sys/fs/cgroup/system.slice/docker-" + ID + ".scope/cgroup.procs",
                 "/sys/fs/cgroup/memory/system.slice/docker-" + ID + ".scope/memory.usage_in_bytes",
                 "/sys/fs/cgroup/systemd/system.slice/docker-" + ID + ".scope/tasks"):
        assert containers.components(form) == expected, form
    assert containers.components(None) == []
