# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""What the work of every module shares: its module and params, the result so far, one way to fail (with the
result so far), and commands run in the C locale, because their output is parsed and must read the same on
every host.
"""

from __future__ import annotations

C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


class Task(object):
    def __init__(self, module, result):
        self.module = module
        self.params = module.params
        self._result = result

    @property
    def result(self):
        return self._result

    def _fail(self, msg):
        self.module.fail_json(msg=msg, **self._result)

    def _run(self, argv, **kwargs):
        """module.run_command(argv) in the C locale. `run_command(argv) -> (rc, stdout, stderr)`."""
        return self.module.run_command(argv, environ_update=dict(C_LOCALE), **kwargs)
