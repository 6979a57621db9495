# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every benchmark that runs the collection's code in-process still runs, at its smallest size.

The benchmarks call the modules' task classes directly (to time them without Ansible around them), so an
interface change that the modules follow can leave a benchmark broken until someone reruns it. This runs
each one at a size that takes seconds, on this machine's real /proc (and real Podman containers for the
container labels), and checks that it finishes and prints its table. It measures nothing: the numbers are in
docs/benchmarks.md, from full runs. bench_fleet.py (a fleet of systemd containers) is run for real there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from livetools import collections_root

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTAINERS_CONF = os.path.join(REPO, "hack", "podman", "containers.conf")

SMALLEST = [
    ("bench_scan.py", ["--counts", "10", "--rounds", "1", "--no-memory"]),
    ("bench_oom_score_adj.py", ["--processes", "20", "--names", "2", "--rounds", "1", "--skip-ansible"]),
    ("bench_exporter.py", ["--counts", "10", "--rounds", "1"]),
    ("bench_report.py", ["--sizes", "10", "--rounds", "1"]),
    ("bench_containers.py", ["--containers", "2", "--rounds", "1"]),
]


@pytest.mark.parametrize("script, args", SMALLEST, ids=[script for script, _args in SMALLEST])
def test_the_benchmark_runs_at_its_smallest_size(script, args):
    if script == "bench_containers.py" and shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = dict(os.environ, PYTHONPATH=collections_root(), CONTAINERS_CONF=CONTAINERS_CONF)
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", script)] + args, cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    # Each prints at least one Markdown table of its results.
    assert any(line.startswith("|---") for line in out.splitlines()), out[-4000:]
