# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The one definition of the OOM sysctls oomguard may write and the values the kernel accepts, used by the
role's plan (oom_protection_sysctls) and by oom_protection_apply's sysctl_content alike. No I/O.
"""

from __future__ import annotations

import re


# Documentation/admin-guide/sysctl/vm.rst: the kernel rejects other values of these (proc_dointvec_minmax).
OOM_SYSCTLS = {
    "vm.panic_on_oom": (0, 1, 2),
    "vm.oom_kill_allocating_task": (0, 1),
    "vm.oom_dump_tasks": (0, 1),
}


def oom_sysctl_error(key, value):
    """Why `key = value` is not an OOM sysctl setting oomguard writes, or None (`value` must be an int)."""
    if key not in OOM_SYSCTLS:
        return "%s is not one of the OOM sysctls oomguard manages (%s)" % (key, ", ".join(sorted(OOM_SYSCTLS)))
    allowed = OOM_SYSCTLS[key]
    if isinstance(value, bool) or value not in allowed:
        return "%s must be one of %s, got %r" % (key, ", ".join(str(v) for v in allowed), value)
    return None


def oom_sysctl_content_error(content):
    """Why a sysctl.d text sets anything but valid OOM sysctls, or None.

    The syntax of sysctl.d(5): `key = value` lines, `#` and `;` comments, `/` as well as `.` between the parts
    of a key, and a leading `-` that only silences a failure to set it.
    """
    for number, line in enumerate((content or "").splitlines(), 1):
        text = line.strip()
        if not text or text[0] in "#;":
            continue
        key, sep, value = text.partition("=")
        key = key.strip().lstrip("-").replace("/", ".")
        if not sep or not key:
            return "line %d is not a 'key = value' setting: %r" % (number, line)
        value = value.strip()
        problem = oom_sysctl_error(key, int(value) if re.match(r"^-?\d+$", value) else value)
        if problem:
            return "line %d: %s" % (number, problem)
    return None
