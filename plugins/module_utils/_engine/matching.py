# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Turn selector rules into processes. No I/O beyond the snapshot handed in (and the user database).

A rule may combine several selectors; a process must match all of them. `include_descendants` then adds
every process below a matched one in the parent tree.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
import re

from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    is_template, unit_name_error, unit_of_cgroup,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import (
    SELECTOR_KEYS, SelectorError, name_error,
)

_GLOB_CHARS = re.compile(r"[*?\[]")


def resolve_uid(user):
    """A user name or a numeric uid -> uid. Unknown names are an error, unknown numbers are fine."""
    if isinstance(user, int) or (isinstance(user, str) and user.isdigit()):
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise SelectorError("unknown user %r" % (user,))


class Matcher(object):
    """A compiled rule. Raises SelectorError (with the option that is wrong) on bad input."""

    def __init__(self, rule, label="rule"):
        self.rule = rule
        self.label = label
        present = [key for key in SELECTOR_KEYS if rule.get(key) is not None]
        if not present:
            raise SelectorError("%s has no selector: give one of %s" % (label, ", ".join(SELECTOR_KEYS)))
        self.pid = rule.get("pid")
        self.name = rule.get("name")
        if self.name is not None:
            problem = name_error(self.name)
            if problem:
                raise SelectorError("%s: name %s" % (label, problem))
        self.name_re = self._compile("name_pattern")
        self.cmdline_re = self._compile("cmdline_pattern")
        self.exe = rule.get("exe")
        self.uid = None
        if rule.get("user") is not None:
            try:
                self.uid = resolve_uid(rule["user"])
            except SelectorError as exc:
                raise SelectorError("%s: user: %s" % (label, exc))
        self.unit = rule.get("unit")
        if self.unit is not None:
            problem = unit_name_error(self.unit)
            if problem:
                raise SelectorError("%s: unit %r is not a valid systemd unit name: %s" % (label, self.unit, problem))
        self.cgroup = rule.get("cgroup")
        if self.cgroup is not None and not str(self.cgroup).startswith("/"):
            raise SelectorError("%s: cgroup %r must be an absolute cgroup path or glob (starting with '/')"
                                % (label, self.cgroup))
        self.descendants = bool(rule.get("include_descendants"))

    def _compile(self, key):
        pattern = self.rule.get(key)
        if pattern is None:
            return None
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise SelectorError("%s: %s %r is not a valid regular expression: %s" % (self.label, key, pattern, exc))

    def matches(self, proc):
        if self.pid is not None and proc.pid != self.pid:
            return False
        if self.name is not None and not name_matches(self.name, proc.name):
            return False
        if self.name_re is not None and (proc.name is None or not self.name_re.search(proc.name)):
            return False
        if self.cmdline_re is not None and (proc.cmdline is None or not self.cmdline_re.search(" ".join(proc.cmdline))):
            return False
        if self.exe is not None and not exe_matches(self.exe, proc.exe):
            return False
        if self.uid is not None and proc.uid != self.uid:
            return False
        if self.unit is not None and not unit_matches(self.unit, unit_of_cgroup(proc.cgroup)):
            return False
        if self.cgroup is not None and not in_cgroup(self.cgroup, proc):
            return False
        return True

    def select(self, procs, children=None):
        """Matching processes (and their descendants when asked), in snapshot order."""
        chosen = [proc for proc in procs if self.matches(proc)]
        if not self.descendants or not chosen:
            return chosen
        if children is None:
            children = children_map(procs)
        seen = set(proc.pid for proc in chosen)
        stack = list(seen)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child.pid not in seen:
                    seen.add(child.pid)
                    stack.append(child.pid)
        return [proc for proc in procs if proc.pid in seen]


def children_map(procs):
    children = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    return children


def name_matches(wanted, comm):
    """`comm` is the kernel's name; callers refuse a `wanted` longer than it can be (name_error)."""
    return comm is not None and wanted == comm


def exe_matches(wanted, exe):
    if exe is None:
        return False
    # A replaced binary reads "/usr/sbin/x (deleted)": the process still runs that program.
    if exe.endswith(" (deleted)"):
        exe = exe[:-len(" (deleted)")]
    return os.path.normpath(wanted) == exe


def unit_matches(wanted, unit):
    """foo@.service matches every instance of the template; other names match exactly."""
    if unit is None:
        return False
    if is_template(wanted):
        prefix, _at, suffix = wanted.partition("@")
        return unit.startswith(prefix + "@") and unit.endswith(suffix[suffix.index("."):])
    return unit == wanted


def in_cgroup(wanted, proc):
    """Whether a process is in a cgroup: its path as systemd shows it, or its path in any hierarchy
    (a v1 controller such as memory has a tree of its own on v1 and hybrid hosts)."""
    if cgroup_matches(wanted, proc.cgroup):
        return True
    return any(cgroup_matches(wanted, path) for path in proc.cgroup_paths or ())


def cgroup_matches(wanted, path):
    """A path matches that cgroup and everything below it; a glob matches with fnmatch."""
    if path is None:
        return False
    if _GLOB_CHARS.search(wanted):
        return fnmatch.fnmatchcase(path, wanted)
    wanted = wanted.rstrip("/") or "/"
    return wanted == "/" or path == wanted or path.startswith(wanted + "/")
