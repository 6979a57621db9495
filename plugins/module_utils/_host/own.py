# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The processes that run this module: its own Python and the chain of parents that started it.

Writers never touch them, the audit leaves them out of "next victims" (they are gone when it ends), and the
leak reset never resets them. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import os

from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import Vanished, read_process


def own_chain(proc_path="/proc"):
    """[this pid, its parent, ...] up to, not including, the first ancestor whose parent is init or none.

    That ancestor is a daemon (sshd's listener, a terminal server, a container's init shim) that merely
    started this connection, and is a real process of the host like any other.
    """
    chain = [os.getpid(), os.getppid()]
    pid = chain[-1]
    while pid > 1:
        try:
            proc = read_process(proc_path, pid)
            parent = read_process(proc_path, proc.ppid) if proc is not None and (proc.ppid or 0) > 1 else None
        except (OSError, Vanished):
            break
        if parent is None or parent.ppid is None or parent.ppid in (0, 1):
            break
        pid = proc.ppid
        chain.append(pid)
    return [pid for pid in chain if pid > 1]
