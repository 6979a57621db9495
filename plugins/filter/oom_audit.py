# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the audit playbook: per-host output rendered on the controller (the rendering lives in
module_utils/_report/, shared with oom_audit_report)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import normalize_host
from ansible_collections.oomguard.fleet.plugins.module_utils._report.prometheus import render_prometheus


def oom_audit_prometheus(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError("oom_audit_prometheus expects one host's audit result (a dict), got %s"
                                 % type(result).__name__)
    return render_prometheus(normalize_host(result))


class FilterModule:
    """oomguard.fleet audit filters."""

    def filters(self):
        return {"oom_audit_prometheus": oom_audit_prometheus}
