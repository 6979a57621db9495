# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result (host, task name, status, result) as one JSON line to the
file named by OOMGUARD_GUEST_RESULTS, so the guest tests assert on results instead of parsing output."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: guest_results
type: aggregate
short_description: record task results for the guest tests
description: Appends each task result as a JSON line to the file in the environment variable OOMGUARD_GUEST_RESULTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "guest_results"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        path = os.environ.get("OOMGUARD_GUEST_RESULTS")
        if not path:
            return
        data = getattr(result, "result", None)
        if data is None:
            data = result._result  # pylint: disable=protected-access
        host = getattr(result, "host", None) or result._host  # pylint: disable=protected-access
        task = getattr(result, "task", None) or result._task  # pylint: disable=protected-access
        line = json.dumps({"host": host.get_name(), "task": task.get_name(), "status": status, "result": data},
                          default=str)
        with open(path, "a") as handle:
            handle.write(line + "\n")

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
