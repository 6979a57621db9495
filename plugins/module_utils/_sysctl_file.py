# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A caller-owned sysctl.d file: written whole (atomically, mode 0644) or removed; check and diff aware.

Also the one definition of the OOM sysctls oomguard may write and the values the kernel accepts, used by the
role's plan (oom_protection_sysctls) and by oom_protection_apply's sysctl_content alike.
"""

from __future__ import annotations

import os
import re
import tempfile

from ansible_collections.oomguard.fleet.plugins.module_utils._part import atomic_move


MODE = 0o644
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


class SysctlFileError(Exception):
    pass


class SysctlFile(object):
    """Plans on construction (reads the file, validates the path); apply() writes unless in check mode."""

    def __init__(self, path, content):
        if not os.path.isabs(path):
            raise SysctlFileError("%r is not an absolute path" % path)
        if os.path.isdir(path):
            raise SysctlFileError("%s is a directory" % path)
        self.path = path
        self.content = content if not content or content.endswith("\n") else content + "\n"
        self.state = "present" if self.content else "absent"
        self.mode = None
        try:
            with open(path, "rb") as handle:
                self.before = handle.read().decode("utf-8", "replace")
                self.mode = os.fstat(handle.fileno()).st_mode & 0o7777
        except FileNotFoundError:
            self.before = None
        except OSError as exc:
            raise SysctlFileError("cannot read %s: %s" % (path, exc.strerror or exc))
        if self.state == "present" and not os.path.isdir(os.path.dirname(path)):
            raise SysctlFileError("the directory %s does not exist" % os.path.dirname(path))
        if self.state == "present":
            self.changed = self.before != self.content or self.mode != MODE
        else:
            self.changed = self.before is not None

    def apply(self, module):
        result = {"path": self.path, "state": self.state, "changed": self.changed}
        if not self.changed:
            return result
        if module._diff:
            result["diff"] = [{"before_header": self.path, "after_header": self.path,
                               "before": self.before or "", "after": self.content}]
        if module.check_mode:
            return result
        try:
            if self.state == "absent":
                os.unlink(self.path)
                return result
            if self.before == self.content:
                os.chmod(self.path, MODE)
                return result
            fd, tmp = tempfile.mkstemp(prefix=".oomguard-", dir=os.path.dirname(self.path))
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(self.content.encode("utf-8"))
                os.chmod(tmp, 0o644)
                atomic_move(module, tmp, self.path)
                # atomic_move keeps an existing file's mode, and gives a new one 0666 minus the umask.
                os.chmod(self.path, MODE)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise SysctlFileError("writing %s failed: %s" % (self.path, exc.strerror or exc))
        return result
