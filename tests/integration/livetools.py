# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for tests against the live kernel: real `ansible` runs on localhost, worker processes of a known
size, snapshots of what /proc says about memory (to tell stable processes from changing ones), and a container
image built from a local root file system (no registry).

Workers are plain Python children: they name themselves (comm), wait for a line on stdin, then allocate and
touch exactly the requested amount, report "ready" and sleep until stdin closes. Waiting before allocating
lets a test move a worker into a memory cgroup first, so all of its allocation is charged there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile

import ansible_collections.oomguard.fleet as _collection

MIB = 1024 * 1024

_WORKER = r"""
import sys
name, size = sys.argv[1], int(sys.argv[2])
with open("/proc/self/comm", "w") as handle:
    handle.write(name)
sys.stdin.readline()
data = b"\xa5" * size       # bytes * n fills every page: all of it is resident, none of it shared
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
"""

# Status lines that make up badness, plus the adj: a process whose values differ between two reads changed.
_STABLE_KEYS = (b"RssAnon", b"RssFile", b"RssShmem", b"VmSwap", b"VmPTE")


def collections_root():
    """The directory holding ansible_collections/ through which this test imported the collection."""
    fleet_dir = list(_collection.__path__)[0]
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(fleet_dir))))


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_root(),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    return env


def ansible_bin(name="ansible"):
    """The ansible CLI of the environment running the tests (next to its Python)."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


def run_module(module, args, check=False, timeout=120):
    """Run `ansible localhost -m oomguard.fleet.<module> -a <json>` and return the module's result.

    Ad-hoc output is `localhost | STATUS => {json}`; the status word tells success from failure.
    """
    argv = [ansible_bin(), "localhost", "-m", "oomguard.fleet." + module, "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    done = subprocess.run(argv, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)
    out = done.stdout.decode("utf-8", "replace")
    head, sep, body = out.partition(" => ")
    if not sep:
        raise AssertionError("ansible %s printed no result (rc %d):\n%s\n%s"
                             % (module, done.returncode, out, done.stderr.decode("utf-8", "replace")))
    result = json.loads(body)
    result["_status"] = head.rsplit("|", 1)[-1].strip()
    return result


def run_module_ok(module, args, check=False):
    result = run_module(module, args, check=check)
    if result["_status"] not in ("SUCCESS", "CHANGED") or result.get("failed"):
        raise AssertionError("%s failed: %s" % (module, json.dumps(result, indent=2)[:4000]))
    return result


class Worker(object):
    """A child process holding `size` bytes of touched anonymous memory under the name `name`."""

    def __init__(self, name, size):
        self.name = name
        self.size = size
        self.popen = subprocess.Popen(
            [sys.executable, "-S", "-E", "-c", _WORKER, name, str(size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        self.pid = self.popen.pid

    def allocate(self):
        """Let it allocate; returns once the memory is touched."""
        self.popen.stdin.write(b"go\n")
        self.popen.stdin.flush()
        line = self.popen.stdout.readline()
        if line != b"ready\n":
            raise AssertionError("worker %s (pid %d) did not get ready: %r, exit %r"
                                 % (self.name, self.pid, line, self.popen.poll()))
        return self

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        with contextlib.suppress(OSError):
            self.popen.kill()
        with contextlib.suppress(OSError, ValueError):
            self.popen.stdin.close()
        self.popen.wait()
        with contextlib.suppress(OSError, ValueError):
            self.popen.stdout.close()


@contextlib.contextmanager
def workers(specs, allocate=True):
    """Start workers from [(name, size_bytes)], yield them, and always kill and reap them."""
    started = []
    try:
        for name, size in specs:
            started.append(Worker(name, size))
        if allocate:
            for worker in started:
                worker.allocate()
        yield started
    finally:
        for worker in started:
            worker.stop()


def write_adj(pid, value):
    fd = os.open("/proc/%d/oom_score_adj" % pid, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def memory_state(pid):
    """What badness depends on, as /proc shows it now: (starttime, memory lines, adj) or None if gone."""
    base = "/proc/%d/" % pid
    try:
        stat = _read(base + "stat")
        status = _read(base + "status")
        adj = _read(base + "oom_score_adj")
    except OSError:
        return None
    starttime = stat[stat.rindex(b")") + 2:].split()[19]
    lines = tuple(line for line in status.splitlines() if line.split(b":", 1)[0] in _STABLE_KEYS)
    return starttime, lines, adj.strip()


def snapshot():
    """memory_state() of every process now."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            state = memory_state(int(entry))
            if state is not None:
                out[int(entry)] = state
    return out


def stable_pids(before, after):
    """Processes present in both snapshots with identical memory and adj (so any read between them agrees)."""
    return set(pid for pid, state in before.items() if after.get(pid) == state)


def kill_quietly(pid):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def host_usr_rootfs_tar(directory):
    """A root file system whose bin, lib, lib64 and sbin point into /usr (Debian's merged /usr), as a tar for
    `podman import`: a container that mounts the host's /usr read-only runs the host's own programs."""
    root = os.path.join(directory, "rootfs")
    for sub in ("usr", "proc", "sys", "dev", "etc", "tmp"):
        os.makedirs(os.path.join(root, sub))
    for link in ("bin", "lib", "lib64", "sbin"):
        os.symlink("usr/" + link, os.path.join(root, link))
    path = os.path.join(directory, "rootfs.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(root, arcname=".")
    return path
