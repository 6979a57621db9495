# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throw-away memory cgroups for tests that need the real OOM killer.

`find_memory_controller()` locates the memory controller from /proc/self/mountinfo and /proc/self/cgroup
(cgroup v1 `memory` hierarchy or the v2 unified hierarchy), and `memory_cgroup(limit_bytes)` creates a child
cgroup with a hard limit and no swap, yields it, and removes it again -- killing whatever is still inside.

    with memory_cgroup(64 * 1024 * 1024) as cg:
        proc = subprocess.Popen(...)
        cg.add(proc.pid)

When no usable controller exists (no memory controller, read-only cgroupfs, v2 without delegation), both
raise `MemcgUnavailable` whose message says why; tests turn it into `pytest.skip(str(exc))`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
import uuid

MOUNTINFO = "/proc/self/mountinfo"
CGROUP_FILE = "/proc/self/cgroup"


class MemcgUnavailable(Exception):
    """No memory cgroup can be created here; the message says why."""


class MemoryController:
    """Where the memory controller is and which cgroup of it this process is in.

    `version` is 1 or 2; `mount_point` the directory the hierarchy is mounted on; `cgroup_dir` this process's
    memory cgroup as a directory (the place to create children); `cgroup_path` the same cgroup as the kernel
    names it inside the hierarchy (what OOM reports print as oom_memcg/task_memcg, up to cgroup namespaces).
    """

    def __init__(self, version, mount_point, mount_root, cgroup_path):
        self.version = version
        self.mount_point = mount_point
        self.mount_root = mount_root
        self.cgroup_path = cgroup_path
        rel = cgroup_path
        if mount_root != "/" and (rel == mount_root or rel.startswith(mount_root + "/")):
            rel = rel[len(mount_root):]
        self.cgroup_dir = os.path.normpath(mount_point + "/" + rel.lstrip("/"))

    def __repr__(self):
        return "MemoryController(v%d, %s)" % (self.version, self.cgroup_dir)


def _unescape_mount(field):
    # mountinfo escapes space, tab, newline and backslash as three octal digits (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo):
    """Yield (fstype, mount_point, mount_root, super_options) per mountinfo line."""
    with open(mountinfo) as handle:
        for line in handle:
            left, sep, right = line.rstrip("\n").partition(" - ")
            if not sep:
                continue
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            yield tail[0], _unescape_mount(fields[4]), _unescape_mount(fields[3]), tail[2].split(",")


def _own_cgroups(cgroup_file):
    """{controller or '' (v2): path} from /proc/self/cgroup."""
    result = {}
    with open(cgroup_file) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            for controller in parts[1].split(",") if parts[1] else [""]:
                result[controller] = parts[2]
    return result


def find_memory_controller(mountinfo=MOUNTINFO, cgroup_file=CGROUP_FILE):
    """The memory controller this process is under, or None when the kernel has none mounted.

    A v1 `memory` hierarchy wins over v2 (on hybrid hosts the memory controller lives in v1 and the unified
    mount has no controllers).
    """
    try:
        mounts = list(_mounts(mountinfo))
        own = _own_cgroups(cgroup_file)
    except (IOError, OSError):
        return None
    for fstype, point, root, options in mounts:
        if fstype == "cgroup" and "memory" in options and "memory" in own:
            return MemoryController(1, point, root, own["memory"])
    for fstype, point, root, _options in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        try:
            with open(os.path.join(point, "cgroup.controllers")) as handle:
                controllers = handle.read().split()
        except (IOError, OSError):
            continue
        if "memory" in controllers:
            return MemoryController(2, point, root, own[""])
    return None


def _write(path, value):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read(path):
    with open(path) as handle:
        return handle.read()


class MemoryCgroup:
    """One child memory cgroup: `.path` (directory), `.name`, `.kernel_path` (as the kernel prints it),
    `.limit_bytes`, `.version`; `.add(pid)` moves a process in, `.pids()` lists the processes inside."""

    def __init__(self, controller, parent_dir, parent_kernel_path, limit_bytes):
        self.controller = controller
        self.version = controller.version
        self.limit_bytes = int(limit_bytes)
        self.name = "oomguard-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
        self.path = os.path.join(parent_dir, self.name)
        self.kernel_path = parent_kernel_path.rstrip("/") + "/" + self.name

    def _create(self):
        os.mkdir(self.path)
        if self.version == 1:
            _write(os.path.join(self.path, "memory.limit_in_bytes"), self.limit_bytes)
            # Without these the child would swap instead of hitting the OOM killer (slowly, or never).
            _try_write(os.path.join(self.path, "memory.swappiness"), 0)
            _try_write(os.path.join(self.path, "memory.memsw.limit_in_bytes"), self.limit_bytes)
        else:
            _write(os.path.join(self.path, "memory.max"), self.limit_bytes)
            _try_write(os.path.join(self.path, "memory.swap.max"), 0)

    def add(self, pid):
        _write(os.path.join(self.path, "cgroup.procs"), int(pid))

    def pids(self):
        try:
            return [int(p) for p in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except (IOError, OSError):
            return []

    def _destroy(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(self.path)
                return
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)


def _try_write(path, value):
    """Write an optional knob; absent (no swap accounting) or refused is fine."""
    with contextlib.suppress(IOError, OSError):
        _write(path, value)


def _usable_parent(controller):
    """(directory, kernel path) under which a child with a memory limit can be created, or raise."""
    own_dir = controller.cgroup_dir
    if not os.access(own_dir, os.W_OK):
        raise MemcgUnavailable("the memory cgroup %s is not writable by this user" % own_dir)
    if controller.version == 1:
        return own_dir, controller.cgroup_path
    # cgroup v2: children get memory.max only if the parent delegates the controller, and a non-root cgroup
    # that holds processes cannot ("no internal processes"). The root cgroup is exempt from that rule.
    subtree = os.path.join(own_dir, "cgroup.subtree_control")
    with contextlib.suppress(IOError, OSError):
        if "memory" in _read(subtree).split():
            return own_dir, controller.cgroup_path
    with contextlib.suppress(IOError, OSError):
        _write(subtree, "+memory")
        return own_dir, controller.cgroup_path
    root_subtree = os.path.join(controller.mount_point, "cgroup.subtree_control")
    with contextlib.suppress(IOError, OSError):
        if "memory" in _read(root_subtree).split() and os.access(controller.mount_point, os.W_OK):
            return controller.mount_point, controller.mount_root
    raise MemcgUnavailable(
        "cgroup v2: %s does not delegate the memory controller to children and the root cgroup is not usable"
        % own_dir)


def oom_panics(proc_path="/proc"):
    """True when an OOM inside a memory cgroup would panic this machine (vm.panic_on_oom=2)."""
    try:
        return _read(os.path.join(proc_path, "sys/vm/panic_on_oom")).strip() == "2"
    except (IOError, OSError):
        return False


@contextlib.contextmanager
def memory_cgroup(limit_bytes, controller=None):
    """Create a child memory cgroup limited to `limit_bytes` (no swap), yield a MemoryCgroup, remove it.

    Processes still inside on exit are killed, then the directory is removed once the kernel lets go of it.
    Refuses (MemcgUnavailable) when vm.panic_on_oom=2, where a memory cgroup OOM would panic the machine.
    """
    if oom_panics():
        raise MemcgUnavailable("vm.panic_on_oom=2: an OOM in a memory cgroup would panic this machine")
    controller = controller or find_memory_controller()
    if controller is None:
        raise MemcgUnavailable("no memory cgroup controller is mounted (checked %s)" % MOUNTINFO)
    parent_dir, parent_kernel_path = _usable_parent(controller)
    cgroup = MemoryCgroup(controller, parent_dir, parent_kernel_path, limit_bytes)
    try:
        cgroup._create()
    except (IOError, OSError) as exc:
        with contextlib.suppress(OSError):
            os.rmdir(cgroup.path)
        raise MemcgUnavailable("cannot create a memory cgroup under %s: %s" % (parent_dir, exc))
    try:
        yield cgroup
    finally:
        cgroup._destroy()
