# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: oomguard.fleet.oom_protection against a naive one-task-per-unit role.

Boots a fleet of five systemd containers from the test fleet's images (the molecule platforms' images and
options, under names of its own -- ogbench-h1..h5, outside the oomguard-* names that the molecule runner
cleans up -- so neither touches the other's containers), gives every host 50 dummy services, then for 1, 10
and 50 assigned units per host times three runs of each contender:

  first      converge from a clean host (no drop-ins, every process at adj 0)
  rerun      the same again: nothing to change (must report changed=0)
  audit      read-only: the collection's audit playbook (oomguard.fleet.audit, the role in check mode plus
             kill order and OOM history) for the role; the naive role with --check for the baseline

and counts the remote executions per host through a wrapper around the podman CLI that the connection
plugin calls: "modules" are executions of the target's Python (one per module run, with pipelining),
"other" the remaining shell commands of the connection (temporary directories and the like).

Run it from the collection's root with ansible-core, containers.podman and podman available, the collection
importable (ansible_collections/oomguard/fleet on PYTHONPATH) and the fleet images built:

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_fleet.py [--units 1,10,50]
        [--naive-units 1,10] [--rounds 1] [--json results.json] [--keep] [--memory-tier]

--naive-units limits the naive role to some unit counts (it needs minutes per run at 50 units).

Image names come from OOMGUARD_IMAGE_BOOKWORM / OOMGUARD_IMAGE_TRIXIE (defaults: the stable aliases
localhost/oomguard-bookworm:current and localhost/oomguard-trixie:current). The containers are removed at
the end, also on errors, unless --keep is given. While it runs it holds the lock hack/run-molecule takes
(oomguard-molecule.lock in $TMPDIR), so a molecule run and the benchmark wait for each other instead of
sharing two CPU cores and skewing the timings.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import ansible_collections.oomguard.fleet as _collection

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
UNIT_PREFIX = "oomguard-bench-"
MAX_UNITS = 50
# Tiers cycle over the units: positive values only, so that hosts without CAP_SYS_RESOURCE apply them all.
TIER_CYCLE = (("expendable", 500), ("bench", 300), ("standard", 0))
# --memory-tier: the bench tier also carries memory and systemd-oomd settings (same drop-in, same calls).
MEMORY_TIER = {"oom_score_adj": 300, "memory_min": "8M", "memory_max": "256M", "managed_oom_preference": "avoid"}
HOSTS = (
    ("ogbench-h1", "bookworm"),
    ("ogbench-h2", "trixie"),
    ("ogbench-h3", "trixie"),
    ("ogbench-h4", "bookworm"),
    ("ogbench-h5", "trixie"),
)
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                      r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)

WRAPPER = """#!/bin/sh
line=$(printf '%s ' "$@" | tr '\\n' ' ' | cut -c1-600)
printf '%s\\n' "$line" >> '@LOG@'
exec '@PODMAN@' "$@"
"""
UNIT_FILE = "[Unit]\\nDescription=oomguard benchmark unit %s\\n\\n[Service]\\nExecStart=/bin/sleep infinity\\n"


def collections_root():
    fleet_dir = list(_collection.__path__)[0]
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(fleet_dir))))


def image_for(suite):
    return os.environ.get("OOMGUARD_IMAGE_" + suite.upper(), "localhost/oomguard-%s:current" % suite)


class Fleet(object):
    """The benchmark's containers, and the podman wrapper that counts what the connection runs on them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.podman = shutil.which("podman")
        if not self.podman:
            sys.exit("podman is not installed")
        self.env = dict(os.environ)
        conf = os.path.join(REPO, "hack", "podman", "containers.conf")
        if os.path.exists(conf) and "CONTAINERS_CONF" not in self.env:
            self.env["CONTAINERS_CONF"] = conf
        self.log = os.path.join(workdir, "podman-calls.log")
        self.wrapper = os.path.join(workdir, "podman-counting")
        with open(self.wrapper, "w") as handle:
            # One write per call (a single printf), so parallel forks do not interleave lines.
            handle.write(WRAPPER.replace("@LOG@", self.log).replace("@PODMAN@", self.podman))
        os.chmod(self.wrapper, 0o755)
        self.inventory = os.path.join(workdir, "inventory.ini")
        with open(self.inventory, "w") as handle:
            handle.write("[fleet]\n")
            for name, _suite in HOSTS:
                handle.write("%s\n" % name)
            handle.write("\n[fleet:vars]\nansible_connection=containers.podman.podman\n"
                         "ansible_podman_executable=%s\nansible_python_interpreter=/usr/bin/python3\n"
                         % self.wrapper)

    def _podman(self, *args, **kwargs):
        return subprocess.run([self.podman] + list(args), env=self.env, check=kwargs.get("check", True),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=kwargs.get("timeout", 300))

    def sh(self, host, script):
        return self._podman("exec", host, "/bin/sh", "-c", script).stdout.decode()

    def create(self):
        self.destroy()
        for name, suite in HOSTS:
            image = image_for(suite)
            if self._podman("image", "exists", image, check=False).returncode != 0:
                sys.exit("image %s is missing: build the test fleet images first" % image)
            self._podman("run", "-d", "--name", name, "--hostname", name, "--systemd=always", image, "/sbin/init")
        units = " ".join("%s%02d.service" % (UNIT_PREFIX, i) for i in range(1, MAX_UNITS + 1))
        script = ("systemctl is-system-running --wait >/dev/null; "
                  "for i in $(seq -w 1 %d); do printf '%s' $i > /etc/systemd/system/%s$i.service; done; "
                  "systemctl daemon-reload && systemctl start %s" % (MAX_UNITS, UNIT_FILE, UNIT_PREFIX, units))
        for name, _suite in HOSTS:
            self.sh(name, script)

    def reset(self):
        """Back to a clean host: no drop-ins, every benchmark unit restarted (so at the inherited adj 0)."""
        script = ("rm -rf /etc/systemd/system/%s*.service.d && systemctl daemon-reload && "
                  "systemctl restart '%s*.service'" % (UNIT_PREFIX, UNIT_PREFIX))
        for name, _suite in HOSTS:
            self.sh(name, script)

    def destroy(self):
        for name, _suite in HOSTS:
            self._podman("rm", "-f", "-t", "0", name, check=False)

    def start_counting(self):
        open(self.log, "w").close()

    def counts(self):
        """{host: {"modules": n, "other": n}} from the wrapper's log."""
        out = dict((name, {"modules": 0, "other": 0}) for name, _suite in HOSTS)
        with open(self.log) as handle:
            for line in handle:
                words = line.split()
                if not words or words[0] != "exec":
                    continue
                host = next((word for word in words if word in out), None)
                if host is None:
                    continue
                out[host]["modules" if "python" in line else "other"] += 1
        return out


def ansible_env(fleet, workdir):
    env = dict(fleet.env)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_root(),
        "ANSIBLE_HOME": os.path.join(workdir, "ansible-home"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_FORKS": "5",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def unit_vars(count, memory_tier=False):
    units = {}
    naive = []
    for i in range(1, count + 1):
        tier, adj = TIER_CYCLE[(i - 1) % len(TIER_CYCLE)]
        name = "%s%02d.service" % (UNIT_PREFIX, i)
        units[name] = tier
        naive.append({"unit": name, "oom_score_adj": adj})
    return {"oom_protection_custom_tiers": {"bench": MEMORY_TIER if memory_tier else 300}, "oom_protection_units": units,
            "naive_oom_units": naive}


def run_playbook(fleet, workdir, playbook, extra, check=False):
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", fleet.inventory,
            playbook, "-e", "@" + extra]
    if check:
        argv.append("--check")
    fleet.start_counting()
    start = time.perf_counter()
    done = subprocess.run(argv, env=ansible_env(fleet, workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    elapsed = time.perf_counter() - start
    out = done.stdout.decode("utf-8", "replace")
    recap = dict((m.group(1), [int(x) for x in m.groups()[1:]]) for m in RECAP_RE.finditer(out))
    failed = done.returncode != 0 or any(row[2] or row[3] for host, row in recap.items() if host in dict(HOSTS))
    if failed:
        log = os.path.join(workdir, "failed-%d.log" % int(time.time()))
        with open(log, "w") as handle:
            handle.write(out)
        raise RuntimeError("%s failed (rc %d), output in %s:\n%s" % (playbook, done.returncode, log, out[-3000:]))
    return {
        "seconds": elapsed,
        "changed": dict((host, recap[host][1]) for host, _suite in HOSTS),
        "counts": fleet.counts(),
    }


def measure(fleet, workdir, counts, rounds, naive_counts=None, memory_tier=False):
    """Per unit count, rounds of (reset, first, rerun, audit) for each contender; the contenders alternate
    within a round and swap places every round, so a busy stretch of the machine hits both alike."""
    contenders = (
        ("role", os.path.join(BENCH_DIR, "fleet_role.yml"), "oomguard.fleet.audit", False),
        ("naive", os.path.join(BENCH_DIR, "fleet_naive.yml"), os.path.join(BENCH_DIR, "fleet_naive.yml"), True),
    )
    results = []
    for count in counts:
        extra = os.path.join(workdir, "units-%d.json" % count)
        with open(extra, "w") as handle:
            json.dump(dict(unit_vars(count, memory_tier), oom_audit_report_dir=os.path.join(workdir, "reports")), handle)
        present = [c for c in contenders if c[0] == "role" or naive_counts is None or count in naive_counts]
        runs = dict((name, {"first": [], "rerun": [], "audit": []}) for name, _p, _a, _c in present)
        for round_no in range(rounds):
            for name, playbook, audit, audit_check in present[::1 if round_no % 2 == 0 else -1]:
                fleet.reset()
                runs[name]["first"].append(run_playbook(fleet, workdir, playbook, extra))
                runs[name]["rerun"].append(run_playbook(fleet, workdir, playbook, extra))
                runs[name]["audit"].append(run_playbook(fleet, workdir, audit, extra, check=audit_check))
                if any(runs[name]["rerun"][-1]["changed"].values()):
                    raise RuntimeError("%s is not idempotent at %d units: %r" % (name, count, runs[name]["rerun"][-1]))
                if not any(runs[name]["first"][-1]["changed"].values()):
                    raise RuntimeError("%s's first converge changed nothing at %d units" % (name, count))
        for name, _p, _a, _c in present:
            results.append({"units": count, "contender": name, "runs": runs[name]})
            print_row(results[-1])
    return results


def _per_host(run, key):
    values = [run["counts"][host][key] for host, _suite in HOSTS]
    return min(values), max(values)


def print_row(result):
    for phase in ("first", "rerun", "audit"):
        runs = result["runs"][phase]
        secs = [run["seconds"] for run in runs]
        mods = _per_host(runs[-1], "modules")
        other = _per_host(runs[-1], "other")
        print("| %5d | %-5s | %-5s | %8.1f | %13s | %9s | %9s |" % (
            result["units"], result["contender"], phase, statistics.median(secs),
            "%.1f..%.1f" % (min(secs), max(secs)) if len(secs) > 1 else "-",
            "%d" % mods[0] if mods[0] == mods[1] else "%d..%d" % mods,
            "%d" % other[0] if other[0] == other[1] else "%d..%d" % other))
    sys.stdout.flush()


def summarize(results):
    by = dict(((r["units"], r["contender"]), r) for r in results)
    print()
    print("ratios (median wall time):")
    print("| units | naive first / role first | naive rerun / role rerun | naive audit / role audit | "
          "role first / role rerun | role modules/host first, rerun, audit |")
    print("|---|---|---|---|---|---|")
    summary = []
    for units in sorted(set(r["units"] for r in results)):
        role, naive = by[(units, "role")], by.get((units, "naive"))

        def med(result, phase):
            return statistics.median(run["seconds"] for run in result["runs"][phase])

        row = {
            "units": units,
            "naive_vs_role_first": med(naive, "first") / med(role, "first") if naive else None,
            "naive_vs_role_rerun": med(naive, "rerun") / med(role, "rerun") if naive else None,
            "naive_vs_role_audit": med(naive, "audit") / med(role, "audit") if naive else None,
            "role_first_vs_rerun": med(role, "first") / med(role, "rerun"),
            # Each round's first converge and rerun run back to back: their ratio sees the same machine load.
            "role_first_vs_rerun_paired": statistics.median(
                first["seconds"] / rerun["seconds"] for first, rerun in zip(role["runs"]["first"], role["runs"]["rerun"])),
            "role_modules": [_per_host(role["runs"][phase][-1], "modules") for phase in ("first", "rerun", "audit")],
        }
        summary.append(row)
        print("| %d | %s | %s | %s | %.2fx (paired %.2fx) | %s |" % (
            units, *["-" if row[key] is None else "%.2fx" % row[key]
                     for key in ("naive_vs_role_first", "naive_vs_role_rerun", "naive_vs_role_audit")],
            row["role_first_vs_rerun"], row["role_first_vs_rerun_paired"],
            ", ".join("%d" % lo if lo == hi else "%d..%d" % (lo, hi) for lo, hi in row["role_modules"])))
    constant = len(set(tuple(row["role_modules"][1]) for row in summary)) == 1 and \
        len(set(tuple(row["role_modules"][2]) for row in summary)) == 1
    print()
    print("role's module runs per host constant in the number of units (rerun, audit): %s" % ("yes" if constant else "NO"))
    twice = all(row["role_first_vs_rerun"] >= 2 for row in summary)
    print("role's idempotent rerun at least 2x faster than its first converge at every unit count: %s"
          % ("yes" if twice else "NO"))
    return summary, constant


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--units", default="1,10,50", help="assigned units per host (comma list, at most 50)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--naive-units", help="unit counts at which the naive role runs too (default: all of --units)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--memory-tier", action="store_true",
                        help="give the bench tier memory_min, memory_max and managed_oom_preference too")
    options = parser.parse_args()
    counts = sorted(int(n) for n in options.units.split(","))
    if counts[-1] > MAX_UNITS:
        sys.exit("at most %d units" % MAX_UNITS)

    lock = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "oomguard-molecule.lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("waiting for a running molecule fleet run to finish (it holds %s)" % lock.name)
        fcntl.flock(lock, fcntl.LOCK_EX)
    workdir = tempfile.mkdtemp(prefix="oomguard-bench-fleet-")
    fleet = Fleet(workdir)
    print("machine: %d CPUs, kernel %s, Python %s; %d containers, forks 5, pipelining on; %d round(s)"
          % (os.cpu_count(), os.uname()[2], sys.version.split()[0], len(HOSTS), options.rounds))
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    try:
        start = time.perf_counter()
        fleet.create()
        print("fleet up with %d units per host in %.1f s" % (MAX_UNITS, time.perf_counter() - start))
        print()
        print("| units | who   | run   | median s | min..max s    | modules/host | other/host |")
        print("|---|---|---|---|---|---|---|")
        naive_counts = None if options.naive_units is None else set(int(n) for n in options.naive_units.split(",") if n)
        results = measure(fleet, workdir, counts, options.rounds, naive_counts, options.memory_tier)
        summary, constant = summarize(results)
    finally:
        if not options.keep:
            fleet.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"results": results, "summary": summary, "constant": constant}, handle, indent=2)


if __name__ == "__main__":
    main()
