# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run an Ansible module's main() in-process and return what it would print, without exiting."""

from __future__ import annotations

import json

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get("msg"))
        self.result = result
        self.failed = failed


def run_module(main, args, check_mode=False, diff=False):
    """Returns (result, failed). Warnings from module.warn() are in result['warnings']."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True

    # Collected here rather than from ansible's module-wide list, whose behaviour changes once controller
    # code has been imported into the same interpreter.
    warnings = []

    def warn(self, warning, **_kwargs):
        warnings.append(warning)

    def exit_json(self, **kwargs):
        kwargs["warnings"] = list(warnings)
        raise ModuleExit(json.loads(json.dumps(kwargs, default=str)), False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["warnings"] = list(warnings)
        raise ModuleExit(json.loads(json.dumps(kwargs, default=str)), True)

    original = basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json, basic.AnsibleModule.warn
    basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json, basic.AnsibleModule.warn = exit_json, fail_json, warn
    try:
        with patch_module_args(args):
            main()
    except ModuleExit as done:
        return done.result, done.failed
    finally:
        basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json, basic.AnsibleModule.warn = original
    raise AssertionError("the module returned without exit_json or fail_json")
