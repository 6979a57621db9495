# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Which userspace OOM killers guard a host, with which thresholds, and whether they act before the kernel.

earlyoom is read from its command line (`/proc/<pid>/cmdline`), parsed as earlyoom 1.3-1.9's getopt_long
does; nohang from the config file its command line names, read through the process's own root and working
directory (`/proc/<pid>/root`, `/proc/<pid>/cwd`), parsed as nohang 0.2's loader does; systemd-oomd from the
facts `oomd.host_facts` has already gathered. Nothing is guessed: an option or a config this reader cannot
read makes the entry `settings_unknown` with the reason and the raw arguments.

The kernel's OOM killer acts only when an allocation cannot be met even after reclaim, i.e. with MemAvailable
near zero and swap full; a killer whose thresholds are above that acts first.
Standard library only, Python >= 3.8: this runs on target hosts.
"""

from __future__ import annotations

import math
import os

KILLERS = ("earlyoom", "nohang", "systemd-oomd")

# earlyoom: main.c's getopt_long table. Short options with an argument, short flags, long options.
_EO_SHORT_ARG = frozenset("msMSNrP")
_EO_SHORT_FLAG = frozenset("kingdvph")
_EO_LONG = {"prefer": True, "avoid": True, "ignore": True, "dryrun": False, "ignore-root-user": False,
            "sort-by-rss": False, "syslog": False, "help": False, "debug": False}
EARLYOOM_DEFAULTS = {"mem_term_percent": 10.0, "mem_kill_percent": 5.0,
                     "swap_term_percent": 10.0, "swap_kill_percent": 5.0}

# nohang 0.2: every one of these keys must be in the config (it exits without one); no built-in defaults.
NOHANG_THRESHOLDS = ("soft_threshold_min_mem", "hard_threshold_min_mem", "soft_threshold_min_swap",
                     "hard_threshold_min_swap", "soft_threshold_max_zram", "hard_threshold_max_zram")
NOHANG_NUMBERS = ("soft_threshold_max_psi", "hard_threshold_max_psi", "psi_excess_duration", "min_badness")
NOHANG_FLAGS = ("psi_checking_enabled", "zram_checking_enabled")
NOHANG_TEXT = ("psi_metrics", "psi_path")
# nohang 0.1 looked for a config in its working directory, then here, when none was given.
NOHANG_V01_DEFAULTS = ("nohang.conf", "/etc/nohang/nohang.conf")


class Unknown(Exception):
    """The settings cannot be known: the message says why."""


# --------------------------------------------------------------------------------------------- helpers

def read_args(proc_path, pid):
    """The NUL-separated argument vector of a process, or None when it cannot be read (it ended, no access)."""
    try:
        with open("%s/%d/cmdline" % (proc_path, pid), "rb") as handle:
            data = handle.read(65536)
    except (IOError, OSError):
        return None
    return [arg.decode("utf-8", "replace") for arg in data.split(b"\0")[:-1]] if data else []


def _number(text, what):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise Unknown("%s: %r is not a number" % (what, text))
    if math.isnan(value) or math.isinf(value):
        raise Unknown("%s: %r is not a number" % (what, text))
    return value


def pct(value):
    """10.0 -> "10%", 2.5 -> "2.5%", 3.333 -> "3.33%"."""
    return ("%.2f" % value).rstrip("0").rstrip(".") + "%"


# -------------------------------------------------------------------------------------------- earlyoom

def _term_kill(text, upper, option):
    """earlyoom's parse_term_kill_tuple(): "TERM[,KILL]", KILL defaulting to TERM/2, TERM raised to KILL."""
    term_text, comma, kill_text = str(text).partition(",")
    term = _number(term_text, option)
    kill = _number(kill_text, option) if comma else term / 2
    for value in (term, kill):
        if value < 0 or (upper is not None and value > upper):
            raise Unknown("%s: %s is outside 0..%s (earlyoom would not have started)" % (option, text, upper))
    if term < kill:
        term = kill
    if term == 0 and kill == 0:
        raise Unknown("%s: both values are zero (earlyoom would not have started)" % option)
    return term, kill, not comma


def _earlyoom_options(args):
    """earlyoom's argv (without argv[0]) -> [(option, value)] as getopt_long reads it, or Unknown."""
    out = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            if args[i + 1:]:
                raise Unknown("extra argument %r (earlyoom would not have started)" % args[i + 1])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            # getopt_long: an exact name, else an unambiguous prefix.
            matches = [known for known in _EO_LONG if known == name] \
                or [known for known in _EO_LONG if known.startswith(name)]
            if len(matches) != 1:
                raise Unknown("option %r is not one earlyoom 1.3-1.9 knows" % arg)
            name = matches[0]
            if _EO_LONG[name]:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise Unknown("option --%s lacks its argument" % name)
                    value = args[i]
                out.append(("--" + name, value))
            elif eq:
                raise Unknown("option --%s takes no argument, got %r" % (name, arg))
            else:
                out.append(("--" + name, None))
        elif arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in _EO_SHORT_ARG:
                    value = arg[j + 1:]
                    if not value:
                        i += 1
                        if i >= len(args):
                            raise Unknown("option -%s lacks its argument" % letter)
                        value = args[i]
                    out.append(("-" + letter, value))
                    break
                if letter not in _EO_SHORT_FLAG:
                    raise Unknown("option -%s is not one earlyoom 1.3-1.9 knows" % letter)
                out.append(("-" + letter, None))
                j += 1
        else:
            raise Unknown("extra argument %r (earlyoom would not have started)" % arg)
        i += 1
    return out


def earlyoom_settings(args, mem_total_kb, swap_total_kb):
    """The thresholds and choices of one earlyoom from its arguments, as its main() merges them.

    -m/-s are percentages (KILL defaults to TERM/2); -M/-S are KiB, turned into percentages of MemTotal and
    SwapTotal; when both forms are given the lower one wins. -S on a host without swap is ignored (earlyoom
    warns and keeps the percentages). Raises Unknown."""
    options = _earlyoom_options(args)
    settings = dict(EARLYOOM_DEFAULTS)
    settings.update(mem_term_kib=None, mem_kill_kib=None, swap_term_kib=None, swap_kill_kib=None,
                    prefer=None, avoid=None, ignore=None, dryrun=False, ignore_root_user=False,
                    sort_by_rss=False, kill_process_group=False, prekill_hook=None, notify_script=None)
    given = set()
    kill_defaulted = []
    sizes = {}
    for option, value in options:
        if option in ("-m", "-s"):
            kind = "mem" if option == "-m" else "swap"
            term, kill, halved = _term_kill(value, 99 if option == "-m" else 100, option)
            settings[kind + "_term_percent"], settings[kind + "_kill_percent"] = term, kill
            given.update((kind + "_term_percent", kind + "_kill_percent"))
            if halved:
                kill_defaulted.append(kind + "_kill_percent")
        elif option in ("-M", "-S"):
            kind = "mem" if option == "-M" else "swap"
            total = mem_total_kb if option == "-M" else swap_total_kb
            if total is None:
                raise Unknown("%s %s: the host's %s total is unknown" % (option, value, kind))
            term, kill, halved = _term_kill(value, total * 100 // 99 if total else None, option)
            if option == "-S" and not total:
                continue  # earlyoom: "-S: total swap is zero, using default percentages"
            sizes[kind] = (term, kill, total)
            settings[kind + "_term_kib"], settings[kind + "_kill_kib"] = term, kill
            if halved:
                kill_defaulted.append(kind + "_kill_kib")
        elif option in ("--prefer", "--avoid", "--ignore"):
            settings[option[2:]] = value
        elif option == "--dryrun":
            settings["dryrun"] = True
        elif option == "--ignore-root-user":
            settings["ignore_root_user"] = True
        elif option == "--sort-by-rss":
            settings["sort_by_rss"] = True
        elif option == "-g":
            settings["kill_process_group"] = True
        elif option == "-P":
            settings["prekill_hook"] = value
        elif option == "-N":
            settings["notify_script"] = value
        elif option in ("-h", "--help", "-v"):
            raise Unknown("%s makes earlyoom print and exit: this process is no running earlyoom" % option)
    for kind, (term, kill, total) in sizes.items():
        term_pct, kill_pct = 100.0 * term / total, 100.0 * kill / total
        if kind + "_term_percent" in given:
            settings[kind + "_term_percent"] = min(settings[kind + "_term_percent"], term_pct)
            settings[kind + "_kill_percent"] = min(settings[kind + "_kill_percent"], kill_pct)
        else:
            settings[kind + "_term_percent"], settings[kind + "_kill_percent"] = term_pct, kill_pct
            given.update((kind + "_term_percent", kind + "_kill_percent"))
    for key in settings:
        if isinstance(settings[key], float):
            settings[key] = round(settings[key], 2)
    defaults = sorted(key for key in EARLYOOM_DEFAULTS if key not in given) + sorted(kill_defaulted)
    return settings, defaults


def earlyoom_when(settings, swap_total_kb):
    if settings["dryrun"]:
        return False, "earlyoom runs with --dryrun: it reports low memory but never sends a signal"
    swap = "free swap" if swap_total_kb else "free swap (none on this host: always true)"
    text = "earlyoom sends SIGTERM when MemAvailable <= %s and %s <= %s; SIGKILL at %s/%s" % (
        pct(settings["mem_term_percent"]), swap, pct(settings["swap_term_percent"]),
        pct(settings["mem_kill_percent"]), pct(settings["swap_kill_percent"]))
    return settings["mem_term_percent"] > 0 or settings["mem_kill_percent"] > 0, text


# ---------------------------------------------------------------------------------------------- nohang

def _nohang_config_arg(args):
    """(daemon, config path or None) from nohang's argv (after the interpreter and the script)."""
    if not args:
        return True, None  # nohang 0.1: no option means monitor with a default config
    config = None
    for index, arg in enumerate(args):
        if arg in ("-c", "--config"):
            if index + 1 >= len(args):
                raise Unknown("option %s lacks its argument" % arg)
            config = args[index + 1]
        elif arg.startswith("--config="):
            config = arg[len("--config="):]
    one_off = ("--check", "--tasks", "-h", "--help", "-v", "--version", "-m", "--memload")
    daemon = "--monitor" in args or not any(arg in args for arg in one_off)
    return daemon, config


def _threshold(text, key):
    """nohang's "5 %" / "512 M" -> {value, unit: percent|MiB}."""
    raw = str(text).strip()
    if raw.endswith("%"):
        value, unit = _number(raw[:-1].strip(), key), "percent"
        if value < 0 or value > 100:
            raise Unknown("%s = %s is outside 0..100%% (nohang would not have started)" % (key, raw))
    elif raw.endswith("M"):
        value, unit = _number(raw[:-1].strip(), key), "MiB"
        if value < 0:
            raise Unknown("%s = %s is below zero (nohang would not have started)" % (key, raw))
    else:
        raise Unknown("%s = %r is neither a percentage nor MiB (nohang would not have started)" % (key, raw))
    return {"value": value, "unit": unit, "text": raw}


def parse_nohang_config(text):
    """nohang 0.2's loader: `key = value` lines that do not start with '#', a blank, a tab or a space; '@'
    lines are actions. A key given twice stops nohang. Returns the settings this reader reports, or Unknown."""
    found = {}
    for line in text.splitlines():
        if not line or line[0] in "#\t @":
            continue
        key, _sep, value = line.partition("=")
        key = key.strip()
        if key in found:
            raise Unknown("the config sets %s twice (nohang would not have started)" % key)
        found[key] = value.strip()
    settings = {}
    for key in NOHANG_THRESHOLDS + NOHANG_NUMBERS + NOHANG_FLAGS + NOHANG_TEXT:
        if key not in found:
            raise Unknown("the config lacks %s (nohang 0.2 would not start with it; it may have changed since "
                          "nohang started)" % key)
    for key in NOHANG_THRESHOLDS:
        settings[key] = _threshold(found[key], key)
    for key in NOHANG_NUMBERS:
        settings[key] = _number(found[key], key)
    settings["min_badness"] = int(settings["min_badness"])
    for key in NOHANG_FLAGS:
        if found[key] not in ("True", "False"):
            raise Unknown("%s = %r is not True or False (nohang would not have started)" % (key, found[key]))
        settings[key] = found[key] == "True"
    for key in NOHANG_TEXT:
        settings[key] = found[key]
    return settings


def _nohang_path(proc_path, pid, path):
    """Where the process sees `path`: its own root, relative paths from its working directory."""
    base = "%s/%d/root" % (proc_path, pid) if path.startswith("/") else "%s/%d/cwd" % (proc_path, pid)
    return base + ("" if path.startswith("/") else "/") + path


def _read_text(path):
    with open(path, "rb") as handle:
        return handle.read(1 << 20).decode("utf-8", "replace")


def nohang_settings(proc_path, pid, args):
    """(config file, settings) of one nohang from its argv after the script. Raises Unknown."""
    daemon, config = _nohang_config_arg(args)
    if not daemon:
        raise Unknown("nohang runs without --monitor (a one-off check, not the daemon)")
    candidates = [config] if config else list(NOHANG_V01_DEFAULTS)
    last_error = None
    for candidate in candidates:
        try:
            text = _read_text(_nohang_path(proc_path, pid, candidate))
        except (IOError, OSError) as exc:
            last_error = "cannot read its config %s: %s" % (candidate, exc.strerror or exc)
            if config:
                raise Unknown(last_error)
            continue
        return candidate, parse_nohang_config(text)
    raise Unknown("no config given and none found at nohang 0.1's defaults (%s); %s"
                  % (", ".join(NOHANG_V01_DEFAULTS), last_error))


def _amount(threshold):
    return pct(threshold["value"]) if threshold["unit"] == "percent" else "%g MiB" % threshold["value"]


def nohang_when(settings, swap_total_kb):
    swap = "SwapFree" if swap_total_kb else "SwapFree (no swap on this host: always true)"
    text = "nohang sends SIGTERM when MemAvailable <= %s and %s <= %s; SIGKILL at %s/%s" % (
        _amount(settings["soft_threshold_min_mem"]), swap, _amount(settings["soft_threshold_min_swap"]),
        _amount(settings["hard_threshold_min_mem"]), _amount(settings["hard_threshold_min_swap"]))
    if settings["psi_checking_enabled"]:
        text += "; also when %s of %s stays >= %g (SIGTERM) / %g (SIGKILL) for %gs with MemAvailable that low" % (
            settings["psi_metrics"], settings["psi_path"], settings["soft_threshold_max_psi"],
            settings["hard_threshold_max_psi"], settings["psi_excess_duration"])
        if not swap_total_kb:
            text += " (never on this host: nohang skips PSI without swap)"
    if settings["zram_checking_enabled"]:
        text += "; also when zram uses >= %s (SIGTERM) / %s (SIGKILL)" % (
            _amount(settings["soft_threshold_max_zram"]), _amount(settings["hard_threshold_max_zram"]))
    acts = settings["soft_threshold_min_mem"]["value"] > 0 or settings["hard_threshold_min_mem"]["value"] > 0
    return acts, text


# ---------------------------------------------------------------------------------------- systemd-oomd

def oomd_entry(oomd, pid):
    """systemd-oomd's entry from oomd.host_facts: acts before the kernel when it monitors a cgroup."""
    entry = {"killer": "systemd-oomd", "pid": pid, "args": None, "config_file": None,
             "settings": None, "defaults_applied": [], "settings_unknown": False, "reason": None}
    if oomd.get("error") or oomd.get("monitored") is None:
        settings = dict(oomd.get("config") or {})
        settings["monitored"] = None
        entry.update(settings=settings, settings_unknown=True,
                     reason=oomd.get("error") or "its monitored cgroups were not read",
                     acts_before_kernel=None,
                     when="systemd-oomd runs; which cgroups it watches is unknown (%s)"
                     % (oomd.get("error") or "not read"))
        return entry
    settings = dict(oomd.get("settings") or oomd.get("config") or {})
    monitored = oomd["monitored"]
    settings["monitored"] = monitored
    clauses = []
    duration = settings.get("default_memory_pressure_duration_sec")
    for watched in monitored.get("memory_pressure") or []:
        clauses.append("kills a cgroup of %s when its memory pressure stays above %s for %ss" % (
            watched.get("path"), pct(watched.get("limit_percent") or 0),
            ("%g" % duration) if duration is not None else "?"))
    swap_limit = settings.get("swap_used_limit_percent")
    for watched in monitored.get("swap") or []:
        clauses.append("kills the cgroup of %s using the most swap when memory and swap use are both above %s" % (
            watched.get("path"), pct(swap_limit) if swap_limit is not None else "?"))
    if not clauses:
        entry.update(acts_before_kernel=False,
                     when="systemd-oomd runs but monitors no cgroup (no unit sets ManagedOOMSwap= or "
                          "ManagedOOMMemoryPressure= to kill): it kills nothing")
    else:
        entry.update(acts_before_kernel=True, when="systemd-oomd " + "; ".join(clauses))
    entry["settings"] = settings
    return entry


# ------------------------------------------------------------------------------------------------ host

def _entry(killer, pid, args):
    return {"killer": killer, "pid": pid, "args": args, "config_file": None, "settings": None,
            "defaults_applied": [], "settings_unknown": False, "reason": None,
            "acts_before_kernel": None, "when": None}


def _script_args(args, script):
    """The arguments after the script of `python3 /usr/sbin/nohang --monitor ...` (or after argv[0])."""
    for index, arg in enumerate(args[:3]):
        if os.path.basename(arg) == script:
            return args[index + 1:]
    return args[1:]


def host_facts(proc_path, procs, mem_total_kb, swap_total_kb, oomd=None):
    """One entry per userspace killer found running, pid order within each killer.

    procs: the process table (objects with pid, name, kthread); oomd: oomd.host_facts' result."""
    out = []
    for proc in sorted(procs, key=lambda proc: proc.pid):
        if proc.kthread or not (proc.name in KILLERS or (proc.name or "").startswith("python")):
            continue
        args = read_args(proc_path, proc.pid)
        if args is None:
            continue  # it ended while we looked
        if proc.name not in KILLERS:
            # nohang started as `python3 /usr/sbin/nohang ...` is named after its interpreter.
            if not any(os.path.basename(arg) == "nohang" for arg in args[1:3]):
                continue
            proc_name = "nohang"
        else:
            proc_name = proc.name
        if proc_name == "systemd-oomd":
            if oomd is not None and oomd.get("running"):
                entry = oomd_entry(oomd, proc.pid)
                entry["args"] = args
                out.append(entry)
            continue
        entry = _entry(proc_name, proc.pid, args)
        try:
            if proc_name == "earlyoom":
                settings, defaults = earlyoom_settings(args[1:], mem_total_kb, swap_total_kb)
                acts, when = earlyoom_when(settings, swap_total_kb)
            else:
                config, settings = nohang_settings(proc_path, proc.pid, _script_args(args, "nohang"))
                entry["config_file"] = config
                defaults = []
                acts, when = nohang_when(settings, swap_total_kb)
        except Unknown as exc:
            entry.update(settings_unknown=True, reason=str(exc),
                         when="%s runs with settings this audit cannot read: %s" % (proc_name, exc))
        else:
            entry.update(settings=settings, defaults_applied=defaults, acts_before_kernel=acts, when=when)
        out.append(entry)
    return out
