# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_adj against the real kernel: every selector on real processes, check mode, idempotence, the
kernel's refusal of negative values without CAP_SYS_RESOURCE with rollback, races, and real `ansible` runs.

Only this test's own children are ever selected (unique names, a private copy of the sleep binary, an unused
uid, a private cgroup), so nothing else on the machine is touched. Values are positive unless a test is
about the kernel refusing a negative one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")

import livetools  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import (
    can_lower_adj, read_bytes, select_cgroup_path,
)
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_adj  # noqa: E402  pylint: disable=wrong-import-position

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "unit"))
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position,import-error

TAG = "%05d" % (os.getpid() % 100000)
SLEEP = shutil.which("sleep") or "/bin/sleep"


def adjust(args, check_mode=False, diff=False):
    return run_module(oom_score_adj.main, args, check_mode=check_mode, diff=diff)


def adj_of(pid):
    with open("/proc/%d/oom_score_adj" % pid) as handle:
        return int(handle.read())


def set_adj(pid, value):
    livetools.write_adj(pid, value)
    assert adj_of(pid) == value


class Children(object):
    """Starts this test's processes and always kills and reaps them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.serial = 0

    def program(self, name):
        """A private copy of sleep: its comm is `name` and its exe is a path only this test uses."""
        path = os.path.join(self.workdir, name)
        if not os.path.exists(path):
            shutil.copy2(SLEEP, path)
            os.chmod(path, 0o755)
        return path

    def start(self, name=None, argv=None, uid=None):
        self.serial += 1
        if argv is None:
            # A distinct duration per child makes its command line unique (sleep adds its arguments up).
            argv = [self.program(name) if name else SLEEP, "3600", "0.%s%04d" % (TAG, self.serial)]
        preexec = None
        if uid is not None:
            def preexec():
                os.setgid(uid)
                os.setuid(uid)
        # Its own process group, so that stop_all() also ends the grandchildren of a shell child.
        proc = subprocess.Popen(argv, preexec_fn=preexec, close_fds=True, start_new_session=True)
        self.procs.append(proc)
        wait_for_exec(proc.pid, argv)
        return proc

    def stop_all(self):
        for proc in self.procs:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()


def wait_for_exec(pid, argv, timeout=5.0):
    """Popen returns before exec(); selectors see the new program only after it."""
    want = os.path.basename(argv[0])[:15]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/comm" % pid) as handle:
                if handle.read().strip() == want:
                    return
        except OSError:
            return
        time.sleep(0.01)
    raise AssertionError("pid %d did not exec %s" % (pid, argv[0]))


@pytest.fixture
def children(tmp_path):
    workdir = tmp_path / "bin"
    workdir.mkdir()
    os.chmod(str(tmp_path), 0o755)
    os.chmod(str(workdir), 0o755)
    spawned = Children(str(workdir))
    try:
        yield spawned
    finally:
        spawned.stop_all()


def free_uid():
    uid = 61000 + os.getpid() % 1000
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1


def systemd_v1_root():
    """The mount point of cgroup v1's name=systemd hierarchy, if this host has one."""
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields, _sep, tail = line.partition(" - ")
            parts = tail.split()
            if len(parts) >= 3 and parts[0] == "cgroup" and "name=systemd" in parts[2].split(","):
                return fields.split()[4]
    return None


@pytest.fixture
def unit_cgroup():
    """A private cgroup named like a service: processes moved in report that unit in /proc/PID/cgroup."""
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    root = systemd_v1_root()
    if root is None:
        pytest.skip("no cgroup v1 name=systemd hierarchy on this host (and no systemd to make a transient unit)")
    unit = "oomguard-test-%s.service" % TAG
    path = os.path.join(root, unit)
    os.mkdir(path)

    def move(pid):
        with open(os.path.join(path, "cgroup.procs"), "w") as handle:
            handle.write("%d\n" % pid)
        seen = select_cgroup_path(read_bytes("/proc/%d/cgroup" % pid))
        if seen != "/" + unit:
            pytest.skip("this host's processes report cgroup %r, not the name=systemd path" % seen)

    try:
        yield unit, "/" + unit, move
    finally:
        with contextlib.suppress(OSError):
            with open(os.path.join(path, "cgroup.procs")) as handle:
                left = [line.strip() for line in handle if line.strip()]
            for pid in left:
                with contextlib.suppress(OSError):
                    with open(os.path.join(root, "cgroup.procs"), "w") as handle:
                        handle.write(pid + "\n")
        for _attempt in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)


def wait_children(pid, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
            kids = [int(x) for x in handle.read().split()]
        if len(kids) >= count:
            return kids
        time.sleep(0.02)
    raise AssertionError("pid %d did not start %d children" % (pid, count))


# -- one scenario per selector kind -----------------------------------------------------------------------

def scenario_pid(children, request):
    target = children.start("oga%spid" % TAG)
    return {"pid": target.pid}, [target.pid]


def scenario_name(children, request):
    target = children.start("oga%sname" % TAG)
    return {"name": "oga%sname" % TAG}, [target.pid]


def scenario_name_pattern(children, request):
    targets = [children.start("oga%srx%d" % (TAG, i)) for i in range(2)]
    return {"name_pattern": r"^oga%srx\d$" % TAG}, [p.pid for p in targets]


def scenario_cmdline_pattern(children, request):
    target = children.start()
    duration = target.args[-1]
    return {"cmdline_pattern": r"(^|\s)%s$" % re.escape(duration)}, [target.pid]


def scenario_exe(children, request):
    targets = [children.start("oga%sexe" % TAG) for dummy in range(2)]
    return {"exe": children.program("oga%sexe" % TAG)}, [p.pid for p in targets]


def scenario_user(children, request):
    uid = free_uid()
    targets = [children.start(uid=uid) for dummy in range(2)]
    return {"user": str(uid)}, [p.pid for p in targets]


def scenario_unit(children, request):
    unit, _path, move = request.getfixturevalue("unit_cgroup")
    targets = [children.start("oga%sunit" % TAG) for dummy in range(2)]
    for proc in targets:
        move(proc.pid)
    return {"unit": unit}, [p.pid for p in targets]


def scenario_cgroup(children, request):
    _unit, path, move = request.getfixturevalue("unit_cgroup")
    target = children.start("oga%scg" % TAG)
    move(target.pid)
    return {"cgroup": path}, [target.pid]


def scenario_cgroup_glob(children, request):
    _unit, _path, move = request.getfixturevalue("unit_cgroup")
    target = children.start("oga%scgg" % TAG)
    move(target.pid)
    return {"cgroup": "/oomguard-test-%s.*" % TAG}, [target.pid]


def scenario_include_descendants(children, request):
    parent = children.start(argv=["/bin/sh", "-c", "%s 3600 & %s 3600 & wait" % (SLEEP, SLEEP)])
    kids = wait_children(parent.pid, 2)
    for kid in kids:
        wait_for_exec(kid, [SLEEP])
    return {"pid": parent.pid, "include_descendants": True}, [parent.pid] + kids


SCENARIOS = dict((name[len("scenario_"):], func) for name, func in list(globals().items()) if name.startswith("scenario_"))


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_each_selector_sets_values_idempotently_and_check_mode_writes_nothing(children, request, kind):
    selector, targets = SCENARIOS[kind](children, request)
    bystander = children.start("oga%sby" % TAG)
    args = dict(selector, value=300)
    everyone = targets + [bystander.pid]
    assert [adj_of(pid) for pid in everyone] == [0] * len(everyone)

    preview, failed = adjust(args, check_mode=True, diff=True)
    assert not failed, preview
    assert preview["changed"]
    assert sorted(c["pid"] for c in preview["changes"]) == sorted(targets)
    assert all((c["before"], c["after"]) == (0, 300) for c in preview["changes"])
    assert preview["diff"]["after"].count(": 300\n") == len(targets)
    assert [adj_of(pid) for pid in everyone] == [0] * len(everyone), "check mode wrote something"

    applied, failed = adjust(args)
    assert not failed, applied
    assert applied["changed"]
    assert sorted(c["pid"] for c in applied["changes"]) == sorted(targets)
    assert [adj_of(pid) for pid in targets] == [300] * len(targets)
    assert adj_of(bystander.pid) == 0

    again, failed = adjust(args)
    assert not failed
    assert again["changed"] is False
    assert again["changes"] == []
    assert again["unchanged"] == len(targets)


def test_unit_is_reported_for_each_change(children, unit_cgroup):
    unit, _path, move = unit_cgroup
    target = children.start("oga%sru" % TAG)
    move(target.pid)
    result, failed = adjust({"pid": target.pid, "value": 123})
    assert not failed
    assert result["changes"][0]["unit"] == unit


def test_a_multi_rule_policy_is_one_call_and_the_last_rule_wins(children):
    web = [children.start("oga%sweb" % TAG) for dummy in range(3)]
    batch = children.start("oga%sbat" % TAG)
    result, failed = adjust({"rules": [
        {"name_pattern": "^oga%s(web|bat)$" % TAG, "value": 100},
        {"name": "oga%sbat" % TAG, "value": 900},
        {"pid": web[0].pid, "value": 50},
    ]})
    assert not failed
    assert [adj_of(p.pid) for p in web] == [50, 100, 100]
    assert adj_of(batch.pid) == 900
    winners = dict((c["pid"], c["rule"]["index"]) for c in result["changes"])
    assert winners == {web[0].pid: 2, web[1].pid: 0, web[2].pid: 0, batch.pid: 1}
    assert [(r["matched"], r["won"]) for r in result["rules"]] == [(4, 2), (1, 1), (1, 1)]


def test_the_module_never_touches_its_own_process_chain():
    chain = [os.getpid(), os.getppid()]
    before = [adj_of(pid) for pid in chain]
    result, failed = adjust({"rules": [{"pid": pid, "value": 10} for pid in chain], "on_no_match": "ignore"})
    assert not failed
    assert result["changes"] == [] and result["matched"] == 0
    assert sorted(s["pid"] for s in result["excluded"]) == sorted(chain)
    assert [adj_of(pid) for pid in chain] == before


# -- the kernel's refusal of negative values --------------------------------------------------------------

needs_no_cap = pytest.mark.skipif(can_lower_adj() is not False,
                                  reason="this host may lower oom_score_adj (CAP_SYS_RESOURCE), so nothing is refused")


@needs_no_cap
def test_a_negative_value_fails_naming_process_values_and_capability(children):
    target = children.start("oga%sneg" % TAG)
    result, failed = adjust({"pid": target.pid, "value": -100})
    assert failed
    msg = result["msg"]
    for fragment in ("pid %d (oga%sneg)" % (target.pid, TAG), "requested -100", "current 0", "CAP_SYS_RESOURCE"):
        assert fragment in msg, (fragment, msg)
    assert result["changed"] is False
    assert result["denied"][0]["predicted"] is False
    assert adj_of(target.pid) == 0


@needs_no_cap
def test_a_negative_value_warns_with_on_denied_warn(children):
    target = children.start("oga%swrn" % TAG)
    other = children.start("oga%soth" % TAG)
    result, failed = adjust({"rules": [{"pid": target.pid, "value": -100}, {"pid": other.pid, "value": 200}],
                             "on_denied": "warn"})
    assert not failed
    assert [(d["pid"], d["before"], d["requested"]) for d in result["denied"]] == [(target.pid, 0, -100)]
    warning = " ".join(result["warnings"])
    for fragment in ("pid %d (oga%swrn)" % (target.pid, TAG), "requested -100", "current 0", "CAP_SYS_RESOURCE"):
        assert fragment in warning
    assert adj_of(target.pid) == 0
    assert adj_of(other.pid) == 200
    assert result["changed"] and [c["pid"] for c in result["changes"]] == [other.pid]


@needs_no_cap
def test_a_refused_write_rolls_back_everything_the_call_changed(children):
    raised = children.start("oga%sup" % TAG)       # rule 0 raises it: must not be written
    lowered = children.start("oga%sdown" % TAG)    # rule 1 lowers it within its floor: written, then reverted
    refused = children.start("oga%sno" % TAG)      # rule 2 asks for a negative value: refused
    set_adj(lowered.pid, 300)
    result, failed = adjust({"rules": [
        {"pid": raised.pid, "value": 400},
        {"pid": lowered.pid, "value": 100},
        {"pid": refused.pid, "value": -100},
    ]})
    assert failed
    assert (adj_of(raised.pid), adj_of(lowered.pid), adj_of(refused.pid)) == (0, 300, 0)
    assert result["rolled_back"] == [{"pid": lowered.pid, "name": "oga%sdown" % TAG, "value": 300}]
    assert result["changes"] == [] and result["changed"] is False
    assert "rolled back" in result["msg"] and "CAP_SYS_RESOURCE" in result["msg"]


@needs_no_cap
def test_check_mode_predicts_the_refusal_and_writes_nothing(children):
    target = children.start("oga%spre" % TAG)
    result, failed = adjust({"pid": target.pid, "value": -100}, check_mode=True)
    assert not failed
    assert result["changes"] == []
    assert [(d["pid"], d["predicted"]) for d in result["denied"]] == [(target.pid, True)]
    assert any("check mode" in w and "CAP_SYS_RESOURCE" in w for w in result["warnings"])
    assert adj_of(target.pid) == 0


# -- races --------------------------------------------------------------------------------------------------

def test_a_process_that_exits_between_matching_and_writing_is_reported_vanished(children, monkeypatch):
    victim = children.start("oga%svan" % TAG)
    survivor = children.start("oga%ssur" % TAG)
    plan = oom_score_adj.OomScoreAdj.plan

    def plan_then_kill(self):
        planned = plan(self)
        victim.kill()
        victim.wait()
        return planned

    monkeypatch.setattr(oom_score_adj.OomScoreAdj, "plan", plan_then_kill)
    result, failed = adjust({"name_pattern": "^oga%s(van|sur)$" % TAG, "value": 400})
    assert not failed, result
    assert result["vanished"] == [{"pid": victim.pid, "name": "oga%svan" % TAG,
                                   "rule": {"index": 0, "description": "name_pattern=^oga%s(van|sur)$" % TAG}}]
    assert [c["pid"] for c in result["changes"]] == [survivor.pid]
    assert adj_of(survivor.pid) == 400


def test_a_recycled_pid_is_not_written(children, monkeypatch):
    target = children.start("oga%sreu" % TAG)
    plan = oom_score_adj.OomScoreAdj.plan

    def plan_with_an_older_identity(self):
        planned = plan(self)
        for item in planned:
            # As if the matched process had died and its pid gone to this (younger) one.
            item.proc.starttime -= 1
        return planned

    monkeypatch.setattr(oom_score_adj.OomScoreAdj, "plan", plan_with_an_older_identity)
    result, failed = adjust({"pid": target.pid, "value": 400})
    assert not failed
    assert [r["pid"] for r in result["reused"]] == [target.pid]
    assert "another process" in result["reused"][0]["reason"]
    assert result["changed"] is False and result["changes"] == []
    assert adj_of(target.pid) == 0


# -- through real Ansible ---------------------------------------------------------------------------------

def ansible_available():
    return os.path.exists(livetools.ansible_bin()) or shutil.which("ansible") is not None


needs_ansible = pytest.mark.skipif(not ansible_available(), reason="no ansible CLI next to this Python")


@needs_ansible
def test_ad_hoc_ansible_run_sets_the_value_once(children):
    target = children.start("oga%sadh" % TAG)
    first = livetools.run_module_ok("oom_score_adj", {"pid": target.pid, "value": 275})
    assert first["_status"] == "CHANGED"
    assert first["changes"][0]["after"] == 275
    assert adj_of(target.pid) == 275
    second = livetools.run_module_ok("oom_score_adj", {"pid": target.pid, "value": 275})
    assert second["_status"] == "SUCCESS" and second["changed"] is False


@needs_ansible
@needs_no_cap
def test_ad_hoc_ansible_run_reports_the_refusal(children):
    target = children.start("oga%sadn" % TAG)
    result = livetools.run_module("oom_score_adj", {"pid": target.pid, "value": -200})
    assert result["_status"] == "FAILED!"
    assert "CAP_SYS_RESOURCE" in result["msg"] and "requested -200" in result["msg"]
    assert adj_of(target.pid) == 0


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply a two-rule policy
      oomguard.fleet.oom_score_adj:
        rules:
          - name: {name}
            value: 350
          - pid: {pid}
            value: 360
"""


def run_playbook(path, *extra):
    argv = [livetools.ansible_bin("ansible-playbook"), str(path)] + list(extra)
    done = subprocess.run(argv, env=livetools.ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300, check=False)
    return done.returncode, done.stdout.decode("utf-8", "replace")


@needs_ansible
def test_playbook_check_diff_then_apply_then_idempotent(children, tmp_path):
    name = "oga%spb" % TAG
    first, second = children.start(name), children.start(name)
    playbook = tmp_path / "policy.yml"
    playbook.write_text(PLAYBOOK.format(name=name, pid=second.pid))

    rc, out = run_playbook(playbook, "--check", "--diff")
    assert rc == 0, out
    assert "-%d %s: 0" % (first.pid, name) in out and "+%d %s: 350" % (first.pid, name) in out, out
    assert "+%d %s: 360" % (second.pid, name) in out, out
    assert re.search(r"localhost\s*:\s*ok=1\s+changed=1\b", out), out
    assert (adj_of(first.pid), adj_of(second.pid)) == (0, 0)

    rc, out = run_playbook(playbook)
    assert rc == 0, out
    assert (adj_of(first.pid), adj_of(second.pid)) == (350, 360)

    rc, out = run_playbook(playbook)
    assert rc == 0, out
    assert re.search(r"localhost\s*:\s*ok=1\s+changed=0\b", out), out


@needs_ansible
def test_ansible_doc_shows_the_documentation_and_examples():
    argv = [livetools.ansible_bin("ansible-doc"), "oomguard.fleet.oom_score_adj"]
    done = subprocess.run(argv, env=dict(livetools.ansible_env(), PAGER="cat"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120, check=False)
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, done.stderr
    for fragment in ("name: sshd", "unit: postgresql.service", "Deprioritise", "CAP_SYS_RESOURCE", "oom_adj: 10",
                     "All or nothing", "allow_oom_disable", "RETURN VALUES"):
        assert fragment in out, fragment
