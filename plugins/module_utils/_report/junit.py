# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The report as JUnit XML: one test suite per host, one test case per assignment and per finding (kills of
protected assignments, protection leaks, headroom at risk), so a CI system shows what fails. Pure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import FAILING_STATUSES
from ansible_collections.oomguard.fleet.plugins.module_utils._report.text import (
    container_text, event_victim, known, leak_text, oomd_text, pod_drift_text, protected_kill_text, victim_lines,
)


def _record_case_name(rec):
    return "%s:%s" % (rec["kind"] or "assignment", rec["target"] or "?")


def _record_message(rec):
    policy = rec["policy_oom_score_adj"]
    head = "%s: %s" % (rec["status"], rec["target"] or "?")
    facts = []
    if rec["tier"]:
        facts.append("tier %s" % rec["tier"])
    if policy is not None:
        facts.append("policy %+d" % policy if policy else "policy 0")
    if facts:
        head += " (%s)" % ", ".join(facts)
    if rec["reasons"]:
        head += ": " + "; ".join(rec["reasons"])
    if rec["status"] == "denied":
        head += " (the host lacks CAP_SYS_RESOURCE; running oomguard.fleet.harden will not fix it)"
    return head


def _setting_value(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return known(value, "not set")


def _record_details(rec):
    declared = "not set" if rec["declared_set"] is False else known(rec["declared_oom_score_adj"])
    lines = [
        "kind: %s" % known(rec["kind"]),
        "target: %s" % known(rec["target"]),
        "tier: %s" % known(rec["tier"]),
        "policy oom_score_adj: %s" % known(rec["policy_oom_score_adj"]),
        "policy OOMPolicy: %s" % known(rec["policy_oom_policy"], "not set"),
        "declared oom_score_adj: %s" % declared,
        "declared OOMPolicy: %s" % known(rec["declared_oom_policy"], "not set"),
    ]
    for proc in rec["processes"]:
        lines.append("process %s (%s): oom_score_adj %s" % (known(proc["pid"]), known(proc["name"]),
                                                            known(proc["oom_score_adj"])))
    for entry in rec.get("settings") or []:
        lines.append("%s: %s (policy %s, declared %s, effective %s)%s" % (
            known(entry["setting"]), entry["status"], _setting_value(entry["policy"]),
            _setting_value(entry["declared"]), "unknown" if entry["effective"] is None else _setting_value(entry["effective"]),
            ": " + entry["reason"] if entry["reason"] else ""))
    if rec.get("oom_kills") is not None or rec.get("oomd_kills") is not None:
        lines.append("OOM kills counted by the cgroup: %s (kernel), %s (systemd-oomd)" % (
            known(rec.get("oom_kills")), known(rec.get("oomd_kills"))))
    for reason in rec["reasons"]:
        lines.append("reason: %s" % reason)
    return "\n".join(lines)


def _headroom_details(host):
    lines = ["%s: %s" % (name, known(value)) for name, value in sorted((host["risk"]["figures"] or {}).items())]
    lines.extend("%s: %s" % (f["level"], f["text"]) for f in host["risk"]["findings"])
    return "\n".join(lines)


def render_junit(report):
    timestamp = (report["generated_at"] or "").rstrip("Z") or None
    suites = ET.Element("testsuites", name="oomguard fleet audit")
    if timestamp:
        suites.set("timestamp", timestamp)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in report["hosts"]:
        suite = ET.SubElement(suites, "testsuite", name=host["name"], hostname=host["name"])
        if timestamp:
            suite.set("timestamp", timestamp)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="status", value=host["status"])
        if host["host"] and host["host"].get("kernel_release"):
            ET.SubElement(props, "property", name="kernel_release", value=str(host["host"]["kernel_release"]))
        if host["status"] in ("unreachable", "failed"):
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="audit", time="0")
            message = "; ".join(host["errors"]) or host["status"]
            err = ET.SubElement(case, "error", type=host["status"], message=message)
            err.text = message
            counts["tests"] += 1
            counts["errors"] += 1
        elif not host["compliance"]["records"] and not host["compliance"]["skipped_units"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="assignments", time="0")
            ET.SubElement(case, "skipped", message="no OOM protection assignments on this host")
            counts["tests"] += 1
            counts["skipped"] += 1
        else:
            for rec in host["compliance"]["records"]:
                case = ET.SubElement(suite, "testcase", classname=host["name"], name=_record_case_name(rec), time="0")
                counts["tests"] += 1
                if rec["status"] in FAILING_STATUSES:
                    fail = ET.SubElement(case, "failure", type=rec["status"], message=_record_message(rec))
                    fail.text = _record_details(rec)
                    counts["failures"] += 1
                elif rec["status"] in ("not_running", "not_effective"):
                    ET.SubElement(case, "skipped", message=_record_message(rec)).text = _record_details(rec)
                    counts["skipped"] += 1
                else:
                    out = ET.SubElement(case, "system-out")
                    out.text = _record_details(rec)
            for unit in host["compliance"]["skipped_units"]:
                case = ET.SubElement(suite, "testcase", classname=host["name"], name="unit:%s" % unit, time="0")
                ET.SubElement(case, "skipped", message="not applied: %s has no systemd" % host["name"])
                counts["tests"] += 1
                counts["skipped"] += 1
        if host.get("oomd") and host["oomd"]["running"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="systemd-oomd", time="0")
            ET.SubElement(case, "system-out").text = oomd_text(host["oomd"])
            counts["tests"] += 1
        if host["kill_order"] or host["kill_order_excluded"]:
            # No test: what the OOM killer would take next, by the kernel's ranks, for CI readers.
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="next-victims", time="0")
            ET.SubElement(case, "system-out").text = "\n".join(victim_lines(host))
            counts["tests"] += 1
        if host["headroom"] is not None:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="headroom", time="0")
            counts["tests"] += 1
            if host["risk"]["at_risk"]:
                message = "at risk: " + "; ".join(f["text"] for f in host["risk"]["findings"])
                fail = ET.SubElement(case, "failure", type="at_risk", message=message)
                fail.text = _headroom_details(host)
                counts["failures"] += 1
            else:
                ET.SubElement(case, "system-out").text = _headroom_details(host)
        for leak in host["leaks"]:
            case = ET.SubElement(suite, "testcase", classname=host["name"],
                                 name="leak:%s[%s]" % (known(leak["name"]), known(leak["pid"])), time="0")
            ET.SubElement(case, "failure", type="leak", message=leak_text(leak))
            counts["tests"] += 1
            counts["failures"] += 1
        for entry in host.get("pod_drift") or []:
            # A pod container's value someone changed behind kubelet's back: it stays until the container restarts.
            container = entry["container"] or {}
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="pod-drift:%s:%s[%s]" % (
                known(container.get("pod"), "?"), known(container.get("name") or (container.get("id") or "")[:12] or None,
                                                        "?"), known(entry["pid"])), time="0")
            ET.SubElement(case, "failure", type="pod_drift", message=pod_drift_text(entry))
            counts["tests"] += 1
            counts["failures"] += 1
        for entry in host.get("protected_but_killed") or []:
            # A protected unit or process that a killer took anyway: the protection did not protect.
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="protected-but-killed:%s:%s" % (
                known(entry["target"], "?"), entry["killer"]), time="0")
            ET.SubElement(case, "failure", type="protected_but_killed", message=protected_kill_text(entry))
            counts["tests"] += 1
            counts["failures"] += 1
        if host["events"]:
            # The kill history is no test result, but CI readers of this file must see it too.
            ET.SubElement(props, "property", name="recent_oom_kills", value=str(len(host["events"])))
            ET.SubElement(suite, "system-out").text = "\n".join(_event_line(event) for event in host["events"])
        if host["errors"] and host["status"] not in ("unreachable", "failed"):
            err = ET.SubElement(suite, "system-err")
            err.text = "\n".join(host["errors"])
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", "0")
    _indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _event_line(event):
    """One OOM kill as a line: the killer, time, victim, its unit and oom_score_adj, and where the kill happened
    (a userspace killer's: the cgroup, pod, reason and signal)."""
    killer = event.get("killer") or "kernel"
    if killer == "kernel":
        where = "in %s" % event["oom_memcg"] if event.get("scope") == "memcg" and event.get("oom_memcg") else \
            event.get("scope") or "scope unknown"
        owner = container_text(event.get("container"))
        return "OOM kill by kernel %s: %s%s, oom_score_adj %s, %s%s" % (
            event.get("time") or "at an unknown time", event_victim(event),
            " in %s" % owner if owner else " of %s" % event["unit"] if event.get("unit") else "",
            known(event.get("oom_score_adj")), where,
            " (read from the summary line)" if event.get("line") == "summary" else "")
    victim = event_victim(event)
    facts = [container_text(event["container"])] if event.get("container") else []
    for key in ("unit", "pod", "cgroup"):
        if event.get(key) and not victim.startswith(key + " "):
            facts.append("%s %s" % (key, event[key]))
    facts.append("reason %s" % known(event.get("reason")))
    if event.get("signal"):
        facts.append(event["signal"])
    return "OOM kill by %s %s: %s, %s" % (killer, event.get("time") or "at an unknown time", victim, ", ".join(facts))


def _indent(elem, level=0):
    # ElementTree.indent() is Python 3.9+.
    pad = "\n" + "  " * level
    children = list(elem)
    if children:
        if not (elem.text or "").strip():
            elem.text = pad + "  "
        for child in children:
            _indent(child, level + 1)
        if not (children[-1].tail or "").strip():
            children[-1].tail = pad
    if level and not (elem.tail or "").strip():
        elem.tail = pad
