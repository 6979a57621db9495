# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The files oomguard owns on a host, and how they are written: a caller-owned sysctl.d file (written whole,
atomically, mode 0644, or removed; check and diff aware), the role-owned systemd drop-ins (read, written
through a temporary file and an atomic move, removed with the directories they leave empty), and the
module's atomic_move with its failures as OSError. Standard library only, Python >= 3.8: this runs on
target hosts.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible_collections.oomguard.fleet.plugins.module_utils._model.dropin_files import DIR_MODE, FILE_MODE, is_owned
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_name_error


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

    def apply(self, check_mode=False, diff=False, move=None):
        """Write (or remove) the file unless `check_mode`; `move(src, dest)` puts a written file in place
        (AnsibleModule.atomic_move in the modules; os.replace when not given)."""
        result = {"path": self.path, "state": self.state, "changed": self.changed}
        if not self.changed:
            return result
        if diff:
            result["diff"] = [{"before_header": self.path, "after_header": self.path,
                               "before": self.before or "", "after": self.content}]
        if check_mode:
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
                atomic_move(move or os.replace, tmp, self.path)
                # atomic_move keeps an existing file's mode, and gives a new one 0666 minus the umask.
                os.chmod(self.path, MODE)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise SysctlFileError("writing %s failed: %s" % (self.path, exc.strerror or exc))
        return result


def atomic_move(move, src, dest):
    """move(src, dest) (AnsibleModule.atomic_move), with its failures as OSError: ansible-core raises a plain
    Exception from some of its paths (a replace that fails), which callers that handle OSError would turn into
    a traceback."""
    try:
        move(src, dest)
    except OSError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise OSError("cannot move %s to %s: %s" % (src, dest, exc))


# Unit files are small; a "drop-in" larger than this is not one of ours and is not read whole.
READ_LIMIT = 65536


def read_existing(path):
    """(text, is_regular_file, mode) of path, or (None, None, None) when it does not exist."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        return None, None, None  # a name that no directory can have: nothing is there
    if not stat.S_ISREG(info.st_mode):
        return "", False, None
    with open(path, "rb") as handle:
        data = handle.read(READ_LIMIT)
    return data.decode("utf-8", "replace"), True, stat.S_IMODE(info.st_mode)


def owned_files(root, owner_tag):
    """Every regular *.conf under root/<unit>.d/ that carries the fingerprint: {path: (unit, text)}."""
    found = {}
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        if not entry.endswith(".d") or unit_name_error(entry[:-2]) is not None:
            continue
        directory = os.path.join(root, entry)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".conf"):
                continue
            path = os.path.join(directory, name)
            text, regular, _mode = read_existing(path)
            if regular and is_owned(text, owner_tag):
                found[path] = (entry[:-2], text)
    return found


def default_move(src, dest):
    os.replace(src, dest)


def apply(actions, move=default_move):
    """Carry out a plan. Writes go through a temporary file in the target directory, then `move`
    (module.atomic_move in the module), so a reader never sees half a file. Directories that a removal
    leaves empty are removed too; other empty directories are not ours to judge."""
    emptied = set()
    for action in actions:
        if action.kind == "write":
            directory = os.path.dirname(action.path)
            if not os.path.isdir(directory):
                os.makedirs(directory, DIR_MODE)
                os.chmod(directory, DIR_MODE)
            handle, tmp = tempfile.mkstemp(prefix=".oomguard-", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(action.after.encode("utf-8"))
                os.chmod(tmp, FILE_MODE)
                move(tmp, action.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            # atomic_move keeps the old file's mode and, for a new file, applies the umask.
            os.chmod(action.path, FILE_MODE)
        elif action.kind == "remove":
            try:
                os.unlink(action.path)
            except FileNotFoundError:
                pass
            emptied.add(os.path.dirname(action.path))
    for directory in sorted(emptied):
        try:
            if not os.listdir(directory):
                os.rmdir(directory)
        except OSError:
            pass


def entries(directory):
    """The names in a directory, or None when it does not exist."""
    return set(os.listdir(directory)) if os.path.isdir(directory) else None


def remove_new_entries(directory, before):
    """Remove what appeared in `directory` since its entries were `before` (entries() then), and the directory
    itself when it did not exist then and is empty now: the runtime files `systemctl set-property --runtime`
    leaves. Returns whether a file was removed."""
    now = entries(directory)
    if now is None:
        return False
    removed = False
    for entry in sorted(now - (before or set())):
        os.unlink(os.path.join(directory, entry))
        removed = True
    if before is None and not entries(directory):
        os.rmdir(directory)
    return removed


def write_atomically(directory, name, text):
    """`text` as directory/name, mode 0644, through a temporary file beside it and a rename, so that a reader
    (node_exporter's textfile collector) never sees half a file; the directory is created when missing."""
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + name + ".")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
