# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OOM sysctls oomguard may write, checked in one place for the role's plan and oom_protection_apply's
sysctl_content: keys and values the kernel accepts, in sysctl.d syntax."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._model.sysctls import (
    OOM_SYSCTLS, oom_sysctl_content_error, oom_sysctl_error,
)

# What the role's template renders: ansible_managed as comments, the owner line, then the settings.
ROLE_FILE = """#
# Ansible managed
#
# oomguard-owner: oom_protection
# OOM sysctls of the oomguard.fleet.oom_protection role (oom_protection_sysctls).
vm.oom_dump_tasks = 1
vm.oom_kill_allocating_task = 0
vm.panic_on_oom = 2
"""


def test_the_role_files_content_is_valid_sysctl_content():
    assert oom_sysctl_content_error(ROLE_FILE) is None


@pytest.mark.parametrize("content", [
    "",
    "; a comment\n\n   # another\n",
    "vm/panic_on_oom = 1",
    "-vm.oom_dump_tasks=0",
    "  vm.oom_kill_allocating_task  =  1  ",
])
def test_sysctl_d_syntax_is_understood(content):
    assert oom_sysctl_content_error(content) is None


@pytest.mark.parametrize("content, message", [
    ("vm.panic_on_oom = 7", "line 1: vm.panic_on_oom must be one of 0, 1, 2, got 7"),
    ("vm.panic_on_oom = -1", "line 1: vm.panic_on_oom must be one of 0, 1, 2, got -1"),
    ("vm.oom_dump_tasks = 1\nvm.oom_dump_tasks = 2", "line 2: vm.oom_dump_tasks must be one of 0, 1, got 2"),
    ("vm.oom_dump_tasks = on", "line 1: vm.oom_dump_tasks must be one of 0, 1, got 'on'"),
    ("vm.swappiness = 10", "line 1: vm.swappiness is not one of the OOM sysctls oomguard manages "
                           "(vm.oom_dump_tasks, vm.oom_kill_allocating_task, vm.panic_on_oom)"),
    ("vm.panic_on_oom", "line 1 is not a 'key = value' setting: 'vm.panic_on_oom'"),
    ("= 1", "line 1 is not a 'key = value' setting"),
])
def test_anything_else_is_refused_in_one_line_naming_the_line(content, message):
    problem = oom_sysctl_content_error(content)
    assert problem == message or problem.startswith(message)
    assert "\n" not in problem


@pytest.mark.parametrize("value", [True, "1", 1.5, None])
def test_the_roles_values_must_be_integers_not_text_or_booleans(value):
    assert "must be one of 0, 1" in oom_sysctl_error("vm.oom_dump_tasks", value)


def test_every_value_the_kernel_accepts_is_allowed():
    for key, values in OOM_SYSCTLS.items():
        for value in values:
            assert oom_sysctl_error(key, value) is None
            assert oom_sysctl_content_error("%s = %d" % (key, value)) is None
