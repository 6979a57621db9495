# -*- coding: utf-8 -*-
"""Container and pod names from the runtimes' own files, in fake host trees laid out as each runtime writes
them (the real-runtime side is tested with Podman on the integration machine and the guests)."""

from __future__ import annotations

import json
import os

from ansible_collections.oomguard.fleet.plugins.module_utils._host.container_names import ContainerNames
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of

ID = "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
PAUSE_ID = "9d1c0b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c"
UID = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
UID_ = UID.replace("-", "_")


def _write(root, relative, content):
    path = os.path.join(str(root), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content if isinstance(content, str) else json.dumps(content))
    return path


def test_docker_names_image_and_compose_container(tmp_path):
    _write(tmp_path, "var/lib/docker/containers/%s/config.v2.json" % ID,
           {"Name": "/shop-web-1", "Config": {"Image": "nginx:1.25", "Labels": {"com.docker.compose.service": "web"}}})
    names = ContainerNames(str(tmp_path))
    label = names.label(container_of("0::/system.slice/docker-%s.scope" % ID))
    assert (label["runtime"], label["id"], label["name"], label["image"], label["pod"], label["role"]) == \
        ("docker", ID, "shop-web-1", "nginx:1.25", None, "workload")
    # A short id (as `docker ps` and some logs print it) finds the one directory it starts.
    assert names.label(container_of("/docker/" + ID[:12]))["name"] == "shop-web-1"


def test_dockershim_pod_labels_and_its_sandbox(tmp_path):
    labels = {"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-7f9c",
              "io.kubernetes.pod.uid": UID, "io.kubernetes.container.name": "web",
              "io.kubernetes.docker.type": "container"}
    _write(tmp_path, "var/lib/docker/containers/%s/config.v2.json" % ID,
           {"Name": "/k8s_web_web-7f9c_shop_%s_0" % UID, "Config": {"Image": "shop/web:2", "Labels": labels}})
    sandbox_labels = dict(labels)
    sandbox_labels.update({"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD"})
    _write(tmp_path, "var/lib/docker/containers/%s/config.v2.json" % PAUSE_ID,
           {"Name": "/k8s_POD_web-7f9c_shop_%s_0" % UID,
            "Config": {"Image": "registry.k8s.io/pause:3.9", "Labels": sandbox_labels}})
    names = ContainerNames(str(tmp_path))
    work = names.label(container_of("/kubepods/burstable/pod%s/%s" % (UID, ID)))
    assert (work["runtime"], work["name"], work["pod"], work["pod_uid"], work["qos"], work["role"]) == \
        ("docker", "web", "shop/web-7f9c", UID, "burstable", "workload")
    pause = names.label(container_of("/kubepods/burstable/pod%s/%s" % (UID, PAUSE_ID)))
    assert pause["role"] == "sandbox" and pause["image"] == "registry.k8s.io/pause:3.9"


def test_containerd_cri_annotations(tmp_path):
    annotations = {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "web",
                   "io.kubernetes.cri.sandbox-name": "web-7f9c", "io.kubernetes.cri.sandbox-namespace": "shop",
                   "io.kubernetes.cri.sandbox-uid": UID, "io.kubernetes.cri.image-name": "shop/web:2"}
    _write(tmp_path, "run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json" % ID,
           {"ociVersion": "1.1.0", "annotations": annotations})
    _write(tmp_path, "run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json" % PAUSE_ID,
           {"annotations": {"io.kubernetes.cri.container-type": "sandbox",
                            "io.kubernetes.cri.sandbox-name": "web-7f9c",
                            "io.kubernetes.cri.sandbox-namespace": "shop"}})
    names = ContainerNames(str(tmp_path))
    path = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope"
    work = names.label(container_of(path % (UID_, ID)))
    assert (work["runtime"], work["name"], work["pod"], work["image"], work["role"]) == \
        ("containerd", "web", "shop/web-7f9c", "shop/web:2", "workload")
    assert names.label(container_of(path % (UID_, PAUSE_ID)))["role"] == "sandbox"
    # cgroupfs driver: the path does not show the engine, containerd's state dir does.
    bare = names.label(container_of("/kubepods/burstable/pod%s/%s" % (UID, ID)))
    assert (bare["runtime"], bare["name"]) == ("containerd", "web")


def test_k3s_containerd_state_dir(tmp_path):
    _write(tmp_path, "run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json" % ID,
           {"annotations": {"io.kubernetes.cri.container-name": "traefik"}})
    label = ContainerNames(str(tmp_path)).label(container_of("/kubepods/besteffort/pod%s/%s" % (UID, ID)))
    assert (label["runtime"], label["name"], label["qos"]) == ("containerd", "traefik", "besteffort")


def test_crio_annotations_and_a_podman_bundle_is_not_crio(tmp_path):
    _write(tmp_path, "run/containers/storage/overlay-containers/%s/userdata/config.json" % ID,
           {"annotations": {"io.kubernetes.cri-o.ContainerType": "container", "io.kubernetes.container.name": "db",
                            "io.kubernetes.pod.name": "db-0", "io.kubernetes.pod.namespace": "data",
                            "io.kubernetes.cri-o.ImageName": "postgres:16", "io.container.manager": "cri-o"}})
    names = ContainerNames(str(tmp_path))
    label = names.label(container_of("0::/kubepods.slice/kubepods-pod%s.slice/crio-%s.scope" % (UID_, ID)))
    assert (label["name"], label["pod"], label["image"], label["qos"]) == ("db", "data/db-0", "postgres:16",
                                                                           "guaranteed")
    _write(tmp_path, "var/lib/containers/storage/overlay-containers/%s/userdata/config.json" % PAUSE_ID,
           {"annotations": {"io.container.manager": "libpod"}})
    assert names._crio(PAUSE_ID) is None


def test_podman_names_and_image_from_c_storage(tmp_path):
    image_id = "a" * 64
    _write(tmp_path, "var/lib/containers/storage/overlay-containers/containers.json",
           [{"id": ID, "names": ["web"], "image": image_id, "metadata": "{}"}, {"id": "broken"}, "junk"])
    _write(tmp_path, "var/lib/containers/storage/overlay-images/images.json",
           [{"id": image_id, "names": ["localhost/shop-web:latest"]}])
    names = ContainerNames(str(tmp_path))
    label = names.label(container_of("0::/machine.slice/libpod-%s.scope/container" % ID))
    assert (label["runtime"], label["name"], label["image"]) == ("podman", "web", "localhost/shop-web:latest")
    assert names.label(container_of("/libpod_parent/libpod-%s" % ID[:12]))["name"] == "web"


def test_kubelet_log_dirs_name_pods_and_containers_for_any_runtime(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), "var/log/pods/shop_web-7f9c_%s/web" % UID))
    os.makedirs(os.path.join(str(tmp_path), "var/log/containers"))
    # kubelet cuts the symlink's name to 255 bytes: here the id lost its tail.
    _write(tmp_path, "var/log/containers/web-7f9c_shop_web-%s.log" % ID[:40], "")
    label = ContainerNames(str(tmp_path)).label(
        container_of("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/crio-%s.scope"
                     % (UID_, ID)))
    assert (label["name"], label["pod"], label["pod_uid"]) == ("web", "shop/web-7f9c", UID)


def test_lxc_and_nspawn_names_are_the_cgroup_names_and_helpers_get_none(tmp_path):
    names = ContainerNames(str(tmp_path))
    assert names.label(container_of("0::/lxc.payload.web1"))["name"] == "web1"
    assert names.label(container_of("0::/machine.slice/machine-build\\x2dbox.scope/payload"))["name"] == "build-box"
    conmon = names.label(container_of("0::/machine.slice/libpod-conmon-%s.scope" % ID))
    assert (conmon["role"], conmon["id"], conmon["name"]) == ("helper", None, None)
    assert names.label(None) is None


def test_missing_or_malformed_files_leave_names_unknown(tmp_path):
    _write(tmp_path, "var/lib/docker/containers/%s/config.v2.json" % ID, "{not json")
    names = ContainerNames(str(tmp_path))
    label = names.label(container_of("/docker/" + ID))
    assert (label["runtime"], label["id"], label["name"], label["image"]) == ("docker", ID, None, None)
    assert ContainerNames(str(tmp_path / "nothing")).label(container_of("/kubepods/pod%s/%s" % (UID, ID)))["name"] is None


def test_each_container_is_read_once_whatever_the_number_of_its_processes(tmp_path, monkeypatch):
    _write(tmp_path, "var/lib/docker/containers/%s/config.v2.json" % ID, {"Name": "/web", "Config": {}})
    names = ContainerNames(str(tmp_path))
    reads = []
    original = names._docker
    monkeypatch.setattr(names, "_docker", lambda cid: reads.append(cid) or original(cid))
    for _pid in range(50):
        assert names.label(container_of("/docker/" + ID))["name"] == "web"
    assert reads == [ID]
