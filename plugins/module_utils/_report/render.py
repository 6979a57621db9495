# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Every format of a report by name (json, junit, html, prometheus) and their file names: the one place that
knows them all. JSON is the source of truth; the other formats only show it.
"""

from __future__ import annotations

import json

from ansible_collections.oomguard.fleet.plugins.module_utils._report import html
from ansible_collections.oomguard.fleet.plugins.module_utils._report.junit import render_junit
from ansible_collections.oomguard.fleet.plugins.module_utils._report.prometheus import render_prometheus_fleet


def render_json(report):
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_html(report):
    """The static HTML page (html.py: a Jinja2 template; Jinja2 is needed)."""
    return html.render_html(report)


RENDERERS = {"json": render_json, "junit": render_junit, "html": render_html, "prometheus": render_prometheus_fleet}
FILE_NAMES = {"json": "oom-audit.json", "junit": "oom-audit.xml", "html": "oom-audit.html",
              "prometheus": "oom-audit.prom"}


def render_all(report, formats=("json", "junit", "html")):
    return {fmt: RENDERERS[fmt](report) for fmt in formats}
