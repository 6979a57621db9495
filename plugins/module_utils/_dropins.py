# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Role-owned systemd drop-ins: rendering, ownership fingerprints, and the plan of writes and removals.

A drop-in is "owned" when one of its lines is exactly the fingerprint line for the owner tag. Files
without it belong to someone else and are never changed or removed, whatever their name.
The plan is computed first and applied afterwards, so check mode, diff mode and `changed` all come
from the same comparison. Standard library only, Python >= 3.8: this runs on target hosts.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible_collections.oomguard.fleet.plugins.module_utils import _cgroupfs, _oomd
from ansible_collections.oomguard.fleet.plugins.module_utils._systemd import (
    OOM_POLICIES,
    OOM_POLICY_TYPES,
    OOM_SCORE_ADJUST_TYPES,
    SECTION_OF_TYPE,
    is_template,
    unit_name_error,
    unit_type,
)

DEFAULT_FILE_NAME = "60-oomguard.conf"
DEFAULT_OWNER_TAG = "oomguard.fleet.oom_protection"
DEFAULT_ROOT = "/etc/systemd/system"
FILE_MODE = 0o644
DIR_MODE = 0o755
FINGERPRINT_PREFIX = "# oomguard-owner: "
# The bytes of one file name on Linux (NAME_MAX): <unit>.d must fit, so a unit name of 254 or 255 bytes
# (valid for systemd, whose UNIT_NAME_MAX is 256 with the NUL) can have no drop-in directory of its own.
NAME_MAX = 255
# Unit files are small; a "drop-in" larger than this is not one of ours and is not read whole.
_READ_LIMIT = 65536


class DropInError(Exception):
    """Input or on-disk state that makes the whole call impossible; nothing has been written."""


def fingerprint(owner_tag):
    return FINGERPRINT_PREFIX + owner_tag


def is_owned(text, owner_tag):
    line = fingerprint(owner_tag)
    return any(candidate.strip() == line for candidate in text.splitlines())


def file_name_error(file_name):
    if not file_name or "/" in file_name or file_name.startswith(".") or not file_name.endswith(".conf"):
        return "file_name must be a plain file name ending in .conf, got %r" % (file_name,)
    return None


def instance_file_name(file_name):
    """The file name used for one instance of a template (foo@bar.service).

    systemd reads foo@bar.service.d/ and foo@.service.d/ and merges all files in lexicographic order of
    their names; equal names mask each other. A distinct name that sorts after the template-level one
    makes the instance value win without relying on masking: "60-x.instance.conf" > "60-x.conf".
    """
    return file_name[:-len(".conf")] + ".instance.conf"


def is_instance(name):
    base = name.rpartition(".")[0]
    return "@" in base and not is_template(name)


def target_file_name(unit, file_name):
    return instance_file_name(file_name) if is_instance(unit) else file_name


def unit_error(unit, allow_oom_disable=False):
    """Why a {name, oom_score_adj, oom_policy} entry cannot be written, or None."""
    name = unit.get("name")
    reason = unit_name_error(name)
    if reason:
        return "unit %r: %s" % (name, reason)
    directory = len(name.encode("utf-8")) + len(".d")
    if directory > NAME_MAX:
        return ("unit %s: its drop-in directory (the name and '.d', %d bytes) would be longer than the %d bytes a "
                "file name may have, so systemd reads no drop-in of its own for it; set its OOM settings in its unit "
                "file or select its processes with a process rule" % (name, directory, NAME_MAX))
    utype = unit_type(name)
    adj = unit.get("oom_score_adj")
    policy = unit.get("oom_policy")
    if adj is None and policy is None and not unit.get("cgroup"):
        return "unit %s: set oom_score_adj, oom_policy, cgroup or several of them" % name
    problem = cgroup_error(name, utype, unit.get("cgroup"))
    if problem:
        return problem
    if adj is not None:
        if utype not in OOM_SCORE_ADJUST_TYPES:
            return ("unit %s: OOMScoreAdjust= does not exist for .%s units (only .%s); use a process rule instead"
                    % (name, utype, ", .".join(OOM_SCORE_ADJUST_TYPES)))
        if isinstance(adj, bool) or not isinstance(adj, int) or not -1000 <= adj <= 1000:
            return "unit %s: oom_score_adj must be an integer in -1000..1000, got %r" % (name, adj)
        if adj == -1000 and not allow_oom_disable:
            return ("unit %s: oom_score_adj -1000 makes its processes unkillable, so a leak in them becomes a "
                    "host-wide outage; set allow_oom_disable to allow it" % name)
    if policy is not None:
        if policy not in OOM_POLICIES:
            return "unit %s: oom_policy must be one of %s, got %r" % (name, ", ".join(OOM_POLICIES), policy)
        if utype not in OOM_POLICY_TYPES:
            return "unit %s: OOMPolicy= does not exist for .%s units (only .%s)" % (
                name, utype, ", .".join(OOM_POLICY_TYPES))
    return None


def cgroup_error(name, utype, settings):
    """Why a unit's cgroup settings ({memory_min: 64M, managed_oom_preference: omit, ...}) cannot be written."""
    if not settings:
        return None
    if not isinstance(settings, dict):
        return "unit %s: cgroup must be a mapping of settings, got %r" % (name, settings)
    known = _cgroupfs.MEMORY_KEYS + _oomd.MANAGED_OOM_KEYS
    unknown = sorted(set(settings) - set(known))
    if unknown:
        return "unit %s: unknown cgroup settings %s (known: %s)" % (name, ", ".join(unknown), ", ".join(known))
    for key, value in settings.items():
        if key in _cgroupfs.MEMORY_KEYS:
            problem = _cgroupfs.memory_value_error(key, value)
            allowed = _cgroupfs.RESOURCE_CONTROL_TYPES
        else:
            problem = _oomd.setting_error(key, value)
            allowed = _cgroupfs.RESOURCE_CONTROL_TYPES if key == "managed_oom_preference" else _oomd.MANAGED_OOM_TYPES
        if problem:
            return "unit %s: %s" % (name, problem)
        if utype not in allowed:
            return "unit %s: %s does not exist for .%s units (only .%s)" % (name, key, utype, ", .".join(allowed))
    order = _cgroupfs.memory_order_error(settings)
    return "unit %s: %s" % (name, order) if order else None


def directive_lines(settings):
    """The resource-control and systemd-oomd lines of a drop-in, in a fixed order."""
    lines = []
    for key, directive, _file in _cgroupfs.MEMORY_SETTINGS:
        if (settings or {}).get(key) is not None:
            lines.append("%s=%s" % (directive, _cgroupfs.render_memory_value(settings[key])))
    for key in _oomd.MANAGED_OOM_KEYS:
        if (settings or {}).get(key) is not None:
            lines.append("%s=%s" % (_oomd.directive(key), settings[key]))
    return lines


def render(unit, owner_tag=DEFAULT_OWNER_TAG, header=()):
    """The full text of one unit's drop-in."""
    name = unit["name"]
    lines = []
    for entry in header:
        for line in str(entry).splitlines() or [""]:
            lines.append(("# " + line).rstrip())
    lines.append(fingerprint(owner_tag))
    described = "# OOM protection for %s" % ("every instance of " + name if is_template(name) else name)
    if unit.get("tier"):
        described += ", tier %s" % unit["tier"]
    lines.append(described)
    lines.append("[%s]" % SECTION_OF_TYPE[unit_type(name)])
    if unit.get("oom_score_adj") is not None:
        lines.append("OOMScoreAdjust=%d" % unit["oom_score_adj"])
    if unit.get("oom_policy") is not None:
        lines.append("OOMPolicy=%s" % unit["oom_policy"])
    lines.extend(directive_lines(unit.get("cgroup")))
    return "\n".join(lines) + "\n"


class Action(object):
    """One file to write or remove, with what it holds now and what it will hold."""

    __slots__ = ("kind", "unit", "path", "before", "after")

    def __init__(self, kind, unit, path, before, after):
        self.kind = kind      # write | remove | unchanged
        self.unit = unit
        self.path = path
        self.before = before  # text or None (absent)
        self.after = after    # text or None (to be removed)


def _read_existing(path):
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
        data = handle.read(_READ_LIMIT)
    return data.decode("utf-8", "replace"), True, stat.S_IMODE(info.st_mode)


def _owned_files(root, owner_tag):
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
            text, regular, _mode = _read_existing(path)
            if regular and is_owned(text, owner_tag):
                found[path] = (entry[:-2], text)
    return found


def plan(units, root=DEFAULT_ROOT, state="present", exclusive=False, file_name=DEFAULT_FILE_NAME,
         owner_tag=DEFAULT_OWNER_TAG, header=(), allow_oom_disable=False):
    """Compare the wanted drop-ins with the disk. Returns (actions, warnings); raises DropInError.

    present: each listed unit gets exactly render(unit) at root/<unit>.d/<file name>.
    absent: the owned files of the listed units go away.
    exclusive: afterwards the owned files are exactly the wanted ones (present) or none at all (absent):
    owned files of units no longer listed, or under an old file name, are removed.
    """
    reason = file_name_error(file_name)
    if reason:
        raise DropInError(reason)
    if not owner_tag or "\n" in owner_tag:
        raise DropInError("owner_tag must be a non-empty single line, got %r" % (owner_tag,))
    if not os.path.isdir(root):
        raise DropInError("the drop-in root %s does not exist (is systemd installed on this host?)" % root)
    check_units(units, state, allow_oom_disable)

    actions = []
    warnings = []
    wanted = set()
    for unit in units:
        name = unit["name"]
        path = os.path.join(root, name + ".d", target_file_name(name, file_name))
        before, regular, mode = _read_existing(path)
        foreign = before is not None and not (regular and is_owned(before, owner_tag))
        if state == "present":
            wanted.add(path)
            if foreign:
                raise DropInError(
                    "%s exists but was not written by %s (it has no '%s' line); refusing to overwrite it. Move "
                    "it away or choose another file_name." % (path, owner_tag, fingerprint(owner_tag)))
            after = render(unit, owner_tag, header)
            kind = "unchanged" if before == after and mode == FILE_MODE else "write"
            actions.append(Action(kind, name, path, before, after))
        elif before is not None:
            if foreign:
                warnings.append("%s was not written by %s; left untouched" % (path, owner_tag))
            else:
                actions.append(Action("remove", name, path, before, None))
    if exclusive:
        for path, (name, text) in sorted(_owned_files(root, owner_tag).items()):
            if state == "present" and path in wanted:
                continue
            if any(action.path == path for action in actions):
                continue
            actions.append(Action("remove", name, path, text, None))
    return actions, warnings


def check_units(units, state="present", allow_oom_disable=False):
    """Raise DropInError for the first unit entry that cannot be written (present) or named (absent)."""
    seen = set()
    for unit in units:
        reason = unit_error(unit, allow_oom_disable) if state == "present" else _name_only_error(unit)
        if reason:
            raise DropInError(reason)
        if unit["name"] in seen:
            raise DropInError("unit %s is listed twice" % unit["name"])
        seen.add(unit["name"])


def _name_only_error(unit):
    reason = unit_name_error(unit.get("name"))
    return "unit %r: %s" % (unit.get("name"), reason) if reason else None


def _default_move(src, dest):
    os.replace(src, dest)


def apply(actions, move=_default_move):
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


def summarize(actions):
    """changed, written, removed, unchanged (paths), units_changed (unit names), sorted."""
    written = sorted(a.path for a in actions if a.kind == "write")
    removed = sorted(a.path for a in actions if a.kind == "remove")
    unchanged = sorted(a.path for a in actions if a.kind == "unchanged")
    units_changed = sorted(set(a.unit for a in actions if a.kind != "unchanged"))
    return {
        "changed": bool(written or removed),
        "written": written,
        "removed": removed,
        "unchanged": unchanged,
        "units_changed": units_changed,
    }


def diffs(actions):
    """Ansible's diff format, one entry per file that changes."""
    return [
        {
            "before_header": a.path, "after_header": a.path,
            "before": a.before or "", "after": a.after or "",
        }
        for a in actions if a.kind != "unchanged"
    ]
