# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""systemd-oomd: the unit settings a tier can carry, oomd.conf and its drop-ins, what the running daemon
monitors (`oomctl dump`), and which cgroup it would kill first under its swap rule and its pressure rule.

The prediction follows oomd's code, not its man page: candidates are the leaf cgroups (or cgroups with
memory.oom.group=1) at or below a monitored cgroup -- a childless monitored cgroup is its own candidate --,
`omit` removes a candidate, `avoid` sorts it after every other one, and the preference marks count only on
candidates owned by root or by the monitored cgroup's owner. memory.min/memory.low play no part.
Standard library only, Python >= 3.8: this runs on target hosts.
"""

from __future__ import annotations

import os
import time

from ansible_collections.oomguard.fleet.plugins.module_utils._host import cgroupfs
from ansible_collections.oomguard.fleet.plugins.module_utils._model.oomd_settings import parse_percent, parse_timespan

PREFERENCE_RANK = {"none": 0, "avoid": 1}
# oomd's constants (oomd-manager.h): swap candidates need more than 5% of swap; defaults of oomd.conf.
SWAP_CANDIDATE_PERCENT = 5.0
DEFAULTS = {"swap_used_limit_percent": 90.0, "default_memory_pressure_limit_percent": 60.0,
            "default_memory_pressure_duration_sec": 30.0}
CONF_DIRS = ("/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd")
_CONF_KEYS = {
    "SwapUsedLimit": "swap_used_limit_percent", "SwapUsedLimitPercent": "swap_used_limit_percent",
    "DefaultMemoryPressureLimit": "default_memory_pressure_limit_percent",
    "DefaultMemoryPressureLimitPercent": "default_memory_pressure_limit_percent",
    "DefaultMemoryPressureDurationSec": "default_memory_pressure_duration_sec",
}
TOP = 10


# ------------------------------------------------------------------------------------------------ config

def config_files(root="/"):
    """oomd.conf and its drop-ins in the order systemd reads them: the first main file found, then the
    drop-ins by file name, where a name in an earlier directory masks the same name in a later one."""
    base = root.rstrip("/")
    files = []
    for directory in CONF_DIRS:
        path = base + directory + "/oomd.conf"
        if os.path.isfile(path):
            files.append(path)
            break
    dropins = {}
    for directory in CONF_DIRS:
        folder = base + directory + "/oomd.conf.d"
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in dropins:
                dropins[name] = folder + "/" + name
    files.extend(dropins[name] for name in sorted(dropins))
    return files


def read_config(root="/"):
    """The [OOM] settings systemd-oomd would start with, from oomd.conf and its drop-ins (the last wins)."""
    settings = dict(DEFAULTS)
    sources = dict((key, None) for key in DEFAULTS)
    files = config_files(root)
    for path in files:
        try:
            with open(path, "rb") as handle:
                text = handle.read(65536).decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if section != "OOM" or not sep or key not in _CONF_KEYS:
                continue
            name = _CONF_KEYS[key]
            value = value.strip()
            parsed = parse_timespan(value) if name.endswith("_sec") else parse_percent(value)
            if name.endswith("_sec") and parsed == 0:
                parsed = DEFAULTS[name]  # 0 means the built-in 30 s
            if parsed is not None:
                settings[name] = parsed
                sources[name] = path
    return {"settings": settings, "sources": sources, "files": [path[len(root.rstrip("/")):] for path in files]}


# -------------------------------------------------------------------------------------------- oomctl dump

def parse_dump(text):
    """`oomctl dump` -> {settings, swap: [{path}], memory_pressure: [{path, limit_percent, duration_sec}]}.

    Loose on purpose: newer systemd adds lines and commas, and the format is not an interface."""
    out = {"settings": {}, "swap": [], "memory_pressure": []}
    section = None
    labels = {"Swap Used Limit": "swap_used_limit_percent",
              "Default Memory Pressure Limit": "default_memory_pressure_limit_percent",
              "Default Memory Pressure Duration": "default_memory_pressure_duration_sec"}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if line.startswith("Swap Monitored CGroups"):
            section = "swap"
            continue
        if line.startswith("Memory Pressure Monitored CGroups"):
            section = "memory_pressure"
            continue
        label, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if section is None and label in labels:
            name = labels[label]
            out["settings"][name] = parse_timespan(value) if name.endswith("_sec") else parse_percent(value)
        elif section and label == "Path":
            out[section].append({"path": value})
        elif section == "memory_pressure" and out[section] and label == "Memory Pressure Limit":
            out[section][-1]["limit_percent"] = parse_percent(value)
        elif section == "memory_pressure" and out[section] and label == "Memory Pressure Duration":
            out[section][-1]["duration_sec"] = parse_timespan(value)
    return out


# -------------------------------------------------------------------------------------------- prediction

def candidate_paths(monitored):
    """Absolute candidate directories of one monitored cgroup directory, as oomd enumerates them."""
    kids = cgroupfs.children(monitored)
    if not kids:
        return [monitored]
    found = []
    for kid in kids:
        if cgroupfs._value(kid + "/memory.oom.group") == 1:
            found.append(kid)
        else:
            found.extend(candidate_paths(kid))
    return found


def _preference(path, monitor_uid):
    """(preference, honoured) from the marks on a candidate cgroup."""
    try:
        omit = os.getxattr(path, "user.oomd_omit")
    except (OSError, AttributeError):
        omit = None
    try:
        avoid = os.getxattr(path, "user.oomd_avoid")
    except (OSError, AttributeError):
        avoid = None
    preference = "omit" if omit == b"1" else "avoid" if avoid == b"1" else "none"
    owner = cgroupfs.owner_uid(path)
    honoured = owner == 0 or (owner is not None and owner == monitor_uid)
    return preference, honoured


def _candidates(v2_root, monitored_paths, unit_of):
    rows = []
    seen = set()
    for monitored in monitored_paths:
        absolute = v2_root.rstrip("/") + (monitored if monitored != "/" else "")
        monitor_uid = cgroupfs.owner_uid(absolute)
        for path in candidate_paths(absolute):
            if path in seen:
                continue
            seen.add(path)
            preference, honoured = _preference(path, monitor_uid)
            relative = path[len(v2_root.rstrip("/")):] or "/"
            rows.append({
                "cgroup": relative, "unit": unit_of(relative), "monitored": monitored,
                "preference": preference if honoured else "none", "preference_set": preference,
                "memory_current": cgroupfs._value(path + "/memory.current"),
                "swap_current": cgroupfs._value(path + "/memory.swap.current"),
                "pgscan": cgroupfs.stat_value(path, "pgscan"), "_path": path,
            })
    return rows


def _int(value):
    return value if isinstance(value, int) else 0


def _finish(rows, eligible, order):
    ranked = sorted((row for row in rows if row["preference"] != "omit"), key=order)
    first = None
    for row in ranked:
        reason = eligible(row)
        row["eligible"] = reason is None
        row["reason"] = reason
        if first is None and reason is None:
            first = row
    omitted = [row["cgroup"] for row in rows if row["preference"] == "omit"]
    for row in rows:
        row.pop("_path", None)
    return {"first": first["cgroup"] if first else None, "first_unit": first["unit"] if first else None,
            "candidates": ranked[:TOP], "omitted": omitted}


def predict_swap(v2_root, monitored, swap_total_bytes, unit_of):
    """Who oomd's swap rule kills first once memory and swap are both above SwapUsedLimit."""
    paths = [entry["path"] for entry in monitored]
    if not paths:
        return {"first": None, "first_unit": None, "candidates": [], "omitted": [],
                "reason": "no cgroup is monitored with ManagedOOMSwap=kill"}
    rows = _candidates(v2_root, paths, unit_of)
    threshold = swap_total_bytes * SWAP_CANDIDATE_PERCENT / 100.0

    def eligible(row):
        if not swap_total_bytes:
            return "the host has no swap: the swap rule never fires"
        if _int(row["swap_current"]) <= threshold:
            return "uses %d bytes of swap, not more than 5%% of swap" % _int(row["swap_current"])
        return None

    result = _finish(rows, eligible, lambda row: (PREFERENCE_RANK[row["preference"]], -_int(row["swap_current"])))
    result["reason"] = ("the host has no swap: the swap rule never fires" if not swap_total_bytes else
                        None if result["first"] else "no candidate uses more than 5% of swap")
    return result


def predict_pressure(v2_root, monitored, unit_of, interval=1.0, sleep=time.sleep):
    """Per pressure-monitored cgroup, who oomd kills first once its memory.pressure full avg10 stays above
    the limit: preference, then the reclaim (pgscan) rate, then memory.current.

    The rate needs two readings `interval` seconds apart; with interval 0 (or one candidate) the order
    falls back to memory.current and pgscan_rate is null."""
    out = []
    for entry in monitored:
        rows = _candidates(v2_root, [entry["path"]], unit_of)
        live = [row for row in rows if row["preference"] != "omit"]
        if interval and len(live) > 1:
            sleep(interval)
            for row in live:
                later = cgroupfs.stat_value(row["_path"], "pgscan")
                row["pgscan_rate"] = (later - row["pgscan"]) / float(interval) \
                    if later is not None and row["pgscan"] is not None else None
        for row in rows:
            row.setdefault("pgscan_rate", None)

        def eligible(row):
            if not _int(row["memory_current"]) and not row["pgscan_rate"]:
                return "no memory in use and no reclaim"
            return None

        result = _finish(rows, eligible, lambda row: (PREFERENCE_RANK[row["preference"]], -(row["pgscan_rate"] or 0),
                                                      -_int(row["memory_current"])))
        result.update(monitored=entry["path"], limit_percent=entry.get("limit_percent"),
                      reason=None if result["first"] else "every candidate is omitted or idle")
        out.append(result)
    return out


def host_facts(run_command, running, v2_root, swap_total_bytes, unit_of, root="/", interval=1.0, sleep=time.sleep):
    """Host facts about systemd-oomd: running, its configured and running settings, the monitored cgroups,
    and the predicted first kill of each rule (only while it runs on a unified hierarchy)."""
    config = read_config(root)
    facts = {"running": bool(running), "config": config["settings"], "config_sources": config["sources"],
             "config_files": config["files"], "settings": None, "monitored": None, "prediction": None,
             "error": None}
    if not running:
        return facts
    if not any(os.access(os.path.join(folder, "oomctl"), os.X_OK)
               for folder in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) + ["/usr/bin", "/bin"]):
        facts["error"] = "systemd-oomd runs but oomctl is not installed"
        return facts
    rc, out, err = run_command(["oomctl", "dump"])
    if rc != 0:
        facts["error"] = "oomctl dump failed (rc=%s): %s" % (rc, (err or out).strip())
        return facts
    dump = parse_dump(out)
    facts["settings"] = dump["settings"]
    facts["monitored"] = {"swap": dump["swap"], "memory_pressure": dump["memory_pressure"]}
    default_limit = dump["settings"].get("default_memory_pressure_limit_percent") or config["settings"][
        "default_memory_pressure_limit_percent"]
    for entry in dump["memory_pressure"]:
        if entry.get("limit_percent") in (None, 0):
            entry["limit_percent"] = default_limit
    if v2_root:
        facts["prediction"] = {
            "swap": predict_swap(v2_root, dump["swap"], swap_total_bytes, unit_of),
            "memory_pressure": predict_pressure(v2_root, dump["memory_pressure"], unit_of, interval, sleep),
        }
    return facts
