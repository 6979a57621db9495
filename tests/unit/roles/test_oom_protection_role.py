# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The oom_protection role's interface stays in one piece: defaults/main.yml, meta/argument_specs.yml and the
README's variable section agree, and every rendered file starts with ansible_managed and a fingerprint.

Regenerate the README section with: python tests/unit/roles/test_oom_protection_role.py --write
"""

from __future__ import annotations

import pathlib
import re
import sys

import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "oom_protection"
BEGIN = "<!-- BEGIN generated from meta/argument_specs.yml: do not edit -->"
END = "<!-- END generated from meta/argument_specs.yml -->"


def load(relative):
    return yaml.safe_load((ROLE / relative).read_text())


def options():
    return load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def _markup(text):
    """Ansible doc markup to Markdown: O(x)/V(x)/C(x) -> `x`, M(x) -> `x`."""
    return re.sub(r"\b[OVCMP]\(([^)]*)\)", r"`\1`", text)


def render_variables():
    lines = [BEGIN, "", "| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, spec in options().items():
        kind = spec.get("type", "str")
        if kind == "list" and spec.get("elements"):
            kind = "list of %s" % spec["elements"]
        default = spec.get("default")
        if isinstance(default, (dict, list)) and default:
            shown = "see below" if isinstance(default, dict) else ", ".join("`%s`" % item for item in default)
        else:
            shown = "`%s`" % yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
        description = " ".join(_markup(line) for line in spec["description"]) if isinstance(
            spec["description"], list) else _markup(spec["description"])
        if spec.get("choices"):
            description += " Choices: %s." % ", ".join("`%s`" % choice for choice in spec["choices"])
        lines.append("| `%s` | %s | %s | %s |" % (name, kind, shown, description.replace("|", "\\|")))
    for name, spec in options().items():
        if isinstance(spec.get("default"), dict) and spec["default"]:
            lines += ["", "Default of `%s`:" % name, "", "```yaml",
                      yaml.safe_dump({name: spec["default"]}, sort_keys=False, width=110).rstrip(), "```"]
    lines += ["", END]
    return "\n".join(lines)


def readme_with_section(text):
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render_variables() + text[end:]


def test_every_default_equals_the_argument_spec_default():
    defaults = load("defaults/main.yml")
    specs = options()
    for name, value in defaults.items():
        assert name in specs, "%s is in defaults/main.yml but not in meta/argument_specs.yml" % name
        assert specs[name].get("default") == value, "%s: defaults/main.yml and argument_specs.yml differ" % name


def test_every_argument_spec_option_has_a_default_in_defaults():
    defaults = load("defaults/main.yml")
    for name, spec in options().items():
        assert name in defaults, "%s is in meta/argument_specs.yml but not in defaults/main.yml" % name
        assert "default" in spec, "%s has no default in meta/argument_specs.yml" % name


def test_public_variables_are_prefixed_and_private_ones_are_double_underscored():
    assert all(name.startswith("oom_protection_") for name in load("defaults/main.yml"))
    assert all(name.startswith("__oom_protection_") for name in load("vars/main.yml"))


def test_required_public_variables_exist():
    for name in ("tiers", "units", "processes", "state", "restart", "sysctls", "fail_on_drift", "allow_oom_disable"):
        assert "oom_protection_" + name in options()


def test_readme_variables_section_is_generated_from_argument_specs():
    text = (ROLE / "README.md").read_text()
    assert readme_with_section(text) == text, (
        "roles/oom_protection/README.md is out of date: run python tests/unit/roles/test_oom_protection_role.py --write")


def test_every_template_starts_with_ansible_managed_and_a_fingerprint():
    for template in sorted((ROLE / "templates").glob("*.j2")):
        lines = template.read_text().splitlines()
        assert lines[0].startswith("{{ ansible_managed"), template.name
        if template.name != "dropin_header.j2":  # the drop-in module adds its fingerprint after this header
            assert lines[1] == "# oomguard-owner: {{ __oom_protection_owner_tag }}", template.name


def test_role_uses_fully_qualified_module_names():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()):
            for item in task.get("block", [task]):
                actions = [key for key in item if "." in key]
                assert actions, "%s: task %r has no FQCN action" % (path.name, item.get("name"))


def test_the_input_check_runs_first_as_a_dependency():
    """ansible runs a role's dependencies before the argument spec validation it prepends to the role's tasks:
    only there does the one-line input check speak before the validation's long output."""
    assert load("meta/main.yml")["dependencies"] == [{"role": "oomguard.fleet.oom_protection_input"}]
    checker = ROLE.parent / "oom_protection_input"
    meta = yaml.safe_load((checker / "meta" / "main.yml").read_text())
    assert meta["allow_duplicates"] is True and meta["dependencies"] == []
    assert not (checker / "meta" / "argument_specs.yml").exists(), "its own validation task would print first"
    tasks = yaml.safe_load((checker / "tasks" / "main.yml").read_text())
    assert len(tasks) == 1 and "ansible.builtin.fail" in tasks[0]
    text = (checker / "tasks" / "main.yml").read_text()
    # It reads this role's argument spec and group-variable patterns, so they cannot disagree with the role.
    assert "/../oom_protection/meta/argument_specs.yml" in text
    for name in ("__oom_protection_units_var_pattern", "__oom_protection_processes_var_pattern"):
        assert name in text and name in load("vars/main.yml")


def test_the_summary_is_printed_as_lines():
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    summary = [task for task in tasks if task["name"] == "Show the compliance summary"]
    assert summary[0]["ansible.builtin.debug"]["msg"] == (
        "{{ oom_protection_compliance | oomguard.fleet.oom_protection_summary_lines }}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        readme = ROLE / "README.md"
        readme.write_text(readme_with_section(readme.read_text()))
    else:
        print(render_variables())
