# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container labelling benchmark: oom_score_info on a host with N real Podman containers, with and without
the container labels, in one run.

Starts N Podman containers (default 200; each a `sleep` under its conmon, from an image imported from a
local root file system, no registry), then times in interleaved rounds, the order rotated every round:

  lean-unlabelled     oom_score_info in-process with return_processes: false, container labelling switched off
                      (what the module cost before labels existed): the baseline of `lean`
  lean                the same with labels (the next victims are labelled)
  default-unlabelled  oom_score_info in-process with default options, labelling switched off: the baseline of
                      `default`
  default             the same with labels: every process row labelled, names read from Podman's files

Besides wall and CPU time, one extra run of each labelled contender counts how often a runtime's files were
read: once per container, whatever the number of its processes.

    PYTHONPATH=<dir holding ansible_collections> CONTAINERS_CONF=hack/podman/containers.conf \\
        python benchmarks/bench_containers.py [--containers 200] [--rounds 21] [--json results.json]

Every container, and the image, is removed before the script exits, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.fleet.plugins.module_utils._host import container_names as _container_names
from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

# The integration tests' image of a root file system that runs the host's /usr (no registry).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from livetools import host_usr_rootfs_tar  # noqa: E402  pylint: disable=wrong-import-position,import-error

PREFIX = "oomguard-bench-%d-" % os.getpid()
IMAGE = "localhost/oomguard-bench:%d" % os.getpid()
BASELINES = {"lean": "lean-unlabelled", "default": "default-unlabelled"}


def podman(*args, check=True):
    done = subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if check and done.returncode != 0:
        raise RuntimeError("podman %s: %s" % (" ".join(args[:2]), done.stderr.decode("utf-8", "replace").strip()))
    return done.stdout.decode("utf-8", "replace").strip()


def build_image(directory):
    podman("import", "-q", host_usr_rootfs_tar(directory), IMAGE)


def start_containers(count):
    for index in range(count):
        podman("run", "-d", "--name", "%s%d" % (PREFIX, index), "-v", "/usr:/usr:ro", IMAGE, "sleep", "3600")
        if (index + 1) % 50 == 0:
            print("  %d containers running" % (index + 1), flush=True)


def remove_all():
    names = [name for name in podman("ps", "-a", "--format", "{{.Names}}", check=False).split() if
             name.startswith(PREFIX)]
    if names:
        podman("rm", "-f", "-t", "0", *names, check=False)
    podman("rmi", "-f", IMAGE, check=False)


class Unlabelled(object):
    """Labelling switched off: no label from the cgroup file, no runtime file read."""

    def __enter__(self):
        self.saved = (_procfs.container_label, _container_names.ContainerNames.label)
        _procfs.container_label = lambda data: None
        _container_names.ContainerNames.label = lambda self, base, comm=None: None
        return self

    def __exit__(self, *exc):
        _procfs.container_label, _container_names.ContainerNames.label = self.saved
        return False


def run_module(args):
    with patch_module_args(args):
        module = oom_score_info.build_module()
    result = oom_score_info.OOMScoreInfo(module.params, Io.of_module(module)).execute()
    json.dumps(result)  # what exit_json would print
    return result


def contender(args, labelled):
    def run():
        if labelled:
            return run_module(args)
        with Unlabelled():
            return run_module(args)
    return run


def reads_per_run(args):
    """(runtime file reads, labelled rows) of one labelled run."""
    calls = []
    original = _container_names.ContainerNames._read

    def counting(self, runtime, cid):
        calls.append(cid)
        return original(self, runtime, cid)

    _container_names.ContainerNames._read = counting
    try:
        result = run_module(args)
    finally:
        _container_names.ContainerNames._read = original
    rows = result.get("processes") or result["kill_order"]
    labelled = [row for row in rows if row["container"] is not None]
    return len(calls), len(set(calls)), len(labelled)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    contenders = [
        ("lean-unlabelled", contender({"return_processes": False}, False)),
        ("lean", contender({"return_processes": False}, True)),
        ("default-unlabelled", contender({}, False)),
        ("default", contender({}, True)),
    ]
    try:
        with tempfile.TemporaryDirectory() as directory:
            build_image(directory)
        print("starting %d containers" % options.containers, flush=True)
        start_containers(options.containers)
        running = len([name for name in podman("ps", "--format", "{{.Names}}").split() if name.startswith(PREFIX)])
        times = {name: [] for name, _fn in contenders}
        cpu = {name: [] for name, _fn in contenders}
        processes = {}
        for round_no in range(options.rounds):
            shift = round_no % len(contenders)
            for name, func in contenders[shift:] + contenders[:shift]:
                start_cpu, start = cpu_seconds(), time.perf_counter()
                processes[name] = func()["host"]["process_count"]
                times[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds() - start_cpu)
        reads = {"lean": reads_per_run({"return_processes": False}), "default": reads_per_run({})}
    finally:
        remove_all()
    rows = []
    for name, _fn in contenders:
        base = BASELINES.get(name)
        row = {"name": name, "median_ms": statistics.median(times[name]) * 1000,
               "cpu_ms": statistics.median(cpu[name]) * 1000, "processes": processes[name]}
        if base:
            row["baseline"] = base
            row["ratio"] = statistics.median(times[name]) / statistics.median(times[base])
            row["paired_ratio"] = statistics.median(a / b for a, b in zip(times[name], times[base]))
            row["cpu_ratio"] = statistics.median(cpu[name]) / statistics.median(cpu[base])
            row["file_reads"], row["containers_read"], row["labelled_rows"] = reads[name]
        rows.append(row)
    print("\n%d containers running, %d rounds, %d processes seen" % (running, options.rounds, processes["default"]))
    print("| contender | median ms | CPU ms | vs | ratio | paired ratio | CPU ratio | runtime file reads "
          "(containers) | labelled rows |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for row in rows:
        if "baseline" in row:
            print("| %s | %.1f | %.1f | %s | %.3fx | %.3fx | %.3fx | %d (%d) | %d |" % (
                row["name"], row["median_ms"], row["cpu_ms"], row["baseline"], row["ratio"], row["paired_ratio"],
                row["cpu_ratio"], row["file_reads"], row["containers_read"], row["labelled_rows"]))
        else:
            print("| %s | %.1f | %.1f | | | | | | |" % (row["name"], row["median_ms"], row["cpu_ms"]))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"containers": running, "rounds": options.rounds, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
