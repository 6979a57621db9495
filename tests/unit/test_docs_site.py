# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation site's sources (`make docs`, hack/build-docs) stay complete: every guide of docs/ is on
the site's guide list and in its navigation, the generated pages show every playbook header and every example
inventory file, and the role and the filters carry examples."""

from __future__ import annotations

import glob
import importlib.util
import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
# Pages that hack/docs/guide-pages.py generates next to the guides.
GENERATED = ["examples", "playbooks"]


def _guide_pages():
    spec = importlib.util.spec_from_file_location("guide_pages", os.path.join(REPO, "hack", "docs", "guide-pages.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as f:
        return f.read()


def test_every_guide_is_on_the_collections_guide_page():
    listed = re.findall(r":doc:`/guides/([\w-]+)`", _read("docs", "docsite", "rst", "guides.rst"))
    assert sorted(listed) == sorted(GUIDES + GENERATED)


def test_every_guide_is_in_the_site_navigation():
    listed = re.findall(r"^   guides/([\w-]+)$", _read("hack", "docs", "index.rst"), re.M)
    assert sorted(listed) == sorted(GUIDES + GENERATED)


def test_extra_docs_list_the_guide_page():
    extra = yaml.safe_load(_read("docs", "docsite", "extra-docs.yml"))
    entries = [entry for section in extra["sections"] for entry in section["toctree"]]
    assert entries == ["guides"]
    assert os.path.isfile(os.path.join(REPO, "docs", "docsite", "rst", "guides.rst"))


def test_playbook_header_is_the_comment_block_after_the_document_start(tmp_path):
    playbook = tmp_path / "demo.yml"
    playbook.write_text("---\n# oomguard.fleet.demo -- a demo.\n#\n#   run it\n\n- name: x\n  hosts: all\n# not this\n")
    assert _guide_pages().header_comment(playbook) == ["oomguard.fleet.demo -- a demo.", "", "  run it"]


def test_the_playbooks_page_shows_each_playbooks_header():
    page = _guide_pages().playbooks_page(__import__("pathlib").Path(REPO))
    for path in glob.glob(os.path.join(REPO, "playbooks", "*.yml")):
        name = os.path.splitext(os.path.basename(path))[0]
        first = next(line for line in _read("playbooks", os.path.basename(path)).splitlines()
                     if line.startswith("# "))[2:]
        assert "## `oomguard.fleet.%s`" % name in page
        assert first in page


def test_a_playbook_without_header_stops_the_build(tmp_path):
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "bare.yml").write_text("---\n- name: x\n  hosts: all\n")
    with pytest.raises(SystemExit, match="bare.yml has no header comment"):
        _guide_pages().playbooks_page(tmp_path)


def test_the_examples_page_shows_every_example_file_as_it_is():
    page = _guide_pages().examples_page(__import__("pathlib").Path(REPO))
    files = [p for p in glob.glob(os.path.join(REPO, "docs", "examples", "**", "*"), recursive=True)
             if os.path.isfile(p)]
    assert files
    for path in files:
        rel = os.path.relpath(path, os.path.join(REPO, "docs", "examples"))
        assert "## `%s`" % rel in page
        with open(path, encoding="utf-8") as f:
            assert f.read().rstrip("\n") in page


def test_the_role_entry_point_has_valid_yaml_examples():
    specs = yaml.safe_load(_read("roles", "oom_protection", "meta", "argument_specs.yml"))
    examples = specs["argument_specs"]["main"]["examples"]
    inventory, playbook = list(yaml.safe_load_all(examples))
    assert inventory["oom_protection_units"]["ssh.service"] == "critical"
    assert playbook[0]["roles"] == [{"role": "oomguard.fleet.oom_protection"}]


@pytest.mark.parametrize("doc", sorted(glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml"))),
                         ids=os.path.basename)
def test_every_filter_documents_examples(doc):
    with open(doc, encoding="utf-8") as f:
        assert yaml.safe_load(f)["EXAMPLES"].strip()
