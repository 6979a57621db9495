# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plumbing of the real-host lane: QEMU guests (Debian 12 and 13) booted by hack/guests/start, reached as
root over SSH on their loopback forward, and driven by Ansible's normal SSH connection.

Guest: one running guest (shell commands and Python over SSH, reboot).
Ansible: ad hoc module runs and playbook runs against the lane's inventory, with every task result
recorded per host (tests/guests/callback_plugins/guest_results.py), so tests assert on results, not output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import ansible_collections.oomguard.fleet as _collection

HACK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "hack", "guests")
HERE = os.path.dirname(os.path.abspath(__file__))


WORKLOAD_DIR = "/usr/local/lib/oomguard-test"
# The oom_protection role's task that sets the compliance fact.
COMPLIANCE_TASK = "Record compliance (policy vs declared vs applied) as the host fact oom_protection_compliance"
_ADJ = r"""
import json, sys
found = {}
for pid in sys.argv[1:]:
    try:
        with open("/proc/%s/oom_score_adj" % pid) as handle:
            found[pid] = int(handle.read())
    except OSError:
        pass
print(json.dumps(found))
"""


class GuestError(AssertionError):
    """A command in a guest failed, or the guest did not come back."""


class Guest(object):
    """A guest started by hack/guests/start in <run dir>/<name>."""

    def __init__(self, name, suite, run_dir, image):
        self.name = name
        self.suite = suite
        self.image = image
        self.dir = os.path.join(run_dir, name)
        self.port = None

    def start(self, timeout=300):
        done = subprocess.run([os.path.join(HACK, "start"), os.path.dirname(self.dir), self.name, self.image],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout + 60, check=False)
        if done.returncode != 0:
            raise GuestError("guest %s did not start:\n%s" % (self.name, done.stdout.decode("utf-8", "replace")))
        with open(os.path.join(self.dir, "port")) as handle:
            self.port = int(handle.read())
        return self

    def stop(self):
        subprocess.run([os.path.join(HACK, "stop"), self.dir], timeout=180, check=False)

    def qemu_pid(self):
        """QEMU's pid while the guest runs, else None."""
        try:
            with open(os.path.join(self.dir, "qemu.pid")) as handle:
                pid = int(handle.read())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def ssh(self, command, check=True, timeout=120, stdin=None, fresh=False):
        """Run a shell command as root in the guest; returns the CompletedProcess (text). Commands share a kept
        connection; fresh=True logs in anew (a new sshd session: what sshd gives sessions now, or whether it
        still accepts logins)."""
        done = subprocess.run([os.path.join(HACK, "ssh")] + (["--fresh"] if fresh else []) + [self.dir, command],
                              input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise GuestError("%s: `%s` exited %d\nstdout: %s\nstderr: %s"
                             % (self.name, command, done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
        return done

    def sh(self, command, timeout=120):
        """stdout of a shell command that must succeed."""
        return self.ssh(command, timeout=timeout).stdout

    def python(self, code, *args, timeout=120, fresh=False):
        """Run Python code in the guest (its python3) and return the JSON it prints on its last line."""
        argv = " ".join("'%s'" % str(arg).replace("'", "'\\''") for arg in args)
        out = self.ssh("python3 - %s" % argv, stdin=code, timeout=timeout, fresh=fresh).stdout
        return json.loads(out.strip().splitlines()[-1])

    def install_workloads(self, workloads):
        """Install, enable and start one service per {unit name: MiB}: files/hold.py holding that much memory
        under the unit's name (comm, at most 15 characters). No OOMScoreAdjust= of their own."""
        with open(os.path.join(HERE, "files", "hold.py")) as handle:
            hold = handle.read()
        script = ["set -e", "mkdir -p %s" % WORKLOAD_DIR, "cat >%s/hold.py <<'HOLD'\n%sHOLD" % (WORKLOAD_DIR, hold)]
        for unit, mib in workloads.items():
            name = unit.rsplit(".", 1)[0]
            script.append("printf '[Unit]\\nDescription=oomguard test workload %s\\n[Service]\\n"
                          "ExecStart=/usr/bin/python3 %s/hold.py %s %d\\n[Install]\\nWantedBy=multi-user.target\\n'"
                          " >/etc/systemd/system/%s" % (name, WORKLOAD_DIR, name, mib, unit))
        script.append("systemctl daemon-reload")
        script.append("systemctl enable --now --quiet %s" % " ".join(workloads))
        self.ssh("\n".join(script))

    def remove_workloads(self, units):
        """Stop the units and remove their files and drop-in directories (whoever wrote them)."""
        names = " ".join(units)
        self.ssh("systemctl disable --now --quiet %s 2>/dev/null; systemctl reset-failed %s 2>/dev/null; "
                 "cd /etc/systemd/system && "
                 "rm -rf %s %s; systemctl daemon-reload"
                 % (names, names, names, " ".join(unit + ".d" for unit in units)), check=False)

    def main_pids(self, units):
        """{unit: MainPID} (0 when not running)."""
        out = self.sh("systemctl show -P MainPID %s" % " ".join(units))
        return dict(zip(units, (int(pid) for pid in out.split())))

    def adj(self, pids):
        """{pid: oom_score_adj} of running processes (missing ones left out)."""
        return self.python(_ADJ, *pids)

    def close(self):
        """End the kept SSH connection (the next command logs in anew and keeps that connection)."""
        subprocess.run(["ssh", "-q", "-o", "ControlPath=" + os.path.join(self.dir, "ssh.sock"), "-O", "exit", "guest"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)

    def boot_id(self):
        return self.sh("cat /proc/sys/kernel/random/boot_id").strip()

    def reboot(self, timeout=300):
        """Reboot the guest (QEMU keeps running and boots the same kernel) and wait until SSH is back."""
        before = self.boot_id()
        self.ssh("systemctl reboot", check=False, timeout=30)
        self.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(3)
            done = self.ssh("cat /proc/sys/kernel/random/boot_id", check=False, timeout=30)
            if done.returncode == 0 and done.stdout.strip() not in ("", before):
                self.wait_system()
                return
        raise GuestError("%s did not come back within %d s of a reboot" % (self.name, timeout))

    def wait_system(self, timeout=180):
        """Wait until systemd has finished starting up (running or degraded)."""
        self.ssh("timeout %d systemctl is-system-running --wait >/dev/null || true" % timeout, timeout=timeout + 30)


def collections_root():
    """The directory holding ansible_collections/ through which these tests imported the collection."""
    fleet_dir = list(_collection.__path__)[0]
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(fleet_dir))))


class Result(object):
    """One ansible(-playbook) run: return code, console output, and every task result per host."""

    def __init__(self, rc, output, records):
        self.rc = rc
        self.output = output
        self.records = records

    def tasks(self, host, name=None):
        return [r for r in self.records if r["host"] == host and (name is None or r["task"] == name)]

    def task(self, host, name):
        """The result of the (last) task called `name` on `host` (a role's task: its name without the role)."""
        found = self.tasks(host, name) or [r for r in self.tasks(host) if r["task"].endswith(" : " + name)]
        if not found:
            raise AssertionError("no result of task %r on %s; output:\n%s" % (name, host, self.output[-4000:]))
        return found[-1]["result"]

    def compliance(self, host):
        """The role's compliance records on `host`, by target (its oom_protection_compliance fact)."""
        fact = self.task(host, COMPLIANCE_TASK)["ansible_facts"]["oom_protection_compliance"]
        return dict((record["target"], record) for record in fact["records"])

    def changed(self, host):
        return [r["task"] for r in self.tasks(host) if r["result"].get("changed")]

    def assert_ok(self):
        if self.rc != 0:
            raise AssertionError("ansible exited %d:\n%s" % (self.rc, self.output[-6000:]))
        return self


class Ansible(object):
    """ansible and ansible-playbook of the venv running the tests, pointed at the guests."""

    def __init__(self, inventory, run_dir):
        self.inventory = inventory
        self.run_dir = run_dir

    def env(self):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_root(),
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "guest_results",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "true",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            # Each task costs an SSH round trip or more under emulation: pipelining and a kept connection.
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(self.run_dir, "cp"),
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null"
                                " -o IdentitiesOnly=yes -o ServerAliveInterval=10",
            "ANSIBLE_TIMEOUT": "30",
            "ANSIBLE_GATHERING": "explicit",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        })
        return env

    def close_connections(self):
        """End Ansible's kept SSH connections, so that the next run logs in anew (a session opened before
        sshd restarted keeps what the old listener gave it)."""
        control = os.path.join(self.run_dir, "cp")
        for name in os.listdir(control) if os.path.isdir(control) else []:
            subprocess.run(["ssh", "-O", "exit", "-o", "ControlPath=" + os.path.join(control, name), "guest"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)

    def _run(self, argv, timeout):
        fd, results = tempfile.mkstemp(prefix="results-", suffix=".jsonl", dir=self.run_dir)
        os.close(fd)
        env = self.env()
        env["OOMGUARD_GUEST_RESULTS"] = results
        try:
            done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, timeout=timeout, check=False)
            with open(results) as handle:
                records = [json.loads(line) for line in handle if line.strip()]
        finally:
            os.unlink(results)
        return Result(done.returncode, done.stdout, records)

    def module(self, module, args, hosts="guests", check=False, timeout=600):
        """Ad hoc run of one module on `hosts`; returns a Result (task name: the module's name)."""
        argv = [_bin("ansible"), hosts, "-i", self.inventory, "-m", module, "-a", json.dumps(args)]
        if check:
            argv.append("--check")
        return self._run(argv, timeout)

    def module_results(self, module, args, hosts="guests", check=False):
        """{host: result} of an ad hoc module run that must succeed on every host."""
        res = self.module(module, args, hosts=hosts, check=check).assert_ok()
        return {r["host"]: r["result"] for r in res.records}

    def playbook(self, playbook, extra_vars=None, check=False, limit=None, timeout=900):
        argv = [_bin("ansible-playbook"), "-i", self.inventory, playbook]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if limit:
            argv += ["--limit", limit]
        return self._run(argv, timeout)


def _bin(name):
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


def write_inventory(path, guests):
    hosts = {}
    for guest in guests:
        hosts[guest.name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": guest.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": open(os.path.join(guest.dir, "key")).read().strip(),
            "ansible_python_interpreter": "/usr/bin/python3",
            "guest_suite": guest.suite,
        }
    with open(path, "w") as handle:
        json.dump({"all": {"children": {"guests": {"hosts": hosts}}}}, handle, indent=2)
    return path


def thrash_loop(path):
    """Python source (after `import os`) for a process that a 48M memory.high throttles without a pause, whatever
    the load on the machine that emulates the guest: it writes a 64 MiB file once, then keeps 56 MiB of
    anonymous memory (more than memory.high, and without swap nothing the kernel can reclaim) and rereads the
    file forever. Every page it charges then costs it a reclaim pass over its own page cache (the reclaim
    activity systemd-oomd's pressure rule requires) and, since that cannot bring the cgroup under memory.high,
    the kernel's over-high penalty: a sleep of up to 2 s that PSI counts as a memory stall of every task in the
    cgroup, so its "full" pressure stays near 100 %. (Rereading with only page cache above memory.high, as an
    earlier version did, stalls only while reclaim runs, a share of CPU time; once, on an emulator loaded by
    other work, systemd-oomd did not act on it within four minutes.)"""
    return """path = %r
if not os.path.exists(path) or os.path.getsize(path) != 64 * 1024 * 1024:
    with open(path, 'wb') as out:
        for _ in range(64):
            out.write(os.urandom(1024 * 1024))
held = b'\\x33' * (56 * 1024 * 1024)
fd = os.open(path, os.O_RDONLY)
while True:
    for offset in range(0, 64 * 1024 * 1024, 1024 * 1024):
        os.pread(fd, 1024 * 1024, offset)
""" % path


def pressure_diagnostics(guest, cgroup):
    """What systemd-oomd saw of `cgroup` (path below /sys/fs/cgroup), for a message when its kill did not
    come: the cgroup's memory.pressure, memory.current, memory.high, the reclaim counters of memory.stat,
    `oomctl` and systemd-oomd's last lines."""
    path = "/sys/fs/cgroup" + cgroup
    return guest.ssh("cd %s && for f in memory.pressure memory.current memory.high; do echo \"== $f\"; cat $f; done; "
                     "echo '== memory.stat'; grep -E '^(pgscan|pgsteal|anon|file) ' memory.stat; "
                     "echo '== oomctl'; oomctl; echo '== journal'; journalctl -u systemd-oomd -n 20 --no-pager -o cat"
                     % path, check=False).stdout


def wait_for_oomd_kill(guest, cgroup, what, check, timeout):
    """wait_until(what, check, timeout); on a timeout the AssertionError also says what systemd-oomd saw of the
    monitored cgroup (pressure_diagnostics)."""
    try:
        return wait_until(what, check, timeout)
    except AssertionError as error:
        raise AssertionError("%s; what it saw:\n%s" % (error, pressure_diagnostics(guest, cgroup))) from None


def wait_until(what, check, timeout, every=2):
    """check()'s first true value, asked every `every` seconds; AssertionError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(every)
