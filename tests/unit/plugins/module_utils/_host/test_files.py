# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SysctlFile, the caller-owned sysctl.d file of oom_protection_apply, against files under tmp_path: written
through a recording stand-in for AnsibleModule's atomic_move, and through the real one."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.fleet.plugins.module_utils._host import files as files_mod
from ansible_collections.oomguard.fleet.plugins.module_utils._host.files import SysctlFile, SysctlFileError

CONTENT = "vm.panic_on_oom = 0\nvm.oom_dump_tasks = 1\n"


class Module(object):
    """An AnsibleModule's check and diff mode and its atomic_move (a plain rename here), every move recorded."""

    def __init__(self, check_mode=False, diff=False):
        self.check_mode = check_mode
        self._diff = diff
        self.moves = []

    def atomic_move(self, src, dest):
        self.moves.append((src, dest))
        os.rename(src, dest)


@pytest.fixture
def sysctl_dir(tmp_path):
    path = tmp_path / "sysctl.d"
    path.mkdir()
    return path


@pytest.fixture
def path(sysctl_dir):
    return sysctl_dir / "60-oomguard.conf"


def apply_as(module, planned):
    """SysctlFile.apply as oom_protection_apply calls it: the module's check and diff mode and its atomic_move."""
    return planned.apply(module.check_mode, module._diff, module.atomic_move)


def files(directory):
    return sorted(os.listdir(str(directory)))


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


# -- SysctlFile ------------------------------------------------------------------------------------------

def test_present_writes_the_whole_content_mode_0644(path):
    planned = SysctlFile(str(path), CONTENT)
    assert (planned.state, planned.changed, planned.before) == ("present", True, None)
    module = Module()
    result = apply_as(module, planned)
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
    assert apply_as(Module(), planned)["changed"] is True
    assert path.read_text() == CONTENT


def test_unchanged_content_is_not_written(path):
    path.write_text(CONTENT)
    os.utime(str(path), (1000000000, 1000000000))
    module = Module(diff=True)
    result = apply_as(module, SysctlFile(str(path), CONTENT))
    assert result == {"path": str(path), "state": "present", "changed": False}
    assert module.moves == []
    assert os.stat(str(path)).st_mtime == 1000000000


@pytest.mark.parametrize("content", ["vm.panic_on_oom = 0", "vm.panic_on_oom = 0\n"])
def test_content_is_newline_terminated(path, content):
    planned = SysctlFile(str(path), content)
    assert planned.content == "vm.panic_on_oom = 0\n"
    apply_as(Module(), planned)
    assert path.read_text() == "vm.panic_on_oom = 0\n"


def test_content_without_its_final_newline_matches_the_file_with_it(path):
    path.write_text("vm.panic_on_oom = 0\n")
    assert SysctlFile(str(path), "vm.panic_on_oom = 0").changed is False


def test_empty_content_removes_the_file(path):
    path.write_text(CONTENT)
    planned = SysctlFile(str(path), "")
    assert (planned.state, planned.changed, planned.before) == ("absent", True, CONTENT)
    assert apply_as(Module(), planned) == {"path": str(path), "state": "absent", "changed": True}
    assert not path.exists()


def test_absent_when_already_absent_changes_nothing(path):
    planned = SysctlFile(str(path), "")
    assert planned.changed is False
    assert apply_as(Module(diff=True), planned) == {"path": str(path), "state": "absent", "changed": False}


def test_absent_in_a_missing_directory_is_not_an_error(tmp_path):
    planned = SysctlFile(str(tmp_path / "nowhere" / "x.conf"), "")
    assert (planned.state, planned.changed) == ("absent", False)


def test_check_mode_predicts_and_writes_nothing(path):
    module = Module(check_mode=True)
    assert apply_as(module, SysctlFile(str(path), CONTENT))["changed"] is True
    assert files(path.parent) == [] and module.moves == []

    path.write_text(CONTENT)
    assert apply_as(module, SysctlFile(str(path), "")) == {"path": str(path), "state": "absent", "changed": True}
    assert path.read_text() == CONTENT


def test_diff_of_a_new_file_a_rewrite_and_a_removal(path):
    created = apply_as(Module(diff=True), SysctlFile(str(path), "a = 1"))
    assert created["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "", "after": "a = 1\n"}]
    rewritten = apply_as(Module(diff=True, check_mode=True), SysctlFile(str(path), "a = 2\n"))
    assert rewritten["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "a = 1\n",
                                  "after": "a = 2\n"}]
    removed = apply_as(Module(diff=True), SysctlFile(str(path), ""))
    assert removed["diff"] == [{"before_header": str(path), "after_header": str(path), "before": "a = 1\n", "after": ""}]
    assert not path.exists()


def test_no_diff_outside_diff_mode(path):
    assert "diff" not in apply_as(Module(), SysctlFile(str(path), CONTENT))


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
    apply_as(Module(), planned)
    assert path.read_text() == "vm.panic_on_oom = 0\n"


def real_module(check_mode=False):
    args = {"_ansible_check_mode": check_mode}
    with patch_module_args(args):
        return basic.AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_a_new_file_is_mode_0644_whatever_the_umask_through_the_real_atomic_move(path):
    old = os.umask(0o077)
    try:
        apply_as(real_module(), SysctlFile(str(path), CONTENT))
    finally:
        os.umask(old)
    assert mode(path) == 0o644


def test_a_rewritten_file_is_mode_0644_through_the_real_atomic_move(path):
    path.write_text("old = 1\n")
    path.chmod(0o600)
    apply_as(real_module(), SysctlFile(str(path), CONTENT))
    assert path.read_text() == CONTENT
    assert mode(path) == 0o644


def test_the_real_atomic_move_writes_the_content(path):
    apply_as(real_module(), SysctlFile(str(path), CONTENT))
    assert path.read_text() == CONTENT
    assert files(path.parent) == ["60-oomguard.conf"]


def test_a_failing_move_is_a_clear_error_not_a_traceback(path):
    """ansible-core's atomic_move raises a plain Exception from some of its paths; it must come out as a
    SysctlFileError naming the file, and the temporary file must not stay behind."""
    class Refusing(Module):
        def atomic_move(self, src, dest):
            raise Exception("Could not replace %r with %r." % (dest, src))  # pylint: disable=broad-exception-raised

    planned = SysctlFile(str(path), CONTENT)
    with pytest.raises(SysctlFileError, match="writing .*60-oomguard.conf failed: cannot move .*Could not replace"):
        apply_as(Refusing(), planned)
    assert files(path.parent) == []


# -- runtime files and the textfile ---------------------------------------------------------------------

def test_remove_new_entries_removes_what_appeared_and_a_directory_it_created(tmp_path):
    new = tmp_path / "a.service.d"
    assert files_mod.entries(str(new)) is None
    new.mkdir()
    (new / "50-MemoryMin.conf").write_text("x")
    assert files_mod.remove_new_entries(str(new), None) is True
    assert not new.exists()


def test_remove_new_entries_keeps_what_was_there_and_the_directory(tmp_path):
    old = tmp_path / "b.service.d"
    old.mkdir()
    (old / "50-MemoryLow.conf").write_text("old")
    before = files_mod.entries(str(old))
    (old / "50-MemoryMin.conf").write_text("new")
    assert files_mod.remove_new_entries(str(old), before) is True
    assert files(old) == ["50-MemoryLow.conf"]
    assert files_mod.remove_new_entries(str(old), files_mod.entries(str(old))) is False
    assert files_mod.remove_new_entries(str(tmp_path / "gone.d"), None) is False


def test_write_atomically_creates_the_directory_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "textfile"
    files_mod.write_atomically(str(target), "oomguard.prom", "a 1\n")
    files_mod.write_atomically(str(target), "oomguard.prom", "a 2\n")
    assert files(target) == ["oomguard.prom"]
    assert (target / "oomguard.prom").read_text() == "a 2\n" and mode(target / "oomguard.prom") == 0o644
