# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Names of containers and pods from the runtimes' own files on the host (standard library only).

`_model.containers.container_of()` says from a cgroup path which runtime owns a process and the container's id;
this reader adds what only the runtime's files say, once per container (not per process):

- docker: `var/lib/docker/containers/<id>/config.v2.json` (below `root`): `Name`, `Config.Image`, kubelet's
  labels (`io.kubernetes.pod.*`, `io.kubernetes.docker.type`);
- containerd: `run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json` (also k3s's,
  dockerd's own containerd's and the v1 shim's state dirs): the CRI annotations `io.kubernetes.cri.*`;
- cri-o: `{run,var/lib}/containers/storage/<driver>-containers/<id>/userdata/config.json`: the
  `io.kubernetes.cri-o.*` annotations and kubelet's `io.kubernetes.pod.*` ones;
- podman: `var/lib/containers/storage/<driver>-containers/containers.json` (and `-images/images.json`): `names`,
  the image's name;
- kubelet, for any runtime: `var/log/pods/<namespace>_<pod>_<uid>/` and
  `var/log/containers/<pod>_<namespace>_<container>-<id>.log`: pod and container names;
- lxc, nspawn: the cgroup name itself is the name.

What no file says stays None; an unreadable or malformed file is the same as none (a runtime's files are
not ours to judge). Rootless engines keep their files in users' homes and are not read.
"""

from __future__ import annotations

import glob
import json
import os

from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import refine_role

_CONTAINERD_STATE = (
    "run/containerd/io.containerd.runtime.v2.task",
    "run/k3s/containerd/io.containerd.runtime.v2.task",
    "var/run/docker/containerd/daemon/io.containerd.runtime.v2.task",
    "run/containerd/io.containerd.runtime.v1.linux",
)
_STORAGE_ROOTS = ("run/containers/storage", "var/lib/containers/storage")


def _load_json(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _dict(value):
    return value if isinstance(value, dict) else {}


def _text(value):
    return value if isinstance(value, str) and value else None


def _pod(namespace, name):
    return "%s/%s" % (namespace, name) if _text(namespace) and _text(name) else None


# Where each runtime's bundle annotations keep what (the first key that is set wins): containerd's CRI plugin
# writes its own keys, CRI-O its own and a copy of kubelet's labels.
_ANNOTATIONS = {
    "containerd": {
        "name": ("io.kubernetes.cri.container-name",), "image": ("io.kubernetes.cri.image-name",),
        "namespace": ("io.kubernetes.cri.sandbox-namespace",), "pod": ("io.kubernetes.cri.sandbox-name",),
        "pod_uid": ("io.kubernetes.cri.sandbox-uid",), "type": ("io.kubernetes.cri.container-type",),
    },
    "cri-o": {
        "name": ("io.kubernetes.container.name", "io.kubernetes.cri-o.ContainerName"),
        "image": ("io.kubernetes.cri-o.ImageName",), "namespace": ("io.kubernetes.pod.namespace",),
        "pod": ("io.kubernetes.pod.name",), "pod_uid": ("io.kubernetes.pod.uid",),
        "type": ("io.kubernetes.cri-o.ContainerType",),
    },
}


def _from_annotations(runtime, annotations):
    def first(field):
        for key in _ANNOTATIONS[runtime][field]:
            if _text(annotations.get(key)):
                return annotations[key]
        return None

    return {"runtime": runtime, "name": first("name"), "image": first("image"),
            "pod": _pod(first("namespace"), first("pod")), "pod_uid": first("pod_uid"), "type": first("type")}


class ContainerNames(object):
    """Fills `name`, `pod`, `image` (and `sandbox` roles) of container labels; one read per container."""

    def __init__(self, root="/"):
        self.root = root
        self._meta = {}
        self._pods = None
        self._log_names = None
        self._podman = None

    def _path(self, *parts):
        return os.path.join(self.root, *parts)

    def label(self, base, comm=None):
        """A new label: base (from `_model.containers`) with what the runtime's files say; None stays None."""
        if base is None:
            return None
        label = dict(base)
        if label["id"] is not None and label["role"] != "helper":
            key = (label["runtime"], label["id"])
            if key not in self._meta:
                self._meta[key] = self._read(label["runtime"], label["id"])
            meta = self._meta[key]
            for field in ("name", "pod", "image"):
                if meta.get(field) is not None:
                    label[field] = meta[field]
            if meta.get("runtime") and label["runtime"] == "kubepods":
                label["runtime"] = meta["runtime"]
            if meta.get("pod_uid") and label["pod_uid"] is None:
                label["pod_uid"] = meta["pod_uid"]
            container_type = meta.get("type")
        else:
            container_type = None
        if label["pod"] is None and label["pod_uid"] is not None:
            label["pod"] = self._pod_names().get(label["pod_uid"])
        return refine_role(label, comm, container_type)

    def _read(self, runtime, cid):
        readers = {
            "docker": (self._docker,),
            "containerd": (self._containerd,),
            "cri-o": (self._crio,),
            "podman": (self._podman_names,),
            "kubepods": (self._containerd, self._crio, self._docker),
            "lxc": (),
            "nspawn": (),
        }.get(runtime, ())
        meta = {}
        for reader in readers:
            meta = reader(cid) or {}
            if meta:
                break
        if runtime in ("lxc", "nspawn"):
            meta = {"name": cid}
        if meta.get("name") is None and runtime in ("containerd", "cri-o", "kubepods", "docker"):
            meta["name"] = self._log_container_name(cid)
        return meta

    def _log_container_name(self, cid):
        names = self._log_container_names()
        if cid in names:
            return names[cid]
        # kubelet cuts a symlink's name to 255 bytes, which can cut the id at its end.
        found = set(names[key] for key in names if len(key) >= 12 and cid.startswith(key))
        return found.pop() if len(found) == 1 else None

    def _docker(self, cid):
        directory = self._path("var/lib/docker/containers", cid)
        if not os.path.isdir(directory):
            matches = glob.glob(self._path("var/lib/docker/containers", glob.escape(cid) + "*"))
            if len(matches) != 1:
                return None
            directory = matches[0]
        config = _load_json(os.path.join(directory, "config.v2.json"))
        if not isinstance(config, dict):
            return None
        labels = _dict(_dict(config.get("Config")).get("Labels"))
        name = _text(labels.get("io.kubernetes.container.name")) or (_text(config.get("Name")) or "").lstrip("/")
        return {
            "runtime": "docker",
            "name": name or None,
            "image": _text(_dict(config.get("Config")).get("Image")),
            "pod": _pod(labels.get("io.kubernetes.pod.namespace"), labels.get("io.kubernetes.pod.name")),
            "pod_uid": _text(labels.get("io.kubernetes.pod.uid")),
            "type": _text(labels.get("io.kubernetes.docker.type")),
        }

    def _containerd(self, cid):
        for state in _CONTAINERD_STATE:
            for config_path in glob.glob(self._path(state, "*", glob.escape(cid), "config.json")):
                return _from_annotations("containerd", _dict(_dict(_load_json(config_path)).get("annotations")))
        return None

    def _crio(self, cid):
        for storage in _STORAGE_ROOTS:
            for config_path in glob.glob(self._path(storage, "*-containers", glob.escape(cid), "userdata",
                                                    "config.json")):
                annotations = _dict(_dict(_load_json(config_path)).get("annotations"))
                if annotations.get("io.container.manager") == "libpod":
                    continue  # Podman's bundle: its names are in containers.json
                return _from_annotations("cri-o", annotations)
        return None

    def _podman_names(self, cid):
        if self._podman is None:
            self._podman = {}
            images = {}
            for images_json in glob.glob(self._path("var/lib/containers/storage", "*-images", "images.json")):
                for image in _load_json(images_json) or []:
                    if isinstance(image, dict) and _text(image.get("id")) and image.get("names"):
                        images[image["id"]] = image["names"][0]
            for containers_json in glob.glob(self._path("var/lib/containers/storage", "*-containers",
                                                        "containers.json")):
                for entry in _load_json(containers_json) or []:
                    if not isinstance(entry, dict) or not _text(entry.get("id")):
                        continue
                    names = entry.get("names") if isinstance(entry.get("names"), list) else []
                    image = _text(entry.get("image"))
                    self._podman[entry["id"]] = {
                        "runtime": "podman",
                        "name": _text(names[0]) if names else None,
                        "image": images.get(image, image),
                    }
        meta = self._podman.get(cid)
        if meta is None:
            matches = [key for key in self._podman if key.startswith(cid)]
            meta = self._podman[matches[0]] if len(matches) == 1 else None
        return meta

    def _pod_names(self):
        """kubelet's pod log directories: {pod uid: "namespace/name"} (any runtime)."""
        if self._pods is None:
            self._pods = {}
            try:
                entries = os.listdir(self._path("var/log/pods"))
            except OSError:
                entries = []
            for entry in entries:
                parts = entry.split("_")
                if len(parts) == 3 and all(parts):
                    self._pods[parts[2]] = "%s/%s" % (parts[0], parts[1])
        return self._pods

    def _log_container_names(self):
        """kubelet's container log symlinks: {container id: container name}."""
        if self._log_names is None:
            self._log_names = {}
            try:
                entries = os.listdir(self._path("var/log/containers"))
            except OSError:
                entries = []
            for entry in entries:
                if not entry.endswith(".log"):
                    continue
                stem, _sep, cid = entry[:-len(".log")].rpartition("-")
                parts = stem.split("_")
                if len(parts) == 3 and cid:
                    self._log_names[cid] = parts[2]
        return self._log_names
