# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Behaviour of the role-owned drop-in engine, against a fake /etc/systemd/system under tmp_path."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import dropins as _dropins
from ansible_collections.oomguard.fleet.plugins.module_utils._host.systemd import read_declared
from ansible_collections.oomguard.fleet.plugins.module_utils._host import files as _files
from ansible_collections.oomguard.fleet.plugins.module_utils._model import dropin_files as _dropin_files
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import dropins as _dropins_task

OWNER = _dropin_files.fingerprint(_dropin_files.DEFAULT_OWNER_TAG)


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "etc-systemd-system"
    path.mkdir()
    return path


def converge(root, units, **kwargs):
    actions, warnings = _dropins_task.plan(units, root=str(root), **kwargs)
    _files.apply(actions)
    return _dropins.summarize(actions), warnings


def dropin(root, unit, name=_dropin_files.DEFAULT_FILE_NAME):
    return root / (unit + ".d") / name


def test_writes_one_service_dropin_with_fingerprint_and_value(root):
    summary = converge(root, [{"name": "postgresql.service", "oom_score_adj": -500}])[0]
    path = dropin(root, "postgresql.service")
    text = path.read_text()
    assert summary["written"] == [str(path)]
    assert summary["units_changed"] == ["postgresql.service"]
    assert OWNER in text.splitlines()
    assert "[Service]\nOOMScoreAdjust=-500\n" in text
    assert "OOMPolicy" not in text


def test_written_file_is_what_systemd_would_read(root):
    converge(root, [{"name": "web.service", "oom_score_adj": 500, "oom_policy": "continue"}])
    declared = read_declared([str(dropin(root, "web.service"))], "service")
    assert declared["oom_score_adjust"] == 500
    assert declared["oom_score_adjust_set"] is True
    assert declared["oom_policy"] == "continue"


def test_header_lines_become_comments_before_the_fingerprint(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}], header=["Ansible managed", "line two\nline three"])
    lines = dropin(root, "a.service").read_text().splitlines()
    assert lines[:4] == ["# Ansible managed", "# line two", "# line three", OWNER]


def test_files_are_mode_0644_whatever_the_umask(root):
    old = os.umask(0o077)
    try:
        converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    finally:
        os.umask(old)
    assert stat.S_IMODE(dropin(root, "a.service").stat().st_mode) == 0o644


def test_second_identical_run_changes_nothing(root):
    units = [{"name": "a.service", "oom_score_adj": 100}, {"name": "b.service", "oom_score_adj": 200}]
    converge(root, units)
    summary = converge(root, units)[0]
    assert summary["changed"] is False
    assert summary["written"] == [] and summary["units_changed"] == []
    assert len(summary["unchanged"]) == 2


def test_only_the_unit_whose_value_changed_is_reported(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 100}, {"name": "b.service", "oom_score_adj": 200}])
    summary = converge(root, [{"name": "a.service", "oom_score_adj": 100}, {"name": "b.service", "oom_score_adj": 300}])[0]
    assert summary["units_changed"] == ["b.service"]


def test_a_file_with_the_wrong_mode_is_rewritten(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    dropin(root, "a.service").chmod(0o600)
    summary = converge(root, [{"name": "a.service", "oom_score_adj": 1}])[0]
    assert summary["changed"] is True
    assert stat.S_IMODE(dropin(root, "a.service").stat().st_mode) == 0o644


@pytest.mark.parametrize("unit, section", [
    ("x.socket", "Socket"), ("x.mount", "Mount"), ("x.swap", "Swap"), ("x.service", "Service"),
])
def test_each_unit_type_gets_its_own_section(root, unit, section):
    converge(root, [{"name": unit, "oom_score_adj": 10}])
    assert "[%s]\nOOMScoreAdjust=10" % section in dropin(root, unit).read_text()


@pytest.mark.parametrize("unit", ["session-1.scope", "user.slice", "x.target", "x.timer"])
def test_oom_score_adjust_is_refused_for_unit_types_without_it(root, unit):
    with pytest.raises(_dropins.DropInError, match="OOMScoreAdjust= does not exist"):
        _dropins_task.plan([{"name": unit, "oom_score_adj": 10}], root=str(root))


def test_oom_policy_is_refused_for_sockets(root):
    with pytest.raises(_dropins.DropInError, match="OOMPolicy= does not exist"):
        _dropins_task.plan([{"name": "x.socket", "oom_policy": "kill"}], root=str(root))


def test_scope_may_get_oom_policy_alone(root):
    converge(root, [{"name": "app.scope", "oom_policy": "kill"}])
    assert "[Scope]\nOOMPolicy=kill\n" in dropin(root, "app.scope").read_text()


@pytest.mark.parametrize("name", ["../x.service", "a/b.service", "", "nosuffix", ".service", "x.bogus"])
def test_invalid_unit_names_are_refused_before_anything_is_written(root, name):
    units = [{"name": "ok.service", "oom_score_adj": 1}, {"name": name, "oom_score_adj": 1}]
    with pytest.raises(_dropins.DropInError, match="unit"):
        _dropins_task.plan(units, root=str(root))
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("value", [1001, -1001, True, "5"])
def test_out_of_range_or_non_integer_values_are_refused(root, value):
    with pytest.raises(_dropins.DropInError, match="-1000..1000"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": value}], root=str(root))


def test_minus_1000_needs_allow_oom_disable(root):
    with pytest.raises(_dropins.DropInError, match="allow_oom_disable"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": -1000}], root=str(root))
    actions = _dropins_task.plan([{"name": "a.service", "oom_score_adj": -1000}], root=str(root), allow_oom_disable=True)[0]
    assert actions[0].kind == "write"


def test_unknown_oom_policy_is_refused(root):
    with pytest.raises(_dropins.DropInError, match="continue, stop, kill"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1, "oom_policy": "panic"}], root=str(root))


def test_a_unit_listed_twice_is_refused(root):
    with pytest.raises(_dropins.DropInError, match="listed twice"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1}, {"name": "a.service", "oom_score_adj": 2}], root=str(root))


def test_missing_root_is_an_error_not_a_mkdir(tmp_path):
    with pytest.raises(_dropins.DropInError, match="does not exist"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1}], root=str(tmp_path / "nope"))


def test_template_dropin_applies_to_all_instances_under_the_plain_name(root):
    converge(root, [{"name": "worker@.service", "oom_score_adj": 500}])
    text = dropin(root, "worker@.service").read_text()
    assert "every instance of worker@.service" in text


def test_instance_dropin_sorts_after_the_template_dropin_so_it_wins(root):
    converge(root, [{"name": "worker@.service", "oom_score_adj": 500}, {"name": "worker@big.service", "oom_score_adj": 700}])
    template = dropin(root, "worker@.service")
    instance = dropin(root, "worker@big.service", "60-oomguard.instance.conf")
    assert instance.exists()
    # systemd merges all drop-in files of the instance and its template in file-name order.
    merged = sorted([template, instance], key=lambda p: p.name)
    assert read_declared([str(p) for p in merged])["oom_score_adjust"] == 700


def test_foreign_file_at_our_name_is_refused_and_left_untouched(root):
    path = dropin(root, "a.service")
    path.parent.mkdir()
    path.write_text("[Service]\nOOMScoreAdjust=-100\n")
    with pytest.raises(_dropins.DropInError, match="refusing to overwrite"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1}], root=str(root))
    assert path.read_text() == "[Service]\nOOMScoreAdjust=-100\n"


def test_foreign_dropins_beside_ours_are_never_touched(root):
    foreign = root / "a.service.d" / "50-local.conf"
    foreign.parent.mkdir()
    foreign.write_text("[Service]\nNice=5\n")
    converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    converge(root, [], state="absent", exclusive=True)
    assert foreign.read_text() == "[Service]\nNice=5\n"
    assert not dropin(root, "a.service").exists()
    assert foreign.parent.is_dir()


def test_exclusive_removes_owned_dropins_of_units_no_longer_listed_and_their_empty_dir(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}, {"name": "b.service", "oom_score_adj": 2}])
    summary = converge(root, [{"name": "a.service", "oom_score_adj": 1}], exclusive=True)[0]
    assert summary["removed"] == [str(dropin(root, "b.service"))]
    assert summary["units_changed"] == ["b.service"]
    assert not (root / "b.service.d").exists()
    assert dropin(root, "a.service").exists()


def test_without_exclusive_unlisted_owned_dropins_stay(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}, {"name": "b.service", "oom_score_adj": 2}])
    summary = converge(root, [{"name": "a.service", "oom_score_adj": 1}])[0]
    assert summary["removed"] == []
    assert dropin(root, "b.service").exists()


def test_exclusive_removes_owned_files_left_under_an_old_file_name(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}], file_name="50-old.conf")
    converge(root, [{"name": "a.service", "oom_score_adj": 1}], exclusive=True)
    assert sorted(p.name for p in (root / "a.service.d").iterdir()) == ["60-oomguard.conf"]


def test_another_owner_tag_does_not_own_our_files(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    summary = converge(root, [], state="absent", exclusive=True, owner_tag="someone.else")[0]
    assert summary["removed"] == []
    assert dropin(root, "a.service").exists()


def test_absent_removes_listed_units_only(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}, {"name": "b.service", "oom_score_adj": 2}])
    summary = converge(root, [{"name": "a.service"}], state="absent")[0]
    assert summary["removed"] == [str(dropin(root, "a.service"))]
    assert dropin(root, "b.service").exists()


def test_absent_warns_about_a_foreign_file_and_keeps_it(root):
    path = dropin(root, "a.service")
    path.parent.mkdir()
    path.write_text("[Service]\n")
    summary, warnings = converge(root, [{"name": "a.service"}], state="absent")
    assert summary["changed"] is False
    assert warnings and "left untouched" in warnings[0]
    assert path.exists()


def test_absent_with_exclusive_leaves_no_owned_file_and_no_empty_dir(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}, {"name": "w@.service", "oom_score_adj": 2},
                    {"name": "w@x.service", "oom_score_adj": 3}])
    summary = converge(root, [], state="absent", exclusive=True)[0]
    assert len(summary["removed"]) == 3
    assert list(root.iterdir()) == []


def test_pre_existing_empty_dirs_are_not_ours_to_remove(root):
    (root / "keep.service.d").mkdir()
    converge(root, [], state="absent", exclusive=True)
    assert (root / "keep.service.d").is_dir()


def test_plan_alone_writes_nothing(root):
    actions = _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1}], root=str(root))[0]
    assert _dropins.summarize(actions)["written"] == [str(dropin(root, "a.service"))]
    assert list(root.iterdir()) == []


def test_diff_has_before_and_after_per_changed_file(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    actions = _dropins_task.plan([{"name": "a.service", "oom_score_adj": 2}], root=str(root))[0]
    (entry,) = _dropins.diffs(actions)
    assert entry["before_header"] == str(dropin(root, "a.service"))
    assert "OOMScoreAdjust=1" in entry["before"] and "OOMScoreAdjust=2" in entry["after"]


def test_no_temporary_files_are_left_behind(root):
    converge(root, [{"name": "a.service", "oom_score_adj": 1}])
    assert [p.name for p in (root / "a.service.d").iterdir()] == ["60-oomguard.conf"]


def test_symlink_at_our_name_counts_as_foreign(root, tmp_path):
    target = tmp_path / "elsewhere.conf"
    target.write_text(OWNER + "\n")
    path = dropin(root, "a.service")
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(_dropins.DropInError, match="refusing"):
        _dropins_task.plan([{"name": "a.service", "oom_score_adj": 1}], root=str(root))


def test_file_name_must_be_a_plain_conf_name(root):
    for bad in ["../x.conf", "x.txt", ".hidden.conf", ""]:
        with pytest.raises(_dropins.DropInError, match="file_name"):
            _dropins_task.plan([], root=str(root), file_name=bad)
