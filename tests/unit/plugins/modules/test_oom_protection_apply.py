# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_protection_apply end to end, in-process: drop-ins under a tmp root, live values in a fake /proc, a sysctl
file under tmp_path, and systemd faked by a marker directory and a stand-in for `systemctl show`.

The real systemd (daemon-reload, what systemctl reports) is covered by the molecule scenario; here the read-back
of unit settings goes through a fake show_units, because this machine has no systemd running as PID 1."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as _adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import dropins as _dropins_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import info as _info_task
from ansible_collections.oomguard.fleet.plugins.module_utils._host import writer as _writer
from ansible_collections.oomguard.fleet.plugins.modules import oom_protection_apply

from fakeproc import FakeProc
from modrun import run_module

CAP_SYS_RESOURCE = 1 << 24
DROPIN = "60-oomguard.conf"
SYSCTL_CONTENT = "vm.panic_on_oom = 0\nvm.oom_dump_tasks = 1"
UNITS = [
    {"name": "postgresql.service", "oom_score_adj": -500, "tier": "critical"},
    {"name": "ssh.service", "oom_score_adj": -900},
    # No value: a drop-in with OOMPolicy= only, and no live value (so it adds nothing to rule_offset).
    {"name": "cron.service", "oom_policy": "stop"},
]
RULES = [
    {"name_pattern": "^java$", "value": 500},
    # A process rule comes after the unit values, so it wins over postgresql.service's -500 for this one pid.
    {"pid": 201, "value": -200},
]


# -- the fake host ---------------------------------------------------------------------------------------

class Systemctl(object):
    """Stands in for `systemctl show`: records every call, answers 'loaded, active' for every unit."""

    def __init__(self, monkeypatch, error=None):
        self.calls = []
        self.error = error
        monkeypatch.setattr(_info_task, "show_units", self)

    def __call__(self, run_command, units, systemctl="systemctl"):
        self.calls.append(list(units))
        if self.error:
            raise RuntimeError(self.error)
        return dict((unit, {"Id": unit, "LoadState": "loaded", "ActiveState": "active", "MainPID": "0",
                            "OOMScoreAdjust": "0", "OOMPolicy": "stop", "FragmentPath": "", "DropInPaths": ""})
                    for unit in units)


class Host(object):
    """Everything the module may touch on the fake host, and a snapshot of all of it."""

    def __init__(self, tmp_path, systemd=True, cap_eff=CAP_SYS_RESOURCE):
        self.tmp = tmp_path
        self.proc = FakeProc(tmp_path / "proc", cap_eff=cap_eff)
        self.root = tmp_path / "etc-systemd-system"
        self.root.mkdir()
        self.sysctl_dir = tmp_path / "sysctl.d"
        self.sysctl_dir.mkdir()
        self.sysctl = self.sysctl_dir / "60-oomguard.conf"
        self.marker = tmp_path / "run-systemd-system"
        if systemd:
            self.marker.mkdir()
        proc = self.proc
        proc.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
        proc.add(2, name=b"kthreadd", ppid=0, flags=0x00208040, has_mm=False)
        proc.add(100, name=b"sshd", cgroup="/system.slice/ssh.service", cmdline=[b"sshd: /usr/sbin/sshd -D"])
        proc.add(200, name=b"postgres", uid=65534, cgroup="/system.slice/postgresql.service",
                 cmdline=[b"/usr/lib/postgresql/bin/postgres", b"-D", b"/db"])
        proc.add(201, name=b"postgres", ppid=200, uid=65534, cgroup="/system.slice/postgresql.service",
                 cmdline=[b"postgres: checkpointer"])
        proc.add(300, name=b"java", cgroup="/system.slice/batch.service", cmdline=[b"/usr/bin/java", b"-jar", b"b.jar"])
        proc.add(400, name=b"app", oom_score_adj=100, cgroup="/user.slice/user-1000.slice/session-3.scope")

    def args(self, **args):
        base = {"units": UNITS, "rules": RULES, "root": str(self.root), "systemd_marker": str(self.marker),
                "proc_path": self.proc.root, "sysctl_file": str(self.sysctl), "sysctl_content": SYSCTL_CONTENT}
        base.update(args)
        return base

    def run(self, check_mode=False, diff=False, **args):
        return run_module(oom_protection_apply.main, self.args(**args), check_mode=check_mode, diff=diff)

    def adj(self, pid):
        with open(self.proc.path(str(pid), "oom_score_adj")) as handle:
            return int(handle.read().split()[0])

    def adjs(self):
        return dict((pid, self.adj(pid)) for pid in (1, 100, 200, 201, 300, 400))

    def dropin(self, unit, name=DROPIN):
        return self.root / (unit + ".d") / name

    def snapshot(self):
        """Every directory, file (content and mode) under the drop-in root and the sysctl directory, and the
        fingerprint of the fake /proc."""
        seen = {"proc": self.proc.digest()}
        for top in (self.root, self.sysctl_dir):
            for dirpath, dirnames, filenames in os.walk(str(top)):
                seen[dirpath] = "dir"
                for filename in filenames:
                    full = os.path.join(dirpath, filename)
                    with open(full, "rb") as handle:
                        seen[full] = (handle.read(), stat.S_IMODE(os.stat(full).st_mode))
        return seen


@pytest.fixture
def systemctl(monkeypatch):
    return Systemctl(monkeypatch)


@pytest.fixture
def host(tmp_path, systemctl):
    return Host(tmp_path)


def ok(pair):
    result, failed = pair
    assert not failed, result.get("msg")
    return result


# -- 1. first run converges everything, the second changes nothing ----------------------------------------

def test_first_run_writes_dropins_live_values_and_sysctl_file(host, systemctl):
    result = ok(host.run())
    assert result["changed"] is True
    assert result["systemd"] is True and result["skipped_units"] == []
    assert result["reload_needed"] is True

    text = host.dropin("postgresql.service").read_text()
    assert "OOMScoreAdjust=-500\n" in text and "# oomguard-owner: oomguard.fleet.oom_protection\n" in text
    assert "tier critical" in text
    assert "OOMScoreAdjust=-900\n" in host.dropin("ssh.service").read_text()
    cron = host.dropin("cron.service").read_text()
    assert "OOMPolicy=stop\n" in cron and "OOMScoreAdjust" not in cron
    assert sorted(result["dropins"]["written"]) == sorted(str(host.dropin(unit["name"])) for unit in UNITS)
    assert result["dropins"]["units_changed"] == ["cron.service", "postgresql.service", "ssh.service"]

    # Unit values reach the processes in the unit's cgroup; the process rules come after and win.
    assert host.adjs() == {1: 0, 100: -900, 200: -500, 201: -200, 300: 500, 400: 100}
    assert result["rule_offset"] == 2
    assert [(r["index"], r["description"], r["value"]) for r in result["adjust"]["rules"]] == [
        (0, "unit=postgresql.service", -500), (1, "unit=ssh.service", -900),
        (2, "name_pattern=^java$", 500), (3, "pid=201", -200)]
    assert [(c["pid"], c["before"], c["after"], c["rule"]["index"]) for c in result["adjust"]["changes"]] == [
        (100, 0, -900, 1), (200, 0, -500, 0), (201, 0, -200, 3), (300, 0, 500, 2)]

    assert host.sysctl.read_text() == SYSCTL_CONTENT + "\n"
    assert stat.S_IMODE(host.sysctl.stat().st_mode) == 0o644
    assert result["sysctl"] == {"path": str(host.sysctl), "state": "present", "changed": True}
    assert "diff" not in result and "diff" not in result["adjust"] and "diff" not in result["sysctl"]
    assert result["warnings"] == []
    # One `systemctl show` for every unit, at the end.
    assert systemctl.calls == [["postgresql.service", "ssh.service", "cron.service"]]


def test_second_identical_run_changes_nothing(host):
    ok(host.run())
    before = host.snapshot()
    result = ok(host.run())
    assert result["changed"] is False
    assert result["reload_needed"] is False
    assert result["dropins"]["changed"] is False and result["dropins"]["written"] == []
    assert len(result["dropins"]["unchanged"]) == 3
    assert result["adjust"]["changed"] is False and result["adjust"]["changes"] == []
    assert result["adjust"]["unchanged"] == 4
    assert result["sysctl"]["changed"] is False
    assert result["warnings"] == []
    assert host.snapshot() == before


def test_a_changed_unit_value_rewrites_only_its_dropin(host):
    ok(host.run())
    units = [dict(UNITS[0], oom_score_adj=-400)] + UNITS[1:]
    result = ok(host.run(units=units))
    assert result["dropins"]["units_changed"] == ["postgresql.service"]
    assert result["reload_needed"] is True
    assert "OOMScoreAdjust=-400\n" in host.dropin("postgresql.service").read_text()
    # pid 201 keeps the value of its process rule.
    assert [(c["pid"], c["after"]) for c in result["adjust"]["changes"]] == [(200, -400)]
    assert result["sysctl"]["changed"] is False


def test_exclusive_removes_the_dropin_of_a_unit_no_longer_listed(host):
    ok(host.run())
    result = ok(host.run(units=UNITS[:2]))
    assert result["dropins"]["removed"] == [str(host.dropin("cron.service"))]
    assert not (host.root / "cron.service.d").exists()
    assert result["reload_needed"] is True


def test_exclusive_false_keeps_the_dropin_of_a_unit_no_longer_listed(host):
    ok(host.run())
    result = ok(host.run(units=UNITS[:2], exclusive=False))
    assert result["changed"] is False
    assert host.dropin("cron.service").exists()


# -- 2. check mode and diff mode -------------------------------------------------------------------------

def test_check_mode_predicts_every_change_and_writes_nothing(host):
    before = host.snapshot()
    result = ok(host.run(check_mode=True))
    assert host.snapshot() == before
    assert not host.sysctl.exists() and list(host.root.iterdir()) == []
    assert result["changed"] is True
    assert result["reload_needed"] is True
    assert len(result["dropins"]["written"]) == 3
    changes = [(c["pid"], c["after"]) for c in result["adjust"]["changes"]]
    assert changes == [(100, -900), (200, -500), (201, -200), (300, 500)]
    assert result["adjust"]["denied"] == []
    assert result["sysctl"] == {"path": str(host.sysctl), "state": "present", "changed": True}
    # The read-back shows the host as it is: nothing was written.
    assert [p["oom_score_adj"] for p in result["units"]["postgresql.service"]["processes"]] == [0, 0]


def test_check_mode_after_a_run_predicts_no_change(host):
    ok(host.run())
    before = host.snapshot()
    result = ok(host.run(check_mode=True, diff=True))
    assert result["changed"] is False and result["reload_needed"] is False
    assert "diff" not in result
    assert host.snapshot() == before


def test_check_mode_without_cap_sys_resource_predicts_the_denials(tmp_path, systemctl):
    host = Host(tmp_path, cap_eff=0)
    before = host.snapshot()
    result = ok(host.run(check_mode=True))
    assert host.snapshot() == before
    assert sorted(d["pid"] for d in result["adjust"]["denied"]) == [100, 200, 201]
    assert all(d["predicted"] for d in result["adjust"]["denied"])
    assert [c["pid"] for c in result["adjust"]["changes"]] == [300]
    assert any("check mode" in w and "pid 200 (postgres)" in w for w in result["warnings"])


def test_host_warnings_false_leaves_the_predicted_denials_to_the_result(tmp_path, systemctl):
    host = Host(tmp_path, cap_eff=0)
    result = ok(host.run(check_mode=True, host_warnings=False))
    assert sorted(d["pid"] for d in result["adjust"]["denied"]) == [100, 200, 201]
    assert result["warnings"] == []


def test_diff_mode_lists_dropins_sysctl_file_and_processes(host):
    before = host.snapshot()
    result = ok(host.run(check_mode=True, diff=True))
    assert host.snapshot() == before
    diff = result["diff"]
    assert isinstance(diff, list)
    by_header = dict((entry["before_header"], entry) for entry in diff)
    assert len(by_header) == len(diff) == 5
    for unit in UNITS:
        entry = by_header[str(host.dropin(unit["name"]))]
        assert entry["before"] == ""
        assert "# oomguard-owner: oomguard.fleet.oom_protection" in entry["after"]
    assert "OOMScoreAdjust=-500" in by_header[str(host.dropin("postgresql.service"))]["after"]
    assert by_header[str(host.sysctl)]["before"] == "" and by_header[str(host.sysctl)]["after"] == SYSCTL_CONTENT + "\n"
    processes = by_header["oom_score_adj of running processes"]
    assert processes["after_header"] == "oom_score_adj of running processes"
    assert processes["before"] == "100 sshd: 0\n200 postgres: 0\n201 postgres: 0\n300 java: 0\n"
    assert processes["after"] == "100 sshd: -900\n200 postgres: -500\n201 postgres: -200\n300 java: 500\n"


def test_diff_mode_outside_check_mode_shows_the_before_of_a_rewrite(host):
    ok(host.run())
    result = ok(host.run(diff=True, sysctl_content="vm.panic_on_oom = 0\n"))
    diff = dict((entry["before_header"], entry) for entry in result["diff"])
    assert set(diff) == {str(host.sysctl)}
    assert diff[str(host.sysctl)] == {"before_header": str(host.sysctl), "after_header": str(host.sysctl),
                                      "before": SYSCTL_CONTENT + "\n", "after": "vm.panic_on_oom = 0\n"}
    assert host.sysctl.read_text() == "vm.panic_on_oom = 0\n"


# -- 3. bad input: a message naming the problem, and nothing written -------------------------------------

def bad_rule(rule):
    return {"rules": RULES[:1] + [rule]}


def bad_unit(unit):
    return {"units": UNITS[:1] + [unit]}


BAD_INPUT = [
    ("invalid regex in rules[1]", bad_rule({"name_pattern": "(", "value": 1}),
     ["rules[1]", "name_pattern", "'('", "not a valid regular expression"]),
    ("rules[1] value 1001", bad_rule({"pid": 300, "value": 1001}), ["rules[1].value", "1001", "-1000", "1000"]),
    ("unit value 1001", bad_unit({"name": "b.service", "oom_score_adj": 1001}), ["b.service", "1001", "-1000..1000"]),
    ("unit ../x", bad_unit({"name": "../x", "oom_score_adj": 1}), ["'../x'", "cannot contain '/'"]),
    ("unit a/b", bad_unit({"name": "a/b", "oom_score_adj": 1}), ["'a/b'", "cannot contain '/'"]),
    ("unit without a suffix", bad_unit({"name": "sshd", "oom_score_adj": 1}), ["'sshd'", ".service"]),
    ("unit -1000 without allow_oom_disable", bad_unit({"name": "b.service", "oom_score_adj": -1000}),
     ["b.service", "-1000", "allow_oom_disable"]),
    ("rule -1000 without allow_oom_disable", bad_rule({"pid": 300, "value": -1000}),
     ["rules[1].value -1000", "allow_oom_disable"]),
    ("relative sysctl_file", {"sysctl_file": "sysctl.d/60-oomguard.conf"},
     ["sysctl_file", "'sysctl.d/60-oomguard.conf'", "not an absolute path"]),
    ("sysctl_file in a missing directory", {"sysctl_file": "MISSING/60-oomguard.conf"},
     ["sysctl_file", "the directory MISSING does not exist"]),
    ("sysctl_file is a directory", {"sysctl_file": "SYSCTL_DIR"}, ["sysctl_file", "SYSCTL_DIR is a directory"]),
    ("unit listed twice", {"units": UNITS[:1] + UNITS[:1]}, ["postgresql.service is listed twice"]),
    ("unknown oom_policy", bad_unit({"name": "b.service", "oom_policy": "explode"}), ["oom_policy", "explode"]),
    ("OOMScoreAdjust for a scope", bad_unit({"name": "session-3.scope", "oom_score_adj": 1}),
     ["session-3.scope", "OOMScoreAdjust= does not exist for .scope units"]),
    ("missing proc_path", {"proc_path": "MISSING"}, ["proc_path", "MISSING is not a directory"]),
    # The role refuses these sysctls; a direct call may not write them either.
    ("sysctl_content vm.panic_on_oom = 7", {"sysctl_content": "vm.panic_on_oom = 7"},
     ["sysctl_content: line 1: vm.panic_on_oom must be one of 0, 1, 2, got 7"]),
    ("sysctl_content with a key the role does not manage", {"sysctl_content": "vm.panic_on_oom = 0\nvm.swappiness = 10"},
     ["sysctl_content: line 2: vm.swappiness is not one of the OOM sysctls", "vm.oom_dump_tasks"]),
    ("sysctl_content with a slash key and the ignore-failure dash", {"sysctl_content": "# x\n-vm/oom_dump_tasks = 2"},
     ["line 2: vm.oom_dump_tasks must be one of 0, 1, got 2"]),
    ("sysctl_content that is not key = value", {"sysctl_content": "vm.panic_on_oom"},
     ["sysctl_content: line 1 is not a 'key = value' setting"]),
    ("sysctl_content with a value that is not a number", {"sysctl_content": "vm.panic_on_oom = yes"},
     ["vm.panic_on_oom must be one of 0, 1, 2, got 'yes'"]),
    ("rule name over 15 bytes", bad_rule({"name": "systemd-journald", "value": 1}),
     ["rules[1]: name 'systemd-journald' is 16 bytes", "'systemd-journal'", "name_pattern or cmdline_pattern"]),
]


@pytest.mark.parametrize("case, args, expected", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_naming_the_problem_and_changes_nothing(host, systemctl, case, args, expected):
    missing = str(host.tmp / "no-such-dir")
    replace = {"MISSING": missing, "SYSCTL_DIR": str(host.sysctl_dir)}
    args = dict(args)
    for option in ("sysctl_file", "proc_path"):
        for key, value in replace.items():
            if option in args:
                args[option] = args[option].replace(key, value)
    # Everything else in the call is valid and would change the host.
    before = host.snapshot()
    result, failed = host.run(**args)
    assert failed, case
    msg = result["msg"]
    for fragment in expected:
        for key, value in replace.items():
            fragment = fragment.replace(key, value)
        assert fragment in msg, (fragment, msg)
    assert "Traceback" not in msg
    assert "\n" not in msg
    # Options AnsibleModule itself rejects (a bad choice) fail before the module runs, without its result keys.
    assert result.get("changed", False) is False
    assert result.get("reload_needed", False) is False
    assert host.snapshot() == before
    assert not os.path.exists(missing)
    assert systemctl.calls == []


def test_a_foreign_file_at_a_dropin_path_fails_and_changes_nothing(host):
    foreign = host.dropin("ssh.service")
    foreign.parent.mkdir()
    foreign.write_text("[Service]\nOOMScoreAdjust=7\n")
    before = host.snapshot()
    result, failed = host.run()
    assert failed
    assert str(foreign) in result["msg"] and "refusing to overwrite" in result["msg"]
    assert "nothing was written" in result["msg"]
    assert host.snapshot() == before


def test_a_bad_rule_is_named_as_the_caller_wrote_it_not_by_its_offset_index(host):
    result, failed = host.run(rules=[{"name": "java", "value": 1}, {"cmdline_pattern": "[a-", "value": 1}])
    assert failed
    # Two unit values come first in the combined list: rules[1] is index 3 there, which must not leak out.
    assert "rules[1]: cmdline_pattern" in result["msg"]
    assert "rules[3]" not in result["msg"]


def test_every_problem_of_the_rules_is_in_one_message(host):
    result, failed = host.run(rules=[{"name_pattern": "(", "value": 1}, {"pid": 300, "value": 1001},
                                     {"user": "no-such-user-oomguard", "value": 1}])
    assert failed
    for fragment in ("rules[0]: name_pattern", "rules[1].value", "rules[2]: user"):
        assert fragment in result["msg"]


def test_bad_input_on_a_host_without_systemd_changes_nothing_either(tmp_path):
    host = Host(tmp_path, systemd=False)
    before = host.snapshot()
    result, failed = host.run(rules=[{"name": "java", "value": 1}, {"name_pattern": "(", "value": 1}])
    assert failed
    assert "rules[1]: name_pattern" in result["msg"]
    assert host.snapshot() == before


def test_a_bad_unit_name_fails_on_a_host_without_systemd_too(tmp_path):
    host = Host(tmp_path, systemd=False)
    before = host.snapshot()
    result, failed = host.run(units=UNITS[:1] + [{"name": "../x", "oom_score_adj": 1}])
    assert host.snapshot() == before
    assert failed
    assert "../x" in result["msg"]


def test_minus_1000_is_written_with_allow_oom_disable(host):
    result = ok(host.run(units=[{"name": "ssh.service", "oom_score_adj": -1000}], rules=[{"pid": 300, "value": -1000}],
                         allow_oom_disable=True))
    assert "OOMScoreAdjust=-1000\n" in host.dropin("ssh.service").read_text()
    assert (host.adj(100), host.adj(300)) == (-1000, -1000)
    assert result["rule_offset"] == 1


def test_a_template_value_reaches_every_instance_and_an_instance_gets_its_own_file(host):
    host.proc.add(500, name=b"agetty", cgroup="/system.slice/system-getty.slice/getty@tty1.service")
    host.proc.add(501, name=b"agetty", cgroup="/system.slice/system-getty.slice/getty@tty2.service")
    result = ok(host.run(units=[{"name": "getty@.service", "oom_score_adj": 300},
                                {"name": "getty@tty2.service", "oom_score_adj": 400}], rules=[]))
    assert "OOMScoreAdjust=300\n" in host.dropin("getty@.service").read_text()
    assert "OOMScoreAdjust=400\n" in host.dropin("getty@tty2.service", "60-oomguard.instance.conf").read_text()
    # The instance value comes later in the combined list, so it wins for its processes, as in systemd.
    assert (host.adj(500), host.adj(501)) == (300, 400)
    assert [p["pid"] for p in result["units"]["getty@.service"]["processes"]] == [500, 501]


def test_an_instance_value_wins_over_its_template_whatever_the_order_of_units(host):
    host.proc.add(501, name=b"agetty", cgroup="/system.slice/system-getty.slice/getty@tty2.service")
    ok(host.run(units=[{"name": "getty@tty2.service", "oom_score_adj": 400},
                       {"name": "getty@.service", "oom_score_adj": 300}], rules=[]))
    assert host.adj(501) == 400


# -- 4. a host without systemd ---------------------------------------------------------------------------

def test_without_systemd_no_dropins_and_no_unit_values_but_the_rules_apply(tmp_path, systemctl):
    host = Host(tmp_path, systemd=False)
    # A container without systemd may well have no /etc/systemd/system at all.
    host.root.rmdir()
    result = ok(host.run())
    assert result["systemd"] is False
    assert result["dropins"] is None
    assert result["reload_needed"] is False
    assert result["skipped_units"] == ["postgresql.service", "ssh.service", "cron.service"]
    assert not host.root.exists()
    assert any("systemd is not running" in w and str(host.marker) in w
               and "postgresql.service, ssh.service, cron.service" in w for w in result["warnings"])
    # No unit values: only the process rules, and rules[0] has index 0.
    assert result["rule_offset"] == 0
    assert [r["description"] for r in result["adjust"]["rules"]] == ["name_pattern=^java$", "pid=201"]
    assert host.adjs() == {1: 0, 100: 0, 200: 0, 201: -200, 300: 500, 400: 100}
    assert host.sysctl.read_text() == SYSCTL_CONTENT + "\n"
    assert result["changed"] is True
    assert result["units"] == {}
    assert result["host"]["systemd_running"] is False
    assert systemctl.calls == []


def test_without_systemd_and_host_warnings_false_the_skipped_units_are_in_the_result_only(tmp_path, systemctl):
    host = Host(tmp_path, systemd=False)
    result = ok(host.run(check_mode=True, host_warnings=False))
    assert result["systemd"] is False
    assert result["skipped_units"] == ["postgresql.service", "ssh.service", "cron.service"]
    assert result["warnings"] == []


def test_without_systemd_a_second_run_changes_nothing(tmp_path, systemctl):
    host = Host(tmp_path, systemd=False)
    ok(host.run())
    before = host.snapshot()
    result = ok(host.run())
    assert result["changed"] is False
    assert host.snapshot() == before


def test_without_systemd_and_without_rules_nothing_is_adjusted(tmp_path, systemctl):
    host = Host(tmp_path, systemd=False)
    result = ok(host.run(rules=[], sysctl_file=None))
    assert result["adjust"] is None and result["sysctl"] is None and result["dropins"] is None
    assert result["changed"] is False
    assert result["skipped_units"] == ["postgresql.service", "ssh.service", "cron.service"]


# -- 5. state=absent -------------------------------------------------------------------------------------

def test_absent_removes_every_owned_dropin_and_the_sysctl_file_and_applies_the_rules(host, systemctl):
    ok(host.run())
    # A drop-in written by someone else (no fingerprint) is never removed.
    foreign = host.root / "nginx.service.d" / DROPIN
    foreign.parent.mkdir()
    foreign.write_text("[Service]\nOOMScoreAdjust=10\n")
    systemctl.calls = []
    result = ok(host.run(state="absent", units=[], rules=[{"name": "java", "value": 0}]))
    assert result["changed"] is True
    assert result["reload_needed"] is True
    assert sorted(result["dropins"]["removed"]) == sorted(str(host.dropin(unit["name"])) for unit in UNITS)
    assert sorted(os.listdir(str(host.root))) == ["nginx.service.d"]
    assert foreign.read_text() == "[Service]\nOOMScoreAdjust=10\n"
    assert not host.sysctl.exists()
    assert result["sysctl"] == {"path": str(host.sysctl), "state": "absent", "changed": True}
    # No unit value is written; the live values of the unit processes stay what they were.
    assert result["rule_offset"] == 0
    assert [r["description"] for r in result["adjust"]["rules"]] == ["name=java"]
    assert host.adjs() == {1: 0, 100: -900, 200: -500, 201: -200, 300: 0, 400: 100}
    assert result["units"] == {}
    assert systemctl.calls == []

    before = host.snapshot()
    again = ok(host.run(state="absent", units=[], rules=[{"name": "java", "value": 0}]))
    assert again["changed"] is False and again["reload_needed"] is False
    assert again["dropins"]["removed"] == []
    assert again["sysctl"]["changed"] is False
    assert host.snapshot() == before


def test_absent_with_the_units_listed_uses_only_their_names(host):
    ok(host.run())
    result = ok(host.run(state="absent", rules=[]))
    assert len(result["dropins"]["removed"]) == 3
    assert list(host.root.iterdir()) == []
    assert result["adjust"] is None
    assert host.adjs()[200] == -500
    assert result["skipped_units"] == []


def test_absent_in_check_mode_writes_nothing(host):
    ok(host.run())
    before = host.snapshot()
    result = ok(host.run(state="absent", units=[], rules=[{"name": "java", "value": 0}], check_mode=True))
    assert result["changed"] is True and result["reload_needed"] is True
    assert result["sysctl"]["changed"] is True
    assert host.snapshot() == before


def test_empty_sysctl_content_removes_the_file_when_present(host):
    ok(host.run())
    result = ok(host.run(sysctl_content=""))
    assert result["sysctl"] == {"path": str(host.sysctl), "state": "absent", "changed": True}
    assert not host.sysctl.exists()
    assert result["reload_needed"] is False


# -- 6. the kernel refuses a live value ------------------------------------------------------------------

class Kernel(object):
    """Wraps the writer, as in test_oom_score_adj: refuses the first write to the pids it is given."""

    def __init__(self, monkeypatch, deny=()):
        self.calls = []
        self.deny = set(deny)
        monkeypatch.setattr(_adj_task, "write_adj", self)

    def __call__(self, proc_path, pid, starttime, value, can_lower=None, dry_run=False):
        self.calls.append((pid, value))
        if pid in self.deny and len([c for c in self.calls if c[0] == pid]) == 1:
            with open("%s/%d/oom_score_adj" % (proc_path, pid)) as handle:
                before = int(handle.read())
            return _writer.WriteResult(pid, _writer.DENIED, before=before, after=before, err=13,
                                       message=_writer.denial_reason(before, value, can_lower))
        return _writer.write_adj(proc_path, pid, starttime, value, can_lower, dry_run)


def test_on_denied_warn_keeps_the_other_writes_and_lists_the_refusal(host, monkeypatch):
    Kernel(monkeypatch, deny=[200])
    result = ok(host.run(on_denied="warn"))
    assert [(d["pid"], d["requested"], d["before"], d["unit"]) for d in result["adjust"]["denied"]] == [
        (200, -500, 0, "postgresql.service")]
    assert result["adjust"]["denied"][0]["rule"] == {"index": 0, "description": "unit=postgresql.service"}
    assert any("refused" in w and "pid 200 (postgres)" in w and "requested -500" in w for w in result["warnings"])
    assert host.adjs() == {1: 0, 100: -900, 200: 0, 201: -200, 300: 500, 400: 100}
    assert result["changed"] is True
    assert host.sysctl.exists()


def test_host_warnings_false_leaves_the_kernels_refusal_to_the_result(host, monkeypatch):
    Kernel(monkeypatch, deny=[200])
    result = ok(host.run(on_denied="warn", host_warnings=False))
    assert [(d["pid"], d["requested"]) for d in result["adjust"]["denied"]] == [(200, -500)]
    assert result["warnings"] == []
    assert host.adjs() == {1: 0, 100: -900, 200: 0, 201: -200, 300: 500, 400: 100}


def test_on_denied_is_warn_by_default(host, monkeypatch):
    Kernel(monkeypatch, deny=[200])
    result = ok(host.run())
    assert [d["pid"] for d in result["adjust"]["denied"]] == [200]


def test_on_denied_fail_rolls_back_the_live_writes_but_keeps_the_dropins(host, monkeypatch):
    kernel = Kernel(monkeypatch, deny=[200])
    adjs_before = host.adjs()
    result, failed = host.run(on_denied="fail")
    assert failed
    msg = result["msg"]
    for fragment in ("pid 200 (postgres)", "requested -500", "rolled back", "on_denied=fail"):
        assert fragment in msg, (fragment, msg)
    # The live values written before the refusal (the lowerings of 100 and 201) are undone, and the raise of 300
    # is never attempted. (Values, not the digest: the writer does not truncate, which a plain file shows as
    # trailing bytes after the rolled-back value and procfs does not.)
    assert host.adjs() == adjs_before
    assert kernel.calls == [(100, -900), (200, -500), (201, -200), (201, 0), (100, 0)]
    assert sorted(r["pid"] for r in result["adjust"]["rolled_back"]) == [100, 201]
    assert result["adjust"]["changed"] is False and result["adjust"]["changes"] == []
    assert [d["pid"] for d in result["adjust"]["denied"]] == [200]
    # The live values come first, so the refusal stops the call before any file is written: the whole call
    # changed nothing, and its message may say so.
    for unit in UNITS:
        assert not host.dropin(unit["name"]).exists()
    assert not host.sysctl.exists()
    assert result["changed"] is False
    assert result["reload_needed"] is False
    assert result["dropins"] is None
    assert result["sysctl"] is None
    assert "Nothing was changed" in msg


def test_a_failing_dropin_write_says_that_the_live_values_written_before_stay(host, monkeypatch):
    def broken(actions, move=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_dropins_task.files, "apply", broken)
    result, failed = host.run()
    assert failed
    assert "Writing the OOM drop-ins failed" in result["msg"] and "No space left on device" in result["msg"]
    assert "already changed stays: adjust" in result["msg"], result["msg"]
    assert result["changed"] is True and result["adjust"]["changed"] is True
    assert not host.sysctl.exists()


# -- 7. the read-back --------------------------------------------------------------------------------------

def test_units_read_back_shows_the_values_written_in_the_same_call(host):
    result = ok(host.run())
    units = result["units"]
    assert sorted(units) == ["cron.service", "postgresql.service", "ssh.service"]
    assert units["postgresql.service"]["processes"] == [
        {"pid": 200, "name": "postgres", "oom_score_adj": -500}, {"pid": 201, "name": "postgres", "oom_score_adj": -200}]
    assert units["ssh.service"]["processes"] == [{"pid": 100, "name": "sshd", "oom_score_adj": -900}]
    assert units["cron.service"]["processes"] == []
    assert units["postgresql.service"]["load_state"] == "loaded"
    assert result["host"]["can_lower_adj"] is True
    assert result["host"]["systemd_running"] is True
    assert result["host"]["sysctls"]["vm.panic_on_oom"] == 0


def test_one_scan_of_proc_serves_the_writes_and_the_read_back(host, monkeypatch):
    """The read-back reuses the table the writes were made against, with the values read back after them."""
    calls = []
    original = _adj_task.scan

    def counting(proc_path, want=frozenset(), pids=None, kthread_details=True):
        calls.append(pids)
        return original(proc_path, want, pids, kthread_details)

    monkeypatch.setattr(_adj_task, "scan", counting)
    monkeypatch.setattr(_info_task.procfs, "scan", counting)
    result = ok(host.run())
    assert calls == [None]
    assert result["units"]["ssh.service"]["processes"] == [{"pid": 100, "name": "sshd", "oom_score_adj": -900}]
    # Without rules there is no table to reuse: the read-back scans on its own, once.
    calls[:] = []
    ok(host.run(units=[{"name": "ssh.service", "oom_policy": "continue"}], rules=[]))
    assert calls == [None]


def test_a_failing_systemctl_in_the_read_back_fails_but_reports_what_was_written(tmp_path, monkeypatch):
    Systemctl(monkeypatch, error="systemctl show failed (rc=1): Failed to connect to bus")
    host = Host(tmp_path)
    result, failed = host.run()
    assert failed
    assert "reading unit settings with systemctl failed" in result["msg"]
    assert "Failed to connect to bus" in result["msg"]
    # Everything before the read-back was done and is reported.
    assert result["changed"] is True and result["reload_needed"] is True
    assert host.dropin("postgresql.service").exists() and host.sysctl.exists()
    assert host.adj(200) == -500


# -- messages that name the caller's rules ----------------------------------------------------------------

def test_on_no_match_ignore_is_the_default(host):
    result = ok(host.run(units=UNITS + [{"name": "stopped.service", "oom_score_adj": 5}],
                         rules=[{"name": "no-such-process", "value": 1}]))
    assert result["warnings"] == []


def test_on_no_match_warn_warns_about_a_unit_value_and_a_rule(host):
    result = ok(host.run(units=UNITS + [{"name": "stopped.service", "oom_score_adj": 5}],
                         rules=[{"name": "no-such-process", "value": 1}], on_no_match="warn"))
    warning = [w for w in result["warnings"] if "no process" in w]
    assert len(warning) == 1
    assert "unit=stopped.service" in warning[0] and "name=no-such-process" in warning[0]


def test_on_no_match_names_the_rule_as_the_caller_wrote_it(host):
    result = ok(host.run(rules=[{"name": "no-such-process", "value": 1}], on_no_match="warn"))
    warning = [w for w in result["warnings"] if "no process" in w]
    assert len(warning) == 1
    assert "rules[0] (name=no-such-process)" in warning[0], warning[0]


def test_the_legacy_oom_adj_warning_names_the_rule_as_the_caller_wrote_it(host):
    result = ok(host.run(rules=[{"name": "java", "oom_adj": 5}]))
    assert host.adj(300) == 294
    legacy = [w for w in result["warnings"] if "legacy" in w]
    assert len(legacy) == 1
    assert legacy[0].startswith("rules[0].oom_adj 5"), legacy[0]


def test_the_legacy_oom_adj_warning_is_given_once(host):
    result = ok(host.run(rules=[{"name": "java", "oom_adj": 5}]))
    assert host.adj(300) == 294
    assert len([w for w in result["warnings"] if "legacy" in w]) == 1


def test_on_no_match_fail_stops_before_any_write(host):
    before = host.proc.digest()
    result, failed = host.run(rules=[{"name": "no-such-process", "value": 1}], on_no_match="fail")
    assert failed
    # The rules are matched before anything is written, so the message's "nothing was written" is true.
    assert "rules[0] (name=no-such-process)" in result["msg"] and "nothing was written" in result["msg"], result["msg"]
    assert not host.dropin("postgresql.service").exists() and not host.sysctl.exists()
    assert host.proc.digest() == before


def test_every_file_written_is_mode_0644_whatever_the_umask(host):
    old = os.umask(0o077)
    try:
        ok(host.run())
    finally:
        os.umask(old)
    for unit in UNITS:
        assert stat.S_IMODE(host.dropin(unit["name"]).stat().st_mode) == 0o644
    assert stat.S_IMODE(host.sysctl.stat().st_mode) == 0o644


# -- 8. realize: a running cgroup that does not hold its drop-in's settings gets them with set-property ----

FAKE_SYSTEMCTL = r'''#!%(python)s
"""A stand-in for systemctl: records its argv; set-property --runtime writes the runtime files systemd would
(50-<Property>.conf in the control directory) and the memory files of the unit's cgroup."""
import json
import os
import sys

args = sys.argv[1:]
with open(os.environ["FAKE_SYSTEMCTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:3] == ["set-property", "--runtime", "--"]:
    unit, assignments = args[3], args[4:]
    directory = os.path.join(os.environ["FAKE_SYSTEMCTL_CONTROL"], unit + ".d")
    if not os.path.isdir(directory):
        os.makedirs(directory)
    suffix = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    for assignment in assignments:
        prop, value = assignment.split("=", 1)
        with open(os.path.join(directory, "50-%%s.conf" %% prop), "w") as handle:
            handle.write("# This is a drop-in unit file extension, created via \"systemctl set-property\"\n"
                         "[Service]\n%%s\n" %% assignment)
        files = {"MemoryMin": "memory.min", "MemoryLow": "memory.low", "MemoryHigh": "memory.high",
                 "MemoryMax": "memory.max"}
        if prop in files and not os.environ.get("FAKE_SYSTEMCTL_FAIL"):
            number = int(value[:-1]) * suffix[value[-1]] if value[-1] in suffix else value
            with open(os.path.join(os.environ["FAKE_SYSTEMCTL_CGROUP"], files[prop]), "w") as handle:
                handle.write("%%s\n" %% number)
    if os.environ.get("FAKE_SYSTEMCTL_FAIL"):
        sys.stderr.write("Failed to set unit properties on %%s:\n%%s\n" %% (unit, os.environ["FAKE_SYSTEMCTL_FAIL"]))
        sys.exit(1)
'''

DB = {"name": "db.service", "oom_score_adj": 0,
      "cgroup": {"memory_min": "32M", "memory_max": "256M", "managed_oom_preference": "omit"}}
DB_PROPERTIES = ["MemoryMin=32M", "MemoryMax=256M", "ManagedOOMPreference=omit"]


class RealizeHost(object):
    """db.service running in a v2 cgroup under tmp_path (mounted as cgroup2 in the fake mountinfo) that holds
    memory.min 0 and memory.max 512M while systemd declares 32M and 256M for it; a fake systemctl first on PATH."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp = tmp_path
        root = tmp_path / "cg"
        self.cgroup = root / "system.slice" / "db.service"
        self.cgroup.mkdir(parents=True)
        (root / "cgroup.controllers").write_text("cpu io memory pids\n")
        self.write_cgroup(memory_min=0, memory_max=512 * 1024 * 1024)
        self.proc = FakeProc(tmp_path / "proc", mountinfo="30 1 0:26 / %s rw - cgroup2 cgroup2 rw\n" % root)
        self.proc.add(1, name=b"systemd", ppid=0, cgroup="/init.scope")
        self.proc.add(50, name=b"db", cgroup="/system.slice/db.service")
        self.root = tmp_path / "etc-systemd-system"
        self.root.mkdir()
        self.marker = tmp_path / "run-systemd-system"
        self.marker.mkdir()
        self.control = tmp_path / "system.control"
        self.control.mkdir()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        script = bin_dir / "systemctl"
        script.write_text(FAKE_SYSTEMCTL % {"python": sys.executable})
        script.chmod(0o755)
        self.log = tmp_path / "systemctl.log"
        monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ.get("PATH", "")))
        monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(self.log))
        monkeypatch.setenv("FAKE_SYSTEMCTL_CONTROL", str(self.control))
        monkeypatch.setenv("FAKE_SYSTEMCTL_CGROUP", str(self.cgroup))
        monkeypatch.setattr(_info_task, "show_units", self.show)

    @staticmethod
    def show(_run, units, systemctl="systemctl"):
        return dict((unit, {"Id": unit, "LoadState": "loaded", "ActiveState": "active", "MainPID": "50",
                            "OOMScoreAdjust": "0", "OOMPolicy": "stop", "FragmentPath": "", "DropInPaths": "",
                            "ControlGroup": "/system.slice/db.service", "MemoryMin": str(32 * 1024 * 1024),
                            "MemoryMax": str(256 * 1024 * 1024), "ManagedOOMPreference": "omit"})
                    for unit in units)

    def write_cgroup(self, memory_min, memory_max):
        (self.cgroup / "memory.min").write_text("%d\n" % memory_min)
        (self.cgroup / "memory.max").write_text("%d\n" % memory_max)

    def cgroup_values(self):
        return [int((self.cgroup / name).read_text()) for name in ("memory.min", "memory.max")]

    def run(self, check_mode=False, **args):
        base = {"units": [DB], "root": str(self.root), "systemd_marker": str(self.marker),
                "proc_path": self.proc.root, "systemd_control_dir": str(self.control)}
        base.update(args)
        return run_module(oom_protection_apply.main, base, check_mode=check_mode)

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def control_files(self):
        return sorted(os.path.relpath(os.path.join(dirpath, name), str(self.control))
                      for dirpath, dirnames, filenames in os.walk(str(self.control)) for name in dirnames + filenames)


@pytest.fixture
def realize_host(tmp_path, monkeypatch):
    host = RealizeHost(tmp_path, monkeypatch)
    # The drop-in is written first; a changed drop-in asks for daemon-reload and is never realized yet.
    first = ok(host.run(realize=True))
    assert first["reload_needed"] is True and first["cgroup_drift"] == [] and first["realized"] == []
    assert host.calls() == []
    return host


def test_realize_applies_the_dropins_values_with_set_property_and_removes_the_runtime_files(realize_host):
    host = realize_host
    result = ok(host.run(realize=True))
    assert host.calls() == [["set-property", "--runtime", "--", "db.service"] + DB_PROPERTIES, ["daemon-reload"]]
    assert result["realized"] == [{"unit": "db.service", "properties": DB_PROPERTIES}]
    # The runtime files set-property wrote are gone again, with their empty db.service.d: the drop-in is what
    # systemd reads; the control directory itself stays.
    assert host.control.is_dir() and host.control_files() == []
    assert result["changed"] is True and result["reload_needed"] is False
    assert [item["setting"] for item in result["cgroup_drift"]] == ["managed_oom_preference", "memory_max", "memory_min"]
    # The read-back after set-property shows what the cgroup holds now.
    assert host.cgroup_values() == [32 * 1024 * 1024, 256 * 1024 * 1024]
    cgroup = result["units"]["db.service"]["cgroup"]
    assert (cgroup["memory.min"], cgroup["memory.max"]) == (32 * 1024 * 1024, 256 * 1024 * 1024)
    assert result["dropins"]["changed"] is False
    assert result["warnings"] == []


def test_realize_leaves_a_property_with_a_runtime_file_of_its_own_to_it(realize_host):
    host = realize_host
    own = host.control / "db.service.d" / "50-MemoryMax.conf"
    own.parent.mkdir()
    own.write_text("[Service]\nMemoryMax=1G\n")
    result = ok(host.run(realize=True))
    assert host.calls() == [["set-property", "--runtime", "--", "db.service", "MemoryMin=32M",
                             "ManagedOOMPreference=omit"], ["daemon-reload"]]
    assert result["realized"] == [{"unit": "db.service", "properties": ["MemoryMin=32M", "ManagedOOMPreference=omit"]}]
    # Only the files this call created are removed; the earlier one, and its directory, stay.
    assert host.control_files() == ["db.service.d", os.path.join("db.service.d", "50-MemoryMax.conf")]
    assert own.read_text() == "[Service]\nMemoryMax=1G\n"
    assert host.cgroup_values() == [32 * 1024 * 1024, 512 * 1024 * 1024]
    assert result["reload_needed"] is False


def test_realize_calls_nothing_when_every_drifting_property_has_a_runtime_file_of_its_own(realize_host):
    host = realize_host
    directory = host.control / "db.service.d"
    directory.mkdir()
    for prop in ("MemoryMin", "MemoryMax", "ManagedOOMPreference"):
        (directory / ("50-%s.conf" % prop)).write_text("[Service]\n")
    result = ok(host.run(realize=True))
    assert host.calls() == []
    assert result["realized"] == []
    assert len(host.control_files()) == 4


def test_without_realize_drift_asks_for_a_reload_and_calls_no_systemctl(realize_host):
    host = realize_host
    result = ok(host.run())
    assert result["reload_needed"] is True and result["changed"] is True
    assert result["realized"] == []
    assert [item["setting"] for item in result["cgroup_drift"]] == ["managed_oom_preference", "memory_max", "memory_min"]
    assert host.calls() == []
    assert host.control_files() == []
    assert host.cgroup_values() == [0, 512 * 1024 * 1024]


def test_realize_in_check_mode_calls_nothing_and_writes_nothing(realize_host):
    host = realize_host
    result = ok(host.run(check_mode=True, realize=True))
    assert host.calls() == []
    assert host.control_files() == []
    assert host.cgroup_values() == [0, 512 * 1024 * 1024]
    # The prediction is today's: the drift, and a reload.
    assert result["realized"] == []
    assert len(result["cgroup_drift"]) == 3
    assert result["changed"] is True and result["reload_needed"] is True


def test_a_failing_set_property_warns_and_still_removes_the_files_it_left(realize_host, monkeypatch):
    host = realize_host
    monkeypatch.setenv("FAKE_SYSTEMCTL_FAIL", "Access denied")
    result, failed = host.run(realize=True)
    assert not failed, result.get("msg")
    assert "Traceback" not in json.dumps(result)
    assert result["realized"] == []
    warning = [w for w in result["warnings"] if "set-property" in w]
    assert warning == ["systemctl set-property --runtime db.service failed (rc 1): Access denied"]
    assert host.control_files() == []
    # The files were removed, so systemd is reloaded to forget them.
    assert host.calls()[-1] == ["daemon-reload"]
    assert result["reload_needed"] is False


def test_after_realize_a_cgroup_holding_the_memory_settings_is_left_alone(realize_host):
    host = realize_host
    units = [{"name": "db.service", "oom_score_adj": 0, "cgroup": {"memory_min": "32M", "memory_max": "256M"}}]
    ok(host.run(units=units))  # the drop-in without the preference
    ok(host.run(units=units, realize=True))
    assert host.cgroup_values() == [32 * 1024 * 1024, 256 * 1024 * 1024]
    host.log.unlink()
    again = ok(host.run(units=units, realize=True))
    assert (again["changed"], again["reload_needed"], again["cgroup_drift"], again["realized"]) == (False, False, [], [])
    assert host.calls() == []
