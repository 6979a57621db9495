# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Podman containers on this machine (cgroupfs manager on a hybrid cgroup v1 host): oom_score_info labels
their processes with runtime, full id, name and image from Podman's own files, labels conmon as Podman's
helper, and leaves a host process of the same name unlabelled.

The image is built here from a local root file system (no registry): a few symlinks into the host's /usr,
which the container mounts read-only, so the container runs the host's own `sleep`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

import livetools

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINERS_CONF = os.path.join(HERE, "..", "..", "hack", "podman", "containers.conf")
# Both sleeps get an argument no other process on the machine has, so a rule can match exactly the two.
DURATION = "600.%d" % os.getpid()


def _podman(*args, check=True):
    env = dict(os.environ, CONTAINERS_CONF=os.path.abspath(CONTAINERS_CONF))
    done = subprocess.run(["podman"] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=180, check=False)
    if check and done.returncode != 0:
        raise AssertionError("podman %s failed: %s" % (" ".join(args), done.stderr.decode("utf-8", "replace")))
    return done.stdout.decode("utf-8", "replace").strip()


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    """One running Podman container and a host `sleep` twin; both gone at the end, image included."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed (make setup installs it)")
    tag = "localhost/oomguard-livetest:%d" % os.getpid()
    name = "oomguard-live-%d" % os.getpid()
    twin = None
    _podman("import", "-q", livetools.host_usr_rootfs_tar(str(tmp_path_factory.mktemp("image"))), tag)
    try:
        cid = _podman("run", "-d", "--name", name, "-v", "/usr:/usr:ro", tag, "sleep", DURATION)
        pid = int(_podman("inspect", "-f", "{{.State.Pid}}", cid))
        conmon = int(_podman("inspect", "-f", "{{.State.ConmonPid}}", cid))
        twin = subprocess.Popen(["sleep", DURATION])
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists("/proc/%d" % pid):
            time.sleep(0.1)
        yield {"id": cid, "name": name, "image": tag, "pid": pid, "conmon": conmon, "twin": twin.pid}
    finally:
        if twin is not None:
            twin.kill()
            twin.wait()
        _podman("rm", "-f", "-t", "0", name, check=False)
        _podman("rmi", "-f", tag, check=False)
    assert name not in _podman("ps", "-a", "--format", "{{.Names}}", check=False)


def test_a_podman_container_is_labelled_with_runtime_full_id_name_and_image(container):
    result = livetools.run_module_ok("oom_score_info", {
        "pids": [container["pid"], container["conmon"], container["twin"]], "top": 5})
    rows = dict((row["pid"], row) for row in result["processes"])
    assert set(rows) == {container["pid"], container["conmon"], container["twin"]}, sorted(rows)
    label = rows[container["pid"]]["container"]
    assert label == {"runtime": "podman", "id": container["id"], "pod_uid": None, "qos": None,
                     "role": "workload", "name": container["name"], "pod": None, "image": container["image"]}, label
    # The same label in the kill order: both sleeps have adj 0 and a few pages, so both are candidates.
    victims = dict((row["pid"], row) for row in result["kill_order"])
    assert victims[container["pid"]]["container"] == label
    # conmon is Podman's helper, not the container; the host's own sleep is no container at all.
    helper = rows[container["conmon"]]["container"]
    assert (helper["runtime"], helper["id"], helper["role"]) == ("podman", None, "helper"), helper
    assert rows[container["twin"]]["container"] is None
    assert rows[container["twin"]]["name"] == rows[container["pid"]]["name"] == "sleep"


def _adj(pid):
    with open("/proc/%d/oom_score_adj" % pid) as handle:
        return int(handle.read())


def test_a_name_rule_changes_the_hosts_twin_and_leaves_the_container_alone_unless_told(container):
    pid, twin = container["pid"], container["twin"]
    rule = {"cmdline_pattern": "^sleep %s$" % DURATION.replace(".", r"\."), "value": 700}
    checked = livetools.run_module_ok("oom_score_adj", {"rules": [rule]}, check=True)
    assert [c["pid"] for c in checked["changes"]] == [twin] and (_adj(twin), _adj(pid)) == (0, 0)
    result = livetools.run_module_ok("oom_score_adj", {"rules": [rule]})
    assert [c["pid"] for c in result["changes"]] == [twin]
    (left,) = [entry for entry in result["excluded"] if entry["pid"] == pid]
    assert left["reason"].startswith("managed by podman (container %s): " % container["name"]), left
    assert (_adj(twin), _adj(pid)) == (700, 0)
    again = livetools.run_module_ok("oom_score_adj", {"rules": [rule]})
    assert again["changed"] is False and again["changes"] == []
    # Said explicitly, the rule changes the container's process too.
    included = livetools.run_module_ok("oom_score_adj", {"rules": [dict(rule, containers="include")]})
    assert [c["pid"] for c in included["changes"]] == [pid] and included["excluded"] == []
    assert (_adj(twin), _adj(pid)) == (700, 700)


def test_a_memcg_kill_in_a_container_is_labelled_with_it(container):
    """A container over its --memory limit: the kernel kills its process in the container's memory cgroup,
    and oom_events_info names the container (its files still exist, so its name too)."""
    name = container["name"] + "-hog"
    cid = _podman("run", "-d", "--name", name, "--memory", "64m", "--memory-swap", "64m", "-v", "/usr:/usr:ro",
                  container["image"], "python3", "-c", "a = bytearray(400 << 20)")
    try:
        assert _podman("wait", name) == "137", "the container was not killed by SIGKILL"
        result = livetools.run_module_ok("oom_events_info", {"since": "10m"})
        mine = [event for event in result["events"] if (event["container"] or {}).get("id") == cid]
        assert len(mine) == 1, [e["raw"] for e in result["events"]][-5:]
        (event,) = mine
        assert (event["killer"], event["scope"], event["name"]) == ("kernel", "memcg", "python3"), event
        assert {k: event["container"][k] for k in ("runtime", "id", "role", "name", "image")} == {
            "runtime": "podman", "id": cid, "role": "workload", "name": name, "image": container["image"]}
    finally:
        _podman("rm", "-f", "-t", "0", name, check=False)
