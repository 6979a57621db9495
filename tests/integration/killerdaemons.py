# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real earlyoom and nohang, unpacked from their Debian packages into the build tree (hack/killer-debs, never
installed: their maintainer scripts could start a daemon that kills during other tests) and started here with
settings that can never hurt this machine: earlyoom with --dryrun (it never sends a signal), nohang with
thresholds of 1-2 MiB of MemAvailable and a min_badness no process reaches (it finds no victim). Both are
stopped when the `with` block ends, also on failure."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, ".build")
# The earlyoom options: every form the reader parses (a TERM,KILL pair, a KiB size merged with it, a separate and
# an attached long option value, a regex with a space).
EARLYOOM_ARGS = ["--dryrun", "-r", "0", "-m", "5,1", "-M", "524288", "-s", "50,20",
                 "--prefer", "^(my app|stress)$", "--avoid=^sshd$"]
NOHANG_THRESHOLDS = {"soft_threshold_min_mem": "2 M", "hard_threshold_min_mem": "1 M",
                     "soft_threshold_min_swap": "10 %", "hard_threshold_min_swap": "5 %", "min_badness": "100000"}


def unpacked():
    """{package: unpacked root} of earlyoom and nohang, downloaded and unpacked once (cached in .build)."""
    done = subprocess.run([os.path.join(REPO, "hack", "killer-debs"), BUILD, "earlyoom", "nohang"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError("hack/killer-debs failed: %s" % done.stderr.decode("utf-8", "replace"))
    roots = done.stdout.decode().split()
    return {"earlyoom": roots[0], "nohang": roots[1]}


def nohang_config(root, path):
    """The package's own nohang.conf with the thresholds above (so every key nohang requires is there)."""
    with open(os.path.join(root, "etc", "nohang", "nohang.conf")) as handle:
        text = handle.read()
    for key, value in NOHANG_THRESHOLDS.items():
        text, count = re.subn(r"(?m)^%s\s*=.*$" % key, "%s = %s" % (key, value), text)
        assert count == 1, "%s is not in the packaged nohang.conf" % key
    with open(path, "w") as handle:
        handle.write(text)


class Daemon(object):
    def __init__(self, argv, log_path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        # A session of its own: it is signalled alone, never with the test runner.
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def output(self):
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def wait_for(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError("%s ended (rc %s) before saying %r:\n%s"
                                     % (self.log_path, self.proc.returncode, text, self.output()))
            time.sleep(0.2)
        raise AssertionError("%s did not say %r within %ds:\n%s" % (self.log_path, text, timeout, self.output()))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._log.close()


@contextlib.contextmanager
def running_killers(workdir):
    """Start the real earlyoom and nohang; yields {"earlyoom": Daemon, "nohang": Daemon, "nohang_config": path}."""
    roots = unpacked()
    config = os.path.join(str(workdir), "nohang-test.conf")
    nohang_config(roots["nohang"], config)
    started = []
    try:
        earlyoom = Daemon([os.path.join(roots["earlyoom"], "usr", "bin", "earlyoom")] + EARLYOOM_ARGS,
                          os.path.join(str(workdir), "earlyoom.log"))
        started.append(earlyoom)
        # Started by its own #! line, as its service does: the process is named nohang.
        nohang = Daemon([os.path.join(roots["nohang"], "usr", "sbin", "nohang"), "--monitor", "--config", config],
                        os.path.join(str(workdir), "nohang.log"))
        started.append(nohang)
        earlyoom.wait_for("SIGKILL when mem <=")
        nohang.wait_for("Monitoring has started!")
        yield {"earlyoom": earlyoom, "nohang": nohang, "nohang_config": config}
    finally:
        for daemon in started:
            daemon.stop()


def earlyoom_banner(text):
    """earlyoom's own statement of its limits: {mem_term, swap_term, mem_kill, swap_kill} in percent."""
    term = re.search(r"sending SIGTERM when mem <=\s*([\d.]+)% and swap <=\s*([\d.]+)%", text)
    kill = re.search(r"SIGKILL when mem <=\s*([\d.]+)% and swap <=\s*([\d.]+)%", text)
    return {"mem_term_percent": float(term.group(1)), "swap_term_percent": float(term.group(2)),
            "mem_kill_percent": float(kill.group(1)), "swap_kill_percent": float(kill.group(2))}
