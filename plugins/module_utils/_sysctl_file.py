# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A caller-owned sysctl.d file: written whole (atomically, mode 0644) or removed; check and diff aware."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.oomguard.fleet.plugins.module_utils._part import atomic_move


MODE = 0o644


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
