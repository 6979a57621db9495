# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""What the work of every module shares: plain arguments in, a result out, and one way to fail.

A task takes its validated params and an Io: what it may ask of whoever runs it (commands, which are run in
the C locale because their output is parsed and must read the same on every host; the path of a command;
warnings; moving a file into place; check mode and diff mode). It fails by raising TaskError, with its
one-line message and the result so far. `run_module` is the one place where a module turns a task into
exit_json or fail_json; a task that runs another (oom_protection_apply, oom_audit_facts) validates that one's
params with `validated` and catches its TaskError; the live exporter gives its tasks an Io of its own.
"""

from __future__ import annotations

C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


class TaskError(Exception):
    """A task's failure. `msg` is the one line for the user, `result` what the task had found or done so far.
    `nothing_written` says that `msg` itself already tells that nothing was written (or read), so that a
    caller which adds such words to the failures of its planning step does not add them twice."""

    def __init__(self, msg, result=None, nothing_written=False):
        super(TaskError, self).__init__(msg)
        self.msg = msg
        self.result = dict(result or {})
        self.nothing_written = nothing_written


class Io(object):
    """What a task may ask of whoever runs it. `run_command(argv, **kwargs) -> (rc, stdout, stderr)` takes
    AnsibleModule.run_command's keyword arguments (environ_update at least); `which(name) -> path or None`;
    `warn(text)`; `atomic_move(src, dest)`."""

    def __init__(self, run_command=None, warn=None, which=None, atomic_move=None, check_mode=False, diff=False):
        self.run_command = run_command or _no_commands
        self.warn = warn or (lambda text: None)
        self.which = which or (lambda name: None)
        self.atomic_move = atomic_move or _no_moves
        self.check_mode = bool(check_mode)
        self.diff = bool(diff)

    def run_in_c_locale(self, argv, **kwargs):
        """run_command(argv) with LANG and LC_ALL set to C: output that is parsed must read the same on every host."""
        return self.run_command(argv, environ_update=dict(C_LOCALE), **kwargs)

    @classmethod
    def of_module(cls, module):
        """The Io of an AnsibleModule: its run_command, get_bin_path, warn and atomic_move, its check and diff mode."""
        return cls(run_command=module.run_command, warn=module.warn, which=module.get_bin_path,
                   atomic_move=module.atomic_move, check_mode=module.check_mode, diff=module._diff)


def _no_commands(argv, **_kwargs):
    raise OSError("this task's caller runs no commands (%s)" % argv[0])


def _no_moves(src, dest):
    raise OSError("this task's caller moves no files (%s to %s)" % (src, dest))


def validated(spec, params, label):
    """`params` checked against an argument spec, with its defaults filled in and its types converted, for a
    task that another one runs; a TaskError starting with `label` otherwise."""
    # Imported here: the live exporter runs the tasks on hosts without Ansible, and never calls this.
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    checked = ArgumentSpecValidator(spec).validate(params)
    if checked.error_messages:
        raise TaskError("%s: %s" % (label, "; ".join(checked.error_messages)))
    return checked.validated_parameters


def run_module(module, task_class):
    """The one place where a task meets AnsibleModule: build it from the module's params and Io, run it, and
    exit with its result; a TaskError (also one raised while the task checks its params) becomes fail_json
    with its message and the result so far."""
    try:
        result = task_class(module.params, Io.of_module(module)).execute()
    except TaskError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    else:
        module.exit_json(**result)


class Task(object):
    def __init__(self, params, io, result):
        self.params = params
        self.io = io
        self._result = result

    @property
    def result(self):
        return self._result

    def _fail(self, msg, nothing_written=False, **extra):
        """Stop with `msg` and the result so far (updated with `extra`)."""
        result = dict(self._result)
        result.update(extra)
        raise TaskError(msg, result, nothing_written=nothing_written)

    def _run(self, argv, **kwargs):
        """The Io's run_command(argv) in the C locale. `-> (rc, stdout, stderr)`."""
        return self.io.run_in_c_locale(argv, **kwargs)
