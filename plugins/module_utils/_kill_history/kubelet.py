# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""kubelet's eviction manager: one event per evicted pod (reason `eviction`, no signal of kubelet's own).

klog lines (`I1125 21:48:05.123456    1234 eviction_manager.go:NNN] ...`), in three eras:
- 1.4: `eviction manager: pod <name>_<ns>(<uid>) evicted successfully`;
- up to 1.20: `eviction manager: pod <name>_<ns>(<uid>) is evicted successfully`;
- 1.21+ (structured): `"Eviction manager: pod is evicted successfully" pod="<ns>/<name>"`.
The lines around it repeat the same pods and are no second event: `attempting to reclaim`, `pods ranked for
eviction` (`pods=` printed as `[ns/name ...]`, `"[ns/name ...]"` or `["ns/name",...]`), `must evict pod(s)`,
`pods ... evicted, waiting for pod to be cleaned up`, `... successfully cleaned up`, `timed out waiting ...`.
`pod ... failed to evict` is no eviction. A kernel OOM kill inside the pod is a separate kernel event.
"""

from __future__ import annotations

import re

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history.common import accepts, new_event

KILLER = "kubelet"
IDENTS = ("kubelet", "hyperkube", "k3s", "k3s-agent", "microk8s.daemon-kubelite", "kubelite")
MARKERS = ("evicted successfully",)

_KLOG_RE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] ")
_PRINTF_RE = re.compile(r"^eviction manager: pod (?P<name>[^_\s]+)_(?P<ns>[^(\s]+)\([^)]*\) (?:is )?evicted successfully")
_STRUCTURED_RE = re.compile(r'^"Eviction manager: pod is evicted successfully" (?:.* )?pod="?(?P<pod>[^"\s]+)"?')


class Grammar:
    def __init__(self):
        self.events = []

    def feed(self, record):
        if not accepts(record, IDENTS):
            return
        text = record.text.strip()
        match = _KLOG_RE.match(text)
        if match:
            text = text[match.end():]
        match = _PRINTF_RE.match(text)
        if match:
            namespace, name = match.group("ns"), match.group("name")
        else:
            match = _STRUCTURED_RE.match(text)
            if not match:
                return
            namespace, _sep, name = match.group("pod").rpartition("/")
            namespace = namespace or None
        self.events.append(new_event(KILLER, record.ts, record.text,
                                     pod="%s/%s" % (namespace, name) if namespace else name,
                                     name=name, reason="eviction", signal=None))

    def finish(self):
        return self.events
