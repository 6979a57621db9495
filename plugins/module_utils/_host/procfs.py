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

from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of_lines

PF_KTHREAD = 0x00200000
CAP_SYS_RESOURCE = 24
EXPENSIVE_FIELDS = frozenset(("cmdline", "cgroup", "exe"))

# The lines of /proc/PID/status that badness and the report need, with their base, in the order the kernel
# prints them (fs/proc/array.c, task_mem()). Searched with find(), each from where the last one ended: a
# regular expression over the whole text cost about four times as much per process.
_STATUS_FIELDS = (
    (b"\nUid:", 10), (b"\nRssAnon:", 10), (b"\nRssFile:", 10), (b"\nRssShmem:", 10), (b"\nVmPTE:", 10),
    (b"\nVmSwap:", 10), (b"\nCapEff:", 16),
)
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
        "cmdline", "cgroup", "cgroup_paths", "container", "exe", "errors",
    )

    # Every slot spelled out: a loop of setattr() over __slots__ was a tenth of a whole scan's time.
    def __init__(self, pid=None, ppid=None, name=None, state=None, flags=None, starttime=None, uid=None,
                 kthread=None, has_mm=None, rss_anon_kb=None, rss_file_kb=None, rss_shmem_kb=None, swap_kb=None,
                 pgtables_kb=None, cap_eff=None, oom_score=None, oom_score_adj=None, cmdline=None, cgroup=None,
                 cgroup_paths=None, container=None, exe=None, errors=None):
        self.pid = pid
        self.ppid = ppid
        self.name = name
        self.state = state
        self.flags = flags
        self.starttime = starttime
        self.uid = uid
        self.kthread = kthread
        self.has_mm = has_mm
        self.rss_anon_kb = rss_anon_kb
        self.rss_file_kb = rss_file_kb
        self.rss_shmem_kb = rss_shmem_kb
        self.swap_kb = swap_kb
        self.pgtables_kb = pgtables_kb
        self.cap_eff = cap_eff
        self.oom_score = oom_score
        self.oom_score_adj = oom_score_adj
        self.cmdline = cmdline
        self.cgroup = cgroup
        self.cgroup_paths = cgroup_paths
        # The container label of the cgroup file (_model.containers), shared by every process of that file: copy
        # before changing it. Read with the cgroup.
        self.container = container
        self.exe = exe
        self.errors = [] if errors is None else errors

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
        return _read_to_end(fd)
    finally:
        os.close(fd)


def _read_to_end(fd, first=b""):
    chunks = [first]
    while True:
        chunk = os.read(fd, _READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_record(path, dir_fd=None):
    """Read a per-process file that the kernel hands out whole in one read() when the buffer is big enough.

    status, cmdline and cgroup are such files (one record, no seq_file paging), so a read that does not fill
    the buffer has reached the end and the second read() that read_bytes() makes to see EOF is saved. A full
    buffer may mean more data: then read on to EOF.
    """
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        data = os.read(fd, _READ_CHUNK)
        return data if len(data) < _READ_CHUNK else _read_to_end(fd, data)
    finally:
        os.close(fd)


def read_small(path, dir_fd=None):
    """One read() for procfs records that always fit in one buffer (stat, oom_score, oom_score_adj)."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, _READ_CHUNK)
    finally:
        os.close(fd)


def _stat_fields(data):
    """(name, state, ppid, flags, starttime) of /proc/PID/stat. The name sits between the first '(' and the
    LAST ')': it may hold both."""
    start = data.index(b"(")
    end = data.rindex(b")")
    # rest[0] is field 3 (state); field N is rest[N - 3]. Only the first 20 are split off: the line has 52.
    rest = data[end + 2:].split(None, 20)
    return decode(data[start + 1:end]), rest[0].decode("ascii", "replace"), int(rest[1]), int(rest[6]), int(rest[19])


def parse_stat(data):
    """Parse /proc/PID/stat into name, state, ppid, flags and starttime."""
    return dict(zip(("name", "state", "ppid", "flags", "starttime"), _stat_fields(data)))


def _status_values(data):
    """The first word of each line in _STATUS_FIELDS as a number, None where the line is missing or not a number."""
    values = _status_values_fast(data)
    return values if values is not None else _status_values_any(data)


def _status_values_fast(data):
    """_status_values() for the layout every kernel since 4.5 prints for a process with memory; None for any
    other text (a kernel thread or zombie without Rss lines, an older kernel, a line not where it should be).

    Each group of adjacent lines is split in one go (RssAnon, RssFile, RssShmem; VmPTE, VmSwap) and its
    names checked, instead of one search per line: this parse runs once per process on every scan.
    """
    find = data.find
    start = find(b"\nUid:\t")
    anon = find(b"\nRssAnon:", start)
    if start < 0 or anon < 0:
        return None
    pte = find(b"\nVmPTE:", anon)
    cap = find(b"\nCapEff:\t", pte)
    if pte < 0 or cap < 0:
        return None
    cap_end = find(b"\n", cap + 9)
    rss = data[anon + 1:anon + 120].split(None, 9)
    tables = data[pte + 1:pte + 80].split(None, 6)
    try:
        if rss[3] != b"RssFile:" or rss[6] != b"RssShmem:" or tables[3] != b"VmSwap:":
            return None
        return [int(data[start + 6:find(b"\t", start + 6)]), int(rss[1]), int(rss[4]), int(rss[7]),
                int(tables[1]), int(tables[4]), int(data[cap + 9:cap_end if cap_end > 0 else len(data)], 16)]
    except (IndexError, ValueError):
        return None


def _status_values_any(data):
    """_status_values() for any layout: each line searched for, in the kernel's order first."""
    data = b"\n" + data + b"\n"  # so that the first and the last line are found like any other
    find = data.find
    values = []
    end = 0
    for key, base in _STATUS_FIELDS:
        start = find(key, end)
        if start < 0:
            start = find(key)  # another kernel's order, or a line that is missing
            if start < 0:
                values.append(None)
                continue
        start += len(key)
        end = find(b"\n", start)
        try:
            values.append(int(data[start:end].split(None, 1)[0], base))
        except (ValueError, IndexError):
            values.append(None)
    return values


def _set_status(proc, data):
    """The memory parts of badness, the real uid and CapEff from /proc/PID/status (kB values) onto proc."""
    proc.uid, rss_anon, rss_file, rss_shmem, pgtables, swap, proc.cap_eff = _status_values(data)
    # Kernel threads, zombies and exiting tasks have no mm: status then has no Rss*/Vm* lines.
    proc.has_mm = rss_anon is not None
    proc.rss_anon_kb = rss_anon or 0
    proc.rss_file_kb = rss_file or 0
    proc.rss_shmem_kb = rss_shmem or 0
    proc.swap_kb = swap or 0
    proc.pgtables_kb = pgtables or 0


_STATUS_ATTRS = ("uid", "has_mm", "rss_anon_kb", "rss_file_kb", "rss_shmem_kb", "swap_kb", "pgtables_kb", "cap_eff")


def parse_status(data):
    """The fields _set_status() reads, as a dict."""
    proc = Process()
    _set_status(proc, data)
    return {attr: getattr(proc, attr) for attr in _STATUS_ATTRS}


def _first_int(data):
    parts = data.split()
    return int(parts[0]) if parts else None


def list_pids(proc_path="/proc"):
    """Thread-group ids: /proc lists only group leaders, so threads are never separate rows."""
    return sorted(int(entry) for entry in os.listdir(proc_path) if entry.isdigit())


def read_process(proc_path, pid, want=frozenset(), kthread_details=True):
    """Read one process; None when it vanished. Optional fields that cannot be read are None and noted.

    `kthread_details`: False leaves the fields of `want` unread for kernel threads.
    """
    base = "%s/%d/" % (proc_path, pid)
    try:
        name, state, ppid, flags, starttime = _stat_fields(read_small(base + "stat"))
    except OSError as exc:
        if exc.errno in _VANISHED:
            return None
        raise
    except (ValueError, IndexError):
        # A stat line we cannot parse is a process we cannot reason about; report it, do not guess.
        return Process(pid=pid, name=None, errors=["stat: unparseable"], has_mm=False, kthread=False)
    kthread = bool(flags & PF_KTHREAD) or pid == 2 or ppid == 2
    proc = Process(pid, ppid, name, state, flags, starttime, kthread=kthread)
    try:
        # A process in thousands of groups has a status longer than one read.
        _set_status(proc, read_record(base + "status"))
    except OSError as exc:
        if exc.errno in _VANISHED:
            return None
        proc.errors.append("status: %s" % os.strerror(exc.errno))
    for field in ("oom_score_adj", "oom_score"):
        try:
            setattr(proc, field, _first_int(read_small(base + field)))
        except OSError as exc:
            if exc.errno in _VANISHED:
                return None
            proc.errors.append("%s: %s" % (field, os.strerror(exc.errno)))
        except ValueError:
            proc.errors.append("%s: unparseable" % field)
    if want and (kthread_details or not kthread):
        _read_expensive(proc, proc_path, want)
    return proc


def _read_expensive(proc, proc_path, want):
    """Read the fields of `want` that proc does not hold yet (a fresh process holds none)."""
    base = "%s/%d/" % (proc_path, proc.pid)
    if "cmdline" in want and proc.cmdline is None:
        try:
            raw = read_record(base + "cmdline")
            # One decode for the whole line: no argument can end inside an invalid sequence, NUL is ASCII.
            proc.cmdline = decode(raw).split("\0")[:-1] if raw else []
        except OSError as exc:
            _note(proc, "cmdline", exc)
    if "cgroup" in want and proc.cgroup is None:
        try:
            data = read_record(base + "cgroup")
            selected, proc.cgroup_paths = parse_cgroup(data)
            proc.cgroup = relative_cgroup(selected, manager_root(proc_path))
            proc.container = container_label(data)
        except OSError as exc:
            _note(proc, "cgroup", exc)
    if "exe" in want and proc.exe is None:
        try:
            proc.exe = os.readlink(base + "exe")
        except OSError as exc:
            # Kernel threads have no exe: that is not an error worth a warning.
            if not proc.kthread:
                _note(proc, "exe", exc)


def read_details(proc_path, proc, want):
    """Add the expensive fields of `want` (a collection of names) that an already-read process lacks.
    False when it vanished meanwhile."""
    try:
        _read_expensive(proc, proc_path, want)
    except Vanished:
        return False
    return True


def _note(proc, field, exc):
    if exc.errno in _VANISHED:
        raise Vanished(proc.pid)
    proc.errors.append("%s: %s" % (field, os.strerror(exc.errno)))


_CGROUP_CACHE = {}
_CGROUP_CACHE_MAX = 4096


def parse_cgroup(data):
    """/proc/PID/cgroup -> (the path systemd manages, every distinct path in file order).

    The first is v1's name=systemd path when present, else v2's. On a hybrid host systemd tracks its units
    in name=systemd; the unified line may then be "/" or, in a container without a cgroup namespace, the
    container's own cgroup, which says nothing about units. The second holds each v1 hierarchy's path
    (memory, cpu, ...) and v2's.

    Most processes share their cgroups with others (a unit's workers, a user's session), so the parse of
    each distinct file is kept: a v1 or hybrid file has a dozen lines to split.
    """
    parsed = _CGROUP_CACHE.get(data)
    if parsed is None:
        if len(_CGROUP_CACHE) >= _CGROUP_CACHE_MAX:
            _CGROUP_CACHE.clear()
        parsed = _CGROUP_CACHE[data] = _parse_cgroup(data)
    return parsed


def _parse_cgroup(data):
    systemd = unified = first = None
    paths = []
    for line in decode(data).splitlines():
        hid, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        if controllers == "name=systemd" and systemd is None:
            systemd = path
        if first is None:
            first = path
        if hid == "0" and controllers == "":
            unified = path
        if path and path not in paths:
            paths.append(path)
    for choice in (systemd, unified, first):
        if choice is not None:
            return choice, tuple(paths)
    return None, tuple(paths)


_CONTAINER_CACHE = {}


def container_label(data):
    """The container label of a /proc/PID/cgroup file (see _model.containers.container_of_lines), once per
    distinct file; None outside containers. The dict is shared: callers copy it before changing it."""
    if data in _CONTAINER_CACHE:
        return _CONTAINER_CACHE[data]
    if len(_CONTAINER_CACHE) >= _CGROUP_CACHE_MAX:
        _CONTAINER_CACHE.clear()
    label = _CONTAINER_CACHE[data] = container_of_lines(data)
    return label


def own_container_label(proc_path="/proc"):
    """The container this very process runs in (its /proc/self/cgroup), or None on a host. When the target host
    is itself a container, the processes of that container are the host's own, not a runtime's to guard."""
    try:
        return container_label(read_bytes(proc_path + "/self/cgroup"))
    except OSError:
        return None


def select_cgroup_path(data):
    """The cgroup path in the hierarchy systemd manages (see parse_cgroup)."""
    return parse_cgroup(data)[0]


def all_cgroup_paths(data):
    """Every distinct path of /proc/PID/cgroup, in file order (see parse_cgroup)."""
    return parse_cgroup(data)[1]


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


def scan(proc_path="/proc", want=frozenset(), pids=None, kthread_details=True):
    """Read all processes (or the given pids). Returns (processes, warnings). The fields of `want` are read
    for every process, for kernel threads only with `kthread_details`; a process that ends before they are
    read is left out."""
    want = frozenset(want)
    procs = []
    warnings = []
    for pid in (list_pids(proc_path) if pids is None else pids):
        try:
            proc = read_process(proc_path, pid, want, kthread_details)
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


def read_int_file(path):
    try:
        return _first_int(read_bytes(path))
    except (OSError, ValueError):
        return None


def read_meminfo(proc_path="/proc", missing_ok=False):
    """{field: kB or count} of <proc>/meminfo; {} when it cannot be read and missing_ok, else OSError."""
    try:
        data = read_bytes(proc_path + "/meminfo")
    except OSError:
        if missing_ok:
            return {}
        raise
    out = {}
    for line in data.decode("ascii", "replace").splitlines():
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


def mount_table(proc_path="/proc"):
    """This process's mounts (<proc>/self/mountinfo): [(mount point, fstype, super options)], the point and the
    options None where a line lacks them; None when the table cannot be read. One reading serves every user."""
    try:
        text = read_bytes(proc_path + "/self/mountinfo").decode("utf-8", "replace")
    except OSError:
        return None
    table = []
    for line in text.splitlines():
        fields, sep, tail = line.partition(" - ")
        if not sep:
            continue
        parts = fields.split(" ")
        rest = tail.split(" ")
        table.append((parts[4].replace("\\040", " ") if len(parts) >= 5 else None, rest[0],
                      rest[2] if len(rest) >= 3 else None))
    return table


def cgroup_version(proc_path="/proc", table=None):
    """v2, v1 or hybrid (v1 controllers plus a unified mount), from this host's mount table (mount_table())."""
    if table is None:
        table = mount_table(proc_path)
    if table is None:
        return None
    v1 = v2 = False
    for _point, fstype, _options in table:
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


def read_host(proc_path="/proc", page_size=None, meminfo=None, table=None):
    """Host-wide OOM facts. Missing files give None, never an exception. `meminfo` (read_meminfo()) and `table`
    (mount_table()): what the caller has already read, so that one run reads each file once."""
    if page_size is None:
        page_size = os.sysconf("SC_PAGE_SIZE")
    if meminfo is None:
        meminfo = read_meminfo(proc_path, missing_ok=True)
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
        sysctls[name] = read_int_file(proc_path + "/sys/" + name.replace(".", "/"))
    return {
        "kernel_release": release,
        "page_size": page_size,
        "mem_total_kb": mem_kb,
        "swap_total_kb": swap_kb,
        "total_pages": total_pages,
        "sysctls": sysctls,
        "oom_kill_count": read_vmstat_counter(proc_path, "oom_kill"),
        "can_lower_adj": can_lower_adj(proc_path),
        "cgroup_version": cgroup_version(proc_path, table),
    }
