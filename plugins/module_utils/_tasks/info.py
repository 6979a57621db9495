# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of one oom_score_info call: scan, filter, rank, describe the host and the units.

Shared by the oom_score_info and oom_protection_apply modules."""

from __future__ import annotations

import functools
import os
import re

from ansible_collections.oomguard.fleet.plugins.module_utils._host import cgroupfs
from ansible_collections.oomguard.fleet.plugins.module_utils._host import oomd
from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._engine import scoring
from ansible_collections.oomguard.fleet.plugins.module_utils._host import userspace_killers
from ansible_collections.oomguard.fleet.plugins.module_utils._host.container_names import ContainerNames
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Task
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.kube_policy import judge as kubelet_judge
from ansible_collections.oomguard.fleet.plugins.module_utils._host.headroom import read_headroom
from ansible_collections.oomguard.fleet.plugins.module_utils._host.own import own_chain
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.scrub import scrub_cmdline
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import SelectorError, name_error
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import (
    in_cgroup, name_matches, resolve_uid, unit_matches,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import (
    is_template, unit_name_error, unit_of_cgroup, unit_type,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._host.systemd import (
    read_declared, show_units, split_paths, systemd_running,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._model import memory_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model import oomd_settings
from ansible_collections.oomguard.fleet.plugins.module_utils._model.memory_settings import parse_size

# The unit of a cgroup path, once per distinct path: a host's processes share a few hundred cgroups at most,
# and each lookup checks every component of the path against systemd's unit name rules.
_unit_of = functools.lru_cache(maxsize=4096)(unit_of_cgroup)

WATCHERS = {"earlyoom": "earlyoom_running", "systemd-oomd": "systemd_oomd_running"}


class OOMScoreInfo(Task):
    def __init__(self, params, io, systemd=None):
        """`systemd`: whether systemd runs as PID 1, when the caller already knows; None detects it."""
        super(OOMScoreInfo, self).__init__(params, io, {"changed": False})
        self.systemd = systemd
        self.proc_path = self.params["proc_path"].rstrip("/") or "/"
        # The runtimes' files live beside the proc root (a fake tree's root in tests, / on a host).
        self.names = ContainerNames(os.path.dirname(self.proc_path) or "/")
        self._validate()

    def _validate(self):
        params = self.params
        if params["top"] < 0:
            self._fail("top must be 0 or more, got %d" % params["top"])
        for name in params["names"] or []:
            problem = name_error(name)
            if problem:
                self._fail("names: %s" % problem)
        self.name_res = []
        for key, target in (("name_patterns", "name_res"), ("cmdline_patterns", "cmdline_res")):
            compiled = []
            for pattern in params[key] or []:
                try:
                    compiled.append(re.compile(pattern))
                except re.error as exc:
                    self._fail("%s: %r is not a valid regular expression: %s" % (key, pattern, exc))
            setattr(self, target, compiled)
        self.uids = None
        if params["users"]:
            try:
                self.uids = set(resolve_uid(user) for user in params["users"])
            except SelectorError as exc:
                self._fail("users: %s" % exc)
        for unit in params["units"] or []:
            problem = unit_name_error(unit)
            if problem:
                self._fail("units: %r is not a valid systemd unit name: %s" % (unit, problem))
        for path in params["cgroups"] or []:
            if not path.startswith("/"):
                self._fail("cgroups: %r must be an absolute cgroup path or glob (starting with '/')" % path)
        self.limit_bytes = None
        if params["cgroup_limit"] is not None:
            self.limit_bytes = parse_size(params["cgroup_limit"])
            if not self.limit_bytes:
                self._fail("cgroup_limit: %r is not a size; use bytes or a number with K, M, G or T (e.g. 512M)"
                           % params["cgroup_limit"])
        if not os.path.isdir(self.proc_path):
            self._fail("proc_path: %s is not a directory" % self.proc_path)

    # Filtering ---------------------------------------------------------------------------------------
    def _has_cheap_filter(self):
        """Whether _cheap_filter() can drop anything but kernel threads (without one, a scan of 5,000
        processes saves 5,000 calls of it)."""
        params = self.params
        return bool(params["pids"] or params["names"] or self.name_res or self.uids is not None
                    or params["min_score"] is not None)

    def _cheap_filter(self, proc):
        params = self.params
        if proc.kthread and not params["include_kernel_threads"]:
            return False
        if params["pids"] and proc.pid not in params["pids"]:
            return False
        if params["names"] and not any(name_matches(name, proc.name) for name in params["names"]):
            return False
        if self.name_res and not any(rx.search(proc.name or "") for rx in self.name_res):
            return False
        if self.uids is not None and proc.uid not in self.uids:
            return False
        if params["min_score"] is not None and (proc.oom_score or 0) < params["min_score"]:
            return False
        return True

    def _has_detail_filter(self):
        """Whether _detail_filter() can drop anything."""
        return bool(self.cmdline_res or self.params["units"] or self.params["cgroups"])

    def _detail_filter(self, proc):
        params = self.params
        if self.cmdline_res and not any(rx.search(" ".join(proc.cmdline or [])) for rx in self.cmdline_res):
            return False
        if params["units"] and not any(unit_matches(unit, _unit_of(proc.cgroup)) for unit in params["units"]):
            return False
        if params["cgroups"] and not any(in_cgroup(path, proc) for path in params["cgroups"]):
            return False
        return True

    def _detail_fields(self, for_output):
        want = set()
        if self.cmdline_res or for_output:
            want.add("cmdline")
        if self.params["units"] or self.params["cgroups"] or for_output:
            want.add("cgroup")
        return want

    # Main --------------------------------------------------------------------------------------------
    def execute(self, procs=None):
        """`procs`: a whole process table the caller has just read (oom_protection_apply passes the one its
        writes were made against, with the values read back after them), instead of scanning /proc again."""
        params = self.params
        reused = procs is not None
        warnings = []
        want_output = params["return_processes"]
        detail = frozenset(self._detail_fields(want_output))
        # Without a filter that drops processes before their details are read, the details are read in the
        # same pass as the rest (one loop over 5,000 processes instead of two); kernel threads are left
        # out of it unless they are asked for.
        cheap_filter = self._has_cheap_filter()
        details_read = bool(detail) and not reused and not cheap_filter
        try:
            # One reading of meminfo and of the mount table for the host facts, headroom and cgroup mounts.
            self.meminfo = procfs.read_meminfo(self.proc_path, missing_ok=True)
            self.mount_table = procfs.mount_table(self.proc_path)
            host = procfs.read_host(self.proc_path, meminfo=self.meminfo, table=self.mount_table)
            if not reused:
                procs, warnings = procfs.scan(self.proc_path, detail if details_read else (),
                                              kthread_details=params["include_kernel_threads"])
        except OSError as exc:
            self._fail("reading %s failed: %s" % (self.proc_path, exc))
        if not host["total_pages"]:
            self._fail("cannot read MemTotal from %s/meminfo: no memory size to score against" % self.proc_path)
        scale = scoring.scale_for_release(host["kernel_release"])
        page_size = host["page_size"]

        if cheap_filter:
            candidates = [proc for proc in procs if self._cheap_filter(proc)]
        elif params["include_kernel_threads"]:
            candidates = list(procs)
        else:
            candidates = [proc for proc in procs if not proc.kthread]
        if detail and not details_read:
            # read_details() reads only what is not read yet (a reused table may have cgroups already).
            candidates = [proc for proc in candidates if procfs.read_details(self.proc_path, proc, detail)]
        if self._has_detail_filter():
            selected = [proc for proc in candidates if self._detail_filter(proc)]
        else:
            selected = candidates

        if self.limit_bytes is not None:
            total_pages = max(self.limit_bytes // page_size, 1)
            ranking, scope = selected, "the %s cgroup limit" % params["cgroup_limit"]
        else:
            total_pages = host["total_pages"]
            ranking, scope = procs, "RAM+swap"
        ranked = []
        if want_output or params["top"]:
            # A read-back of units and host facts (no rows, top 0) does not need the kill order.
            ranked = scoring.kill_order(ranking, total_pages, page_size, scale, host["kernel_release"])
        rank_of = {}
        for position, (proc, badness) in enumerate(ranked, 1):
            rank_of[proc.pid] = (position, badness)

        selected_pids = set(proc.pid for proc in selected)
        order = [(position, proc, badness) for position, (proc, badness) in enumerate(ranked, 1)
                 if proc.pid in selected_pids]
        excluded = []
        listed = order  # RV(processes) lists the own processes too, at their ranks
        if params["exclude_own_processes"] and order:
            # They end with this run; their real rank stays, so the kernel's order is still told truthfully,
            # and the caller learns which ranks they held.
            own = set(own_chain(self.proc_path))
            excluded = [item for item in order if item[1].pid in own]
            order = [item for item in order if item[1].pid not in own]
        self._result["own_processes_excluded"] = [
            {"rank": position, "pid": proc.pid, "name": proc.name} for position, proc, _badness in excluded
        ]
        top = order[:params["top"]]
        need_detail = [proc for _pos, proc, _b in top if proc.cgroup is None and "cgroup" not in detail]
        for proc in need_detail:
            procfs.read_details(self.proc_path, proc, ("cgroup",))

        self._result["kill_order"] = [
            {
                "rank": position, "pid": proc.pid, "name": proc.name, "unit": _unit_of(proc.cgroup),
                "container": self.names.label(proc.container, proc.name),
                "badness": badness,
                "share_percent": round(scoring.share_percent(scoring.memory_pages(proc, page_size), total_pages), 2),
                "oom_score": proc.oom_score, "oom_score_adj": proc.oom_score_adj,
                "reason": scoring.kill_reason(position, proc, badness, total_pages, page_size, scope),
            }
            for position, proc, badness in top
        ]
        if want_output:
            ordered = [proc for _pos, proc, _b in listed]
            ordered += sorted((proc for proc in selected if proc.pid not in rank_of), key=lambda proc: proc.pid)
            self._result["processes"] = [self._row(proc, rank_of.get(proc.pid), host, scale) for proc in ordered]

        host_out = {
            "kernel_release": host["kernel_release"],
            "score_scale": scale,
            "mem_total_kb": host["mem_total_kb"],
            "swap_total_kb": host["swap_total_kb"],
            "total_pages": host["total_pages"],
            "page_size": page_size,
            "can_lower_adj": host["can_lower_adj"],
            "systemd_running": systemd_running() if self.systemd is None else self.systemd,
            "cgroup_version": host["cgroup_version"],
            "sysctls": host["sysctls"],
            "oom_kill_count": host["oom_kill_count"],
            "headroom": read_headroom(self.proc_path, self.meminfo),
            "process_count": len(procs),
            "cgroup_limit_bytes": self.limit_bytes,
        }
        names = set(proc.name for proc in procs)
        for watcher, key in WATCHERS.items():
            host_out[key] = watcher in names
        self.cgroup_mounts = cgroupfs.mounts(self.proc_path, self.mount_table)
        self.memory_layout = cgroupfs.layout_of(self.cgroup_mounts)
        host_out["memory_controller"] = self.memory_layout
        host_out["systemd_oomd"] = oomd.host_facts(
            self._run, host_out["systemd_oomd_running"],
            self.cgroup_mounts["v2"] if self.memory_layout == "v2" else None,
            (host["swap_total_kb"] or 0) * 1024, unit_of_cgroup, interval=params["oomd_sample_interval"])
        host_out["userspace_killers"] = userspace_killers.host_facts(
            self.proc_path, procs, host["mem_total_kb"], host["swap_total_kb"], host_out["systemd_oomd"])
        self._result["host"] = host_out
        self._result["pod_drift"] = self._pod_drift(procs) if self._kubepods_present() else []

        if params["units"]:
            self._result["units"] = self._units(procs, host_out["systemd_running"])

        if not reused:  # the caller that read the table has warned about it
            self._warn_partial(procs, warnings)
        return self._result

    def _kubepods_present(self):
        """Whether kubelet's pod cgroups exist (systemd or cgroupfs driver, kind's node layout)."""
        roots = [root for root in (self.cgroup_mounts["v2"], self.cgroup_mounts["v1_memory"]) if root]
        return any(os.path.isdir(os.path.join(root, name)) for root in roots
                   for name in ("kubepods.slice", "kubepods", "kubelet.slice/kubelet-kubepods.slice"))

    def _pod_drift(self, procs):
        """The processes of pod containers whose oom_score_adj is not what kubelet's QoS policy gives them
        (_engine.kube_policy). On a node only: it reads the cgroup of every process."""
        drift = []
        for proc in procs:
            if proc.kthread or proc.pid == os.getpid():
                continue
            if proc.cgroup is None:
                procfs.read_details(self.proc_path, proc, ("cgroup",))
            if proc.container is None or proc.container["pod_uid"] is None:
                continue
            label = self.names.label(proc.container, proc.name)
            verdict = kubelet_judge(label, proc.oom_score_adj)
            if verdict is not None:
                drift.append(dict({"pid": proc.pid, "name": proc.name, "oom_score_adj": proc.oom_score_adj,
                                   "container": label}, **verdict))
        return drift

    def _row(self, proc, ranked, host, scale):
        badness = ranked[1] if ranked else None
        if self.limit_bytes is None:
            global_badness = badness
        else:
            global_badness = scoring.badness_pages(proc, host["total_pages"], host["page_size"],
                                                   release=host["kernel_release"])
        reason = scoring.unkillable_reason(proc)
        return {
            "pid": proc.pid,
            "ppid": proc.ppid,
            "name": proc.name,
            "cmdline": scrub_cmdline(proc.cmdline) if self.params["scrub_cmdline"] else proc.cmdline,
            "state": proc.state,
            "uid": proc.uid,
            "user": procfs.user_name(proc.uid),
            "unit": _unit_of(proc.cgroup),
            "cgroup": proc.cgroup,
            "container": self.names.label(proc.container, proc.name),
            "oom_score": proc.oom_score,
            "oom_score_adj": proc.oom_score_adj,
            "rss_anon_kb": proc.rss_anon_kb,
            "rss_file_kb": proc.rss_file_kb,
            "rss_shmem_kb": proc.rss_shmem_kb,
            "swap_kb": proc.swap_kb,
            "pgtables_kb": proc.pgtables_kb,
            "badness": badness,
            "predicted_oom_score": scoring.predicted_oom_score(global_badness, host["total_pages"], scale),
            "killable": reason is None,
            "unkillable_reason": reason,
            "rank": ranked[0] if ranked else None,
            "kernel_thread": bool(proc.kthread),
        }

    def _units(self, procs, running):
        units = self.params["units"]
        for proc in procs:
            if proc.cgroup is None and not proc.kthread:
                procfs.read_details(self.proc_path, proc, ("cgroup",))
        shown = {}
        if running:
            try:
                shown = show_units(self._run, units)
            except RuntimeError as exc:
                self._fail("reading unit settings with systemctl failed: %s" % exc)
        else:
            self.io.warn("systemd is not running on this host: unit settings cannot be read; "
                         "processes are matched to units by their cgroup only")
        out = {}
        for unit in units:
            props = shown.get(unit, {})
            paths = []
            if props.get("FragmentPath"):
                paths.append(props["FragmentPath"])
            paths.extend(split_paths(props.get("DropInPaths")))
            declared = read_declared(paths, unit_type(unit))
            members = [proc for proc in procs if unit_matches(unit, _unit_of(proc.cgroup))]
            out[unit] = {
                "declared_oom_score_adj": declared["oom_score_adjust"],
                "declared_set": declared["oom_score_adjust_set"],
                "declared_source": declared["oom_score_adjust_source"],
                "declared_oom_policy": declared["oom_policy"],
                "systemctl_oom_score_adj": _int_or_none(props.get("OOMScoreAdjust")),
                "oom_policy": props.get("OOMPolicy") or None,
                # A template has no state or main process of its own (its instances have).
                "main_pid": None if is_template(unit) else _int_or_none(props.get("MainPID")),
                "load_state": props.get("LoadState"),
                "active_state": None if is_template(unit) else props.get("ActiveState"),
                "processes": [
                    {"pid": proc.pid, "name": proc.name, "oom_score_adj": proc.oom_score_adj}
                    for proc in sorted(members, key=lambda proc: proc.pid)
                ],
                "ignored": declared["ignored"],
                "cgroup": self._cgroup_facts(props),
            }
            for path in declared["unreadable"]:
                self.io.warn("%s: cannot read %s; its settings are not counted" % (unit, path))
        return out

    def _cgroup_facts(self, props):
        """systemd's view of the unit's memory and systemd-oomd settings next to what its cgroup holds."""
        declared = {}
        for key, directive, _file in memory_settings.MEMORY_SETTINGS:
            declared[key] = _shown_memory(props.get(directive))
        for key in oomd_settings.MANAGED_OOM_KEYS:
            value = props.get(oomd_settings.directive(key))
            if key == "managed_oom_memory_pressure_limit" and value is not None:
                value = oomd_settings.parse_percent(value)
            declared[key] = value if value != "" else None
        control_group = props.get("ControlGroup") or None
        path = cgroupfs.unit_path(self.cgroup_mounts, control_group, self.memory_layout)
        facts = cgroupfs.read_cgroup(path, self.memory_layout)
        facts.update(control_group=control_group, declared=declared)
        return facts

    def _warn_partial(self, procs, warnings):
        notes = list(warnings)
        for proc in procs:
            for error in proc.errors:
                notes.append("pid %d (%s): %s" % (proc.pid, proc.name, error))
        if notes:
            shown = "; ".join(notes[:5])
            more = " (and %d more)" % (len(notes) - 5) if len(notes) > 5 else ""
            self.io.warn("some process fields could not be read, results for them are partial: %s%s" % (shown, more))


def _shown_memory(value):
    """MemoryMax= as systemctl shows it -> bytes, "max" for infinity, None when systemd has no such setting."""
    if value in (None, ""):
        return None
    if value == "infinity":
        return "max"
    return _int_or_none(value)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def argument_spec():
    return dict(
        pids=dict(type="list", elements="int"),
        names=dict(type="list", elements="str"),
        name_patterns=dict(type="list", elements="str"),
        cmdline_patterns=dict(type="list", elements="str"),
        users=dict(type="list", elements="str"),
        units=dict(type="list", elements="str"),
        cgroups=dict(type="list", elements="str"),
        min_score=dict(type="int"),
        top=dict(type="int", default=10),
        include_kernel_threads=dict(type="bool", default=False),
        return_processes=dict(type="bool", default=True),
        cgroup_limit=dict(type="str"),
        proc_path=dict(type="path", default="/proc"),
        exclude_own_processes=dict(type="bool", default=True),
        scrub_cmdline=dict(type="bool", default=True),
        oomd_sample_interval=dict(type="float", default=1.0),
    )
