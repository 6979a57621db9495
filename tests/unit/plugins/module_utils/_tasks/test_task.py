# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every task shares (_tasks.task): plain params and an Io in, TaskError as the one way to fail, `validated`
for a task that another runs, and `run_module`, the one place a failure becomes fail_json."""

from __future__ import annotations

import ast
import os

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as _adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import dropins as _dropins_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import (
    C_LOCALE, Io, Task, TaskError, run_module, validated,
)


class Module(object):
    """What run_module uses of an AnsibleModule; exit_json and fail_json are recorded instead of exiting."""

    def __init__(self, params=None, check_mode=False, diff=False):
        self.params = params or {}
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.moves = []
        self.commands = []
        self.exited = None
        self.failed = None

    def warn(self, warning):
        self.warnings.append(warning)

    def atomic_move(self, src, dest):
        self.moves.append((src, dest))
        os.rename(src, dest)

    def run_command(self, argv, **kwargs):
        self.commands.append((argv, kwargs))
        return 0, "out", ""

    def get_bin_path(self, name):
        return "/usr/bin/" + name

    def exit_json(self, **result):
        self.exited = result

    def fail_json(self, msg, **result):
        self.failed = dict(result, msg=msg)


# -- validated ----------------------------------------------------------------------------------------------

def test_validated_names_the_part_in_the_message():
    with pytest.raises(TaskError) as caught:
        validated(_dropins_task.argument_spec(), {"units": [{"oom_score_adj": 1}], "state": "maybe"}, "units")
    msg = caught.value.msg
    assert msg.startswith("units: ")
    assert "state" in msg and "maybe" in msg
    assert "name" in msg
    assert caught.value.result == {}


def test_validated_rejects_an_unknown_option():
    with pytest.raises(TaskError) as caught:
        validated(_adj_task.argument_spec(), {"rules": [{"pid": 1, "value": 1}], "no_such": 1}, "rules")
    assert caught.value.msg.startswith("rules: ") and "no_such" in caught.value.msg


def test_validated_fills_the_defaults_and_converts_types():
    params = validated(_dropins_task.argument_spec(), {"units": [{"name": "a.service", "oom_score_adj": "5"}]}, "units")
    assert params["state"] == "present"
    assert params["exclusive"] is False
    assert params["file_name"] == "60-oomguard.conf"
    assert params["root"] == "/etc/systemd/system"
    assert params["header"] == []
    assert params["units"] == [{"name": "a.service", "oom_score_adj": 5, "oom_policy": None, "tier": None,
                                "cgroup": None}]
    rules = validated(_adj_task.argument_spec(), {"rules": [{"pid": 1, "value": 1}]}, "rules")
    assert rules["rules"][0]["include_descendants"] is False
    assert (rules["on_denied"], rules["on_no_match"], rules["proc_path"]) == ("fail", "warn", "/proc")


# -- TaskError and Io ---------------------------------------------------------------------------------------

def test_task_error_carries_its_message_and_result():
    error = TaskError("it broke", {"changed": False, "written": ["x"]})
    assert (error.msg, str(error)) == ("it broke", "it broke")
    assert error.result == {"changed": False, "written": ["x"]}
    assert error.nothing_written is False
    assert TaskError("x").result == {}


@pytest.mark.parametrize("check_mode, diff", [(False, False), (True, True), (True, False)])
def test_the_io_of_a_module_has_its_check_and_diff_mode(check_mode, diff):
    io = Io.of_module(Module(check_mode=check_mode, diff=diff))
    assert (io.check_mode, io.diff) == (check_mode, diff)


def test_the_io_of_a_module_forwards_warnings_commands_paths_and_moves(tmp_path):
    module = Module()
    io = Io.of_module(module)
    io.warn("loud")
    assert module.warnings == ["loud"]
    assert io.run_command(["systemctl", "show"], environ_update={"LANG": "C"}) == (0, "out", "")
    assert module.commands == [(["systemctl", "show"], {"environ_update": {"LANG": "C"}})]
    assert io.which("systemctl") == "/usr/bin/systemctl"
    src = tmp_path / "src"
    src.write_text("x")
    io.atomic_move(str(src), str(tmp_path / "dest"))
    assert module.moves == [(str(src), str(tmp_path / "dest"))]
    assert (tmp_path / "dest").read_text() == "x"


def test_an_io_without_commands_or_moves_refuses_them_as_os_errors():
    io = Io()
    with pytest.raises(OSError, match="runs no commands"):
        io.run_command(["systemctl"])
    with pytest.raises(OSError, match="moves no files"):
        io.atomic_move("a", "b")
    assert io.which("systemctl") is None
    io.warn("dropped")
    assert (io.check_mode, io.diff) == (False, False)


def test_a_task_runs_its_commands_in_the_c_locale():
    module = Module()
    task = Task({}, Io.of_module(module), {})
    task._run(["journalctl", "-k"], errors="surrogate_then_replace")
    assert module.commands == [(["journalctl", "-k"], {"environ_update": C_LOCALE, "errors": "surrogate_then_replace"})]


# -- tasks through the Io -----------------------------------------------------------------------------------

def test_a_task_warns_through_its_io():
    module = Module()
    params = validated(_adj_task.argument_spec(), {"rules": [{"pid": 1, "oom_adj": 5}]}, "rules")
    _adj_task.OomScoreAdj(params, Io.of_module(module)).prepare()
    assert len(module.warnings) == 1 and "rules[0].oom_adj 5" in module.warnings[0]


def test_a_failing_task_raises_task_error_with_its_message_and_result():
    params = validated(_adj_task.argument_spec(), {"rules": [{"name_pattern": "(", "value": 1}]}, "rules")
    task = _adj_task.OomScoreAdj(params, Io.of_module(Module()))
    with pytest.raises(TaskError) as caught:
        task.prepare()
    assert "rules[0]: name_pattern" in caught.value.msg
    assert caught.value.result["changed"] is False
    # Its message says that nothing was read or written, so oom_protection_apply does not say it twice.
    assert caught.value.nothing_written is True


# -- run_module ---------------------------------------------------------------------------------------------

class Succeeds(Task):
    def __init__(self, params, io):
        super(Succeeds, self).__init__(params, io, {"changed": False, "seen": params["x"]})

    def execute(self):
        self.io.warn("checked %s" % self.params["x"])
        return self._result


class FailsLate(Succeeds):
    def execute(self):
        self._result["seen"] = "half"
        self._fail("it broke", changed=True)


class FailsEarly(Task):
    def __init__(self, params, io):
        super(FailsEarly, self).__init__(params, io, {})
        raise TaskError("x: bad option")


def test_run_module_exits_with_the_tasks_result():
    module = Module({"x": 1})
    run_module(module, Succeeds)
    assert module.exited == {"changed": False, "seen": 1}
    assert module.failed is None
    assert module.warnings == ["checked 1"]


def test_run_module_turns_a_task_error_into_fail_json_with_the_result_so_far():
    module = Module({"x": 1})
    run_module(module, FailsLate)
    assert module.failed == {"msg": "it broke", "changed": True, "seen": "half"}


def test_run_module_turns_an_error_while_checking_options_into_one_line():
    module = Module({})
    run_module(module, FailsEarly)
    assert module.failed == {"msg": "x: bad option"}


# -- the rule, on the tree ----------------------------------------------------------------------------------

def _plugin_files():
    from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import task as task_module

    plugins = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(task_module.__file__))))
    for directory, _dirs, names in os.walk(plugins):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path) as handle:
                    yield os.path.relpath(path, plugins), ast.parse(handle.read(), path)


def test_only_run_module_turns_a_task_error_into_fail_json_and_nothing_stands_in_for_ansible_module():
    fail_json_calls, stand_ins, message_tests = [], [], []
    for path, tree in _plugin_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "fail_json":
                fail_json_calls.append(path)
            if isinstance(node, ast.FunctionDef) and node.name in ("fail_json", "exit_json"):
                stand_ins.append(path)
            # `"..." in exc.msg`: a failure's kind read from its text.
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and \
                    any(isinstance(n, ast.Attribute) and n.attr == "msg" for c in node.comparators for n in ast.walk(c)):
                message_tests.append(path)
    # oom_audit_report runs on the controller and is no task: it fails on its own, in its module file.
    assert sorted(set(fail_json_calls)) == ["module_utils/_tasks/task.py", "modules/oom_audit_report.py"]
    assert stand_ins == []
    assert message_tests == []
