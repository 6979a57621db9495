# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The live exporter: one refresh of the node_exporter textfile, run by a systemd timer on the host.

The fleet form of the seed's monitor loop. It runs the modules' own engine -- oom_score_info's task class
(kill order, headroom, units), the leak finder, the role's compliance judgement (_engine.compliance over a
predicted oom_score_adj pass, as the role's check mode makes it), the report's Prometheus renderer -- outside
Ansible, with an Io of its own (commands through subprocess, warnings collected, check mode), so the textfile
and the audit can never disagree on a formula or a status.
Standard library only, Python >= 3.8. The role installs it as one self-contained script (see
roles/oom_protection/templates/oomguard-exporter.py.j2), configured by a JSON file it writes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import compliance
from ansible_collections.oomguard.fleet.plugins.module_utils._host import files
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import adj as adj_task
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks import leaks as leaks_task
from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as report_model
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.info import OOMScoreInfo, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import Io, TaskError
from ansible_collections.oomguard.fleet.plugins.module_utils._engine.matching import Matcher
from ansible_collections.oomguard.fleet.plugins.module_utils._model.selectors import SelectorError
from ansible_collections.oomguard.fleet.plugins.module_utils._report import judge
from ansible_collections.oomguard.fleet.plugins.module_utils._report import prometheus

OUTPUT_NAME = "oomguard.prom"


class ConfigError(Exception):
    """The exporter's configuration is unusable (one line)."""


def run_command(argv, environ_update=None):
    """AnsibleModule.run_command's contract, for a program that runs without Ansible: (rc, stdout, stderr)."""
    env = dict(os.environ)
    env.update(environ_update or {})
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,  # pylint: disable=ansible-bad-function
                              check=False)
    except OSError as exc:
        return 127, "", str(exc)
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def exporter_io(warnings):
    """The exporter's Io: commands through subprocess, warnings into `warnings`, and check mode (it writes
    nothing on the host but its textfile)."""
    return Io(run_command=run_command, warn=warnings.append, check_mode=True)


def load_config(path):
    try:
        with open(path, "rb") as handle:
            config = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read the exporter configuration %s: %s" % (path, exc))
    if not isinstance(config, dict) or not isinstance(config.get("output_dir"), str):
        raise ConfigError("%s must be a JSON object with at least output_dir" % path)
    top = config.get("top", 5)
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ConfigError("%s: top must be an integer >= 0, got %r" % (path, top))
    try:
        judge.assess_risk(None, config.get("thresholds") or {})
        matchers = [Matcher(dict((k, v) for k, v in (rule.get("selector") or {}).items() if v is not None),
                            "rules[%d]" % index) for index, rule in enumerate(config.get("rules") or [])]
    except (ValueError, SelectorError) as exc:
        raise ConfigError("%s: %s" % (path, exc))
    config["matchers"] = matchers
    return config


def plan_of(config):
    """The role's plan of this host as the exporter's configuration carries it (tasks/exporter.yml: the plan's
    `units` and `processes`), with what an older or hand-written configuration leaves out filled in."""
    units = [dict({"tier": None, "oom_score_adj": None, "oom_policy": None}, **entry)
             for entry in config.get("units") or []]
    processes = []
    for rule in config.get("rules") or []:
        selector = dict((k, v) for k, v in (rule.get("selector") or {}).items() if v is not None)
        processes.append(dict({"tier": None, "oom_score_adj": None, "required": False,
                               "target": _describe(selector)}, **dict(rule, selector=selector)))
    return {"units": units, "processes": processes, "unit_names": [unit["name"] for unit in units],
            "process_rules": [dict(entry["selector"], value=entry["oom_score_adj"]) for entry in processes]}


def _describe(selector):
    return ",".join("%s=%s" % (key, selector[key]) for key in sorted(selector) if selector[key] is not None)


def judge_compliance(plan, info, proc_path, procs=None):
    """The role's judgement of the host, as its check mode makes it (_engine.compliance over the read-back and
    a predicted oom_score_adj pass of the same rules, _tasks.adj.role_rules): the same records and statuses as
    the role's oom_protection_compliance fact, and so as the audit. `procs`: the refresh's one scan, read with
    the cgroups and every field the rules select on (leaks_task.scan_fields)."""
    systemd = info["host"]["systemd_running"]
    labels, rules, offset = adj_task.role_rules(plan["units"], plan["process_rules"], systemd)
    adjusted = None
    if rules:
        params = dict((key, spec.get("default")) for key, spec in adj_task.argument_spec().items())
        # As the role calls it (oom_protection_apply: on_denied warn, on_no_match ignore), in check mode.
        # allow_oom_disable: the role's plan has already refused a -1000 that the inventory does not allow.
        params.update(rules=rules, proc_path=proc_path, on_denied="warn", on_no_match="ignore",
                      allow_oom_disable=True)
        adjusted = adj_task.OomScoreAdj(params, exporter_io([]), labels=labels, warn_denied=False).execute(procs)
    return compliance.compliance(plan, info=info, adj=adjusted, systemd=systemd, state="present",
                                 rule_offset=offset, check_mode=True)


def collect(config, hostname=None):
    """One host result, shaped as the audit's oom_audit_result, from the live host."""
    proc_path = config.get("proc_path") or "/proc"
    params = dict((key, spec.get("default")) for key, spec in argument_spec().items())
    params.update(top=config.get("top", 5), return_processes=False, proc_path=proc_path,
                  exclude_own_processes=True, oomd_sample_interval=0)
    warnings = []
    io = exporter_io(warnings)
    plan = plan_of(config)
    # One scan of /proc per refresh: the leak finder reads it with cgroups and what the rules select on;
    # oom_score_info reuses it twice, for the global kill order and for the units (its `units` option also
    # filters the kill order), and the compliance judgement's predicted oom_score_adj pass once more.
    leaks, procs, _warnings = leaks_task.gather(proc_path, io.run_in_c_locale, plan["unit_names"], config["matchers"])
    info = OOMScoreInfo(params, io).execute(procs)
    systemd = info["host"]["systemd_running"]
    if plan["unit_names"] and systemd:
        unit_params = dict(params, top=0, units=plan["unit_names"])
        info["units"] = OOMScoreInfo(unit_params, exporter_io([])).execute(procs)["units"]
    host = info["host"]
    return {
        "name": hostname or socket.gethostname(),
        "reachable": True,
        "errors": list(warnings),
        "compliance": judge_compliance(plan, info, proc_path, procs),
        "host": host,
        "headroom": host.get("headroom"),
        "thresholds": config.get("thresholds") or {},
        "kill_order": info["kill_order"],
        "leaks": leaks,
        "events": [],
        "events_source": None,
    }


def refresh(config):
    text = prometheus.render_prometheus(report_model.normalize_host(collect(config)))
    # The collector must never read half a file.
    files.write_atomically(config["output_dir"], OUTPUT_NAME, text)
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: oomguard-exporter CONFIG.json\n")
        return 2
    try:
        refresh(load_config(argv[0]))
    except ConfigError as exc:
        sys.stderr.write("oomguard-exporter: %s\n" % exc)
        return 2
    except (TaskError, OSError, RuntimeError) as exc:
        sys.stderr.write("oomguard-exporter: refresh failed, the previous textfile is kept: %s\n" % exc)
        return 1
    return 0
