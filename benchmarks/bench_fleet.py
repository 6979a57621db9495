# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: oomguard.fleet.oom_protection against a naive one-task-per-unit role.

Boots a fleet of systemd containers (five by default, up to 50 with --hosts) from the test fleet's images (the
molecule platforms' images and options, under names of its own -- ogbench-h1..h50, outside the oomguard-*
names that the molecule runner cleans up -- so neither touches the other's containers), gives every host 50
dummy services (--services), then for 1, 10 and 50 assigned units per host times three runs of each contender:

  first      converge from a clean host (no drop-ins, every process at adj 0)
  rerun      the same again: nothing to change (must report changed=0)
  audit      read-only: the collection's audit playbook (oomguard.fleet.audit, the role in check mode plus
             one oom_audit_facts call: kill order, leaks and OOM history) for the role; the naive role with --check for the baseline

and counts the remote executions per host through a wrapper around the podman CLI that the connection
plugin calls: "modules" are executions of the target's Python (one per module run, with pipelining),
"other" the remaining shell commands of the connection (temporary directories and the like).

Every run is repeated for each host count (--hosts 5,50: the containers are the largest count, a smaller
count uses the first N of them through an inventory of its own), each strategy (--strategies linear,free,
passed as ANSIBLE_STRATEGY: neither benchmarks/fleet_role.yml nor the collection's audit playbook sets one)
and each number of forks (--forks 5,25,50; forks above the host count are the host count, duplicates
dropped). Per run it reports:

  wall s         the playbook's wall time
  ctl CPU s      user+sys CPU of ansible-playbook and all its descendants (RUSAGE_CHILDREN around the
                 subprocess, since ansible waits for its workers): this INCLUDES the podman CLI processes
                 the connection plugin spawns (and whatever they wait for; not conmon, runc or the target)
  podman CPU s   that podman CLI share alone, as the wrapper times each call (bash's `time`)
  peak MiB       the peak of the summed RSS of ansible-playbook's process tree (all of it, and without the
                 podman CLI and wrapper processes), sampled from /proc every 0.25 s; shared pages count once
                 per process, so it is an upper bound of what the tree needs
  waves x        wall / (ceil(hosts / forks) * one wave), one wave being the same contender, run and
                 strategy at the smallest host count with its largest forks, divided by that run's waves:
                 1.00 means wall time grew exactly as the number of waves of hosts, the ideal

Container limits (so that 50 fit on a small machine; --container-memory, --container-pids): every container
gets podman's --memory 256m --memory-swap 256m --pids-limit 512. One host idles at about 25-35 MiB with its
50 services (sleep processes); a module run adds some 30-60 MiB while it runs. Each container's systemd, dbus
and logind also take about six of the host root's inotify instances: the kernel's default of 128
(fs.inotify.max_user_instances) is enough for about 14 hosts, so the benchmark refuses a larger --hosts until
the limit is raised (e.g. to 1024).

Run it from the collection's root with ansible-core, containers.podman and podman available, the collection
importable (ansible_collections/oomguard/fleet on PYTHONPATH) and the fleet images built:

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_fleet.py [--units 1,10,50]
        [--naive-units 1,10] [--rounds 1] [--json results.json] [--keep] [--memory-tier]
        [--hosts 5,50] [--forks 5,25,50] [--strategies linear,free] [--naive-hosts 5] [--naive-forks 50]
        [--audit-baseline REV]

--audit-baseline REV also runs the audit, right after the role's own, with the collection as it was at git
revision REV (extracted with `git archive` into the benchmark's temporary directory and put first on
ANSIBLE_COLLECTIONS_PATH for that run only), on the same converged hosts, and prints the two side by side:
module runs and controller CPU per host, before and after, with their ratios. Within a round the two audits
swap places every round, like the contenders.

--naive-units, --naive-hosts and --naive-forks limit the naive role to some unit counts, host counts and forks
(it costs one module run per unit, step and host: minutes per run at 50 units). Without the new options the
benchmark is what it always was: five hosts, forks 5, the default (linear) strategy. It prints the size of
the run (playbook runs, remote commands, a rough duration) at the start and a progress line per playbook run.

Image names come from OOMGUARD_IMAGE_BOOKWORM / OOMGUARD_IMAGE_TRIXIE (defaults: the stable aliases
localhost/oomguard-bookworm:current and localhost/oomguard-trixie:current). The containers are removed at
the end, also on errors, Ctrl-C and SIGTERM, unless --keep is given. While it runs it holds the lock
hack/run-molecule takes (oomguard-molecule.lock in $TMPDIR), so a molecule run and the benchmark wait for each
other instead of sharing two CPU cores and skewing the timings.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import ansible_collections.oomguard.fleet as _collection

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
UNIT_PREFIX = "oomguard-bench-"
HOST_PREFIX = "ogbench-h"
MAX_UNITS = 50
MAX_HOSTS = 50
# Tiers cycle over the units: positive values only, so that hosts without CAP_SYS_RESOURCE apply them all.
TIER_CYCLE = (("expendable", 500), ("bench", 300), ("standard", 0))
# --memory-tier: the bench tier also carries memory and systemd-oomd settings (same drop-in, same calls).
MEMORY_TIER = {"oom_score_adj": 300, "memory_min": "8M", "memory_max": "256M", "managed_oom_preference": "avoid"}
# The first five hosts are the fleet the benchmark always had; more alternate between the two images.
FIRST_SUITES = ("bookworm", "trixie", "trixie", "bookworm", "trixie")
PHASES = ("first", "rerun", "audit")
# Remote commands per host and run, for the estimate: the role's are constant, the naive role's per unit.
# The audit: the role's one call (its compliance check in check mode) and oom_audit_facts.
ROLE_COMMANDS = {"first": 3, "rerun": 1, "audit": 2}
# Issue 23: the audit gathers everything in at most this many module runs per host.
AUDIT_MODULE_RUNS_MAX = 2
NAIVE_COMMANDS_PER_UNIT = {"first": 10, "rerun": 9, "audit": 9}
# --audit-baseline: the earlier audit's run, reported beside the role's own (5 module runs before issue 23).
BASELINE_AUDIT = "audit_before"
BASELINE_AUDIT_COMMANDS = 5
# Rough costs on the quiet 2-core machine the project measures on (seconds), for the estimate only.
SECONDS_PER_PLAYBOOK = 2.5
SECONDS_PER_ROLE_COMMAND = 0.6
SECONDS_PER_NAIVE_COMMAND = 0.27
SECONDS_PER_HOST_RESET = 0.5
SECONDS_PER_HOST_BOOT = 2.0
PARALLEL_SETUP = 4
# inotify instances a booted container's systemd, dbus and logind take, and a margin for the rest of the machine.
INOTIFY_PER_HOST = 6
INOTIFY_SPARE = 40
SAMPLE_INTERVAL = 0.25
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                      r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)

# One line per call: the call's user and system CPU (bash's `time`, podman and what it waits for), a tab, the
# arguments. The command substitution captures only the timing: podman's own output goes to the original fds.
WRAPPER = """#!/bin/bash
line="$*"
line=${line//$'\\n'/ }
line=${line:0:600}
TIMEFORMAT='%3U %3S'
exec 3>&1 4>&2
t=$( { time '@PODMAN@' "$@" 1>&3 2>&4 3>&- 4>&- ; } 2>&1 )
rc=$?
exec 3>&- 4>&-
printf '%s\\t%s\\n' "$t" "$line" >> '@LOG@'
exit $rc
"""
UNIT_FILE = "[Unit]\\nDescription=oomguard benchmark unit %s\\n\\n[Service]\\nExecStart=/bin/sleep infinity\\n"


def collections_root():
    fleet_dir = list(_collection.__path__)[0]
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(fleet_dir))))


def image_for(suite):
    return os.environ.get("OOMGUARD_IMAGE_" + suite.upper(), "localhost/oomguard-%s:current" % suite)


def fleet_hosts(count):
    """[(name, suite)] of the first `count` hosts."""
    return [("%s%d" % (HOST_PREFIX, i), FIRST_SUITES[i - 1] if i <= len(FIRST_SUITES) else ("bookworm", "trixie")[i % 2])
            for i in range(1, count + 1)]


def _parallel(func, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_SETUP) as pool:
        return list(pool.map(func, items))


class Fleet(object):
    """The benchmark's containers, and the podman wrapper that counts what the connection runs on them."""

    def __init__(self, workdir, count, services=MAX_UNITS, memory="256m", pids=512):
        self.workdir = workdir
        self.hosts = fleet_hosts(count)
        self.services = services
        self.memory = memory
        self.pids = pids
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
        self.inventories = {}
        # Per host: how many of the first units a run may have touched since the host was last clean.
        self.dirty = dict((name, 0) for name, _suite in self.hosts)

    def inventory(self, count):
        """An inventory of the first `count` hosts (written once per count)."""
        if count not in self.inventories:
            path = os.path.join(self.workdir, "inventory-%d.ini" % count)
            with open(path, "w") as handle:
                handle.write("[fleet]\n")
                for name, _suite in self.hosts[:count]:
                    handle.write("%s\n" % name)
                handle.write("\n[fleet:vars]\nansible_connection=containers.podman.podman\n"
                             "ansible_podman_executable=%s\nansible_python_interpreter=/usr/bin/python3\n"
                             % self.wrapper)
            self.inventories[count] = path
        return self.inventories[count]

    def _podman(self, *args, **kwargs):
        done = subprocess.run([self.podman] + list(args), env=self.env, check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=kwargs.get("timeout", 600))
        if done.returncode != 0 and kwargs.get("check", True):
            raise RuntimeError("podman %s failed (rc %d): %s%s" % (
                " ".join(args[:2]), done.returncode, done.stdout.decode()[-1000:], done.stderr.decode()[-2000:]))
        return done

    def sh(self, host, script):
        return self._podman("exec", host, "/bin/sh", "-c", script).stdout.decode()

    def create(self):
        self.destroy()
        for suite in sorted(set(suite for _name, suite in self.hosts)):
            if self._podman("image", "exists", image_for(suite), check=False).returncode != 0:
                sys.exit("image %s is missing: build the test fleet images first" % image_for(suite))
        limits = []
        if self.memory:
            limits += ["--memory", self.memory, "--memory-swap", self.memory]
        if self.pids:
            limits += ["--pids-limit", str(self.pids)]

        def boot(host):
            self._podman("run", "-d", "--name", host[0], "--hostname", host[0], "--systemd=always", *limits,
                         image_for(host[1]), "/sbin/init")
        _parallel(boot, self.hosts)
        units = " ".join("%s%02d.service" % (UNIT_PREFIX, i) for i in range(1, self.services + 1))
        # systemd's bus comes up a moment after podman run returns: wait for it before asking systemctl.
        script = ("for i in $(seq 1 600); do [ -S /run/systemd/private ] && break; sleep 0.2; done; "
                  "systemctl is-system-running --wait >/dev/null; "
                  "for i in $(seq 1 %d); do i=$(printf %%02d $i); printf '%s' $i > /etc/systemd/system/%s$i.service; done; "
                  "systemctl daemon-reload && systemctl start %s" % (self.services, UNIT_FILE, UNIT_PREFIX, units))
        _parallel(lambda host: self.sh(host[0], script), self.hosts)

    def reset(self, count, units):
        """Back to a clean host for the first `count` hosts, which the next runs give `units` units: no drop-ins,
        every unit a run assigned since the host was last clean restarted (so at the inherited adj 0); the
        others were never touched. A freshly booted host is clean already."""

        def clean(name):
            names = " ".join("%s%02d.service" % (UNIT_PREFIX, i) for i in range(1, self.dirty[name] + 1))
            self.sh(name, "rm -rf /etc/systemd/system/%s*.service.d && systemctl daemon-reload && systemctl restart %s"
                    % (UNIT_PREFIX, names))
            self.dirty[name] = 0
        _parallel(clean, [name for name, _suite in self.hosts[:count] if self.dirty[name]])
        for name, _suite in self.hosts[:count]:
            self.dirty[name] = units

    def destroy(self):
        found = self._podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.decode().split()
        names = sorted(set(name for name in found if re.match("^%s[0-9]+$" % HOST_PREFIX, name)) |
                       set(name for name, _suite in self.hosts))
        if names:
            self._podman("rm", "-f", "-i", "-t", "0", *names, check=False)

    def start_counting(self):
        open(self.log, "w").close()

    def counts(self, count):
        """({host: {"modules": n, "other": n}}, podman CLI CPU seconds, podman calls) from the wrapper's log."""
        out = dict((name, {"modules": 0, "other": 0}) for name, _suite in self.hosts[:count])
        cpu = 0.0
        calls = 0
        with open(self.log) as handle:
            for line in handle:
                timing, _tab, line = line.partition("\t")
                try:
                    cpu += sum(float(x) for x in timing.split())
                except ValueError:
                    pass
                calls += 1
                words = line.split()
                if not words or words[0] != "exec":
                    continue
                host = next((word for word in words if word in out), None)
                if host is None:
                    continue
                out[host]["modules" if "python" in line else "other"] += 1
        return out, cpu, calls


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants from /proc and keeps the peak.

    A process that is not in the tree never joins it (a parent is fixed at fork; orphans go to init or a
    subreaper), so such pids are remembered while they exist and not read again."""

    def __init__(self, root, interval=SAMPLE_INTERVAL):
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.outside = set()
        self.peak = 0
        self.peak_ansible = 0
        self.peak_processes = 0
        self.samples = 0
        self.cpu_seconds = 0.0
        self.done = threading.Event()

    def run(self):
        while True:
            self.sample()
            if self.done.wait(self.interval):
                break
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime

    def stop(self):
        self.done.set()
        self.join()

    def sample(self):
        try:
            pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        except OSError:
            return
        self.outside &= set(pids)
        info = {}
        for pid in pids:
            if pid in self.outside:
                continue
            try:
                with open("/proc/%d/stat" % pid, "rb") as handle:
                    stat = handle.read().decode("utf-8", "replace")
            except OSError:
                continue
            end = stat.rfind(")")
            fields = stat[end + 2:].split()
            info[pid] = (int(fields[1]), int(fields[21]) * self.page, stat[stat.find("(") + 1:end])
        children = {}
        for pid, (ppid, _rss, _comm) in info.items():
            children.setdefault(ppid, []).append(pid)
        tree = set()
        todo = [self.root] if self.root in info else []
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo.extend(children.get(pid, ()))
        for pid, (ppid, _rss, _comm) in info.items():
            if pid not in tree and (ppid in info or ppid in self.outside or ppid == 0):
                self.outside.add(pid)
        total = sum(info[pid][1] for pid in tree)
        ansible = sum(info[pid][1] for pid in tree if not info[pid][2].startswith("podman"))
        self.samples += 1
        self.peak = max(self.peak, total)
        self.peak_ansible = max(self.peak_ansible, ansible)
        self.peak_processes = max(self.peak_processes, len(tree))


def ansible_env(fleet, workdir, forks=5, strategy=None, collections=None):
    env = dict(fleet.env)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections or collections_root(),
        "ANSIBLE_HOME": os.path.join(workdir, "ansible-home"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    if strategy:
        env["ANSIBLE_STRATEGY"] = strategy
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


def run_playbook(fleet, workdir, playbook, extra, check=False, hosts=5, forks=5, strategy=None, collections=None):
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", fleet.inventory(hosts),
            playbook, "-e", "@" + extra]
    if check:
        argv.append("--check")
    fleet.start_counting()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=ansible_env(fleet, workdir, forks, strategy, collections), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    try:
        output = proc.communicate()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sampler.stop()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = output.decode("utf-8", "replace")
    names = [name for name, _suite in fleet.hosts[:hosts]]
    recap = dict((m.group(1), [int(x) for x in m.groups()[1:]]) for m in RECAP_RE.finditer(out))
    failed = proc.returncode != 0 or any(recap.get(host, [0, 0, 1])[2] or recap.get(host, [0, 0, 1])[3] for host in names)
    if failed:
        log = os.path.join(workdir, "failed-%d.log" % int(time.time()))
        with open(log, "w") as handle:
            handle.write(out)
        raise RuntimeError("%s failed (rc %d), output in %s:\n%s" % (playbook, proc.returncode, log, out[-3000:]))
    counts, podman_cpu, podman_calls = fleet.counts(hosts)
    return {
        "seconds": elapsed,
        "cpu_user": after.ru_utime - before.ru_utime,
        "cpu_sys": after.ru_stime - before.ru_stime,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "podman_cpu_seconds": podman_cpu,
        "podman_calls": podman_calls,
        "peak_rss_mib": sampler.peak / 1048576.0,
        "peak_rss_ansible_mib": sampler.peak_ansible / 1048576.0,
        "peak_processes": sampler.peak_processes,
        "rss_samples": sampler.samples,
        # The sampler's own CPU (in this process, so not in cpu_seconds), to show it costs little.
        "sampler_cpu_seconds": sampler.cpu_seconds,
        "changed": dict((host, recap[host][1]) for host in names),
        "counts": counts,
    }


def contenders():
    return (
        ("role", os.path.join(BENCH_DIR, "fleet_role.yml"), "oomguard.fleet.audit", False),
        ("naive", os.path.join(BENCH_DIR, "fleet_naive.yml"), os.path.join(BENCH_DIR, "fleet_naive.yml"), True),
    )


class Plan(object):
    """What the benchmark runs: per unit count, host count, strategy and forks, rounds of both contenders."""

    def __init__(self, options):
        self.units = options.units
        self.hosts = options.hosts
        self.strategies = options.strategies
        self.rounds = options.rounds
        # (revision, ANSIBLE_COLLECTIONS_PATH) of the collection whose audit also runs, or None.
        self.audit_baseline = None
        self.configs = []
        for count in self.units:
            for hosts in self.hosts:
                for strategy in self.strategies:
                    wanted = {}
                    for forks in options.forks:
                        naive = (options.naive_units is None or count in options.naive_units) and \
                            (options.naive_hosts is None or hosts in options.naive_hosts) and \
                            (options.naive_forks is None or forks in options.naive_forks)
                        wanted[min(forks, hosts)] = wanted.get(min(forks, hosts), False) or naive
                    for forks in sorted(wanted):
                        who = [c for c in contenders() if c[0] == "role" or wanted[forks]]
                        self.configs.append((count, hosts, strategy, forks, who))

    def runs(self):
        extra = 1 if self.audit_baseline else 0
        return sum((len(who) * len(PHASES) + extra) * self.rounds for _c, _h, _s, _f, who in self.configs)

    def cost(self, count, hosts, forks, name, phase):
        """(remote commands, estimated seconds) of one playbook run."""
        if phase == BASELINE_AUDIT:
            per_host = BASELINE_AUDIT_COMMANDS
        else:
            per_host = ROLE_COMMANDS[phase] if name == "role" else NAIVE_COMMANDS_PER_UNIT[phase] * count
        rate = SECONDS_PER_ROLE_COMMAND if name == "role" else SECONDS_PER_NAIVE_COMMAND
        # Two cores: more forks than that only overlap waiting, not work; one host at a time is a wave's floor.
        seconds = SECONDS_PER_PLAYBOOK + per_host * rate * max(math.ceil(hosts / float(forks)), hosts / 2.0)
        if phase == "first":
            seconds += SECONDS_PER_HOST_RESET * hosts
        return per_host * hosts, seconds

    def estimate(self):
        commands = 0
        seconds = SECONDS_PER_HOST_BOOT * max(self.hosts)
        for count, hosts, _strategy, forks, who in self.configs:
            for name, _p, _a, _c in who:
                for phase in PHASES:
                    cmds, secs = self.cost(count, hosts, forks, name, phase)
                    commands += cmds * self.rounds
                    seconds += secs * self.rounds
            if self.audit_baseline:
                cmds, secs = self.cost(count, hosts, forks, "role", BASELINE_AUDIT)
                commands += cmds * self.rounds
                seconds += secs * self.rounds
        return commands, seconds


def _clock(seconds):
    return "%d:%02d" % (seconds // 60, seconds % 60)


class Progress(object):
    def __init__(self, plan):
        self.plan = plan
        self.start = time.perf_counter()
        self.total_runs = plan.runs()
        self.total_estimate = plan.estimate()[1]
        self.done_runs = 0
        self.done_estimate = SECONDS_PER_HOST_BOOT * max(plan.hosts)

    def step(self, count, hosts, strategy, forks, name, phase, run):
        self.done_runs += 1
        self.done_estimate += self.plan.cost(count, hosts, forks, name, phase)[1]
        elapsed = time.perf_counter() - self.start
        left = (self.total_estimate - self.done_estimate) * elapsed / max(self.done_estimate, 1.0)
        print("  [%s] %d/%d: %d hosts, %d units, %s, forks %d, %s %s: %.1f s wall, %.1f s CPU; about %s left" % (
            _clock(elapsed), self.done_runs, self.total_runs, hosts, count, strategy, forks, name, phase,
            run["seconds"], run["cpu_seconds"], _clock(left)))
        sys.stdout.flush()


def measure(fleet, workdir, plan, memory_tier=False, progress=None):
    """Per configuration, rounds of (reset, first, rerun, audit) for each contender; the contenders alternate
    within a round and swap places every round, so a busy stretch of the machine hits both alike."""
    results = []
    for count, hosts, strategy, forks, who in plan.configs:
        extra = os.path.join(workdir, "units-%d.json" % count)
        if not os.path.exists(extra):
            with open(extra, "w") as handle:
                json.dump(dict(unit_vars(count, memory_tier), oom_audit_report_dir=os.path.join(workdir, "reports")), handle)
        runs = dict((name, {"first": [], "rerun": [], "audit": []}) for name, _p, _a, _c in who)
        kwargs = {"hosts": hosts, "forks": forks, "strategy": strategy}
        for round_no in range(plan.rounds):
            for name, playbook, audit, audit_check in who[::1 if round_no % 2 == 0 else -1]:
                fleet.reset(hosts, count)
                steps = [("first", playbook, False, None), ("rerun", playbook, False, None), ("audit", audit, audit_check, None)]
                if name == "role" and plan.audit_baseline:
                    # The audit as it was, on the same converged hosts; the two audits swap places every round.
                    before = (BASELINE_AUDIT, audit, audit_check, plan.audit_baseline[1])
                    steps[2:] = [steps[2], before] if round_no % 2 == 0 else [before, steps[2]]
                for phase, book, check, collections in steps:
                    runs[name].setdefault(phase, []).append(
                        run_playbook(fleet, workdir, book, extra, check=check, collections=collections, **kwargs))
                    if progress:
                        progress.step(count, hosts, strategy, forks, name, phase, runs[name][phase][-1])
                if any(runs[name]["rerun"][-1]["changed"].values()):
                    raise RuntimeError("%s is not idempotent at %d units: %r" % (name, count, runs[name]["rerun"][-1]))
                if not any(runs[name]["first"][-1]["changed"].values()):
                    raise RuntimeError("%s's first converge changed nothing at %d units" % (name, count))
        for name, _p, _a, _c in who:
            results.append({"units": count, "hosts": hosts, "strategy": strategy or "linear", "forks": forks,
                            "contender": name, "runs": runs[name]})
    return results


def _per_host(run, key):
    values = [counts[key] for counts in run["counts"].values()]
    return min(values), max(values)


def _span(pair):
    return "%d" % pair[0] if pair[0] == pair[1] else "%d-%d" % pair


def _median(result, phase, key="seconds"):
    return statistics.median(run[key] for run in result["runs"][phase])


def waves(results):
    """{(units, hosts, strategy, forks, contender, phase): (waves, one wave s, wall / (waves * one wave))}."""
    out = {}
    groups = {}
    for result in results:
        groups.setdefault((result["units"], result["strategy"], result["contender"]), []).append(result)
    for (units, strategy, contender), group in groups.items():
        smallest = min(r["hosts"] for r in group)
        base = max((r for r in group if r["hosts"] == smallest), key=lambda r: r["forks"])
        for phase in PHASES:
            one = _median(base, phase) / math.ceil(base["hosts"] / float(base["forks"]))
            for result in group:
                count = math.ceil(result["hosts"] / float(result["forks"]))
                out[(units, result["hosts"], strategy, result["forks"], contender, phase)] = (
                    count, one, _median(result, phase) / (count * one))
    return out


def print_tables(results):
    ratios = waves(results)
    order = dict((strategy, i) for i, strategy in enumerate(dict.fromkeys(r["strategy"] for r in results)))
    rounds = max(len(r["runs"]["first"]) for r in results)
    for hosts, units in sorted(set((r["hosts"], r["units"]) for r in results)):
        print()
        print("%d hosts, %d units per host%s:" % (hosts, units, " (medians of %d rounds)" % rounds if rounds > 1 else ""))
        print()
        print("| contender | run | strategy | forks | wall s | min..max s | ctl CPU s | podman CPU s | peak MiB | "
              "peak MiB w/o podman | modules/host | other/host | changed/host | waves | waves x |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for result in sorted((r for r in results if r["hosts"] == hosts and r["units"] == units),
                             key=lambda r: (r["contender"] != "role", order[r["strategy"]], r["forks"])):
            for phase in PHASES:
                runs = result["runs"][phase]
                secs = [run["seconds"] for run in runs]
                count, _one, ratio = ratios[(units, hosts, result["strategy"], result["forks"], result["contender"], phase)]
                changed = [min(run["changed"].values()) for run in runs], [max(run["changed"].values()) for run in runs]
                print("| %s | %s | %s | %d | %.1f | %s | %.1f | %.1f | %.0f | %.0f | %s | %s | %s | %d | %.2f |" % (
                    result["contender"], phase, result["strategy"], result["forks"], statistics.median(secs),
                    "%.1f..%.1f" % (min(secs), max(secs)) if len(secs) > 1 else "-",
                    _median(result, phase, "cpu_seconds"), _median(result, phase, "podman_cpu_seconds"),
                    max(run["peak_rss_mib"] for run in runs), max(run["peak_rss_ansible_mib"] for run in runs),
                    _span(_per_host(runs[-1], "modules")), _span(_per_host(runs[-1], "other")),
                    _span((min(changed[0]), max(changed[1]))), count, ratio))
    print()
    print("ctl CPU s: user+sys of ansible-playbook and all its descendants, INCLUDING the podman CLI processes the")
    print("  connection plugin spawns; podman CPU s: that podman CLI share alone (timed per call by the wrapper).")
    print("peak MiB: peak of the summed RSS of ansible-playbook's process tree (sampled every %.2f s; w/o podman:"
          % SAMPLE_INTERVAL)
    print("  without the podman CLI and its wrapper); shared pages count once per process.")
    print("waves x: wall / (waves * one wave), waves = ceil(hosts / forks), one wave = the wall time of the same")
    print("  contender, run and strategy at the smallest host count with its largest forks, divided by its waves;")
    print("  1.00 = wall time grew exactly with the number of waves (the ideal).")
    for key in sorted(set((r["units"], r["strategy"], r["contender"]) for r in results)):
        bases = [(phase, value[1]) for (u, _h, s, _f, c, phase), value in ratios.items() if (u, s, c) == key]
        print("  one wave, %d units, %s, %s: %s" % (key[0], key[1], key[2], ", ".join(
            "%s %.1f s" % (phase, dict(bases)[phase]) for phase in PHASES)))
    sys.stdout.flush()


def summarize(results):
    by = dict(((r["units"], r["hosts"], r["strategy"], r["forks"], r["contender"]), r) for r in results)
    print()
    print("ratios (median wall time):")
    print("| hosts | strategy | forks | units | naive first / role first | naive rerun / role rerun | "
          "naive audit / role audit | role first / role rerun | role modules/host first, rerun, audit |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = []
    order = dict((strategy, i) for i, strategy in enumerate(dict.fromkeys(r["strategy"] for r in results)))
    for units, hosts, strategy, forks, _who in sorted((k for k in by if k[4] == "role"), key=lambda k: (k[1], order[k[2]], k[3], k[0])):
        role, naive = by[(units, hosts, strategy, forks, "role")], by.get((units, hosts, strategy, forks, "naive"))
        row = {
            "units": units,
            "hosts": hosts,
            "strategy": strategy,
            "forks": forks,
            "naive_vs_role_first": _median(naive, "first") / _median(role, "first") if naive else None,
            "naive_vs_role_rerun": _median(naive, "rerun") / _median(role, "rerun") if naive else None,
            "naive_vs_role_audit": _median(naive, "audit") / _median(role, "audit") if naive else None,
            "role_first_vs_rerun": _median(role, "first") / _median(role, "rerun"),
            # Each round's first converge and rerun run back to back: their ratio sees the same machine load.
            "role_first_vs_rerun_paired": statistics.median(
                first["seconds"] / rerun["seconds"] for first, rerun in zip(role["runs"]["first"], role["runs"]["rerun"])),
            "role_modules": [_per_host(role["runs"][phase][-1], "modules") for phase in PHASES],
        }
        summary.append(row)
        print("| %d | %s | %d | %d | %s | %s | %s | %.2fx (paired %.2fx) | %s |" % (
            hosts, strategy, forks, units, *["-" if row[key] is None else "%.2fx" % row[key]
                                             for key in ("naive_vs_role_first", "naive_vs_role_rerun", "naive_vs_role_audit")],
            row["role_first_vs_rerun"], row["role_first_vs_rerun_paired"],
            ", ".join(_span(pair) for pair in row["role_modules"])))
    # Rerun and audit must not depend on the units; none of the three may depend on the hosts, forks or strategy.
    constant = len(set(tuple(row["role_modules"][1]) for row in summary)) == 1 and \
        len(set(tuple(row["role_modules"][2]) for row in summary)) == 1
    constant_hosts = all(len(set(tuple(row["role_modules"][i]) for row in summary if row["units"] == units)) == 1
                         for units in set(row["units"] for row in summary) for i in range(len(PHASES)))
    print()
    print("role's module runs per host constant in the number of units (rerun, audit): %s" % ("yes" if constant else "NO"))
    if len(set((row["hosts"], row["strategy"], row["forks"]) for row in summary)) > 1:
        print("role's module runs per host the same at every host count, strategy and forks (per unit count): %s"
              % ("yes" if constant_hosts else "NO"))
    audit_runs = max(row["role_modules"][PHASES.index("audit")][1] for row in summary)
    print("role's audit at most %d module runs per host: %s"
          % (AUDIT_MODULE_RUNS_MAX, "yes" if audit_runs <= AUDIT_MODULE_RUNS_MAX else "NO (%d)" % audit_runs))
    baseline_audits(results)
    twice = all(row["role_first_vs_rerun"] >= 2 for row in summary)
    print("role's idempotent rerun at least 2x faster than its first converge at every unit count: %s"
          % ("yes" if twice else "NO"))
    return summary, constant, constant_hosts


def baseline_audits(results):
    """The audit before (--audit-baseline) and after, per configuration: module runs, wall and controller CPU."""
    rows = [r for r in results if r["contender"] == "role" and r["runs"].get(BASELINE_AUDIT)]
    if not rows:
        return
    print()
    print("the role's audit before (--audit-baseline) and after (medians; per host = run / hosts):")
    print("| hosts | strategy | forks | units | modules/host before | after | wall s before | after | after / before | "
          "ctl CPU s/host before | after | after / before |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["hosts"], r["strategy"], r["forks"], r["units"])):
        wall = _median(r, BASELINE_AUDIT), _median(r, "audit")
        cpu = _median(r, BASELINE_AUDIT, "cpu_seconds") / r["hosts"], _median(r, "audit", "cpu_seconds") / r["hosts"]
        print("| %d | %s | %d | %d | %s | %s | %.1f | %.1f | %.2fx | %.2f | %.2f | %.2fx |" % (
            r["hosts"], r["strategy"], r["forks"], r["units"], _span(_per_host(r["runs"][BASELINE_AUDIT][-1], "modules")),
            _span(_per_host(r["runs"]["audit"][-1], "modules")), wall[0], wall[1], wall[1] / wall[0],
            cpu[0], cpu[1], cpu[1] / cpu[0]))


def extract_baseline(revision, workdir):
    """The collection at git revision `revision`, as an ANSIBLE_COLLECTIONS_PATH of its own under workdir."""
    root = os.path.join(workdir, "baseline")
    target = os.path.join(root, "ansible_collections", "oomguard", "fleet")
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", revision], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=False)
    if archive.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        sys.exit("--audit-baseline: git archive %s failed: %s" % (revision, archive.stderr.decode("utf-8", "replace").strip()))
    subprocess.run(["tar", "-x", "-C", target], input=archive.stdout, check=True)
    return root


def _numbers(text, name, largest=None):
    try:
        values = sorted(set(int(n) for n in text.split(",") if n.strip()))
    except ValueError:
        sys.exit("%s: a comma list of numbers, not %r" % (name, text))
    if not values or values[0] < 1 or (largest and values[-1] > largest):
        sys.exit("%s: numbers from 1%s" % (name, " to %d" % largest if largest else ""))
    return values


def parse_options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--units", default="1,10,50", help="assigned units per host (comma list, at most --services)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--naive-units", help="unit counts at which the naive role runs too (default: all of --units)")
    parser.add_argument("--hosts", default="5", help="host counts (comma list, at most %d; default 5)" % MAX_HOSTS)
    parser.add_argument("--forks", default="5", help="ansible forks (comma list; default 5)")
    parser.add_argument("--strategies", default="linear", help="play strategies, as ANSIBLE_STRATEGY (comma list; default linear)")
    parser.add_argument("--naive-hosts", help="host counts at which the naive role runs too (default: all of --hosts)")
    parser.add_argument("--naive-forks", help="forks (of --forks) at which the naive role runs too (default: all)")
    parser.add_argument("--services", type=int, default=MAX_UNITS, help="dummy services per host (default %d)" % MAX_UNITS)
    parser.add_argument("--container-memory", default="256m", help="podman --memory per container ('' for none)")
    parser.add_argument("--container-pids", type=int, default=512, help="podman --pids-limit per container (0 for none)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--no-naive", action="store_true", help="the role only (with --audit-baseline: its audit's rows)")
    parser.add_argument("--audit-baseline", metavar="REV",
                        help="also run the audit with the collection at this git revision, and compare")
    parser.add_argument("--memory-tier", action="store_true",
                        help="give the bench tier memory_min, memory_max and managed_oom_preference too")
    options = parser.parse_args(argv)
    options.units = _numbers(options.units, "--units", min(options.services, MAX_UNITS))
    options.hosts = _numbers(options.hosts, "--hosts", MAX_HOSTS)
    options.forks = _numbers(options.forks, "--forks")
    options.naive_units = None if options.naive_units is None else set(_numbers(options.naive_units, "--naive-units"))
    options.naive_hosts = None if options.naive_hosts is None else set(_numbers(options.naive_hosts, "--naive-hosts"))
    options.naive_forks = None if options.naive_forks is None else set(_numbers(options.naive_forks, "--naive-forks"))
    if options.no_naive:
        options.naive_units = set()
    options.strategies = [s.strip() for s in options.strategies.split(",") if s.strip()] or ["linear"]
    if options.rounds < 1:
        sys.exit("--rounds: at least 1")
    if options.naive_units and not options.naive_units & set(options.units):
        print("note: no --naive-units value is in --units, so the naive role does not run")
    return options


def check_inotify(hosts):
    """Every systemd container takes about six inotify instances of the host's root (systemd, dbus, logind),
    and the kernel's default allows 128 per user: more hosts than about 15 need a higher limit."""
    try:
        with open("/proc/sys/fs/inotify/max_user_instances") as handle:
            limit = int(handle.read())
    except (OSError, ValueError):
        return
    need = INOTIFY_PER_HOST * hosts + INOTIFY_SPARE
    if limit < need:
        sys.exit("fs.inotify.max_user_instances is %d; %d systemd containers need about %d (about %d each, and some for the "
                 "rest of the machine), or their systemd fails to start units: raise it first (sysctl -w "
                 "fs.inotify.max_user_instances=1024) or pass fewer --hosts" % (limit, hosts, need, INOTIFY_PER_HOST))


def _terminate(signum, frame):
    del frame
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    options = parse_options()
    plan = Plan(options)
    check_inotify(max(options.hosts))
    lock = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "oomguard-molecule.lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("waiting for a running molecule fleet run to finish (it holds %s)" % lock.name)
        fcntl.flock(lock, fcntl.LOCK_EX)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = tempfile.mkdtemp(prefix="oomguard-bench-fleet-")
    if options.audit_baseline:
        plan.audit_baseline = (options.audit_baseline, extract_baseline(options.audit_baseline, workdir))
        print("audit baseline: the collection at %s" % options.audit_baseline)
    fleet = Fleet(workdir, max(options.hosts), options.services, options.container_memory, options.container_pids)
    print("machine: %d CPUs, kernel %s, Python %s; %d containers (--memory %s, --pids-limit %s, %d services each), "
          "pipelining on; %d round(s)" % (os.cpu_count(), os.uname()[2], sys.version.split()[0], len(fleet.hosts),
                                          options.container_memory or "none", options.container_pids or "none",
                                          options.services, options.rounds))
    print("hosts %s, forks %s, strategies %s, units %s" % (
        ",".join(map(str, options.hosts)), ",".join(map(str, options.forks)), ",".join(options.strategies),
        ",".join(map(str, options.units))))
    commands, seconds = plan.estimate()
    print("to do: %d configurations, %d playbook runs, about %d remote commands; roughly %s min:s on a quiet machine"
          " (a rough model; the progress lines scale it by the measured pace)" % (len(plan.configs), plan.runs(), commands, _clock(seconds)))
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    results = []
    try:
        start = time.perf_counter()
        fleet.create()
        print("fleet up with %d units per host in %.1f s" % (options.services, time.perf_counter() - start))
        progress = Progress(plan)
        results = measure(fleet, workdir, plan, options.memory_tier, progress)
        print_tables(results)
        summary, constant, constant_hosts = summarize(results)
    finally:
        if not options.keep:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            fleet.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"options": {"hosts": options.hosts, "forks": options.forks, "strategies": options.strategies,
                                   "units": options.units, "rounds": options.rounds, "services": options.services,
                                   "container_memory": options.container_memory, "container_pids": options.container_pids,
                                   "audit_baseline": options.audit_baseline},
                       "results": results, "waves": [dict(zip(("units", "hosts", "strategy", "forks", "contender", "phase",
                                                               "waves", "one_wave_seconds", "ratio"), key + value))
                                                     for key, value in sorted(waves(results).items())],
                       "summary": summary, "constant": constant, "constant_hosts": constant_hosts}, handle, indent=2)


if __name__ == "__main__":
    main()
