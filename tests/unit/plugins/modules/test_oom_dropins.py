# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oom_dropins module end to end (argument spec, check mode, diff mode) against a fake root."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.fleet.plugins.modules import oom_dropins


def run(capsys, args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            oom_dropins.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "system"
    path.mkdir()
    return path


def test_one_call_writes_every_unit_and_names_the_changed_units(capsys, root):
    units = [{"name": "u%d.service" % i, "oom_score_adj": i} for i in range(50)]
    result = run(capsys, {"root": str(root), "units": units})
    assert result["changed"] is True
    assert len(result["written"]) == 50
    assert result["units_changed"] == sorted(u["name"] for u in units)


def test_check_mode_reports_the_change_and_writes_nothing(capsys, root):
    result = run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 5}]}, check_mode=True)
    assert result["changed"] is True
    assert result["written"] == [str(root / "a.service.d" / "60-oomguard.conf")]
    assert list(root.iterdir()) == []


def test_diff_mode_returns_before_and_after(capsys, root):
    result = run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 5}]}, diff=True)
    assert result["diff"][0]["before"] == ""
    assert "OOMScoreAdjust=5" in result["diff"][0]["after"]


def test_second_run_is_unchanged(capsys, root):
    args = {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 5, "tier": "expendable"}],
            "header": ["Ansible managed"]}
    run(capsys, args)
    result = run(capsys, args)
    assert result["changed"] is False
    assert result["unchanged"] == [str(root / "a.service.d" / "60-oomguard.conf")]


def test_invalid_unit_name_fails_with_the_name_and_writes_nothing(capsys, root):
    result = run(capsys, {"root": str(root), "units": [{"name": "ok.service", "oom_score_adj": 1},
                                                       {"name": "a/b.service", "oom_score_adj": 1}]})
    assert result["failed"] is True
    assert "a/b.service" in result["msg"] and "'/'" in result["msg"]
    assert list(root.iterdir()) == []


def test_foreign_file_error_names_the_path(capsys, root):
    (root / "a.service.d").mkdir()
    (root / "a.service.d" / "60-oomguard.conf").write_text("[Service]\n")
    result = run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 1}]})
    assert result["failed"] is True
    assert "a.service.d/60-oomguard.conf" in result["msg"] and "refusing to overwrite" in result["msg"]


def test_unknown_oom_policy_is_rejected_by_the_argument_spec(capsys, root):
    result = run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 1, "oom_policy": "x"}]})
    assert result["failed"] is True
    assert "oom_policy" in result["msg"]


def test_absent_exclusive_removes_everything_owned(capsys, root):
    run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 1}]})
    result = run(capsys, {"root": str(root), "state": "absent", "exclusive": True})
    assert result["units_changed"] == ["a.service"]
    assert list(root.iterdir()) == []


def test_a_failing_move_fails_the_module_with_a_message_not_a_traceback(capsys, root, monkeypatch):
    """ansible-core's atomic_move raises a plain Exception from some of its paths (a replace that fails)."""
    def refuse(self, src, dest, *args, **kwargs):
        raise Exception("Could not replace %r with %r." % (dest, src))  # pylint: disable=broad-exception-raised

    monkeypatch.setattr(oom_dropins.AnsibleModule, "atomic_move", refuse)
    result = run(capsys, {"root": str(root), "units": [{"name": "a.service", "oom_score_adj": 5}]})
    assert result["failed"] is True
    assert result["msg"].startswith("Writing the OOM drop-ins failed: cannot move"), result["msg"]
    assert "Could not replace" in result["msg"] and "Traceback" not in json.dumps(result)
