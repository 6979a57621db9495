# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""README.md's "Using the collection" section works as written, outside this repository.

Each fenced block preceded by `<!-- readme-test: file NAME -->` is written to NAME, and each one preceded by
`<!-- readme-test: run STEP -->` is run with bash (-e: any failing command fails its step), in README order,
in an empty temporary directory, with the ansible of the environment running the tests (PATH) and nothing of
this checkout's Ansible setup (no ANSIBLE_* variable, no PYTHONPATH, a fresh HOME). The README's `git clone`
is the one step replaced: `fleet/` is a copy of this working tree's files as a commit would hold them.
This machine has no systemd as PID 1 and may lack CAP_SYS_RESOURCE: the role then reports the units as skipped
and the check-mode run must still succeed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
# A marker, blank lines, then one fenced block (any info string).
BLOCK = re.compile(r"<!-- readme-test: (file|run) (\S+) -->\n\s*```[^\n]*\n(.*?)\n```", re.S)
STEPS = ["file ansible.cfg", "run install", "file inventory.yml", "run check", "run audit", "run gate"]


def readme_blocks(text):
    """[(kind, name, content)] of the marked blocks, in README order."""
    return BLOCK.findall(text)


def _module_names():
    return sorted(os.path.splitext(os.path.basename(path))[0]
                  for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                  if not os.path.basename(path).startswith("_"))


def _copy_working_tree(dest):
    """The files a commit of this working tree would hold (tracked and new, not ignored), as a clone has them."""
    listed = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(REPO, rel)
        if not os.path.isfile(src):  # deleted in the working tree
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel))


def _clean_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env.update({"HOME": str(home), "NO_COLOR": "1"})
    return env


@pytest.fixture(scope="module")
def user_section(tmp_path_factory):
    """Runs the README's marked blocks in a new project directory: {step: CompletedProcess}, and the directory.
    Stops at the first step that fails (later steps are missing from the result)."""
    assert shutil.which("ansible-galaxy"), "the tools venv's bin/ must be on PATH (see docs/testing.md)"
    project = tmp_path_factory.mktemp("readme-user")
    assert not str(project.resolve()).startswith(os.path.realpath(REPO) + os.sep)
    home = project / "home"
    home.mkdir()
    _copy_working_tree(str(project / "fleet"))
    env = _clean_env(home)
    results = {}
    with open(README, encoding="utf-8") as f:
        blocks = readme_blocks(f.read())
    for kind, name, content in blocks:
        if kind == "file":
            (project / name).write_text(content + "\n", encoding="utf-8")
            continue
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", content], cwd=str(project), env=env,
                                capture_output=True, text=True, timeout=900, check=False)
        results[name] = result
        if result.returncode != 0 and name != "gate":
            break
    return results, project


def _ok(results, step):
    assert step in results, "the README step %r did not run (an earlier one failed)" % step
    result = results[step]
    assert result.returncode == 0, "README step %r failed (exit %d):\n%s\n%s" % (
        step, result.returncode, result.stdout[-6000:], result.stderr[-6000:])
    return result.stdout + result.stderr


def test_the_user_section_marks_every_step_in_order():
    with open(README, encoding="utf-8") as f:
        steps = ["%s %s" % (kind, name) for kind, name, _content in readme_blocks(f.read())]
    assert steps == STEPS


def test_block_extraction_takes_the_fenced_block_after_the_marker():
    text = "x\n<!-- readme-test: run demo -->\n\n```sh\necho one\necho two\n```\n```sh\nnot this\n```\n"
    assert readme_blocks(text) == [("run", "demo", "echo one\necho two")]


def test_install_builds_installs_and_ansible_doc_finds_everything(user_section):
    results, project = user_section
    output = _ok(results, "install")
    assert len(glob.glob(str(project / "oomguard-fleet-*.tar.gz"))) == 1
    installed = project / "collections" / "ansible_collections" / "oomguard" / "fleet"
    assert (installed / "MANIFEST.json").is_file()
    # The installed copy, not a link to the checkout.
    assert not installed.is_symlink()
    for module in _module_names():
        assert "oomguard.fleet.%s " % module in output, "ansible-doc -l does not list %s" % module
    for plugin in glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml")):
        name = os.path.splitext(os.path.basename(plugin))[0]
        assert "oomguard.fleet.%s " % name in output, "ansible-doc -t filter -l does not list %s" % name
    assert "oomguard.fleet.oom_protection:" in output
    assert "oomguard.fleet.oom_score_info" in output and "Kernel-accurate OOM facts" in output


def test_harden_in_check_mode_succeeds_on_this_machine(user_section):
    results = user_section[0]
    output = _ok(results, "check")
    recap = re.search(r"^localhost\s*:.*$", output, re.M)
    assert recap, output[-3000:]
    assert " failed=0 " in recap.group(0) and " unreachable=0 " in recap.group(0)
    # The inventory as written reached the role: its assignments are in the summary.
    assert "ssh.service" in output and "^(pg_dump|rsync)$" in output


def test_the_audit_writes_its_reports(user_section):
    results, project = user_section
    _ok(results, "audit")
    reports = project / "reports"
    for name in ("oom-audit.json", "oom-audit.xml", "oom-audit.html"):
        assert (reports / name).is_file(), "%s missing" % name
    report = json.loads((reports / "oom-audit.json").read_text(encoding="utf-8"))
    hosts = {host["name"]: host for host in report["hosts"]}
    assert list(hosts) == ["localhost"]
    assert hosts["localhost"]["reachable"] is True
    assert hosts["localhost"]["kill_order"], "no predicted kill order for this machine"


def test_the_ci_gates_run_and_fail_only_through_their_own_gate(user_section):
    """The gates depend on this machine's state (an audit finding such as a protection leak or memory at risk
    fails it, as it should), so either they pass, or the only failed task is the gate's own."""
    results = user_section[0]
    assert "gate" in results, "the README step 'gate' did not run (an earlier one failed)"
    result = results["gate"]
    output = result.stdout + result.stderr
    if result.returncode == 0:
        assert output.count("PLAY RECAP") == 2
        return
    failed_tasks = re.findall(r"^TASK \[([^\]]*)\][^\n]*\n(?:(?!^TASK ).)*?^fatal:", output, re.M | re.S)
    assert failed_tasks, output[-4000:]
    for task in failed_tasks:
        assert re.search(r"\bFail on\b", task), "the gate failed in %r, not in its own gate:\n%s" % (
            task, output[-4000:])
