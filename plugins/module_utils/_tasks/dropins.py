# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of one oom_dropins call: plan the drop-ins against the disk (plan: what is there, through
_host.files, against what _engine.dropins renders), then apply unless in check mode.

Shared by the oom_dropins and oom_protection_apply modules."""

from __future__ import annotations

import os

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import dropins
from ansible_collections.oomguard.fleet.plugins.module_utils._host import files
from ansible_collections.oomguard.fleet.plugins.module_utils._host.files import atomic_move
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task
from ansible_collections.oomguard.fleet.plugins.module_utils._model import dropin_files
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.dropins import (
    Action, DropInError, check_units, render,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.dropin_files import (
    DEFAULT_FILE_NAME, DEFAULT_OWNER_TAG, FILE_MODE, file_name_error, fingerprint, is_owned, target_file_name,
)


class DropIns(Task):
    """The module's work: plan against the disk, then apply unless in check mode."""

    def __init__(self, params, io):
        super(DropIns, self).__init__(params, io, {"changed": False, "written": [], "removed": [], "unchanged": [],
                                                   "units_changed": []})
        self._actions = []

    def execute(self):
        self.plan()
        self.apply()
        return self._result

    def plan(self):
        """Read the disk and decide every write and removal; fails on bad input before anything is written."""
        params = self.params
        units = [
            {key: value for key, value in unit.items() if value is not None}
            for unit in params["units"]
        ]
        try:
            self._actions, warnings = plan(
                units,
                root=params["root"],
                state=params["state"],
                exclusive=params["exclusive"],
                file_name=params["file_name"],
                owner_tag=params["owner_tag"],
                header=params["header"],
                allow_oom_disable=params["allow_oom_disable"],
            )
        except dropins.DropInError as exc:
            self._fail(f"Cannot manage the OOM drop-ins: {exc}")
        except OSError as exc:
            self._fail(f"Cannot read the drop-ins under {params['root']}: {exc}")
        for warning in warnings:
            self.io.warn(warning)
        self._result.update(dropins.summarize(self._actions))
        if self.io.diff:
            self._result["diff"] = dropins.diffs(self._actions)

    def apply(self):
        """Write what plan() decided, unless in check mode."""
        if self._result["changed"] and not self.io.check_mode:
            try:
                files.apply(self._actions, move=self._move)
            except OSError as exc:
                self._fail(f"Writing the OOM drop-ins failed: {exc}")

    def _move(self, src, dest):
        atomic_move(self.io.atomic_move, src, dest)


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
        file_name=dict(type="str", default=dropin_files.DEFAULT_FILE_NAME),
        owner_tag=dict(type="str", default=dropin_files.DEFAULT_OWNER_TAG),
        header=dict(type="list", elements="str", default=[]),
        root=dict(type="path", default=dropin_files.DEFAULT_ROOT),
        allow_oom_disable=dict(type="bool", default=False),
    )


def plan(units, root=dropin_files.DEFAULT_ROOT, state="present", exclusive=False, file_name=DEFAULT_FILE_NAME,
         owner_tag=DEFAULT_OWNER_TAG, header=(), allow_oom_disable=False):
    """Compare the wanted drop-ins with the disk. Returns (actions, warnings); raises DropInError.

    present: each listed unit gets exactly render(unit) at root/<unit>.d/<file name>.
    absent: the owned files of the listed units go away.
    exclusive: afterwards the owned files are exactly the wanted ones (present) or none at all (absent):
    owned files of units no longer listed, or under an old file name, are removed.
    """
    reason = file_name_error(file_name)
    if reason:
        raise DropInError(reason)
    if not owner_tag or "\n" in owner_tag:
        raise DropInError("owner_tag must be a non-empty single line, got %r" % (owner_tag,))
    if not os.path.isdir(root):
        raise DropInError("the drop-in root %s does not exist (is systemd installed on this host?)" % root)
    check_units(units, state, allow_oom_disable)

    actions = []
    warnings = []
    wanted = set()
    for unit in units:
        name = unit["name"]
        path = os.path.join(root, name + ".d", target_file_name(name, file_name))
        before, regular, mode = files.read_existing(path)
        foreign = before is not None and not (regular and is_owned(before, owner_tag))
        if state == "present":
            wanted.add(path)
            if foreign:
                raise DropInError(
                    "%s exists but was not written by %s (it has no '%s' line); refusing to overwrite it. Move "
                    "it away or choose another file_name." % (path, owner_tag, fingerprint(owner_tag)))
            after = render(unit, owner_tag, header)
            kind = "unchanged" if before == after and mode == FILE_MODE else "write"
            actions.append(Action(kind, name, path, before, after))
        elif before is not None:
            if foreign:
                warnings.append("%s was not written by %s; left untouched" % (path, owner_tag))
            else:
                actions.append(Action("remove", name, path, before, None))
    if exclusive:
        for path, (name, text) in sorted(files.owned_files(root, owner_tag).items()):
            if state == "present" and path in wanted:
                continue
            if any(action.path == path for action in actions):
                continue
            actions.append(Action("remove", name, path, text, None))
    return actions, warnings
