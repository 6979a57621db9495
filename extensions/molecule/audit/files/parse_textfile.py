# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parses a node_exporter textfile (stdin) with prometheus_client's own parser, as Prometheus tooling would, and
prints the metric families and a few values as JSON. A file the parser rejects ends this with an error."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = [{"labels": sample.labels, "value": sample.value} for sample in family.samples]
json.dump({"families": sorted(families), "at_risk": families.get("oomguard_host_at_risk"),
           "status_ok": sorted(s["labels"]["target"] for s in families.get("oomguard_assignment_status", [])
                               if s["labels"]["status"] == "ok" and s["value"] == 1)}, sys.stdout)
