# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fact-scan benchmark: oomguard's engine and oom_score_info against `ps` and a psutil scanner.

Spawns N extra `sleep` processes (default 1,000 / 5,000 / 10,000), then times, in interleaved rounds so
that background noise hits every contender alike:

  ps           ps -eo pid,oom,oomadj,rss,comm: the baseline of the engine, the lean module and psutil
  ps-full      ps -eo pid,oom,oomadj,rss,comm,cgroup,args: the same plus what the default module adds
               (cgroup and command line of every process), the baseline of the default module
  engine       _host.procfs.scan() + _engine.scoring.kill_order(): every process's badness parts, adj and score
  module       the oom_score_info module in-process (AnsibleModule, execute(), JSON result), default options
  module-lean  the same with return_processes: false (kill order and host facts only)
  psutil       a scanner in the style of the usual monitoring scripts: psutil.process_iter(), then per process
               /proc/PID/oom_score, /proc/PID/oom_score_adj, psutil name() and memory_info().rss
  module-proc  (--whole-process) the default module as a process of its own, as Ansible runs it: a fresh
               interpreter imports AnsibleModule and the module, scans, prints the JSON (exit_json)
  module-json  (--whole-process) the same process, the same result, printed with the standard library's
               json.dumps instead of exit_json: what the module costs without ansible-core's result walk
               (exit_json copies every value of the result to strip no_log values, then encodes it with
               ansible-core's profile encoder)
  import-only  (--whole-process) that interpreter's fixed part: the imports, no scan
  reads-proc   (--whole-process) the floor of any Python scanner of the same information: a fresh interpreter
               (standard library only) that opens, reads once and closes, for every process, the six files the
               default module reads (stat, status, oom_score, oom_score_adj, cmdline, cgroup), and parses nothing
  floor-proc   (--whole-process) the floor of the module as a process: the imports of import-only, then the
               reads of reads-proc; no parsing, no result

With --tasks, four contenders run as Ansible runs them: each an ansible-playbook of one play on localhost
(local connection, this interpreter as the target's Python) with the task and an assert that its result is
not empty, so that what users pay for a task at this many processes is measured whole (CLI start, AnsiballZ,
the module, the result's way back through the controller):

  task-ps      ansible.builtin.command running the ps of `ps`
  task-ps-full ansible.builtin.command running the ps of `ps-full`: the baseline of task-default
  task-default oomguard.fleet.oom_score_info with default options
  task-lean    the same with return_processes: false (baseline: task-ps)

Besides wall time, each contender's CPU time (user + system, of the child for ps and the processes, of this
interpreter for the in-process ones) is recorded: it is less disturbed by other jobs on a shared machine.

Then peak memory of the module at the largest N, each measurement in a fresh interpreter: the peak RSS of
the process (VmHWM, the ru_maxrss of its own image), its growth over an interpreter that only imported the
module, and the tracemalloc peak of the run itself.

Run it from the collection's root with the collection importable (ansible_collections/oomguard/fleet on
PYTHONPATH) and ansible-core and psutil installed:

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_scan.py [--counts 1000,5000,10000]
        [--rounds 7] [--whole-process] [--tasks] [--json results.json]

Every spawned process is killed and reaped before the script exits, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from ansible.module_utils.testing import patch_module_args

from bench_fleet import collections_root

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import scoring as _scoring
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

PS_ARGV = ["ps", "-eo", "pid,oom,oomadj,rss,comm"]
PS_FULL_ARGV = ["ps", "-eo", "pid,oom,oomadj,rss,comm,cgroup,args"]
# Each contender is compared with the ps that reports what it reports.
BASELINES = {"module": "ps-full", "module-proc": "ps-full", "module-json": "ps-full", "reads-proc": "ps-full",
             "floor-proc": "ps-full", "task-ps": "task-ps", "task-ps-full": "task-ps", "task-default": "task-ps-full",
             "task-lean": "task-ps"}
BASELINE = "ps"
MODULE_NAME = "ansible_collections.oomguard.fleet.plugins.modules.oom_score_info"
IMPORT_ONLY = "import %s" % MODULE_NAME
# The module's own main() with exit_json replaced by a plain print of the same result. AnsibleModule reads
# its arguments from the file named as the first argument, as in module_process().
MODULE_JSON = (
    "import json\n"
    "from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info as m\n"
    "from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io\n"
    "module = m.build_module()\n"
    "print(json.dumps(m.OOMScoreInfo(module.params, Io.of_module(module)).execute()))\n"
)

# The six per-process files of the default module, each opened, read once (they fit one read) and closed.
READS = (
    "import os\n"
    "n = 0\n"
    "for entry in os.listdir('/proc'):\n"
    "    if not entry.isdigit():\n"
    "        continue\n"
    "    base = '/proc/' + entry + '/'\n"
    "    try:\n"
    "        for name in ('stat', 'status', 'oom_score', 'oom_score_adj', 'cmdline', 'cgroup'):\n"
    "            fd = os.open(base + name, os.O_RDONLY)\n"
    "            try:\n"
    "                os.read(fd, 65536)\n"
    "            finally:\n"
    "                os.close(fd)\n"
    "    except OSError:\n"
    "        continue\n"
    "    n += 1\n"
    "print(n)\n"
)

MEMORY_PROBE = r"""
import json, sys, tracemalloc
from ansible.module_utils.testing import patch_module_args
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

def hwm_kb():
    # VmHWM: peak RSS of this process image. ru_maxrss would also count the image that exec replaced (the
    # benchmark itself, with vfork), so it is not used.
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

args = json.loads(sys.argv[1])
before = hwm_kb()
peak = None
if args is not None:
    tracemalloc.start()
    with patch_module_args(args):
        module = oom_score_info.build_module()
    out = json.dumps(oom_score_info.OOMScoreInfo(module.params, Io.of_module(module)).execute())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
print(json.dumps({"hwm_kb": hwm_kb(), "import_hwm_kb": before, "tracemalloc_peak": peak}))
"""


# ---------------------------------------------------------------------------------------------------------
# The contenders. Each returns the number of processes it reported, so a broken one shows.

def engine_scan():
    host = _procfs.read_host("/proc")
    procs, _warnings = _procfs.scan("/proc")
    _scoring.kill_order(procs, host["total_pages"], host["page_size"])
    return len(procs)


def _module(args):
    with patch_module_args(args):
        module = oom_score_info.build_module()
    result = oom_score_info.OOMScoreInfo(module.params, Io.of_module(module)).execute()
    json.dumps(result)  # what exit_json would print
    return result["host"]["process_count"]


def module_default():
    return _module({})


def module_lean():
    return _module({"return_processes": False})


def _lines_of(argv):
    out = subprocess.run(argv, stdout=subprocess.PIPE, check=True).stdout
    return out.count(b"\n") - 1


def ps_scan():
    return _lines_of(PS_ARGV)


def ps_full_scan():
    return _lines_of(PS_FULL_ARGV)


def module_process():
    # AnsibleModule reads its arguments from a file named on the command line when it is run directly.
    out = subprocess.run([sys.executable, "-m", MODULE_NAME, ARGS_FILE], stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)["host"]["process_count"]


def module_process_json():
    out = subprocess.run([sys.executable, "-c", MODULE_JSON, ARGS_FILE], stdout=subprocess.PIPE, check=True).stdout
    return json.loads(out)["host"]["process_count"]


def import_only():
    subprocess.run([sys.executable, "-c", IMPORT_ONLY], check=True)
    return 0


def _count_printed_by(code):
    return int(subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, check=True).stdout)


def reads_process():
    return _count_printed_by(READS)


def floor_process():
    return _count_printed_by(IMPORT_ONLY + "\n" + READS)


ARGS_FILE = None  # written by main() when --whole-process asks for the process contenders

# --tasks: one playbook per contender, each a task and an assert on its result (the same two tasks everywhere).
TASKS = {
    "task-ps": ("ansible.builtin.command", {"argv": PS_ARGV}, "result.stdout_lines | length > 100"),
    "task-ps-full": ("ansible.builtin.command", {"argv": PS_FULL_ARGV}, "result.stdout_lines | length > 100"),
    "task-default": ("oomguard.fleet.oom_score_info", {}, "result.processes | length > 100"),
    "task-lean": ("oomguard.fleet.oom_score_info", {"return_processes": False}, "result.kill_order | length > 0"),
}


def task_playbook(directory, name):
    module, args, check = TASKS[name]
    play = [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "The task", module: args, "register": "result", "changed_when": False},
        {"name": "Its result is not empty", "ansible.builtin.assert": {"that": [check], "quiet": True}},
    ]}]
    path = os.path.join(directory, name + ".yml")
    with open(path, "w") as handle:
        json.dump(play, handle)  # JSON is YAML
    return path


def task_contenders(directory):
    """One contender per TASKS entry: its playbook, written into `directory`, run by ansible-playbook."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_root(),
        "ANSIBLE_HOME": os.path.join(directory, "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
    })
    playbook_cli = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def contender(playbook):
        def run():
            subprocess.run([playbook_cli, "-i", "localhost,", "-c", "local",
                            "-e", "ansible_python_interpreter=%s" % sys.executable, playbook],
                           stdout=subprocess.DEVNULL, env=env, check=True)
            return 0
        return run

    return [(name, contender(task_playbook(directory, name)), True) for name in TASKS]


def psutil_scan():
    import psutil  # pylint: disable=import-outside-toplevel

    rows = []
    for proc in psutil.process_iter(["pid"]):
        pid = proc.info["pid"]
        try:
            with open("/proc/%d/oom_score" % pid) as handle:
                score = int(handle.read().strip())
            with open("/proc/%d/oom_score_adj" % pid) as handle:
                adj = int(handle.read().strip())
            rows.append((pid, proc.name(), score, adj, proc.memory_info().rss))
        except (OSError, ValueError, psutil.Error):
            continue
    return len(rows)


CONTENDERS = [
    ("ps", ps_scan, True),
    ("ps-full", ps_full_scan, True),
    ("engine", engine_scan, False),
    ("module", module_default, False),
    ("module-lean", module_lean, False),
    ("psutil", psutil_scan, False),
]
WHOLE_PROCESS = [
    ("module-proc", module_process, True),
    ("module-json", module_process_json, True),
    ("import-only", import_only, True),
    ("reads-proc", reads_process, True),
    ("floor-proc", floor_process, True),
]


# ---------------------------------------------------------------------------------------------------------
# Spawning

class Sleepers(object):
    """N `sleep` processes, always reaped."""

    def __init__(self):
        self.pids = []
        self.sleep = shutil.which("sleep")

    def grow_to(self, count):
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
            while len(self.pids) < count:
                self.pids.append(os.posix_spawn(self.sleep, ["sleep", "100000"], {}, file_actions=actions))
        finally:
            os.close(devnull)

    def reap(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        self.pids = []


def raise_nproc(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NPROC, (min(needed, hard) if hard != resource.RLIM_INFINITY
                                                   else needed, hard))
    soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
    return soft


def check_room(count):
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    running = sum(1 for entry in os.listdir("/proc") if entry.isdigit())
    if running + count + 200 > pid_max:
        sys.exit("kernel.pid_max is %d and %d processes run: no room for %d more" % (pid_max, running, count))
    soft = raise_nproc(running + count + 500)
    if soft != resource.RLIM_INFINITY and soft < count + 200 and os.getuid() != 0:
        sys.exit("ulimit -u is %d: too low for %d processes" % (soft, count))


# ---------------------------------------------------------------------------------------------------------
# Measuring

def cpu_seconds(children):
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_rounds(rounds, contenders):
    """{name: [wall s per round]}, {name: [CPU s per round]} and {name: processes seen}; contenders
    interleaved, their order rotated every round."""
    times = {name: [] for name, _fn, _child in contenders}
    cpu = {name: [] for name, _fn, _child in contenders}
    seen = {}
    for round_no in range(rounds):
        shift = round_no % len(contenders)
        for name, func, children in contenders[shift:] + contenders[:shift]:
            cpu_start = cpu_seconds(children)
            start = time.perf_counter()
            seen[name] = func()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(cpu_seconds(children) - cpu_start)
    return times, cpu, seen


def memory_probe(args):
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, json.dumps(args)], stdout=subprocess.PIPE,
                         check=True, env=dict(os.environ)).stdout
    return json.loads(out)


def summarize(times, cpu, contenders):
    rows = []
    for name, _fn, _child in contenders:
        baseline = BASELINES.get(name, BASELINE)
        series, base = times[name], times[baseline]
        paired = [value / ref for value, ref in zip(series, base)]
        rows.append({
            "name": name,
            "baseline": baseline,
            "median_ms": statistics.median(series) * 1000,
            "min_ms": min(series) * 1000,
            "max_ms": max(series) * 1000,
            "ratio": statistics.median(series) / statistics.median(base),
            "paired_ratio": statistics.median(paired),
            "paired_min": min(paired),
            "paired_max": max(paired),
            "cpu_ms": statistics.median(cpu[name]) * 1000,
            "cpu_ratio": statistics.median(cpu[name]) / statistics.median(cpu[baseline]),
        })
    return rows


def loadavg():
    with open("/proc/loadavg") as handle:
        return handle.read().split()[:3]


def machine():
    mem_kb = _procfs.read_meminfo("/proc").get("MemTotal")
    return {
        "nproc": os.cpu_count(),
        "mem_total_gib": round(mem_kb / 1024.0 / 1024.0, 1) if mem_kb else None,
        "kernel": os.uname()[2],
        "python": sys.version.split()[0],
        "ps": subprocess.run(["ps", "--version"], stdout=subprocess.PIPE, check=False).stdout.decode().strip(),
        "loadavg_start": loadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--counts", default="1000,5000,10000", help="extra processes per step (comma list)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe")
    parser.add_argument("--whole-process", action="store_true",
                        help="also time the default module as a process of its own, its imports alone and the "
                        "floor of its file reads")
    parser.add_argument("--tasks", action="store_true",
                        help="also time ansible-playbook runs of one task each: ps, ps-full and the module")
    options = parser.parse_args()
    counts = sorted(int(n) for n in options.counts.split(","))
    contenders = list(CONTENDERS)
    if options.whole_process:
        global ARGS_FILE  # pylint: disable=global-statement
        handle, ARGS_FILE = tempfile.mkstemp(prefix="bench-scan-args-", suffix=".json")
        with os.fdopen(handle, "w") as args:
            json.dump({"ANSIBLE_MODULE_ARGS": {}}, args)
        contenders += WHOLE_PROCESS
    task_dir = None
    if options.tasks:
        task_dir = tempfile.mkdtemp(prefix="bench-scan-tasks-")
        contenders += task_contenders(task_dir)

    info = machine()
    print("machine: %(nproc)s CPUs, %(mem_total_gib)s GiB RAM, kernel %(kernel)s, Python %(python)s, %(ps)s"
          % info)
    print("load average at start: %s" % " ".join(info["loadavg_start"]))
    results = {"machine": info, "rounds": options.rounds, "steps": []}
    check_room(counts[-1])
    sleepers = Sleepers()
    try:
        for count in counts:
            sleepers.grow_to(count)
            time.sleep(0.5)  # let the spawns settle (exec, page-in) before timing
            load_before = loadavg()
            times, cpu, seen = time_rounds(options.rounds, contenders)
            rows = summarize(times, cpu, contenders)
            step = {"spawned": count, "processes": seen[BASELINE], "seen": seen, "rows": rows,
                    "loadavg": [load_before, loadavg()]}
            if count == counts[-1] and not options.no_memory:
                step["memory"] = {
                    "import_only": memory_probe(None),
                    "module": memory_probe({}),
                    "module-lean": memory_probe({"return_processes": False}),
                }
            results["steps"].append(step)
            print_step(step, options.rounds)
    finally:
        sleepers.reap()
        if ARGS_FILE:
            os.unlink(ARGS_FILE)
        if task_dir:
            shutil.rmtree(task_dir)
    info["loadavg_end"] = loadavg()
    print("load average at end: %s" % " ".join(info["loadavg_end"]))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(results, handle, indent=2)


def print_step(step, rounds):
    print()
    print("%d processes on the host (%d spawned), %d rounds, load average %s before, %s after; ratio = median / "
          "median of the baseline, paired = median (min..max) of the per-round ratios, cpu = user + system"
          % (step["processes"], step["spawned"], rounds, step["loadavg"][0][0], step["loadavg"][1][0]))
    print("| %-12s | %-8s | %10s | %19s | %8s | %24s | %8s | %8s | %8s |" % (
        "scanner", "baseline", "median ms", "min..max ms", "ratio", "paired (min..max)", "cpu ms", "cpu ratio",
        "procs"))
    print("|%s|%s|%s|%s|%s|%s|%s|%s|%s|" % ("-" * 14, "-" * 10, "-" * 12, "-" * 21, "-" * 10, "-" * 26, "-" * 10,
                                            "-" * 10, "-" * 10))
    for row in step["rows"]:
        print("| %-12s | %-8s | %10.1f | %8.1f..%-8.1f | %7.2fx | %7.2fx (%5.2f..%-5.2f) | %8.1f | %7.2fx | %8d |" % (
            row["name"], row["baseline"], row["median_ms"], row["min_ms"], row["max_ms"], row["ratio"],
            row["paired_ratio"], row["paired_min"], row["paired_max"], row["cpu_ms"], row["cpu_ratio"],
            step["seen"][row["name"]]))
    memory = step.get("memory")
    if memory:
        base = memory["import_only"]["hwm_kb"]
        print()
        print("peak memory at %d processes (fresh interpreter each):" % step["processes"])
        print("| %-12s | %14s | %20s | %18s |" % ("run", "peak RSS MiB", "over import-only MiB",
                                                  "tracemalloc MiB"))
        print("|%s|%s|%s|%s|" % ("-" * 14, "-" * 16, "-" * 22, "-" * 20))
        for name in ("import_only", "module", "module-lean"):
            probe = memory[name]
            peak = probe["tracemalloc_peak"]
            print("| %-12s | %14.1f | %20.1f | %18s |" % (
                name, probe["hwm_kb"] / 1024.0, (probe["hwm_kb"] - base) / 1024.0,
                "-" if peak is None else "%.1f" % (peak / 1048576.0)))


if __name__ == "__main__":
    main()
