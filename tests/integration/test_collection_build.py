# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: `ansible-galaxy collection build` makes a tarball without the test and
build machinery, `ansible-galaxy collection install` installs that tarball, and ansible-doc finds every
module of the installed copy."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Top-level folders that are for developing the collection, never for using it.
NOT_SHIPPED = ("tests", "extensions", "benchmarks", "hack", ".build", ".ci", ".git", "requirements", "reports")


def _tool(name):
    """The ansible CLI of the environment running the tests (next to its Python), else from PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


def _run(argv, env=None):
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, "%s failed (%d):\n%s\n%s" % (argv, result.returncode, result.stdout, result.stderr)
    return result


def _env(tmp_path, collections_path):
    """Ansible sees only the installed copy: the source tree's collection path (PYTHONPATH) is dropped."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update({
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    })
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run([_tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), REPO])
    (path,) = glob.glob(str(out / "oomguard-fleet-*.tar.gz"))
    return path


def _module_names():
    return sorted(os.path.splitext(os.path.basename(path))[0]
                  for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                  if not os.path.basename(path).startswith("_"))


def test_tarball_ships_no_tests_molecule_benchmarks_or_build_output(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    shipped = sorted({name.split("/")[0] for name in names if name.split("/")[0] in NOT_SHIPPED})
    assert shipped == [], "the tarball ships %s" % shipped
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_tarball_has_the_collection_metadata_and_content(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("oomguard", "fleet")
    assert info["dependencies"] == {}
    for required in ("meta/runtime.yml", "README.md", "CHANGELOG.md", "changelogs/changelog.yaml"):
        assert required in names, "%s is missing from the tarball" % required


def test_tarball_installs_and_ansible_doc_finds_every_module(tarball, tmp_path):
    target = tmp_path / "collections"
    env = _env(tmp_path, target)
    _run([_tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(target), tarball], env=env)
    installed = target / "ansible_collections" / "oomguard" / "fleet"
    assert (installed / "MANIFEST.json").is_file()

    listed = _run([_tool("ansible-galaxy"), "collection", "list", "oomguard.fleet", "--format", "json"], env=env)
    assert any("oomguard.fleet" in collections for collections in json.loads(listed.stdout).values())

    modules = _module_names()
    if not modules:
        pytest.skip("no module in plugins/modules yet")
    found = _run([_tool("ansible-doc"), "--list", "--json", "-t", "module", "oomguard.fleet"], env=env)
    assert sorted(name.split(".")[-1] for name in json.loads(found.stdout)) == modules
    for module in modules:
        doc = _run([_tool("ansible-doc"), "--json", "-t", "module", "oomguard.fleet." + module], env=env)
        documented = json.loads(doc.stdout)["oomguard.fleet." + module]["doc"]
        assert documented["collection"] == "oomguard.fleet"
        assert documented["filename"].startswith(str(installed)), documented["filename"]
