# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The work of one oom_events_info call: check the options, read every selected killer's kills from the logs
(_kill_history.sources), and name the container or pod of each victim.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._host.container_names import ContainerNames
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.kernel import KILLERS
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.kernel_log import KernelLogError, SOURCES
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.lines import parse_since
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.sources import collect
from ansible_collections.oomguard.fleet.plugins.module_utils._model.containers import container_of
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task


class OOMEventsInfo(Task):
    """Argument spec in, kill history read, result out; the reading lives in _kill_history."""

    def __init__(self, params, io):
        super(OOMEventsInfo, self).__init__(params, io, {"changed": False})

    def _read(self, argv):
        return self._run(argv, errors="surrogate_then_replace")

    def execute(self):
        params = self.params
        source, path, limit = params["source"], params["path"], params["limit"]
        if path is not None and source != "file":
            self._fail("path: only valid with source=file (source is %s)" % source)
        if not params["killers"]:
            self._fail("killers: name at least one of %s" % ", ".join(KILLERS))
        if limit is not None and limit < 0:
            self._fail("limit: must be 0 or more, got %d" % limit)
        since = None
        if params["since"] is not None:
            try:
                since = parse_since(params["since"])
            except ValueError as exc:
                self._fail("since: %s" % exc)
        try:
            found = collect(source=source, path=path, since=since, limit=limit, killers=params["killers"],
                            run_command=self._read, which=self.io.which, warn=self.io.warn)
        except KernelLogError as exc:
            option = "path" if source == "file" else "source"
            self._fail("%s: cannot read the kernel log with source=%s: %s" % (option, source, exc))
        names = ContainerNames()
        for event in found["events"]:
            # The cgroup the killer acted on (the kernel's victim's task_memcg): a kill in a container or pod.
            event["container"] = names.label(container_of(event["cgroup"]), event["name"])
        self._result.update(found)
        return self._result


def argument_spec():
    return dict(
        source=dict(type="str", default="auto", choices=list(SOURCES)),
        path=dict(type="path"),
        since=dict(type="str"),
        limit=dict(type="int"),
        killers=dict(type="list", elements="str", choices=list(KILLERS), default=list(KILLERS)),
    )
