# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj benchmark: one call with a whole policy against one call per rule and the seed's shell loop.

Spawns N `sleep` processes (default 2,000) under G distinct names (default 50; each name is a symlink to
sleep, so the kernel's comm differs), and a policy of one rule per name. Then, in interleaved rounds so that
background noise hits every contender alike, each contender sets every one of the N processes to a value
it has not had before (so every contender really writes N values), and the result is verified by reading
all N values back:

  module-1call     the oom_score_adj module in-process (AnsibleModule, execute(), JSON result), one call
                   with G rules
  module-Gcalls    the same, one call per rule (G calls)
  shell-loop       the seed's loop, for each name: for pid in $(pgrep NAME); do echo V > /proc/$pid/oom_score_adj; done
                   (one bash process for all names)
  ansible-1task    ansible-playbook on localhost, one oomguard.fleet.oom_score_adj task with G rules
  ansible-Gtasks   ansible-playbook on localhost, G tasks with one rule each
  ansible-shell    ansible-playbook on localhost, one ansible.builtin.shell task running the seed's loop

The module contenders show the engine's cost; the ansible-* ones show a real round trip's cost, which is what
multiplies across a fleet. Ratios are against module-1call and ansible-1task, in the same run.

Run it from the collection's root with the collection importable (ansible_collections/oomguard/fleet on
PYTHONPATH) and ansible-core installed (ansible-playbook next to the running Python):

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_oom_score_adj.py [--processes 2000]
        [--names 50] [--rounds 3] [--skip-ansible] [--json results.json]

Every spawned process is killed and reaped before the script exits, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

import ansible_collections.oomguard.fleet as collection
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_adj

SEED_LOOP = 'for pid in $(pgrep %s); do echo %d > /proc/$pid/oom_score_adj; done'


class Fleet(object):
    """N sleeping processes under G names; killed and reaped on exit."""

    def __init__(self, workdir, processes, names):
        self.names = ["oga-bench-%02d" % index for index in range(names)]
        self.procs = []
        bindir = os.path.join(workdir, "bin")
        os.mkdir(bindir)
        sleep = shutil.which("sleep")
        for name in self.names:
            os.symlink(sleep, os.path.join(bindir, name))
        for index in range(processes):
            argv = [os.path.join(bindir, self.names[index % names]), "86400"]
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, close_fds=True))
        # Popen returns before exec: wait until every child carries its name.
        for proc in self.procs:
            want = os.path.basename(proc.args[0])
            while _comm(proc.pid) != want:
                time.sleep(0.005)

    def values(self):
        out = []
        for proc in self.procs:
            with open("/proc/%d/oom_score_adj" % proc.pid) as handle:
                out.append(int(handle.read()))
        return out

    def stop(self):
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------------------
# Contenders: each sets every process to `value`.

class _Exit(Exception):
    pass


def _module_call(args):
    """The module's main path in this interpreter: argument parsing, execute(), the JSON of the result."""
    with patch_module_args(args):
        module = oom_score_adj.build_module()
    result = oom_score_adj.OomScoreAdj(module.params, Io.of_module(module)).execute()
    json.dumps(result)
    if result.get("failed"):
        raise RuntimeError(result)
    return result


def module_one_call(fleet, value):
    _module_call({"rules": [{"name": name, "value": value} for name in fleet.names]})


def module_call_per_rule(fleet, value):
    for name in fleet.names:
        _module_call({"name": name, "value": value})


def shell_loop(fleet, value):
    script = "\n".join(SEED_LOOP % (name, value) for name in fleet.names)
    subprocess.run(["bash", "-c", script], check=True)


class Ansible(object):
    def __init__(self, workdir, fleet):
        self.workdir = workdir
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(list(collection.__path__)[0]))))
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": root,
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_HOME": os.path.join(workdir, "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
        })
        self.playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        header = "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        rules = "".join("          - name: %s\n            value: \"{{ v }}\"\n" % name for name in fleet.names)
        self.one = self._write("one.yml", header + "    - oomguard.fleet.oom_score_adj:\n        rules:\n" + rules)
        tasks = "".join("    - oomguard.fleet.oom_score_adj:\n        name: %s\n        value: \"{{ v }}\"\n" % name
                        for name in fleet.names)
        self.per_rule = self._write("per-rule.yml", header + tasks)
        loop = "\n".join(SEED_LOOP.replace("%d", "{{ v }}") % name for name in fleet.names)
        shell = header + "    - ansible.builtin.shell:\n        executable: /bin/bash\n        cmd: |\n" + "".join(
            "          %s\n" % line for line in loop.splitlines())
        self.shell = self._write("shell.yml", shell)

    def _write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def run(self, playbook, value):
        done = subprocess.run([self.playbook, playbook, "-e", "v=%d" % value], env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError("ansible-playbook %s failed:\n%s" % (playbook, done.stdout.decode()[-3000:]))


# ---------------------------------------------------------------------------------------------------------

def machine():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    import ansible.release
    return "%s, %d CPUs (%s), %.1f GiB RAM, kernel %s, Python %s, ansible-core %s" % (
        platform.machine(), os.cpu_count(), cpu, mem_kb / 1048576.0, platform.release(), platform.python_version(),
        ansible.release.__version__)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--processes", type=int, default=2000)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-ansible", action="store_true", help="only the in-process and shell contenders")
    parser.add_argument("--json", help="also write the raw timings here")
    opts = parser.parse_args()
    if opts.processes % opts.names:
        parser.error("--processes must be a multiple of --names")
    # The module warns through AnsibleModule; keep the benchmark's own output clean.
    basic.AnsibleModule.warn = lambda self, warning: None

    workdir = tempfile.mkdtemp(prefix="oomguard-bench-adj-")
    fleet = None
    try:
        fleet = Fleet(workdir, opts.processes, opts.names)
        g = opts.names
        contenders = [
            ("module-1call", lambda value: module_one_call(fleet, value)),
            ("module-%dcalls" % g, lambda value: module_call_per_rule(fleet, value)),
            ("shell-loop", lambda value: shell_loop(fleet, value)),
        ]
        if not opts.skip_ansible:
            ansible = Ansible(workdir, fleet)
            contenders += [
                ("ansible-1task", lambda value: ansible.run(ansible.one, value)),
                ("ansible-%dtasks" % g, lambda value: ansible.run(ansible.per_rule, value)),
                ("ansible-shell", lambda value: ansible.run(ansible.shell, value)),
            ]
        times = dict((name, []) for name, _run in contenders)
        value = 0
        print("%d processes under %d names, %d rounds; %s" % (opts.processes, g, opts.rounds, machine()))
        for round_no in range(opts.rounds):
            for name, run in contenders:
                value = value % 999 + 1
                start = time.perf_counter()
                run(value)
                elapsed = time.perf_counter() - start
                wrong = [v for v in fleet.values() if v != value]
                if wrong:
                    raise RuntimeError("%s left %d of %d processes without value %d" % (name, len(wrong), opts.processes, value))
                times[name].append(elapsed)
                print("  round %d  %-16s %8.3f s" % (round_no + 1, name, elapsed), flush=True)
        print()
        print(table(contenders, times))
        if opts.json:
            with open(opts.json, "w") as handle:
                json.dump({"machine": machine(), "processes": opts.processes, "names": g, "times": times}, handle, indent=2)
    finally:
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def table(contenders, times):
    medians = dict((name, statistics.median(values)) for name, values in times.items())
    rows = ["| contender | median s | min s | max s | vs module-1call | vs ansible-1task |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, _run in contenders:
        values = times[name]
        ansible_ratio = "%.1fx" % (medians[name] / medians["ansible-1task"]) if "ansible-1task" in medians else "-"
        rows.append("| %s | %.3f | %.3f | %.3f | %.1fx | %s |" % (
            name, medians[name], min(values), max(values), medians[name] / medians["module-1call"], ansible_ratio))
    return "\n".join(rows)


if __name__ == "__main__":
    main()
