# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real container runtimes on real hosts: Debian's docker.io, podman, containerd and lxc, and a Kubernetes
node's cgroup layout, on both guests at once; one audit.

The guest image has the runtimes installed but disabled (the test proves it first and last). Per guest, one
SSH call then builds a busybox root file system (no registry: Docker and Podman import it as an image, LXC and
containerd's pods run from copies of the directory), starts the runtimes and runs:
- one container per runtime running `oomg-app` (a shell script that blocks without a child, so its process
  name stays `oomg-app`): Docker (systemd cgroup driver: `docker-<id>.scope`), Podman (`libpod-<id>.scope`
  with conmon beside it), LXC (`lxc.payload.<name>`, a config pointing at a rootfs directory);
- a Kubernetes node's layout as kubelet and containerd's CRI plugin make it with the systemd cgroup driver:
  three pods (Guaranteed, Burstable, BestEffort) in `kubepods[-<qos>]-pod<uid_>.slice`, each a pause
  (sandbox) container and an `oomg-app` container, started by `ctr run --runc-systemd-cgroup --config <spec>`
  from containerd's default spec made into what the CRI plugin writes: cgroupsPath
  `<pod slice>:cri-containerd:<id>` (a `cri-containerd-<id>.scope`), its `io.kubernetes.cri.*` annotations, the
  `oom_score_adj` of kubelet's QoS policy in the OCI spec (process.oomScoreAdj, written by runc: -998 for
  the sandboxes, -997 Guaranteed, the Burstable formula, 1000 BestEffort), and kubelet's /var/log/pods and
  /var/log/containers entries;
- a Docker container whose `dd` runs into its `--memory 64m` limit (a real memcg OOM kill);
- a host process `oomg-app` (the twin), and one pod's value changed by hand (pod drift).
Then oom_score_info reads the labels, the audit playbook runs once (JSON, HTML, JUnit, and Prometheus on each
host), and a name rule runs twice: by default (the twin changes, the containers are left to their runtimes)
and with `containers: include` (they change too). Everything is removed and the runtimes stopped at the end,
also when a test fails. Exhausts memory inside one container's memory cgroup only.
"""

from __future__ import annotations

import concurrent.futures
import html
import json
import os
import re
import secrets
import uuid
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

AUDIT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "playbooks", "audit.yml")
LIB = "/usr/local/lib/oomguard-ctrtest"
RUN = "/run/oomguard-ctrtest"
PROM_DIR = RUN + "/prom"
IMAGE = "localhost/oomguard-ctrtest:1"
APP = "oomg-app"
NAMES = {"docker": "oomg-docker", "podman": "oomg-podman", "lxc": "oomg-lxc"}
HOG = "oomg-docker-hog"
HOG_LIMIT_MIB = 64
RULE_VALUE = 700
# What the image recipe installs and disables (whichever of them a suite ships).
RUNTIME_UNITS = ("docker.service", "docker.socket", "containerd.service", "podman.service", "podman.socket",
                 "podman-restart.service", "lxc.service", "lxc-net.service", "lxc-monitord.service")
RUNTIME_PROCESSES = ("dockerd", "containerd", "containerd-shim", "conmon", "lxc-start", APP, "pause")
# The pods: kubelet's cgroup names for the systemd driver, kubelet's QoS values (Burstable: its formula with a
# memory request of the size given), the sandbox at containerd's -998.
PODS = (
    {"key": "db", "namespace": "shop", "pod": "db-0", "container": "db", "qos": "guaranteed"},
    {"key": "web", "namespace": "shop", "pod": "web-7f9c", "container": "web", "qos": "burstable",
     "request_mib": 256},
    {"key": "job", "namespace": "batch", "pod": "job-x1", "container": "worker", "qos": "besteffort"},
)
SANDBOX_ADJ = -998
# The Guaranteed pod's container is set to this by hand: pod drift, kubelet's value is -997.
BY_HAND = 0

# Blocks for ever without a child process (a FIFO opened for reading and writing never delivers a line), so
# the process keeps the script's name; the same file runs in the containers (busybox sh) and on the host.
HOLD = """#!/bin/sh
hold=${1:-/tmp/oomg-hold}
[ -p "$hold" ] || mkfifo "$hold"
exec 3<>"$hold"
read -r line <&3
"""


# Writes <dir>/spec-<id>.json for each container of specs.json from containerd's default spec: its root file
# system, command, the cgroup and annotations the CRI plugin gives it, and kubelet's oom_score_adj, which runc
# writes into the container's process (process.oomScoreAdj) as it does for kubelet.
SPECS = """import json, os, sys
base = json.load(open(sys.argv[1]))
for entry in json.load(open(sys.argv[2])):
    spec = json.loads(json.dumps(base))
    spec["root"] = {"path": entry["root"], "readonly": False}
    spec["process"]["args"] = entry["args"]
    spec["process"]["oomScoreAdj"] = entry["oomScoreAdj"]
    spec["linux"]["cgroupsPath"] = entry["cgroupsPath"]
    spec["annotations"] = entry["annotations"]
    with open(os.path.join(os.path.dirname(sys.argv[2]), "spec-%s.json" % entry["id"]), "w") as out:
        json.dump(spec, out)
"""


def _slice(pod):
    uid = pod["uid"].replace("-", "_")
    if pod["qos"] == "guaranteed":
        return "kubepods-pod%s.slice" % uid
    return "kubepods-%s-pod%s.slice" % (pod["qos"], uid)


def burstable_adj(request_bytes, capacity_bytes):
    """kubelet's value for a Burstable container (pkg/kubelet/qos/policy.go): 1000 - 1000 * request /
    capacity in integer arithmetic, kept within 3..999."""
    value = 1000 - (1000 * request_bytes) // capacity_bytes
    return min(max(value, 3), 999)


def _pods_for(mem_total_kb):
    pods = []
    for base in PODS:
        pod = dict(base, uid=str(uuid.uuid4()), sandbox_id=secrets.token_hex(32), container_id=secrets.token_hex(32))
        if pod["qos"] == "guaranteed":
            pod["adj"] = -997
        elif pod["qos"] == "besteffort":
            pod["adj"] = 1000
        else:
            pod["adj"] = burstable_adj(pod["request_mib"] << 20, mem_total_kb * 1024)
        pod["slice"] = _slice(pod)
        pod["logs"] = "/var/log/pods/%s_%s_%s" % (pod["namespace"], pod["pod"], pod["uid"])
        pods.append(pod)
    return pods


def _annotations(pod, sandbox):
    """The annotations containerd's CRI plugin puts into a pod's bundles (DefaultCRIAnnotations)."""
    common = [("io.kubernetes.cri.sandbox-id", pod["sandbox_id"]),
              ("io.kubernetes.cri.sandbox-namespace", pod["namespace"]),
              ("io.kubernetes.cri.sandbox-uid", pod["uid"]),
              ("io.kubernetes.cri.sandbox-name", pod["pod"])]
    if sandbox:
        extra = [("io.kubernetes.cri.sandbox-log-directory", pod["logs"]),
                 ("io.kubernetes.cri.container-type", "sandbox")]
    else:
        extra = [("io.kubernetes.cri.container-name", pod["container"]),
                 ("io.kubernetes.cri.image-name", IMAGE),
                 ("io.kubernetes.cri.container-type", "container")]
    return common + extra


def _state_script():
    """Prints `unit <name> <is-enabled> <is-active>` for each runtime unit the guest has, `procs <pids>` of any
    runtime or test process, `cgroups <paths>` of kubelet's and LXC's cgroups."""
    return ("for u in %s; do systemctl cat $u >/dev/null 2>&1 && echo unit $u $(systemctl is-enabled $u) "
            "$(systemctl is-active $u); done; echo procs $(for name in %s; do pgrep -x $name; done); "
            "echo cgroups $(ls -d /sys/fs/cgroup/kubepods.slice /sys/fs/cgroup/lxc.* 2>/dev/null)"
            % (" ".join(RUNTIME_UNITS), " ".join(RUNTIME_PROCESSES)))


def _parse_state(out):
    state = {"units": {}, "procs": [], "cgroups": []}
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == "unit" and len(fields) >= 3:
            state["units"][fields[1]] = tuple(fields[2:4])
        elif fields and fields[0] in ("procs", "cgroups"):
            state[fields[0]] = fields[1:]
    return state


def _setup_script(pods):
    lines = ["set -euo pipefail",
             "mkdir -p %s %s %s" % (LIB, RUN, PROM_DIR),
             # The image: a busybox root file system with the test's script as `oomg-app` and as `pause`.
             "root=%s/rootfs; rm -rf $root; mkdir -p $root/bin $root/tmp $root/proc $root/sys $root/dev $root/etc" % LIB,
             "chmod 1777 $root/tmp; cp \"$(command -v busybox)\" $root/bin/busybox",
             "for applet in sh dd mkfifo cat sleep; do ln -s busybox $root/bin/$applet; done",
             "echo root:x:0:0:root:/:/bin/sh >$root/etc/passwd; echo root:x:0: >$root/etc/group",
             "cat >$root/%s <<'EOF'\n%sEOF" % (APP, HOLD),
             "chmod 0755 $root/%s; cp -p $root/%s $root/pause" % (APP, APP),
             "tar -C $root --numeric-owner -cf %s/rootfs.tar ." % LIB,
             # The host's own oomg-app.
             "systemd-run --quiet --unit oomg-twin.service $root/%s %s/twin.fifo" % (APP, RUN),
             # Docker: no bridge and no iptables (the guest has no network); the guest has no apparmor_parser
             # to load Docker's default profile.
             "mkdir -p /etc/docker; echo '{\"bridge\": \"none\", \"iptables\": false}' >/etc/docker/daemon.json",
             "systemctl start containerd.service docker.service",
             "docker import %s/rootfs.tar %s >/dev/null" % (LIB, IMAGE),
             "docker run -d --name %s --network none --security-opt apparmor=unconfined %s /%s >/dev/null"
             % (NAMES["docker"], IMAGE, APP),
             "docker run --name %s --network none --security-opt apparmor=unconfined --memory %dm %s "
             "dd if=/dev/zero of=/dev/null bs=512M count=1 >/dev/null 2>&1 || true" % (HOG, HOG_LIMIT_MIB, IMAGE),
             "echo docker $(docker inspect -f '{{.Id}} {{.State.Pid}}' %s)" % NAMES["docker"],
             "echo hog $(docker inspect -f '{{.Id}} {{.State.OOMKilled}} {{.State.ExitCode}}' %s)" % HOG,
             # Podman (systemd cgroup manager: libpod-<id>.scope, conmon in libpod-conmon-<id>.scope).
             "podman import -q %s/rootfs.tar %s >/dev/null" % (LIB, IMAGE),
             "podman run -d --name %s --network none --security-opt apparmor=unconfined %s /%s >/dev/null"
             % (NAMES["podman"], IMAGE, APP),
             "echo podman $(podman inspect -f '{{.Id}} {{.State.Pid}} {{.State.ConmonPid}}' %s)" % NAMES["podman"],
             # LXC: a config pointing at a root file system directory, no template, no network.
             "lxcp=%s/lxc; mkdir -p $lxcp/%s; cp -a $root $lxcp/%s/rootfs" % (LIB, NAMES["lxc"], NAMES["lxc"]),
             "cat >$lxcp/%s/config <<EOF\nlxc.uts.name = %s\nlxc.rootfs.path = dir:$lxcp/%s/rootfs\n"
             "lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\nlxc.init.cmd = /%s\nlxc.tty.max = 0\n"
             "lxc.console.path = none\nlxc.mount.auto = proc:mixed sys:ro\nEOF"
             % (NAMES["lxc"], NAMES["lxc"], NAMES["lxc"], APP),
             "lxc-start -P $lxcp -n %s -d" % NAMES["lxc"],
             "lxc-wait -P $lxcp -n %s -s RUNNING -t 60" % NAMES["lxc"],
             "echo lxc %s $(lxc-info -P $lxcp -n %s -p -H)" % (NAMES["lxc"], NAMES["lxc"]),
             # A Kubernetes node: containerd's default spec, made into each container's spec as the CRI plugin
             # makes it (below), and kubelet's log directories.
             "ctr -n k8s.io oci spec >%s/spec.json" % RUN,
             "mkdir -p /var/log/pods /var/log/containers %s/pods" % LIB,
             ]
    specs = []
    for pod in pods:
        for sandbox in (True, False):
            cid = pod["sandbox_id"] if sandbox else pod["container_id"]
            specs.append({"id": cid, "root": "%s/pods/%s" % (LIB, cid), "args": ["/pause" if sandbox else "/" + APP],
                          "oomScoreAdj": SANDBOX_ADJ if sandbox else pod["adj"],
                          "cgroupsPath": "%s:cri-containerd:%s" % (pod["slice"], cid),
                          "annotations": dict(_annotations(pod, sandbox))})
            lines.append("cp -a $root %s/pods/%s" % (LIB, cid))
        # kubelet's log directory of the pod, the container's log and its symlink.
        lines.append("mkdir -p %s/%s && : >%s/%s/0.log && ln -sfn %s/%s/0.log /var/log/containers/%s_%s_%s-%s.log"
                     % (pod["logs"], pod["container"], pod["logs"], pod["container"], pod["logs"], pod["container"],
                        pod["pod"], pod["namespace"], pod["container"], pod["container_id"]))
    lines.append("cat >%s/specs.py <<'EOF'\n%sEOF" % (RUN, SPECS))
    lines.append("cat >%s/specs.json <<'EOF'\n%s\nEOF" % (RUN, json.dumps(specs)))
    lines.append("python3 %s/specs.py %s/spec.json %s/specs.json" % (RUN, RUN, RUN))
    for spec in specs:
        lines.append("ctr -n k8s.io run -d --null-io --runc-systemd-cgroup --cgroup %s --config %s/spec-%s.json %s"
                     % (spec["cgroupsPath"], RUN, spec["id"], spec["id"]))
    lines.append("ctr -n k8s.io task ls | sed -n 's/^\\([0-9a-f]\\{64\\}\\) *\\([0-9]*\\) .*/task \\1 \\2/p'")
    lines.append("echo twin $(systemctl show -P MainPID oomg-twin.service)")
    return "\n".join(lines) + "\n"


def _parse_setup(out):
    found = {"tasks": {}}
    for line in out.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "task" and len(fields) == 3:
            found["tasks"][fields[1]] = int(fields[2])
        elif fields[0] in ("docker", "podman", "lxc", "hog", "twin"):
            found[fields[0]] = fields[1:]
    return found


def _hand_change(guest, pid, value):
    guest.ssh("echo %d >/proc/%d/oom_score_adj" % (value, pid))


def _cleanup_script(pods):
    ids = " ".join(cid for pod in pods for cid in (pod["container_id"], pod["sandbox_id"]))
    lines = [
        "systemctl stop oomg-twin.service",
        "docker rm -f %s %s" % (NAMES["docker"], HOG),
        "docker rmi -f %s" % IMAGE,
        "podman rm -f -t 0 %s" % NAMES["podman"],
        "podman rmi -f %s" % IMAGE,
        "lxc-stop -P %s/lxc -n %s -k" % (LIB, NAMES["lxc"]),
        "for id in %s; do ctr -n k8s.io task kill -s SIGKILL $id; done" % ids,
        "sleep 1",
        "for id in %s; do ctr -n k8s.io task rm -f $id; ctr -n k8s.io container rm $id; done" % ids,
        "ctr -n k8s.io images rm %s" % IMAGE,
        "systemctl stop kubepods.slice",
        "rm -rf %s" % " ".join([pod["logs"] for pod in pods]),
        "rm -f %s" % " ".join("/var/log/containers/%s_%s_%s-%s.log" % (
            pod["pod"], pod["namespace"], pod["container"], pod["container_id"]) for pod in pods),
        "rmdir /var/log/pods /var/log/containers",
        "systemctl stop docker.socket docker.service containerd.service",
        "systemctl reset-failed oomg-twin.service",
        # LXC's cgroup for moving processes out of the way, dockerd's identity file: both made at their start.
        "rmdir /sys/fs/cgroup/lxc.pivot",
        "rm -rf %s %s /etc/docker/daemon.json /etc/docker/key.json" % (LIB, RUN),
    ]
    return "\n".join("%s >/dev/null 2>&1" % line for line in lines) + "\n"


def _prepare(guest):
    facts = {"before": _parse_state(guest.sh(_state_script()))}
    mem_total_kb = int(guest.sh("sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo"))
    pods = _pods_for(mem_total_kb)
    facts["pods"] = pods
    done = guest.ssh("bash -s", stdin=_setup_script(pods), check=False, timeout=600)
    facts["setup"] = _parse_setup(done.stdout)
    if done.returncode != 0:
        raise AssertionError("%s: setting up the containers failed (%d):\n%s\n%s"
                             % (guest.name, done.returncode, done.stdout[-3000:], done.stderr[-3000:]))
    tasks = facts["setup"]["tasks"]
    db = [pod for pod in pods if pod["key"] == "db"][0]
    _hand_change(guest, tasks[db["container_id"]], BY_HAND)
    return facts


def _cleanup(guest, facts):
    guest.ssh("bash -s", stdin=_cleanup_script(facts.get("pods") or []), check=False, timeout=300)
    facts["after"] = _parse_state(guest.sh(_state_script()))


def _prometheus_samples(text):
    """[(name, {label: value}, value as text)] of a Prometheus text file, read by Prometheus' own parser."""
    return [(sample.name, sample.labels, "%g" % sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples]


@pytest.fixture(scope="module")
def ran(guests, ansible, tmp_path_factory):
    """Everything on both guests at once, then the reads, the audit and the rules on both."""
    facts = dict((name, {}) for name in guests)

    def prepare(name):
        facts[name].update(_prepare(guests[name]))

    try:
        with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
            list(pool.map(prepare, guests))
        info = ansible.module_results("oomguard.fleet.oom_score_info",
                                      {"names": [APP, "pause", "conmon"], "top": 0})
        out = tmp_path_factory.mktemp("containers-audit")
        audit = ansible.playbook(AUDIT, {"oom_audit_hosts": "guests", "oom_audit_report_dir": str(out),
                                         "oom_audit_events_since": "1h", "oom_audit_events_limit": 200,
                                         "oom_audit_kill_order_top": 5, "oom_audit_prometheus_dir": PROM_DIR})
        audit.assert_ok()
        reports = {}
        for fmt in ("json", "xml", "html"):
            with open(os.path.join(str(out), "oom-audit." + fmt)) as handle:
                reports[fmt] = handle.read()
        for name, guest in guests.items():
            facts[name]["prom"] = guest.sh("cat %s/oomguard.prom" % PROM_DIR)
        rule = {"name": APP, "value": RULE_VALUE}
        excluded = ansible.module_results("oomguard.fleet.oom_score_adj", {"rules": [rule]})
        included = ansible.module_results("oomguard.fleet.oom_score_adj",
                                          {"rules": [dict(rule, containers="include")]})
        for name, guest in guests.items():
            facts[name]["adj_after"] = guest.adj(_container_pids(facts[name]) + [_twin_pid(facts[name])])
        yield {"facts": facts, "info": info, "reports": reports, "exclude": excluded, "include": included}
    finally:
        with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
            list(pool.map(lambda name: _cleanup(guests[name], facts[name]), guests))
    # Whatever the tests found: the guests must be as the image left them (an error of the last test if not).
    for name in guests:
        _assert_quiet(name, "after the test", facts[name]["after"])


def _assert_quiet(name, when, state):
    """The runtimes' units neither enabled nor running, no runtime or test process, no kubepods or LXC cgroup."""
    assert {"docker.service", "containerd.service", "lxc.service"} <= set(state["units"]), (name, when, state)
    for unit, (enabled, active) in state["units"].items():
        assert enabled not in ("enabled", "enabled-runtime") and active != "active", (name, when, unit, state)
    assert state["procs"] == [] and state["cgroups"] == [], (name, when, state)


def _twin_pid(facts):
    return int(facts["setup"]["twin"][0])


def _runtime_pids(facts):
    """{runtime or pod key: pid of its oomg-app}."""
    setup = facts["setup"]
    pids = {"docker": int(setup["docker"][1]), "podman": int(setup["podman"][1]), "lxc": int(setup["lxc"][1])}
    for pod in facts["pods"]:
        pids[pod["key"]] = setup["tasks"][pod["container_id"]]
    return pids


def _container_pids(facts):
    return sorted(_runtime_pids(facts).values())


def _rows(result):
    return dict((row["pid"], row) for row in result["processes"])


def test_the_runtimes_are_installed_but_neither_enabled_nor_running_before_the_test_starts_them(guests, ran):
    """(The same is checked after the cleanup, at the end of the module.)"""
    for name in guests:
        _assert_quiet(name, "before the test", ran["facts"][name]["before"])


def test_each_runtimes_container_is_labelled_with_runtime_full_id_and_name(guests, ran):
    for name in guests:
        facts = ran["facts"][name]
        rows = _rows(ran["info"][name])
        pids = _runtime_pids(facts)
        setup = facts["setup"]
        expected = {
            "docker": ("docker", setup["docker"][0], NAMES["docker"], IMAGE),
            "podman": ("podman", setup["podman"][0], NAMES["podman"], IMAGE),
            "lxc": ("lxc", NAMES["lxc"], NAMES["lxc"], None),
        }
        for pod in facts["pods"]:
            expected[pod["key"]] = ("containerd", pod["container_id"], pod["container"], IMAGE)
        for key, (runtime, cid, cname, image) in expected.items():
            label = rows[pids[key]]["container"]
            assert label is not None, (name, key, rows[pids[key]])
            assert (label["runtime"], label["id"], label["name"], label["image"], label["role"]) == \
                (runtime, cid, cname, image, "workload"), (name, key, label)
            assert rows[pids[key]]["name"] == APP
        # The host's own oomg-app is in no container; Podman's conmon is its helper.
        twin = rows[_twin_pid(facts)]
        assert (twin["name"], twin["container"]) == (APP, None), (name, twin)
        conmon = rows[int(setup["podman"][2])]["container"]
        assert (conmon["runtime"], conmon["id"], conmon["role"]) == ("podman", None, "helper"), (name, conmon)


def test_a_name_rule_changes_the_hosts_twin_and_leaves_every_runtimes_containers_alone_unless_told(guests, ran):
    for name in guests:
        facts = ran["facts"][name]
        twin = _twin_pid(facts)
        pids = _runtime_pids(facts)
        excluded = ran["exclude"][name]
        assert [change["pid"] for change in excluded["changes"]] == [twin], (name, excluded["changes"])
        left = dict((entry["pid"], entry) for entry in excluded["excluded"])
        for key, pid in pids.items():
            assert pid in left and left[pid].get("runtime_owned") is True, (name, key, pid, excluded["excluded"])
        assert left[pids["docker"]]["reason"].startswith("managed by docker (container %s): " % NAMES["docker"])
        assert left[pids["podman"]]["reason"].startswith("managed by podman (container %s): " % NAMES["podman"])
        assert left[pids["lxc"]]["reason"].startswith("managed by lxc (container %s): " % NAMES["lxc"])
        web = [pod for pod in facts["pods"] if pod["key"] == "web"][0]
        assert left[pids["web"]]["reason"].startswith("managed by containerd (container web, pod %s/%s): "
                                                      % (web["namespace"], web["pod"])), left[pids["web"]]
        included = ran["include"][name]
        assert sorted(change["pid"] for change in included["changes"]) == sorted(pids.values()), \
            (name, included["changes"])
        assert not [entry for entry in included["excluded"] if entry["pid"] in pids.values()], included["excluded"]
        after = facts["adj_after"]
        assert set(after.values()) == {RULE_VALUE} and len(after) == len(pids) + 1, (name, after)


def test_a_kubernetes_nodes_pods_are_labelled_with_pod_uid_qos_and_their_sandboxes(guests, ran):
    for name in guests:
        facts = ran["facts"][name]
        rows = _rows(ran["info"][name])
        tasks = facts["setup"]["tasks"]
        for pod in facts["pods"]:
            for sandbox in (True, False):
                row = rows[tasks[pod["sandbox_id"] if sandbox else pod["container_id"]]]
                label = row["container"]
                assert (label["runtime"], label["pod_uid"], label["qos"], label["pod"]) == \
                    ("containerd", pod["uid"], pod["qos"], "%s/%s" % (pod["namespace"], pod["pod"])), (name, label)
                assert label["role"] == ("sandbox" if sandbox else "workload"), (name, row)
                # The values the runtime wrote from the OCI spec: kubelet's policy (the db pod's by hand).
                if sandbox:
                    assert (row["name"], row["oom_score_adj"]) == ("pause", SANDBOX_ADJ), (name, row)
                else:
                    assert row["oom_score_adj"] == (BY_HAND if pod["key"] == "db" else pod["adj"]), (name, row)


def _html_row(page, pid, container):
    """Whether the HTML report has a table row with this pid and this container text."""
    row = r"<tr>(?:(?!</tr>).)*?<td class=\"num\">%d</td>(?:(?!</tr>).)*?<span class=\"container\">%s</span>" % (
        pid, re.escape(html.escape(container)))
    return re.search(row, page, re.S) is not None


def _host(report, name):
    return [host for host in json.loads(report)["hosts"] if host["name"] == name][0]


def test_a_value_changed_by_hand_in_a_pod_is_drift_with_kubelets_value_in_every_report(guests, ran):
    junit = ET.fromstring(ran["reports"]["xml"])
    for name in guests:
        facts = ran["facts"][name]
        db = [pod for pod in facts["pods"] if pod["key"] == "db"][0]
        pid = facts["setup"]["tasks"][db["container_id"]]
        host = _host(ran["reports"]["json"], name)
        (drift,) = host["pod_drift"]
        assert (drift["pid"], drift["oom_score_adj"], drift["expected_oom_score_adj"]) == (pid, BY_HAND, -997), drift
        assert (drift["container"]["pod"], drift["container"]["name"], drift["container"]["qos"]) == \
            ("shop/db-0", "db", "guaranteed"), drift
        cases = [case for case in junit.iter("testcase")
                 if case.get("classname") == name and case.get("name") == "pod-drift:shop/db-0:db[%d]" % pid]
        assert len(cases) == 1 and cases[0].find("failure") is not None, (name, ran["reports"]["xml"][-3000:])
        samples = _prometheus_samples(facts["prom"])
        assert [value for metric, _labels, value in samples if metric == "oomguard_pod_drift"] == ["1"], name
        assert _html_row(ran["reports"]["html"], pid, "container db of pod shop/db-0 (containerd, guaranteed)"), name


def test_the_kill_order_names_the_pods(guests, ran):
    for name in guests:
        facts = ran["facts"][name]
        host = _host(ran["reports"]["json"], name)
        pods = dict((pod["key"], pod) for pod in facts["pods"])
        tasks = facts["setup"]["tasks"]
        victims = host["kill_order"]
        # BestEffort (1000) goes first, the Burstable container next: both named with their pods.
        assert [v["pid"] for v in victims[:2]] == [tasks[pods["job"]["container_id"]],
                                                   tasks[pods["web"]["container_id"]]], (name, victims)
        assert [(v["container"]["pod"], v["container"]["name"], v["container"]["qos"]) for v in victims[:2]] == \
            [("batch/job-x1", "worker", "besteffort"), ("shop/web-7f9c", "web", "burstable")], (name, victims)
        samples = _prometheus_samples(facts["prom"])
        first = [labels for metric, labels, _value in samples
                 if metric == "oomguard_next_victim_oom_score" and labels.get("rank") == "1"]
        assert first and (first[0]["pod"], first[0]["container"]) == ("batch/job-x1", "worker"), (name, first)


def test_a_memcg_kill_in_a_docker_container_is_labelled_in_json_html_junit_and_prometheus(guests, ran):
    junit = ET.fromstring(ran["reports"]["xml"])
    page = ran["reports"]["html"]
    for name in guests:
        facts = ran["facts"][name]
        # Docker's own OOMKilled flag is not asserted: on these hosts it was false once for the same kernel kill
        # (it depends on when containerd's OOM event arrives); the kernel's log is what the audit reads.
        hog_id, _oom_killed, exit_code = facts["setup"]["hog"]
        assert exit_code == "137", (name, "the hog did not die of SIGKILL", facts["setup"]["hog"])
        host = _host(ran["reports"]["json"], name)
        mine = [event for event in host["events"] if (event.get("container") or {}).get("id") == hog_id]
        assert len(mine) == 1, (name, [e.get("container") for e in host["events"]])
        (event,) = mine
        assert (event["killer"], event["scope"], event["name"]) == ("kernel", "memcg", "dd"), event
        assert event["container"] == {"runtime": "docker", "id": hog_id, "pod_uid": None, "qos": None,
                                      "role": "workload", "name": HOG, "pod": None, "image": IMAGE}, event
        text = "pid %d (dd) in container %s (docker)" % (event["pid"], HOG)
        suite = [s for s in junit.iter("testsuite") if s.get("name") == name][0]
        assert text in (suite.find("system-out").text or ""), (name, suite.find("system-out").text)
        assert _html_row(page, event["pid"], "container %s (docker)" % HOG), name
        samples = _prometheus_samples(facts["prom"])
        kills = [(labels, value) for metric, labels, value in samples if metric == "oomguard_recent_container_oom_kills"]
        assert ({"killer": "kernel", "runtime": "docker", "pod": "", "container": HOG}, "1") in kills, (name, kills)


def test_the_values_runtimes_give_are_no_protection_leaks(guests, ran):
    """dockerd (-500) and containerd (-999) have them from their units, the shims (containerd's + 1) set their
    own, conmon (-1000) is Podman's helper, the pods' values (-998, -997) are kubelet's and containerd's."""
    for name in guests:
        host = _host(ran["reports"]["json"], name)
        assert [leak for leak in host["leaks"] if leak["name"] in RUNTIME_PROCESSES] == [], (name, host["leaks"])
