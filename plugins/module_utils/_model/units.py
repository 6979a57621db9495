# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""systemd unit names: systemd's unit_name_is_valid() rules, unit types and what each accepts, template vs instance,
and the unit that owns a cgroup path. Vocabulary only: no I/O. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import re


UNIT_SUFFIXES = (
    "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope",
)
# Unit types whose [Service]-like section accepts OOMScoreAdjust= (systemd.exec(5)); scopes and slices do not.
OOM_SCORE_ADJUST_TYPES = ("service", "socket", "mount", "swap")
# OOMPolicy= exists for services and (systemd >= 253) scopes.
OOM_POLICY_TYPES = ("service", "scope")
OOM_POLICIES = ("continue", "stop", "kill")


# systemd's UNIT_NAME_MAX counts the terminating NUL: names are shorter than 256 bytes. Since systemd 256,
# device, mount and swap units (named after paths the admin or the hardware chose) may be PATH_MAX - 1 long.
UNIT_NAME_MAX = 256


UNIT_NAME_MAX_LONG = 4096
LONG_NAME_TYPES = ("device", "mount", "swap")
SECTION_OF_TYPE = {"service": "Service", "socket": "Socket", "mount": "Mount", "swap": "Swap", "scope": "Scope",
                   "slice": "Slice"}
# unit-name.c's VALID_CHARS plus '@', which may stand anywhere but first (the first '@' ends the prefix).
_BAD_CHAR_RE = re.compile(r"[^A-Za-z0-9:_.\\@-]")


def unit_name_error(name):
    """Why `name` is not a valid systemd unit name, or None: the rules of systemd's unit_name_is_valid().

    A name is a prefix, optionally '@' and an instance, then '.' and a unit type: at most 255 bytes (4095 for
    device, mount and swap units), only letters, digits, ':', '-', '_', '.', '\\' and '@', and not starting with
    '@'. Beyond systemd, a prefix made only of dots ('..service') is refused: it names a path component, not a
    unit anybody writes.
    """
    if not isinstance(name, str) or not name:
        return "a unit name must be a non-empty string"
    if "/" in name:
        return "a unit name cannot contain '/'"
    base, dot, suffix = name.rpartition(".")
    if not dot or suffix not in UNIT_SUFFIXES:
        return "a unit name must end in one of .%s" % ", .".join(UNIT_SUFFIXES)
    limit = UNIT_NAME_MAX_LONG if suffix in LONG_NAME_TYPES else UNIT_NAME_MAX
    size = len(name.encode("utf-8"))
    if size >= limit:
        return "a .%s unit name is at most %d bytes, this one has %d" % (suffix, limit - 1, size)
    if not base:
        return "a unit name needs a name before its .%s suffix" % suffix
    bad = _BAD_CHAR_RE.search(base)
    if bad:
        return ("a unit name may only contain letters, digits, ':', '-', '_', '.', '\\' and '@', not %r"
                % bad.group(0))
    prefix = base.partition("@")[0]
    if not prefix:
        return "a unit name cannot start with '@' (the part before '@' names the template)"
    if not prefix.strip("."):
        return "a unit name's prefix cannot be only dots"
    return None


def unit_type(name):
    return name.rpartition(".")[2]


def is_template(name):
    """foo@.service: the first '@' right before the type suffix. foo@@.service, foo@bar@.service and
    foo@.bar.service are instances (their instance is '@', 'bar@' and '.bar'), as systemd classifies them."""
    prefix, at, rest = name.partition("@")
    return bool(prefix and at and rest.startswith(".") and "." not in rest[1:])


def unit_of_cgroup(path):
    """The system unit owning a cgroup path, as systemd's cg_path_get_unit() sees it.

    Slices are walked through; the first unit-looking component after them is the owner
    (/system.slice/foo.service/worker -> foo.service; a user's services belong to user@UID.service).
    A path made only of slices names its innermost slice; the root cgroup has no unit.
    """
    if not path or path == "/":
        return None
    last_slice = None
    for part in path.strip("/").split("/"):
        if part.endswith(".slice"):
            last_slice = part
            continue
        if unit_name_error(part) is None:
            return part
        return last_slice
    return last_slice
