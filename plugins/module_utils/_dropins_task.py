# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of one oom_dropins call: plan the drop-ins against the disk, then apply unless in check mode.

Shared by the oom_dropins and oom_protection_apply modules."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils import _dropins
from ansible_collections.oomguard.fleet.plugins.module_utils._part import atomic_move


class DropIns:
    """The module's work: plan against the disk, then apply unless in check mode."""

    def __init__(self, module):
        self.module = module
        self._result = {"changed": False, "written": [], "removed": [], "unchanged": [], "units_changed": []}
        self._actions = []

    def execute(self):
        self.plan()
        self.apply()

    def plan(self):
        """Read the disk and decide every write and removal; fails on bad input before anything is written."""
        params = self.module.params
        units = [
            {key: value for key, value in unit.items() if value is not None}
            for unit in params["units"]
        ]
        try:
            self._actions, warnings = _dropins.plan(
                units,
                root=params["root"],
                state=params["state"],
                exclusive=params["exclusive"],
                file_name=params["file_name"],
                owner_tag=params["owner_tag"],
                header=params["header"],
                allow_oom_disable=params["allow_oom_disable"],
            )
        except _dropins.DropInError as exc:
            self.module.fail_json(msg=f"Cannot manage the OOM drop-ins: {exc}", **self._result)
        except OSError as exc:
            self.module.fail_json(msg=f"Cannot read the drop-ins under {params['root']}: {exc}", **self._result)
        for warning in warnings:
            self.module.warn(warning)
        self._result.update(_dropins.summarize(self._actions))
        if self.module._diff:
            self._result["diff"] = _dropins.diffs(self._actions)

    def apply(self):
        """Write what plan() decided, unless in check mode."""
        if self._result["changed"] and not self.module.check_mode:
            try:
                _dropins.apply(self._actions, move=self._move)
            except OSError as exc:
                self.module.fail_json(msg=f"Writing the OOM drop-ins failed: {exc}", **self._result)

    def _move(self, src, dest):
        atomic_move(self.module, src, dest)

    @property
    def result(self):
        return self._result


def argument_spec():
    return dict(
        units=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                oom_score_adj=dict(type="int"),
                oom_policy=dict(type="str", choices=["continue", "stop", "kill"]),
                tier=dict(type="str"),
                cgroup=dict(type="dict"),
            ),
        ),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        exclusive=dict(type="bool", default=False),
        file_name=dict(type="str", default=_dropins.DEFAULT_FILE_NAME),
        owner_tag=dict(type="str", default=_dropins.DEFAULT_OWNER_TAG),
        header=dict(type="list", elements="str", default=[]),
        root=dict(type="path", default=_dropins.DEFAULT_ROOT),
        allow_oom_disable=dict(type="bool", default=False),
    )
