# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Which container, pod and runtime a cgroup path belongs to (pure functions, no I/O).

A container runtime or kubelet owns the `oom_score_adj` and the cgroup of what it starts; the path alone says
whose it is. `container_of(path)` turns one cgroup path, in any of the forms it is printed in, into a label:

    {"runtime": "docker" | "podman" | "containerd" | "cri-o" | "lxc" | "nspawn" | "kubepods",
     "id": full id or name from the path (None for a runtime's own helper: conmon, an LXC monitor),
     "pod_uid": the Kubernetes pod uid with dashes (a 32-hex static-pod uid as it is), or None,
     "qos": "guaranteed" | "burstable" | "besteffort" | None,
     "role": "workload" | "helper",
     "name": None, "pod": None, "image": None}

or None outside containers. `name`, `pod` and `image` come from the runtime's own files, which this module
does not read; `role` becomes "sandbox" only when metadata or the process name say so (`refine_role`).

Paths are accepted as /proc/PID/cgroup lines (`0::/x`, `4:memory:/x`: split on the first two colons only,
the path may hold one), as the kernel's OOM report prints them (`task_memcg=`, `oom_memcg=`, `cpuset=`), as
cgroupfs paths (`/sys/fs/cgroup[/<v1 controller>]/.../memory.max`) and with systemd's or a tool's escaping
(`\\x2d`, `\\:`). The components are read from the deepest to the root and the first owner found wins (the
innermost one: Docker in LXC, kind). `container_of_lines()` takes a whole /proc/PID/cgroup file: on a hybrid
host a container match on a v1 controller (memory first) wins over the name=systemd and unified lines.
Python >= 3.8, standard library only.
"""

from __future__ import annotations

import re

RUNTIMES = ("docker", "podman", "containerd", "cri-o", "lxc", "nspawn", "kubepods")
ROLES = ("workload", "sandbox", "helper")
QOS_CLASSES = ("guaranteed", "burstable", "besteffort")

_HEX_ID = re.compile(r"^[0-9a-f]{12,64}$")
# A Kubernetes pod component: systemd driver (`kubepods-burstable-pod<uid_>.slice`, kind's
# `kubelet-kubepods-...`, Guaranteed `kubepods-pod<uid_>.slice`; also before a `:` of a misconfigured
# runtime), the 1.5-alpha `BestEffort-pod<uid>.slice`, or cgroupfs `pod<uid>` below kubepods/<qos>.
_POD_SLICE = re.compile(r"^(?:[A-Za-z0-9_.]+-)?kubepods(?:-(burstable|besteffort))?-pod([0-9a-fA-F_-]+)\.slice$")
_POD_LEGACY = re.compile(r"^(BestEffort|Burstable)-pod([0-9a-fA-F_-]+)\.slice$")
_POD_DIR = re.compile(r"^pod([0-9a-fA-F_-]+)$")
_POD_PARENTS = ("kubepods", "burstable", "besteffort")
# `<parent slice>:<runtime prefix>:<id>`: the cgroup a systemd-driver runtime asked a cgroupfs one for.
_SYSTEMD_TRIPLE = re.compile(r"^[^:]+\.slice:(cri-containerd|crio|docker|libpod):([^:]+)$")
_TRIPLE_RUNTIME = {"cri-containerd": "containerd", "crio": "cri-o", "docker": "docker", "libpod": "podman"}
# Scope/cgroup prefixes, longest first where one is the start of another.
_PREFIXES = (
    ("libpod-conmon-", "podman", True),
    ("libpod-payload-", "podman", False),
    ("libpod-", "podman", False),
    ("crio-conmon-", "cri-o", True),
    ("crio-", "cri-o", False),
    ("cri-containerd-", "containerd", False),
    ("docker-", "docker", False),
)
_V1_CONTROLLERS = frozenset((
    "memory", "cpu", "cpuacct", "cpuset", "blkio", "io", "devices", "freezer", "net_cls", "net_prio",
    "perf_event", "hugetlb", "pids", "rdma", "misc", "systemd", "unified", "elogind",
))
_CGROUP_FILE = re.compile(r"^(?:tasks|cgroup\.[a-z_.]+|(?:memory|pids|cpu|io|cpuset|hugetlb|rdma|misc)\.[A-Za-z0-9_.]+)$")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text):
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("\\:", ":")


def components(path):
    """One printed cgroup path -> its components, root first (normalised as the module docstring says)."""
    if path is None:
        return []
    text = path.strip()
    for prefix in ("task_memcg=", "oom_memcg=", "cpuset=", "memcg="):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    if not text.startswith("/") and ":" in text:
        head, sep, rest = text.partition(":")
        if head.isdigit() and sep:
            # A /proc/PID/cgroup line: hierarchy id, controllers, then the path (which may hold ':').
            text = rest.partition(":")[2]
    parts = [_unescape(p) for p in text.split("/") if p and p != "." and p != ".."]
    if text.startswith("/sys/fs/cgroup/") and parts[:3] == ["sys", "fs", "cgroup"]:
        parts = parts[3:]
        if parts and (parts[0] in _V1_CONTROLLERS or "," in parts[0] or parts[0].startswith("name=")):
            parts = parts[1:]
    if parts and _CGROUP_FILE.match(parts[-1]):
        parts = parts[:-1]
    return parts


def _label(runtime, cid, role="workload"):
    return {"runtime": runtime, "id": cid, "pod_uid": None, "qos": None, "role": role,
            "name": None, "pod": None, "image": None}


def _pod_of(parts):
    """(pod uid with dashes, qos) of the innermost pod component of parts, or (None, None)."""
    for index in range(len(parts) - 1, -1, -1):
        found = _pod_at(parts, index)
        if found:
            return found
    return None, None


def _pod_at(parts, index):
    part = parts[index].partition(":")[0]
    match = _POD_SLICE.match(part)
    if match:
        return _uid(match.group(2)), match.group(1) or "guaranteed"
    match = _POD_LEGACY.match(part)
    if match:
        return _uid(match.group(2)), match.group(1).lower()
    match = _POD_DIR.match(part)
    if match and index > 0 and parts[index - 1] in _POD_PARENTS:
        parent = parts[index - 1]
        return _uid(match.group(1)), parent if parent != "kubepods" else "guaranteed"
    return None


def _uid(text):
    if re.match(r"^[0-9a-fA-F]{32}$", text):
        return text.lower()  # a static or mirror pod: a config hash, never given dashes
    return text.replace("_", "-").lower()


def _scope_id(part, prefix):
    cid = part[len(prefix):]
    for suffix in (".scope", ".service"):
        if cid.endswith(suffix):
            cid = cid[:-len(suffix)]
    return cid or None


def _match(parts, index):
    """The owner named by parts[index] (with its parents as context), or None."""
    part = parts[index]
    parent = parts[index - 1] if index > 0 else None
    triple = _SYSTEMD_TRIPLE.match(part)
    if triple:
        return _label(_TRIPLE_RUNTIME[triple.group(1)], triple.group(2))
    for prefix, runtime, helper in _PREFIXES:
        if part.startswith(prefix) and len(part) > len(prefix):
            if prefix in ("cri-containerd-", "docker-") and not part.endswith(".scope"):
                continue  # docker.service's siblings, containerd's own units: only their scopes are containers
            if helper:
                return _label(runtime, None, "helper")
            return _label(runtime, _scope_id(part, prefix))
    if _HEX_ID.match(part):
        if parent is not None and _pod_at(parts, index - 1):
            return _label("kubepods", part)
        if parent == "docker":
            return _label("docker", part)
    if part == "conmon" and parent == "libpod_parent":
        return _label("podman", None, "helper")
    if part == "buildkit" and parent == "docker":
        return _label("docker", None, "helper")
    if _pod_at(parts, index):
        return _label("kubepods", None)
    match = re.match(r"^(?:machine|user)-libpod_pod_([0-9a-f]+)\.slice$", part)
    if match:
        return _label("podman", None)
    if part.startswith("lxc.payload.") and len(part) > len("lxc.payload."):
        return _label("lxc", part[len("lxc.payload."):])
    if part.startswith("lxc.monitor.") and len(part) > len("lxc.monitor."):
        return _label("lxc", None, "helper")
    if parent in ("lxc", "lxc.payload") and index == 1:
        return _label("lxc", part)
    if parent == "lxc.monitor" and index == 1:
        return _label("lxc", None, "helper")
    if part.startswith("machine-") and part.endswith(".scope"):
        name = part[len("machine-"):-len(".scope")]
        if name and not name.startswith("qemu-") and not name.startswith("libpod_pod_"):
            return _label("nspawn", name)
    if part.startswith("systemd-nspawn@") and part.endswith(".service") and len(part) > 23:
        return _label("nspawn", part[len("systemd-nspawn@"):-len(".service")])
    if (part.endswith(".scope") and parent == "machine.slice" and index >= 2
            and re.match(r"^user@\d+\.service$", parts[index - 2])):
        return _label("nspawn", part[:-len(".scope")])
    return None


def container_of(path):
    """The container label of one printed cgroup path (see the module docstring), or None."""
    parts = components(path)
    for index in range(len(parts) - 1, -1, -1):
        label = _match(parts, index)
        if label is not None:
            if label["runtime"] == "nspawn" and parts[index + 1:index + 2] == ["supervisor"]:
                # systemd-nspawn keeps itself beside the machine's payload: the runtime, not the machine.
                label["id"], label["role"] = None, "helper"
            label["pod_uid"], label["qos"] = _pod_of(parts[:index + 1])
            return label
    return None


def container_of_lines(data):
    """The label of a whole /proc/PID/cgroup file (text or bytes): the first container found, looking at the
    memory controller's line first, then the other v1 lines, then name=systemd and the unified line."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    ranked = []
    for line in data.splitlines():
        hid, sep, rest = line.partition(":")
        if not sep:
            continue
        controllers, _sep, path = rest.partition(":")
        names = controllers.split(",")
        if "memory" in names:
            rank = 0
        elif controllers and not controllers.startswith("name="):
            rank = 1
        else:
            rank = 2
        ranked.append((rank, path))
    ranked.sort(key=lambda item: item[0])
    for _rank, path in ranked:
        label = container_of(path)
        if label is not None:
            return label
    return None


PAUSE_NAMES = frozenset(("pause",))


def refine_role(label, comm=None, container_type=None):
    """`sandbox` for a pod's pause container (the runtime's metadata says `sandbox`/`podsandbox`, or the
    process is `pause` in a pod); the label otherwise unchanged. Returns the label."""
    if label is None or label["role"] == "helper":
        return label
    if container_type in ("sandbox", "podsandbox") or (comm in PAUSE_NAMES and label["pod_uid"] is not None):
        label["role"] = "sandbox"
    return label


def foreign_container(label, own):
    """label, unless it is the container this process runs in (own): then the process is the host's."""
    if label is not None and own is not None and (label["runtime"], label["id"]) == (own["runtime"], own["id"]):
        return None
    return label
