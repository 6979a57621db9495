# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""systemd knowledge: unit names, the unit that owns a cgroup, and what units declare.

`systemctl show -p OOMScoreAdjust` echoes the manager's own value when a unit sets nothing, so "is it set
at all" is answered from the unit's fragment and drop-in files, the way systemd itself merges them.
Standard library only: this runs on target hosts.
"""

from __future__ import annotations

import os
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    OOM_POLICIES, SECTION_OF_TYPE, is_template,
)


SHOW_PROPERTIES = (
    "Id", "LoadState", "ActiveState", "SubState", "MainPID", "ControlGroup", "OOMScoreAdjust", "OOMPolicy",
    "FragmentPath", "DropInPaths",
    # Resource control and systemd-oomd (a property systemd does not know is left out of its answer).
    "MemoryMin", "MemoryLow", "MemoryHigh", "MemoryMax", "ManagedOOMPreference", "ManagedOOMSwap",
    "ManagedOOMMemoryPressure", "ManagedOOMMemoryPressureLimit",
)


def parse_show(text):
    """Parse `systemctl show -p ... U1 U2 ...` output: blocks separated by blank lines, in order."""
    blocks = []
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


# systemctl cannot show a template (foo@.service is "neither a valid invocation ID nor unit name"), but it
# loads any instance of it on demand: an instance with this name, which has no drop-ins of its own, shows
# what the template's fragment and drop-ins give every instance.
TEMPLATE_PROBE_INSTANCE = "oomguard-template-probe"


def shown_name(unit):
    """The name to ask systemctl about: a template's probe instance, otherwise the unit itself."""
    if is_template(unit):
        prefix, _at, suffix = unit.partition("@")
        return "%s@%s%s" % (prefix, TEMPLATE_PROBE_INSTANCE, suffix)
    return unit


def show_units(run_command, units, systemctl="systemctl"):
    """One `systemctl show` for many units. `run_command(argv) -> (rc, stdout, stderr)`.

    Returns {unit: properties}; raises RuntimeError with systemctl's message when it fails. A template is
    shown through an instance without drop-ins of its own (TEMPLATE_PROBE_INSTANCE): its values are the
    template's, its ActiveState and MainPID say nothing about the running instances.
    """
    units = list(units)
    if not units:
        return {}
    argv = [systemctl, "show", "--no-pager", "-p", ",".join(SHOW_PROPERTIES), "--"] + [shown_name(u) for u in units]
    rc, out, err = run_command(argv)
    if rc != 0:
        raise RuntimeError("systemctl show failed (rc=%s): %s" % (rc, (err or out).strip()))
    blocks = parse_show(out)
    if len(blocks) != len(units):
        raise RuntimeError("systemctl show returned %d blocks for %d units" % (len(blocks), len(units)))
    return dict(zip(units, blocks))


def split_paths(value):
    """DropInPaths= is a space-separated list of absolute paths."""
    return [p for p in (value or "").split() if p.startswith("/")]


def read_declared(paths, utype="service"):
    """Merge OOMScoreAdjust= and OOMPolicy= from unit files in systemd's order (fragment, then drop-ins).

    The last assignment wins and an empty assignment resets, as in systemd's load-fragment.c; a value
    systemd would reject (not an integer, or outside -1000..1000) is ignored, as systemd ignores it.
    Returns a dict: oom_score_adjust (int|None), oom_score_adjust_set (bool), oom_score_adjust_source
    (path|None), oom_policy (str|None), oom_policy_source, ignored (list of messages), unreadable (paths).
    """
    section = SECTION_OF_TYPE.get(utype, "Service")
    result = {
        "oom_score_adjust": None, "oom_score_adjust_set": False, "oom_score_adjust_source": None,
        "oom_policy": None, "oom_policy_source": None, "ignored": [], "unreadable": [],
    }
    for path in paths:
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            result["unreadable"].append(path)
            continue
        current = None
        for raw in _logical_lines(text):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
                continue
            if current != section:
                continue
            key, sep, value = line.partition("=")
            if not sep:
                continue
            key, value = key.strip(), value.strip()
            if key == "OOMScoreAdjust":
                if value == "":
                    result.update(oom_score_adjust=None, oom_score_adjust_set=False, oom_score_adjust_source=path)
                    continue
                try:
                    number = int(value)
                except ValueError:
                    number = None
                if number is None or not -1000 <= number <= 1000:
                    result["ignored"].append("%s: OOMScoreAdjust=%s is ignored by systemd (not in -1000..1000)"
                                             % (path, value))
                    continue
                result.update(oom_score_adjust=number, oom_score_adjust_set=True, oom_score_adjust_source=path)
            elif key == "OOMPolicy":
                if value == "":
                    result.update(oom_policy=None, oom_policy_source=path)
                elif value in OOM_POLICIES:
                    result.update(oom_policy=value, oom_policy_source=path)
                else:
                    result["ignored"].append("%s: OOMPolicy=%s is ignored by systemd" % (path, value))
    return result


def _logical_lines(text):
    """Join backslash-continued lines, as systemd's config parser does."""
    pending = ""
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped.endswith("\\") and not stripped.lstrip().startswith(("#", ";")):
            pending += stripped[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def systemd_running(run_path="/run/systemd/system"):
    """systemd's own test (sd_booted): this directory exists only when systemd is PID 1."""
    return os.path.isdir(run_path)
