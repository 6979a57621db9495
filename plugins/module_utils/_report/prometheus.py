# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The report as Prometheus text for node_exporter's textfile collector: one host (the exporter and the
audit's per-host file) or a whole fleet with a `host` label. Pure.
"""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._report.clean import clean_int, clean_text
from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import HOST_STATUSES, RECORD_STATUSES
from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import KILLERS, USERSPACE_KILLERS


PROMETHEUS_METRICS = (
    ("oomguard_assignment_status", "gauge",
     "Compliance of each OOM protection assignment: 1 for its current status, 0 for the others."),
    ("oomguard_assignment_policy_oom_score_adj", "gauge", "The oom_score_adj the assignment's tier asks for."),
    ("oomguard_assignment_declared_oom_score_adj", "gauge",
     "The OOMScoreAdjust= the unit's files declare (absent when nothing is declared)."),
    ("oomguard_assignment_effective_oom_score_adj_min", "gauge",
     "The lowest oom_score_adj the kernel applies to the assignment's processes (absent without processes)."),
    ("oomguard_assignment_effective_oom_score_adj_max", "gauge",
     "The highest oom_score_adj the kernel applies to the assignment's processes (absent without processes)."),
    ("oomguard_assignment_processes", "gauge", "Live processes of the assignment."),
    ("oomguard_assignment_setting_status", "gauge",
     "Each memory or systemd-oomd setting of an assignment: 1 for its status (ok, drift, not_effective)."),
    ("oomguard_assignment_cgroup_oom_kills", "gauge",
     "OOM kills the unit's cgroup counted (memory.events oom_kill, or memory.oom_control on cgroup v1)."),
    ("oomguard_assignment_oomd_kills", "gauge", "Processes systemd-oomd killed in the unit's cgroup (user.oomd_kill)."),
    ("oomguard_systemd_oomd_running", "gauge", "1 when systemd-oomd runs on the host."),
    ("oomguard_userspace_killer_running", "gauge",
     "1 when the userspace killer (earlyoom, nohang, systemd-oomd) runs on the host, 0 when it does not."),
    ("oomguard_userspace_killer_acts_before_kernel", "gauge",
     "1 when a running userspace killer acts before the kernel's OOM killer, 0 when it never does (dry run, "
     "nothing monitored); no sample when its settings are unknown."),
    ("oomguard_assignments", "gauge", "Assignments on this host by compliance status."),
    ("oomguard_compliant", "gauge", "1 when every assignment on this host is ok or not running (or there are none)."),
    ("oomguard_host_status", "gauge",
     "The host's audit status: 1 for its current one, 0 for the others (denied: only assignments this host cannot "
     "reach without CAP_SYS_RESOURCE fail)."),
    ("oomguard_can_lower_oom_score_adj", "gauge",
     "1 when this host may lower oom_score_adj below a process's floor (CAP_SYS_RESOURCE)."),
    ("oomguard_kernel_oom_kills_total", "counter", "OOM kills since boot (oom_kill in /proc/vmstat)."),
    ("oomguard_recent_oom_kills", "gauge",
     "OOM kills found in the logs within the audit's time window, by killer (kernel, systemd-oomd, earlyoom, nohang, "
     "kubelet, oomd; each killer looked for has a sample, 0 when it killed nothing)."),
    ("oomguard_protected_but_killed", "gauge",
     "Kills of units or processes in a protective tier (negative oom_score_adj, ManagedOOMPreference avoid or "
     "omit) within the audit's time window, by killer."),
    ("oomguard_host_at_risk", "gauge", "1 when a headroom figure is at or above its at_risk threshold."),
    ("oomguard_headroom_finding", "gauge",
     "Headroom figures over a threshold: the figure's value, labelled with the level and the threshold crossed."),
    ("oomguard_memory_total_bytes", "gauge", "MemTotal."),
    ("oomguard_memory_available_bytes", "gauge", "MemAvailable: what can be allocated without swapping."),
    ("oomguard_swap_total_bytes", "gauge", "SwapTotal."),
    ("oomguard_swap_free_bytes", "gauge", "SwapFree."),
    ("oomguard_commit_charge_bytes", "gauge", "Committed_AS."),
    ("oomguard_commit_limit_bytes", "gauge", "CommitLimit (enforced only with vm.overcommit_memory=2)."),
    ("oomguard_overcommit_memory", "gauge", "vm.overcommit_memory."),
    ("oomguard_memory_pressure_percent", "gauge",
     "Memory PSI: share of wall time some/all tasks stalled on memory, over 10, 60 and 300 s."),
    ("oomguard_memory_pressure_stall_seconds_total", "counter", "Memory PSI: time stalled on memory since boot."),
    ("oomguard_next_victim_oom_score", "gauge",
     "oom_score of the processes the OOM killer would take first (rank 1 first); protected=true when the "
     "process belongs to an assignment with a negative oom_score_adj."),
    ("oomguard_protection_leaks", "gauge", "Processes holding a negative oom_score_adj that nothing assigns."),
    ("oomguard_pod_drift", "gauge",
     "Processes of pod containers whose oom_score_adj is not what kubelet's QoS policy gives them (Kubernetes "
     "nodes only)."),
    ("oomguard_recent_container_oom_kills", "gauge",
     "OOM kills within the audit's time window of processes in containers, by killer, runtime, pod and container "
     "(one sample per container killed in: no per-process labels)."),
    ("oomguard_protection_leak_memory_bytes", "gauge",
     "Memory of each protection leak, labelled with where its value came from."),
)


def _prom_label(value):
    text = clean_text("" if value is None else value, 1024)
    return text.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _prom_line(name, labels, value):
    label_text = ",".join('%s="%s"' % (key, _prom_label(val)) for key, val in labels)
    return "%s{%s} %s" % (name, label_text, value) if label_text else "%s %s" % (name, value)


_HEADROOM_BYTES = (
    ("oomguard_memory_total_bytes", "mem_total_kb"), ("oomguard_memory_available_bytes", "mem_available_kb"),
    ("oomguard_swap_total_bytes", "swap_total_kb"), ("oomguard_swap_free_bytes", "swap_free_kb"),
    ("oomguard_commit_charge_bytes", "committed_kb"), ("oomguard_commit_limit_bytes", "commit_limit_kb"),
)


def _prom_number(value):
    return ("%d" % value) if isinstance(value, int) else repr(float(value))


def _protected_pids_and_units(records):
    pids, units = set(), set()
    for rec in records:
        if rec["policy_oom_score_adj"] is not None and rec["policy_oom_score_adj"] < 0:
            pids.update(p["pid"] for p in rec["processes"])
            if rec["kind"] == "unit" and rec["target"]:
                units.add(rec["target"])
    return pids, units


def _prometheus_findings(host, samples, records):
    """Headroom, pressure, next victims and leaks (what the audit sees beyond compliance)."""
    headroom = host["headroom"]
    if headroom is not None:
        samples["oomguard_host_at_risk"].append(_prom_line("oomguard_host_at_risk", [], int(host["risk"]["at_risk"])))
        for finding in host["risk"]["findings"]:
            samples["oomguard_headroom_finding"].append(_prom_line(
                "oomguard_headroom_finding", [("figure", finding["figure"]), ("level", finding["level"]),
                                              ("threshold", _prom_number(finding["threshold"]))],
                _prom_number(finding["value"])))
        for name, key in _HEADROOM_BYTES:
            if headroom[key] is not None:
                samples[name].append(_prom_line(name, [], headroom[key] * 1024))
        if headroom["overcommit_memory"] is not None:
            samples["oomguard_overcommit_memory"].append(
                _prom_line("oomguard_overcommit_memory", [], headroom["overcommit_memory"]))
        for kind, values in sorted((headroom["pressure"] or {}).items()):
            for window in ("10", "60", "300"):
                if values["avg" + window] is not None:
                    samples["oomguard_memory_pressure_percent"].append(_prom_line(
                        "oomguard_memory_pressure_percent", [("kind", kind), ("window", window + "s")],
                        _prom_number(values["avg" + window])))
            if values["total"] is not None:
                samples["oomguard_memory_pressure_stall_seconds_total"].append(_prom_line(
                    "oomguard_memory_pressure_stall_seconds_total", [("kind", kind)],
                    repr(values["total"] / 1000000.0)))
    pids, units = _protected_pids_and_units(records)
    for victim in host["kill_order"]:
        if victim["oom_score"] is None:
            continue
        protected = victim["pid"] in pids or (victim["unit"] is not None and victim["unit"] in units)
        container = victim.get("container") or {}
        samples["oomguard_next_victim_oom_score"].append(_prom_line(
            "oomguard_next_victim_oom_score", [("rank", victim["rank"]), ("pid", victim["pid"]), ("name", victim["name"]),
                                               ("unit", victim["unit"] or ""), ("protected", str(protected).lower()),
                                               ("container", container.get("name") or container.get("id") or ""),
                                               ("pod", container.get("pod") or "")],
            victim["oom_score"]))
    if host["reachable"] and host["status"] != "failed":
        samples["oomguard_protection_leaks"].append(_prom_line("oomguard_protection_leaks", [], len(host["leaks"])))
        samples["oomguard_pod_drift"].append(_prom_line("oomguard_pod_drift", [], len(host.get("pod_drift") or [])))
    in_containers = {}
    for event in host["events"]:
        container = event.get("container")
        if container:
            key = (event["killer"], container["runtime"], container["pod"] or "",
                   container["name"] or container["id"] or "")
            in_containers[key] = in_containers.get(key, 0) + 1
    for (killer, runtime, pod, name), count in sorted(in_containers.items()):
        samples["oomguard_recent_container_oom_kills"].append(_prom_line(
            "oomguard_recent_container_oom_kills",
            [("killer", killer), ("runtime", runtime), ("pod", pod), ("container", name)], count))
    for leak in host["leaks"]:
        source = leak["source"] or {}
        samples["oomguard_protection_leak_memory_bytes"].append(_prom_line(
            "oomguard_protection_leak_memory_bytes",
            [("pid", leak["pid"]), ("name", leak["name"]), ("unit", leak["unit"] or ""),
             ("oom_score_adj", leak["oom_score_adj"]), ("source_name", source.get("name") or ""),
             ("source_unit", source.get("unit") or "")], (leak["memory_kb"] or 0) * 1024))


def render_prometheus(host):
    """The textfile-collector exposition of one normalised host (see normalize_host), sorted and stable."""
    return _exposition(prometheus_samples(host))


def render_prometheus_fleet(report):
    """Every host of a report in one exposition, each sample labelled with its host (host="name"), for a
    textfile collector or a push gateway next to the controller."""
    samples = {name: [] for name, _type, _help in PROMETHEUS_METRICS}
    for host in report["hosts"]:
        label = 'host="%s"' % _prom_label(host["name"])
        for name, lines in prometheus_samples(host).items():
            for line in lines:
                rest = line[len(name):]
                samples[name].append("%s{%s,%s" % (name, label, rest[1:]) if rest.startswith("{")
                                     else "%s{%s}%s" % (name, label, rest))
    return _exposition(samples)


def _exposition(samples):
    out = []
    for name, kind, text in PROMETHEUS_METRICS:
        if samples[name]:
            out.append("# HELP %s %s" % (name, text))
            out.append("# TYPE %s %s" % (name, kind))
            out.extend(sorted(samples[name]))
    return "\n".join(out) + "\n"


def prometheus_samples(host):
    """{metric: [sample lines]} of one normalised host."""
    samples = {name: [] for name, _type, _help in PROMETHEUS_METRICS}
    records = host["compliance"]["records"] if host["compliance"] else []
    for rec in records:
        labels = [("kind", rec["kind"]), ("target", rec["target"]), ("tier", rec["tier"])]
        for status in RECORD_STATUSES:
            samples["oomguard_assignment_status"].append(
                _prom_line("oomguard_assignment_status", labels + [("status", status)], int(rec["status"] == status)))
        if rec["policy_oom_score_adj"] is not None:
            samples["oomguard_assignment_policy_oom_score_adj"].append(
                _prom_line("oomguard_assignment_policy_oom_score_adj", labels, rec["policy_oom_score_adj"]))
        if rec["declared_oom_score_adj"] is not None and rec["declared_set"] is not False:
            samples["oomguard_assignment_declared_oom_score_adj"].append(
                _prom_line("oomguard_assignment_declared_oom_score_adj", labels, rec["declared_oom_score_adj"]))
        adjs = [p["oom_score_adj"] for p in rec["processes"] if p["oom_score_adj"] is not None]
        if adjs:
            samples["oomguard_assignment_effective_oom_score_adj_min"].append(
                _prom_line("oomguard_assignment_effective_oom_score_adj_min", labels, min(adjs)))
            samples["oomguard_assignment_effective_oom_score_adj_max"].append(
                _prom_line("oomguard_assignment_effective_oom_score_adj_max", labels, max(adjs)))
        samples["oomguard_assignment_processes"].append(
            _prom_line("oomguard_assignment_processes", labels, len(rec["processes"])))
        for entry in rec.get("settings") or []:
            samples["oomguard_assignment_setting_status"].append(_prom_line(
                "oomguard_assignment_setting_status", labels + [("setting", entry["setting"]), ("status", entry["status"])],
                1))
        for key, metric in (("oom_kills", "oomguard_assignment_cgroup_oom_kills"),
                            ("oomd_kills", "oomguard_assignment_oomd_kills")):
            if rec.get(key) is not None:
                samples[metric].append(_prom_line(metric, labels, rec[key]))
    for status in RECORD_STATUSES:
        samples["oomguard_assignments"].append(
            _prom_line("oomguard_assignments", [("status", status)], host["assignments"][status]))
    samples["oomguard_compliant"].append(
        _prom_line("oomguard_compliant", [], int(host["status"] in ("compliant", "no_assignments"))))
    for status in HOST_STATUSES:
        samples["oomguard_host_status"].append(
            _prom_line("oomguard_host_status", [("status", status)], int(host["status"] == status)))
    settings = host["host"] or {}
    can_lower = settings.get("can_lower_adj")
    if host["compliance"] and host["compliance"]["can_lower_adj"] is not None:
        can_lower = host["compliance"]["can_lower_adj"]
    if isinstance(can_lower, bool):
        samples["oomguard_can_lower_oom_score_adj"].append(
            _prom_line("oomguard_can_lower_oom_score_adj", [], int(can_lower)))
    kills = clean_int(settings.get("oom_kill_count"))
    if kills is not None:
        samples["oomguard_kernel_oom_kills_total"].append(_prom_line("oomguard_kernel_oom_kills_total", [], kills))
    if host["events"] or host["events_source"] is not None or host.get("killers_looked_for"):
        by_killer = dict(host.get("kills_by_killer") or {})
        for killer in host.get("killers_looked_for") or ["kernel"]:
            if killer in KILLERS:
                by_killer.setdefault(killer, 0)
        for killer, count in by_killer.items():
            samples["oomguard_recent_oom_kills"].append(
                _prom_line("oomguard_recent_oom_kills", [("killer", killer)], count))
        protected = {}
        for entry in host.get("protected_but_killed") or []:
            protected[entry["killer"]] = protected.get(entry["killer"], 0) + 1
        for killer, count in protected.items():
            samples["oomguard_protected_but_killed"].append(
                _prom_line("oomguard_protected_but_killed", [("killer", killer)], count))
    _prometheus_findings(host, samples, records)
    if host.get("oomd") and host["oomd"]["running"] is not None:
        samples["oomguard_systemd_oomd_running"].append(
            _prom_line("oomguard_systemd_oomd_running", [], int(host["oomd"]["running"])))
    killers = host.get("userspace_killers")
    if killers is not None:
        for killer in USERSPACE_KILLERS:
            mine = [k for k in killers if k["killer"] == killer]
            samples["oomguard_userspace_killer_running"].append(
                _prom_line("oomguard_userspace_killer_running", [("killer", killer)], int(bool(mine))))
            known = [k["acts_before_kernel"] for k in mine if k["acts_before_kernel"] is not None]
            if known:
                samples["oomguard_userspace_killer_acts_before_kernel"].append(
                    _prom_line("oomguard_userspace_killer_acts_before_kernel", [("killer", killer)], int(any(known))))
    return samples
