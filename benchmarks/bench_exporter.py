# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exporter benchmark: the cost of one refresh of the live exporter's textfile, against `ps`.

Spawns N extra `sleep` processes (default 5,000) the way benchmarks/bench_scan.py does (its helpers are
reused), then times in interleaved rounds:

  ps            ps -eo pid,oom,oomadj,rss,comm: the lean baseline
  ps-full       ps -eo pid,oom,oomadj,rss,comm,cgroup,args: ps reading what the exporter reads for every
                process (it reads each cgroup, to tell leaks and units apart); the refresh's baseline
  refresh       one refresh in-process (_tasks.exporter.refresh): one /proc scan with cgroups, the kill order,
                headroom and pressure, per-unit status, leaks, the Prometheus text, the atomic write
  refresh-proc  the same as a process of its own, as the timer runs it: a fresh interpreter that imports
                the engine and refreshes once

Run it from the collection's root with the collection importable and ansible-core installed (for
bench_scan's imports):

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_exporter.py [--counts 5000] [--rounds 7]

Every spawned process is killed and reaped before the script exits, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import bench_scan
from bench_scan import Sleepers, check_room, loadavg, machine, print_step, ps_full_scan, ps_scan, summarize, time_rounds

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import exporter as _exporter

CONFIG = {
    "top": 5,
    # A policy like a real host's: two protected units, one process rule.
    "units": [{"name": "ssh.service", "tier": "critical", "oom_score_adj": -900},
              {"name": "postgresql.service", "tier": "essential", "oom_score_adj": -500}],
    "rules": [{"selector": {"name": "batchd"}, "tier": "expendable", "oom_score_adj": 500}],
    "thresholds": {},
}
PROC_CODE = "import sys; from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import exporter; " \
            "sys.exit(exporter.main(sys.argv[1:]))"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--counts", default="5000", help="extra processes per step (comma list)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    options = parser.parse_args()
    counts = sorted(int(n) for n in options.counts.split(","))
    workdir = tempfile.mkdtemp(prefix="bench-exporter-")
    config = dict(CONFIG, output_dir=os.path.join(workdir, "textfile"))
    config_path = os.path.join(workdir, "exporter.json")
    with open(config_path, "w") as handle:
        json.dump(config, handle)
    loaded = _exporter.load_config(config_path)

    def refresh():
        return _exporter.refresh(loaded).count("\noomguard_next_victim_oom_score{")

    def refresh_proc():
        subprocess.run([sys.executable, "-c", PROC_CODE, config_path], check=True, env=dict(os.environ))
        return len(os.listdir(config["output_dir"]))

    contenders = [("ps", ps_scan, True), ("ps-full", ps_full_scan, True), ("refresh", refresh, False),
                  ("refresh-proc", refresh_proc, True)]
    bench_scan.BASELINES.update({"refresh": "ps-full", "refresh-proc": "ps-full"})

    info = machine()
    print("machine: %(nproc)s CPUs, %(mem_total_gib)s GiB RAM, kernel %(kernel)s, Python %(python)s, %(ps)s" % info)
    print("load average at start: %s" % " ".join(info["loadavg_start"]))
    results = {"machine": info, "rounds": options.rounds, "steps": []}
    check_room(counts[-1])
    sleepers = Sleepers()
    try:
        for count in counts:
            sleepers.grow_to(count)
            time.sleep(0.5)
            load_before = loadavg()
            times, cpu, seen = time_rounds(options.rounds, contenders)
            step = {"spawned": count, "processes": seen["ps"], "seen": seen, "rows": summarize(times, cpu, contenders),
                    "loadavg": [load_before, loadavg()]}
            results["steps"].append(step)
            print_step(step, options.rounds)
    finally:
        sleepers.reap()
        shutil.rmtree(workdir, ignore_errors=True)
    info["loadavg_end"] = loadavg()
    print("load average at end: %s" % " ".join(info["loadavg_end"]))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
