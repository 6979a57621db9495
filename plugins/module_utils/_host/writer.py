# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Write one process's oom_score_adj safely.

Between reading /proc and writing, a pid can be recycled. So the write goes through a directory fd of
/proc/PID, whose start time is checked first: if the process behind the number changed, nothing is
written, and once the original process dies every openat() through the stale fd fails with ESRCH.
The value goes out in one unbuffered write(2) whose error is checked (a buffered writer can lose EACCES
at close) and is read back, because the only proof of a value is what the kernel reports.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import parse_stat, read_small

CHANGED = "changed"
UNCHANGED = "unchanged"
VANISHED = "vanished"
REUSED = "reused"
DENIED = "denied"
INVALID = "invalid"
FAILED = "failed"


class WriteResult(object):
    __slots__ = ("pid", "status", "before", "after", "errno", "message")

    def __init__(self, pid, status, before=None, after=None, err=None, message=None):
        self.pid = pid
        self.status = status
        self.before = before
        self.after = after
        self.errno = err
        self.message = message

    def __repr__(self):
        return "WriteResult(pid=%r, status=%r, before=%r, after=%r)" % (self.pid, self.status, self.before, self.after)


def _read_adj(dir_fd):
    return int(read_small("oom_score_adj", dir_fd=dir_fd).split()[0])


def denial_reason(before, value, can_lower):
    """Why the kernel refused (EACCES) a write, in words an operator can act on."""
    if value < before and can_lower is False:
        return ("lowering oom_score_adj from %d to %d is below what this process may be lowered to without "
                "CAP_SYS_RESOURCE, which this host or container lacks" % (before, value))
    if value < before:
        return "lowering oom_score_adj from %d to %d was refused (below the process's floor)" % (before, value)
    return "permission denied writing oom_score_adj (the process belongs to another user)"


def write_adj(proc_path, pid, starttime, value, can_lower=None, dry_run=False):
    """Set /proc/PID/oom_score_adj to `value` if PID is still the process that started at `starttime`."""
    try:
        dir_fd = os.open("%s/%d" % (proc_path, pid), os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            return WriteResult(pid, VANISHED, message="process %d exited" % pid)
        return WriteResult(pid, FAILED, err=exc.errno, message="cannot open /proc/%d: %s" % (pid, exc.strerror))
    try:
        try:
            current_start = parse_stat(read_small("stat", dir_fd=dir_fd))["starttime"]
            before = _read_adj(dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return WriteResult(pid, VANISHED, message="process %d exited" % pid)
            raise
        if starttime is not None and current_start != starttime:
            return WriteResult(pid, REUSED, before=before,
                               message="pid %d now belongs to another process (start time %d, expected %d)"
                               % (pid, current_start, starttime))
        if before == value:
            return WriteResult(pid, UNCHANGED, before=before, after=before)
        if dry_run:
            return WriteResult(pid, CHANGED, before=before, after=value)
        try:
            fd = os.open("oom_score_adj", os.O_WRONLY, dir_fd=dir_fd)
            try:
                written = os.write(fd, b"%d\n" % value)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return WriteResult(pid, VANISHED, before=before, message="process %d exited" % pid)
            if exc.errno in (errno.EACCES, errno.EPERM):
                return WriteResult(pid, DENIED, before=before, after=before, err=exc.errno,
                                   message=denial_reason(before, value, can_lower))
            if exc.errno == errno.EINVAL:
                return WriteResult(pid, INVALID, before=before, err=exc.errno,
                                   message="the kernel rejected %r as oom_score_adj (EINVAL)" % value)
            return WriteResult(pid, FAILED, before=before, err=exc.errno, message=exc.strerror)
        if written <= 0:
            return WriteResult(pid, FAILED, before=before, message="short write to oom_score_adj")
        try:
            after = _read_adj(dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return WriteResult(pid, VANISHED, before=before, message="process %d exited" % pid)
            raise
        if after != value:
            return WriteResult(pid, FAILED, before=before, after=after,
                               message="wrote %d but the kernel reports %d" % (value, after))
        return WriteResult(pid, CHANGED, before=before, after=after)
    finally:
        os.close(dir_fd)
