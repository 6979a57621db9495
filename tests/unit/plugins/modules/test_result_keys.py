# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No module documents a result key that ansible-core reserves for itself.

ansible-core reads some top-level keys of a module's result as its own: `skipped` is turned into a bool (with
a warning, and a true value marks the task skipped), `failed`/`rc` decide failure, `msg` is the task's message,
`results` holds loop results, `_ansible_*` keys are dropped with a warning, and so on. A module that returns
its own data under such a key loses it. `changed` and `diff` are allowed only with ansible-core's meaning
(a bool; a diff dict or a list of them).
"""

from __future__ import annotations

import ast
import dataclasses
import glob
import os

import pytest
import yaml

MODULES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules"))

# The keys ansible-core 2.19 to 2.21 read, move, drop or fill in a task result (ansible/_internal/_task.py
# UnifiedTaskResult in 2.21, ansible/executor/task_result.py and constants.INTERNAL_RESULT_KEYS in 2.19),
# and the ones every module or loop adds (`invocation`, `results`, `item`, ...). Any `_ansible_*` key too.
RESERVED = frozenset([
    "add_group", "add_host", "ansible_facts", "ansible_index_var", "ansible_job_id", "ansible_loop",
    "ansible_loop_var", "ansible_module_results", "ansible_stats", "async_result", "attempts", "break_when_result",
    "break_when_suppressed_exception", "changed", "changed_when_result", "changed_when_suppressed_exception",
    "deprecations", "diff", "exception", "failed", "failed_when_result", "failed_when_suppressed_exception",
    "false_condition", "finished", "invocation", "item", "loop_index", "loop_item", "module_stderr",
    "module_stdout", "msg", "rc", "results", "retries", "skip_reason", "skipped", "skipped_reason",
    "unreachable", "warnings",
])
RESERVED_PREFIX = "_ansible_"
# Reserved keys a module may return with ansible-core's own meaning, and the types that meaning allows.
CORE_MEANING = {"changed": ("bool",), "diff": ("dict", "list")}


def core_reserved_keys():
    """The result keys the installed ansible-core itself declares as its own, or None when it exposes none."""
    try:
        from ansible._internal._task import UnifiedTaskResult  # ansible-core 2.21
    except ImportError:
        pass
    else:
        keys = set()
        for field in dataclasses.fields(UnifiedTaskResult):
            settings = field.metadata.get("ansible")
            if settings is not None:
                keys.add(settings.key or field.name)
        return keys
    try:
        from ansible import constants
        from ansible.executor.task_result import _PRESERVE  # ansible-core 2.19
    except ImportError:
        return None
    return set(_PRESERVE) | set(constants.INTERNAL_RESULT_KEYS)


def documented_returns(path):
    """{key: documentation} of the top-level keys a module's RETURN block names."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["RETURN"]:
            return yaml.safe_load(node.value.value) or {}
    raise AssertionError("%s has no RETURN block" % path)


def reserved_key_problems(returns):
    """One line per top-level key of a RETURN block that clashes with ansible-core's result keys."""
    problems = []
    for key, doc in sorted(returns.items()):
        if key.startswith(RESERVED_PREFIX):
            problems.append("%s: ansible-core drops every %s* key from a module's result" % (key, RESERVED_PREFIX))
        elif key in CORE_MEANING:
            if (doc or {}).get("type") not in CORE_MEANING[key]:
                problems.append("%s: ansible-core reads it as a %s, documented as %s"
                                % (key, " or ".join(CORE_MEANING[key]), (doc or {}).get("type")))
        elif key in RESERVED:
            problems.append("%s: a result key ansible-core reserves" % key)
    return problems


def module_paths():
    return sorted(path for path in glob.glob(os.path.join(MODULES, "*.py")) if not path.endswith("__init__.py"))


def test_every_module_is_checked():
    assert [os.path.basename(path) for path in module_paths()] == [
        "oom_audit_facts.py", "oom_audit_report.py", "oom_dropins.py", "oom_events_info.py", "oom_protection_apply.py",
        "oom_protection_leaks.py", "oom_score_adj.py", "oom_score_info.py"]


@pytest.mark.parametrize("path", module_paths(), ids=os.path.basename)
def test_no_module_documents_a_reserved_result_key(path):
    assert reserved_key_problems(documented_returns(path)) == []


def test_the_reserved_list_covers_every_key_the_installed_ansible_core_declares():
    declared = core_reserved_keys()
    if declared is None:
        pytest.skip("this ansible-core exposes no list of its result keys")
    assert declared, "ansible-core's list of result keys was found but is empty"
    assert sorted(key for key in declared if key not in RESERVED and not key.startswith(RESERVED_PREFIX)) == []


@pytest.mark.parametrize("returns, problem", [
    # What oom_protection_leaks documented in 0.1.0.
    ({"leaks": {"type": "list"}, "skipped": {"type": "list"}}, "skipped: a result key ansible-core reserves"),
    ({"results": {"type": "list"}}, "results: a result key ansible-core reserves"),
    ({"msg": {"type": "str"}}, "msg: a result key ansible-core reserves"),
    ({"_ansible_notes": {"type": "list"}}, "_ansible_notes: ansible-core drops every _ansible_* key"),
    ({"changed": {"type": "list"}}, "changed: ansible-core reads it as a bool, documented as list"),
    ({"diff": {"type": "str"}}, "diff: ansible-core reads it as a dict or list, documented as str"),
])
def test_the_check_names_each_clash(returns, problem):
    [found] = reserved_key_problems(returns)
    assert found.startswith(problem)


def test_changed_and_diff_with_ansible_cores_meaning_pass():
    assert reserved_key_problems({"changed": {"type": "bool"}, "diff": {"type": "list"}, "leaks": {}}) == []
