# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build fake /proc trees for edge cases the real kernel will not produce on demand.

Only the files the engine reads are written, in the kernel's own formats. The truth about the formula
comes from the live tests against the real /proc; these trees are for parsing and corner cases.
"""

from __future__ import annotations

import hashlib
import os

MOUNTINFO_V2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"


class FakeProc(object):
    def __init__(self, root, release="6.1.0-26-amd64", mem_total_kb=4000000, swap_total_kb=0, cap_eff=0,
                 sysctls=None, oom_kill=3, mountinfo=MOUNTINFO_V2):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self._write("meminfo", "MemTotal:       %8d kB\nMemFree:         1000000 kB\nSwapTotal:      %8d kB\n"
                    % (mem_total_kb, swap_total_kb))
        self._write("sys/kernel/osrelease", release + "\n")
        values = {"panic_on_oom": 0, "oom_kill_allocating_task": 0, "oom_dump_tasks": 1, "overcommit_memory": 0,
                  "overcommit_ratio": 50}
        values.update(sysctls or {})
        for key, value in values.items():
            self._write("sys/vm/" + key, "%s\n" % value)
        vmstat = "nr_free_pages 12345\n"
        if oom_kill is not None:
            vmstat += "oom_kill %d\n" % oom_kill
        self._write("vmstat", vmstat)
        self._write("self/status", "Name:\tpython3\nUid:\t0\t0\t0\t0\nCapEff:\t%016x\n" % cap_eff)
        self._write("self/mountinfo", mountinfo)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def _write(self, rel, data):
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode())

    def add(self, pid, name=b"worker", ppid=1, state="S", flags=0x400100, starttime=None, uid=0,
            rss_anon_kb=1000, rss_file_kb=0, rss_shmem_kb=0, swap_kb=0, pgtables_kb=40, oom_score_adj=0,
            oom_score=666, cmdline=None, cgroup="/", has_mm=True, cap_eff=0, cgroup_text=None):
        """Add one process. `name` is bytes (the kernel's comm may hold any byte)."""
        if isinstance(name, str):
            name = name.encode()
        if starttime is None:
            starttime = 1000 + pid
        fields = [state, ppid, ppid, ppid, 0, -1, flags] + [0] * 12 + [starttime, 1000000, 0] + [0] * 28
        stat = b"%d (%s) " % (pid, name) + " ".join(str(f) for f in fields).encode() + b"\n"
        self._write("%d/stat" % pid, stat)
        status = [b"Name:\t" + name.replace(b"\n", b"\\n"), b"State:\t%s (x)" % state.encode(),
                  b"Tgid:\t%d" % pid, b"PPid:\t%d" % ppid, b"Uid:\t%d\t%d\t%d\t%d" % (uid, uid, uid, uid)]
        if has_mm:
            status += [
                b"VmRSS:\t%8d kB" % (rss_anon_kb + rss_file_kb + rss_shmem_kb),
                b"RssAnon:\t%8d kB" % rss_anon_kb, b"RssFile:\t%8d kB" % rss_file_kb,
                b"RssShmem:\t%8d kB" % rss_shmem_kb, b"VmPTE:\t%8d kB" % pgtables_kb, b"VmSwap:\t%8d kB" % swap_kb,
            ]
        status.append(b"CapEff:\t%016x" % cap_eff)
        self._write("%d/status" % pid, b"\n".join(status) + b"\n")
        self._write("%d/oom_score_adj" % pid, "%d\n" % oom_score_adj)
        self._write("%d/oom_score" % pid, "%d\n" % oom_score)
        if cmdline is None:
            cmdline = [] if not has_mm else [name]
        self._write("%d/cmdline" % pid, b"".join((a if isinstance(a, bytes) else a.encode()) + b"\0" for a in cmdline))
        if cgroup_text is None:
            cgroup_text = "0::%s\n" % cgroup
        self._write("%d/cgroup" % pid, cgroup_text)
        return pid

    def break_file(self, pid, name):
        """Make a field unreadable: reading a directory fails (EISDIR) even for root."""
        full = self.path(str(pid), name)
        os.remove(full)
        os.makedirs(full)

    def add_vanished(self, pid):
        """A pid listed in /proc whose files are already gone: the race between listdir and open."""
        os.makedirs(self.path(str(pid)), exist_ok=True)

    def digest(self):
        """A fingerprint of every file, to prove that nothing was written."""
        sha = hashlib.sha256()
        for dirpath, dirnames, filenames in sorted(os.walk(self.root)):
            dirnames.sort()
            for filename in sorted(filenames):
                full = os.path.join(dirpath, filename)
                sha.update(full.encode())
                with open(full, "rb") as handle:
                    sha.update(handle.read())
        return sha.hexdigest()
