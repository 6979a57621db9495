# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helpers of oom_protection_apply: SysctlFile (a caller-owned sysctl.d file) and Part (one task class's view
of the combined module), against files under tmp_path and a stand-in for AnsibleModule."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as _adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import dropins as _dropins_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.part import Part, PartFailed
from ansible_collections.oomguard.fleet.plugins.module_utils._host.files import SysctlFile, SysctlFileError

CONTENT = "vm.panic_on_oom = 0\nvm.oom_dump_tasks = 1\n"


class Module(object):
    """What SysctlFile and Part use of an AnsibleModule; atomic_move is a plain rename, and every call is recorded."""

    def __init__(self, check_mode=False, diff=False):
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.moves = []
        self.commands = []

    def warn(self, warning):
        self.warnings.append(warning)

    def atomic_move(self, src, dest):
        self.moves.append((src, dest))
        os.rename(src, dest)

    def run_command(self, argv, **kwargs):
        self.commands.append((argv, kwargs))
        return 0, "out", ""

    def fail_json(self, msg, **kwargs):
        raise AssertionError("a Part must not reach the real fail_json: %s" % msg)


@pytest.fixture
def sysctl_dir(tmp_path):
    path = tmp_path / "sysctl.d"
    path.mkdir()
    return path


@pytest.fixture
def path(sysctl_dir):
    return sysctl_dir / "60-oomguard.conf"


def files(directory):
    return sorted(os.listdir(str(directory)))


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


# -- SysctlFile ------------------------------------------------------------------------------------------

def test_present_writes_the_whole_content_mode_0644(path):
    planned = SysctlFile(str(path), CONTENT)
    assert (planned.state, planned.changed, planned.before) == ("present", True, None)
    module = Module()
    result = planned.apply(module)
    assert result == {"path": str(path), "state": "present", "changed": True}
    assert path.read_text() == CONTENT
    assert mode(path) == 0o644
    assert [dest for _src, dest in module.moves] == [str(path)]
    # The temporary file went through atomic_move, in the same directory, and nothing is left behind.
    assert os.path.dirname(module.moves[0][0]) == os.path.dirname(str(path))
    assert files(path.parent) == ["60-oomguard.conf"]


def test_present_replaces_different_content(path):
    path.write_text("vm.panic_on_oom = 1\n")
    planned = SysctlFile(str(path), CONTENT)
    assert planned.changed is True and planned.before == "vm.panic_on_oom = 1\n"
    assert planned.apply(Module())["changed"] is True
    assert path.read_text() == CONTENT


def test_unchanged_content_is_not_written(path):
    path.write_text(CONTENT)
    os.utime(str(path), (1000000000, 1000000000))
    module = Module(diff=True)
    result = SysctlFile(str(path), CONTENT).apply(module)
    assert result == {"path": str(path), "state": "present", "changed": False}
    assert module.moves == []
    assert os.stat(str(path)).st_mtime == 1000000000


@pytest.mark.parametrize("content", ["vm.panic_on_oom = 0", "vm.panic_on_oom = 0\n"])
def test_content_is_newline_terminated(path, content):
    planned = SysctlFile(str(path), content)
    assert planned.content == "vm.panic_on_oom = 0\n"
    planned.apply(Module())
    assert path.read_text() == "vm.panic_on_oom = 0\n"


def test_content_without_its_final_newline_matches_the_file_with_it(path):
    path.write_text("vm.panic_on_oom = 0\n")
    assert SysctlFile(str(path), "vm.panic_on_oom = 0").changed is False


def test_empty_content_removes_the_file(path):
    path.write_text(CONTENT)
    planned = SysctlFile(str(path), "")
    assert (planned.state, planned.changed, planned.before) == ("absent", True, CONTENT)
    assert planned.apply(Module()) == {"path": str(path), "state": "absent", "changed": True}
    assert not path.exists()


def test_absent_when_already_absent_changes_nothing(path):
    planned = SysctlFile(str(path), "")
    assert planned.changed is False
    assert planned.apply(Module(diff=True)) == {"path": str(path), "state": "absent", "changed": False}


def test_absent_in_a_missing_directory_is_not_an_error(tmp_path):
    planned = SysctlFile(str(tmp_path / "nowhere" / "x.conf"), "")
    assert (planned.state, planned.changed) == ("absent", False)


def test_check_mode_predicts_and_writes_nothing(path):
    module = Module(check_mode=True)
    assert SysctlFile(str(path), CONTENT).apply(module)["changed"] is True
    assert files(path.parent) == [] and module.moves == []

    path.write_text(CONTENT)
    assert SysctlFile(str(path), "").apply(module) == {"path": str(path), "state": "absent", "changed": True}
    assert path.read_text() == CONTENT


def test_diff_of_a_new_file_a_rewrite_and_a_removal(path):
    created = SysctlFile(str(path), "a = 1").apply(Module(diff=True))
    assert created["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "", "after": "a = 1\n"}]
    rewritten = SysctlFile(str(path), "a = 2\n").apply(Module(diff=True, check_mode=True))
    assert rewritten["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "a = 1\n",
                                  "after": "a = 2\n"}]
    removed = SysctlFile(str(path), "").apply(Module(diff=True))
    assert removed["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "a = 1\n", "after": ""}]
    assert not path.exists()


def test_no_diff_outside_diff_mode(path):
    assert "diff" not in SysctlFile(str(path), CONTENT).apply(Module())


def test_a_directory_is_refused(sysctl_dir):
    with pytest.raises(SysctlFileError, match="is a directory"):
        SysctlFile(str(sysctl_dir), CONTENT)
    with pytest.raises(SysctlFileError, match="is a directory"):
        SysctlFile(str(sysctl_dir), "")


@pytest.mark.parametrize("relative", ["60-oomguard.conf", "sysctl.d/60-oomguard.conf", "./x.conf", "~/x.conf"])
def test_a_relative_path_is_refused(relative):
    with pytest.raises(SysctlFileError) as caught:
        SysctlFile(relative, CONTENT)
    assert str(caught.value) == "%r is not an absolute path" % relative


def test_a_missing_directory_is_refused_when_writing(tmp_path):
    with pytest.raises(SysctlFileError) as caught:
        SysctlFile(str(tmp_path / "nowhere" / "x.conf"), CONTENT)
    assert str(caught.value) == "the directory %s does not exist" % (tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_an_unreadable_file_is_refused(path):
    # A symlink to itself: open() fails (ELOOP), even for root.
    os.symlink(str(path), str(path))
    with pytest.raises(SysctlFileError, match="cannot read"):
        SysctlFile(str(path), CONTENT)


def test_undecodable_bytes_in_the_old_file_do_not_break_planning(path):
    path.write_bytes(b"vm.panic_on_oom = 0 # \xff\n")
    planned = SysctlFile(str(path), "vm.panic_on_oom = 0\n")
    assert planned.changed is True
    planned.apply(Module())
    assert path.read_text() == "vm.panic_on_oom = 0\n"


def real_module(check_mode=False):
    args = {"_ansible_check_mode": check_mode}
    with patch_module_args(args):
        return basic.AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_a_new_file_is_mode_0644_whatever_the_umask_through_the_real_atomic_move(path):
    old = os.umask(0o077)
    try:
        SysctlFile(str(path), CONTENT).apply(real_module())
    finally:
        os.umask(old)
    assert mode(path) == 0o644


def test_a_rewritten_file_is_mode_0644_through_the_real_atomic_move(path):
    path.write_text("old = 1\n")
    path.chmod(0o600)
    SysctlFile(str(path), CONTENT).apply(real_module())
    assert path.read_text() == CONTENT
    assert mode(path) == 0o644


def test_the_real_atomic_move_writes_the_content(path):
    SysctlFile(str(path), CONTENT).apply(real_module())
    assert path.read_text() == CONTENT
    assert files(path.parent) == ["60-oomguard.conf"]


# -- Part ------------------------------------------------------------------------------------------------

def test_part_validates_its_params_and_names_itself_in_the_message():
    with pytest.raises(PartFailed) as caught:
        Part(Module(), _dropins_task.argument_spec(), {"units": [{"oom_score_adj": 1}], "state": "maybe"}, "units")
    msg = caught.value.msg
    assert msg.startswith("units: ")
    assert "state" in msg and "maybe" in msg
    assert "name" in msg
    assert caught.value.result == {}


def test_part_rejects_an_unknown_option():
    with pytest.raises(PartFailed) as caught:
        Part(Module(), _adj_task.argument_spec(), {"rules": [{"pid": 1, "value": 1}], "no_such": 1}, "rules")
    assert caught.value.msg.startswith("rules: ") and "no_such" in caught.value.msg


def test_part_fills_the_defaults_and_converts_types():
    part = Part(Module(), _dropins_task.argument_spec(), {"units": [{"name": "a.service", "oom_score_adj": "5"}]}, "units")
    assert part.params["state"] == "present"
    assert part.params["exclusive"] is False
    assert part.params["file_name"] == "60-oomguard.conf"
    assert part.params["root"] == "/etc/systemd/system"
    assert part.params["header"] == []
    assert part.params["units"] == [{"name": "a.service", "oom_score_adj": 5, "oom_policy": None, "tier": None,
                                     "cgroup": None}]
    rules = Part(Module(), _adj_task.argument_spec(), {"rules": [{"pid": 1, "value": 1}]}, "rules").params
    assert rules["rules"][0]["include_descendants"] is False
    assert (rules["on_denied"], rules["on_no_match"], rules["proc_path"]) == ("fail", "warn", "/proc")


@pytest.mark.parametrize("check_mode, diff", [(False, False), (True, True), (True, False)])
def test_part_reports_the_modules_check_and_diff_mode(check_mode, diff):
    part = Part(Module(check_mode=check_mode, diff=diff), _dropins_task.argument_spec(), {}, "units")
    assert (part.check_mode, part._diff) == (check_mode, diff)


def test_part_fail_json_raises_part_failed_with_the_result():
    module = Module()
    part = Part(module, _dropins_task.argument_spec(), {}, "units")
    with pytest.raises(PartFailed) as caught:
        part.fail_json(msg="it broke", changed=False, written=["x"])
    assert caught.value.msg == "it broke"
    assert str(caught.value) == "it broke"
    assert caught.value.result == {"changed": False, "written": ["x"]}


def test_part_failed_without_a_result_has_an_empty_one():
    assert PartFailed("x").result == {}


def test_part_forwards_warnings():
    module = Module()
    Part(module, _dropins_task.argument_spec(), {}, "units").warn("loud")
    assert module.warnings == ["loud"]


def test_a_part_forwards_the_warnings_of_a_task():
    module = Module()
    rules = {"rules": [{"pid": 1, "oom_adj": 5}]}
    _adj_task.OomScoreAdj(Part(module, _adj_task.argument_spec(), rules, "rules")).prepare()
    assert len(module.warnings) == 1 and "rules[0].oom_adj 5" in module.warnings[0]


def test_a_task_failing_through_a_part_raises_part_failed_with_its_message():
    module = Module()
    task = _adj_task.OomScoreAdj(Part(module, _adj_task.argument_spec(), {"rules": [{"name_pattern": "(", "value": 1}]},
                                      "rules"))
    with pytest.raises(PartFailed) as caught:
        task.prepare()
    assert "rules[0]: name_pattern" in caught.value.msg
    assert caught.value.result["changed"] is False


def test_part_forwards_run_command_and_atomic_move(tmp_path):
    module = Module()
    part = Part(module, _dropins_task.argument_spec(), {}, "units")
    assert part.run_command(["systemctl", "show"], environ_update={"LANG": "C"}) == (0, "out", "")
    assert module.commands == [(["systemctl", "show"], {"environ_update": {"LANG": "C"}})]
    src = tmp_path / "src"
    src.write_text("x")
    part.atomic_move(str(src), str(tmp_path / "dest"))
    assert module.moves == [(str(src), str(tmp_path / "dest"))]
    assert (tmp_path / "dest").read_text() == "x"


def test_a_failing_move_is_a_clear_error_not_a_traceback(path):
    """ansible-core's atomic_move raises a plain Exception from some of its paths; it must come out as a
    SysctlFileError naming the file, and the temporary file must not stay behind."""
    class Refusing(Module):
        def atomic_move(self, src, dest):
            raise Exception("Could not replace %r with %r." % (dest, src))  # pylint: disable=broad-exception-raised

    planned = SysctlFile(str(path), CONTENT)
    with pytest.raises(SysctlFileError, match="writing .*60-oomguard.conf failed: cannot move .*Could not replace"):
        planned.apply(Refusing())
    assert files(path.parent) == []
