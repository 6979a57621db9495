# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One part of a combined module call, seen by a task class (adj, dropins, info) as its module.

The task classes read `params`, `check_mode` and `_diff`, call `warn()`, `run_command()`, `get_bin_path()`
and `atomic_move()`, and end with `fail_json()`. A Part validates its own params against the task's argument
spec (filling the defaults), forwards the rest to the real AnsibleModule, and turns `fail_json()` into
PartFailed, so the combined module decides what to report.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


class PartFailed(Exception):
    def __init__(self, msg, result=None):
        super(PartFailed, self).__init__(msg)
        self.msg = msg
        self.result = result or {}


class Part(object):
    def __init__(self, module, spec, params, label):
        validated = ArgumentSpecValidator(spec).validate(params)
        if validated.error_messages:
            raise PartFailed("%s: %s" % (label, "; ".join(validated.error_messages)))
        self.params = validated.validated_parameters
        self.check_mode = module.check_mode
        self._diff = module._diff
        self.label = label
        self._module = module

    def warn(self, warning):
        self._module.warn(warning)

    def fail_json(self, msg, **result):
        raise PartFailed(msg, result)

    def run_command(self, *args, **kwargs):
        return self._module.run_command(*args, **kwargs)

    def get_bin_path(self, *args, **kwargs):
        return self._module.get_bin_path(*args, **kwargs)

    def atomic_move(self, *args, **kwargs):
        return self._module.atomic_move(*args, **kwargs)
