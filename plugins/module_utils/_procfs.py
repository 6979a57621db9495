# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Read processes and host OOM settings straight from a proc root.

The proc root is a parameter so tests can point it at a fake tree. Standard library only, Python >= 3.8:
this code runs on every target host, often, so the per-process path reads only what the kernel's
badness formula needs (stat, status, oom_score_adj, oom_score) and the expensive files (cmdline, cgroup,
exe) only when asked. A process that disappears while it is read is skipped, never an error.
"""

from __future__ import annotations

import errno
import os
import pwd
import re

PF_KTHREAD = 0x00200000
CAP_SYS_RESOURCE = 24
EXPENSIVE_FIELDS = frozenset(("cmdline", "cgroup", "exe"))

_STATUS_RE = re.compile(rb"^(Uid|RssAnon|RssFile|RssShmem|VmSwap|VmPTE|CapEff):\s*([0-9a-fA-F]+)", re.M)
_VANISHED = (errno.ENOENT, errno.ESRCH)
_READ_CHUNK = 65536

HOST_SYSCTLS = (
    "vm.panic_on_oom", "vm.oom_kill_allocating_task", "vm.oom_dump_tasks", "vm.overcommit_memory",
    "vm.overcommit_ratio",
)


class Vanished(Exception):
    """The process went away while it was being read."""


class Process(object):
    """One thread group, as the OOM killer sees it. Memory in kB, like /proc/PID/status."""

    __slots__ = (
        "pid", "ppid", "name", "state", "flags", "starttime", "uid", "kthread", "has_mm", "rss_anon_kb",
        "rss_file_kb", "rss_shmem_kb", "swap_kb", "pgtables_kb", "cap_eff", "oom_score", "oom_score_adj",
        "cmdline", "cgroup", "cgroup_paths", "exe", "errors",
    )

    def __init__(self, **fields):
        for slot in self.__slots__:
            setattr(self, slot, fields.get(slot))
        if self.errors is None:
            self.errors = []

    @property
    def rss_kb(self):
        return (self.rss_anon_kb or 0) + (self.rss_file_kb or 0) + (self.rss_shmem_kb or 0)

    def __repr__(self):
        return "Process(pid=%r, name=%r)" % (self.pid, self.name)


def decode(raw):
    """Process names are bytes; keep every byte visible without breaking JSON."""
    return raw.decode("utf-8", "backslashreplace")


def read_bytes(path, dir_fd=None):
    """Read a whole file with raw syscalls (no Python buffering)."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def read_small(path, dir_fd=None):
    """One read() for procfs records that always fit in one buffer (stat, status, oom_score*)."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, _READ_CHUNK)
    finally:
        os.close(fd)


def parse_stat(data):
    """Parse /proc/PID/stat. The name sits between the first '(' and the LAST ')': it may hold both."""
    start = data.index(b"(")
    end = data.rindex(b")")
    name = data[start + 1:end]
    rest = data[end + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return {
        "name": decode(name),
        "state": rest[0].decode("ascii", "replace"),
        "ppid": int(rest[1]),
        "flags": int(rest[6]),
        "starttime": int(rest[19]),
    }


def parse_status(data):
    """The memory parts of badness, the real uid and CapEff from /proc/PID/status (kB values)."""
    found = dict(_STATUS_RE.findall(data))
    rss_anon = found.get(b"RssAnon")
    out = {
        "uid": int(found[b"Uid"]) if b"Uid" in found else None,
        # Kernel threads, zombies and exiting tasks have no mm: status then has no Rss*/Vm* lines.
        "has_mm": rss_anon is not None,
        "rss_anon_kb": int(rss_anon) if rss_anon is not None else 0,
        "rss_file_kb": int(found.get(b"RssFile", 0)),
        "rss_shmem_kb": int(found.get(b"RssShmem", 0)),
        "swap_kb": int(found.get(b"VmSwap", 0)),
        "pgtables_kb": int(found.get(b"VmPTE", 0)),
        "cap_eff": int(found[b"CapEff"], 16) if b"CapEff" in found else None,
    }
    return out


def _first_int(data):
    parts = data.split()
    return int(parts[0]) if parts else None


def list_pids(proc_path="/proc"):
    """Thread-group ids: /proc lists only group leaders, so threads are never separate rows."""
    return sorted(int(entry) for entry in os.listdir(proc_path) if entry.isdigit())


def read_process(proc_path, pid, want=frozenset()):
    """Read one process; None when it vanished. Optional fields that cannot be read are None and noted."""
    base = "%s/%d/" % (proc_path, pid)
    try:
        stat = parse_stat(read_small(base + "stat"))
    except OSError as exc:
        if exc.errno in _VANISHED:
            return None
        raise
    except (ValueError, IndexError):
        # A stat line we cannot parse is a process we cannot reason about; report it, do not guess.
        return Process(pid=pid, name=None, errors=["stat: unparseable"], has_mm=False, kthread=False)
    proc = Process(pid=pid, **stat)
    proc.kthread = bool(proc.flags & PF_KTHREAD) or pid == 2 or proc.ppid == 2
    try:
        status = parse_status(read_small(base + "status"))
    except OSError as exc:
        if exc.errno in _VANISHED:
            return None
        proc.errors.append("status: %s" % os.strerror(exc.errno))
        status = {"has_mm": None}
    for key, value in status.items():
        setattr(proc, key, value)
    for field in ("oom_score_adj", "oom_score"):
        try:
            setattr(proc, field, _first_int(read_small(base + field)))
        except OSError as exc:
            if exc.errno in _VANISHED:
                return None
            proc.errors.append("%s: %s" % (field, os.strerror(exc.errno)))
        except ValueError:
            proc.errors.append("%s: unparseable" % field)
    if want:
        _read_expensive(proc, proc_path, want)
    return proc


def _read_expensive(proc, proc_path, want):
    base = "%s/%d/" % (proc_path, proc.pid)
    if "cmdline" in want:
        try:
            raw = read_bytes(base + "cmdline")
            proc.cmdline = [decode(arg) for arg in raw.split(b"\0")[:-1]] if raw else []
        except OSError as exc:
            _note(proc, "cmdline", exc)
    if "cgroup" in want:
        try:
            root = manager_root(proc_path)
            data = read_bytes(base + "cgroup")
            proc.cgroup = relative_cgroup(select_cgroup_path(data), root)
            proc.cgroup_paths = all_cgroup_paths(data)
        except OSError as exc:
            _note(proc, "cgroup", exc)
    if "exe" in want:
        try:
            proc.exe = os.readlink(base + "exe")
        except OSError as exc:
            # Kernel threads have no exe: that is not an error worth a warning.
            if not proc.kthread:
                _note(proc, "exe", exc)


def read_details(proc_path, proc, want):
    """Add expensive fields to an already-read process. False when it vanished meanwhile."""
    try:
        _read_expensive(proc, proc_path, frozenset(want))
    except Vanished:
        return False
    return True


def _note(proc, field, exc):
    if exc.errno in _VANISHED:
        raise Vanished(proc.pid)
    proc.errors.append("%s: %s" % (field, os.strerror(exc.errno)))


def select_cgroup_path(data):
    """The cgroup path in the hierarchy systemd manages: v1's name=systemd when present, else v2's.

    On a hybrid host systemd tracks its units in name=systemd; the unified line may then be "/" or, in a
    container without a cgroup namespace, the container's own cgroup, which says nothing about units.
    A pure v2 host has only "0::/path".
    """
    unified = None
    first = None
    for line in data.decode("utf-8", "backslashreplace").splitlines():
        hid, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        if controllers == "name=systemd":
            return path
        if first is None:
            first = path
        if hid == "0" and controllers == "":
            unified = path
    return unified if unified is not None else first


def all_cgroup_paths(data):
    """Every distinct path of /proc/PID/cgroup, in file order: each v1 hierarchy's (memory, cpu, ...) and v2's."""
    paths = []
    for line in data.decode("utf-8", "backslashreplace").splitlines():
        path = line.split(":", 2)[-1]
        if path and path not in paths:
            paths.append(path)
    return tuple(paths)


_MANAGER_ROOTS = {}


def manager_root(proc_path="/proc"):
    """The cgroup prefix above the systemd manager of this proc root ("" when there is none).

    In a container without a cgroup namespace every path starts with the container's own cgroup
    (e.g. /libpod_parent/libpod-<id>/system.slice/x.service). systemd keeps PID 1 in <root>/init.scope,
    so the prefix is what stands before that; paths are reported relative to it, as systemd shows them.
    """
    if proc_path not in _MANAGER_ROOTS:
        root = ""
        try:
            path = select_cgroup_path(read_bytes(proc_path + "/1/cgroup"))
        except OSError:
            path = None
        if path and path.endswith("/init.scope"):
            root = path[:-len("/init.scope")]
        _MANAGER_ROOTS[proc_path] = root
    return _MANAGER_ROOTS[proc_path]


def relative_cgroup(path, root):
    if root and path is not None and (path == root or path.startswith(root + "/")):
        return path[len(root):] or "/"
    return path


def scan(proc_path="/proc", want=frozenset(), pids=None):
    """Read all processes (or the given pids). Returns (processes, warnings)."""
    want = frozenset(want)
    procs = []
    warnings = []
    for pid in (list_pids(proc_path) if pids is None else pids):
        try:
            proc = read_process(proc_path, pid, want)
        except Vanished:
            continue
        except OSError as exc:
            warnings.append("pid %d: %s" % (pid, os.strerror(exc.errno)))
            continue
        if proc is None:
            continue
        procs.append(proc)
    return procs, warnings


_USER_CACHE = {}


def user_name(uid):
    if uid is None:
        return None
    if uid not in _USER_CACHE:
        try:
            _USER_CACHE[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _USER_CACHE[uid] = str(uid)
    return _USER_CACHE[uid]


def _read_int_file(path):
    try:
        return _first_int(read_bytes(path))
    except (OSError, ValueError):
        return None


def read_meminfo(proc_path="/proc"):
    out = {}
    for line in read_bytes(proc_path + "/meminfo").decode("ascii", "replace").splitlines():
        key, _sep, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0])
    return out


def read_vmstat_counter(proc_path, name):
    try:
        text = read_bytes(proc_path + "/vmstat").decode("ascii", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _sep, value = line.partition(" ")
        if key == name:
            return int(value)
    return None


def cgroup_version(proc_path="/proc"):
    """v2, v1 or hybrid (v1 controllers plus a unified mount), from this host's mount table."""
    try:
        text = read_bytes(proc_path + "/self/mountinfo").decode("utf-8", "replace")
    except OSError:
        return None
    v1 = v2 = False
    for line in text.splitlines():
        fstype = line.split(" - ", 1)[-1].split(" ", 1)[0]
        if fstype == "cgroup2":
            v2 = True
        elif fstype == "cgroup":
            v1 = True
    if v1 and v2:
        return "hybrid"
    if v2:
        return "v2"
    if v1:
        return "v1"
    return None


def can_lower_adj(proc_path="/proc"):
    """Whether this process may write oom_score_adj below a process's floor: CAP_SYS_RESOURCE effective."""
    try:
        status = parse_status(read_bytes(proc_path + "/self/status"))
    except OSError:
        return None
    if status["cap_eff"] is None:
        return None
    return bool(status["cap_eff"] >> CAP_SYS_RESOURCE & 1)


def read_host(proc_path="/proc", page_size=None):
    """Host-wide OOM facts. Missing files give None, never an exception."""
    if page_size is None:
        page_size = os.sysconf("SC_PAGE_SIZE")
    try:
        meminfo = read_meminfo(proc_path)
    except OSError:
        meminfo = {}
    mem_kb = meminfo.get("MemTotal")
    swap_kb = meminfo.get("SwapTotal", 0)
    total_pages = None
    if mem_kb is not None:
        total_pages = (mem_kb + swap_kb) * 1024 // page_size
    try:
        release = read_bytes(proc_path + "/sys/kernel/osrelease").decode("ascii", "replace").strip()
    except OSError:
        release = os.uname()[2]
    sysctls = {}
    for name in HOST_SYSCTLS:
        sysctls[name] = _read_int_file(proc_path + "/sys/" + name.replace(".", "/"))
    return {
        "kernel_release": release,
        "page_size": page_size,
        "mem_total_kb": mem_kb,
        "swap_total_kb": swap_kb,
        "total_pages": total_pages,
        "sysctls": sysctls,
        "oom_kill_count": read_vmstat_counter(proc_path, "oom_kill"),
        "can_lower_adj": can_lower_adj(proc_path),
        "cgroup_version": cgroup_version(proc_path),
    }
