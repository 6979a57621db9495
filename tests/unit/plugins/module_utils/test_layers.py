# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layers of plugins/module_utils and the one direction imports go (docs/architecture.md, "Layers").

modules, filters -> _tasks -> _report, _kill_history -> _host, _engine -> _model. A file imports from its own
package or from a lower layer; two layers of the same rank (_host and _engine, _report and _kill_history) do
not import each other. A name with a leading underscore is private to its package: no other package imports
it or reaches it through a module. Inside a package the modules import each other without a cycle. The
checker reads the source (ast), so an import inside a function counts.
"""

from __future__ import annotations

import ast
import os

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PACKAGE = "ansible_collections.oomguard.fleet.plugins.module_utils"
RANKS = {"_model": 0, "_host": 1, "_engine": 1, "_kill_history": 2, "_report": 2, "_tasks": 3}
TOP = 4  # plugins/modules, plugins/filter, plugins/doc_fragments: above every layer


def _layer_of(plugins, path):
    """(layer name, rank) of a file under plugins/; the layer is None above module_utils."""
    parts = os.path.relpath(path, plugins).split(os.sep)
    if parts[0] != "module_utils":
        return None, TOP
    if len(parts) != 3:
        return "", -1  # a flat file or a nested package: not in any layer
    return parts[1], RANKS.get(parts[1], -1)


def _targets(node):
    """[(layer, module path after the layer, imported names)] of an import of module_utils."""
    found = []
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == PACKAGE:
            for alias in node.names:
                found.append((alias.name, [], [], alias.asname or alias.name))
        elif node.module.startswith(PACKAGE + "."):
            rest = node.module[len(PACKAGE) + 1:].split(".")
            names = [alias.name for alias in node.names]
            if len(rest) == 1:  # from module_utils._host import procfs: the names are modules
                for alias in node.names:
                    found.append((rest[0], [alias.name], [], alias.asname or alias.name))
            else:
                found.append((rest[0], rest[1:], names, None))
    elif isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(PACKAGE + "."):
                rest = alias.name[len(PACKAGE) + 1:].split(".")
                found.append((rest[0], rest[1:], [], None))
    return found


def _cycles(edges):
    """Each import cycle among the modules of one package once, as "a -> b -> a" (depth-first search)."""
    found, done = [], set()

    def visit(node, path):
        if node in path:
            cycle = path[path.index(node):] + [node]
            start = cycle.index(min(cycle[:-1]))
            text = " -> ".join(cycle[start:-1] + cycle[:start] + [cycle[start]])
            if text not in found:
                found.append(text)
            return
        if node in done:
            return
        for target in sorted(edges.get(node, ())):
            visit(target, path + [node])
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    return found


def violations(plugins):
    """Every breach of the layer rules in a plugins/ tree, one line each (file: what)."""
    problems = []
    edges = {}
    for directory, _dirs, files in sorted(os.walk(plugins)):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            where = os.path.relpath(path, plugins)
            layer, rank = _layer_of(plugins, path)
            if rank < 0 and name != "__init__.py":
                problems.append("%s: not in a layer package (%s)" % (where, ", ".join(sorted(RANKS))))
                continue
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            foreign_modules = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    problems.append("%s:%d: relative import; use %s.<layer>.<module>" % (where, node.lineno, PACKAGE))
                for target, modules, names, bound in _targets(node):
                    if target not in RANKS:
                        problems.append("%s:%d: imports %s, which is in no layer" % (where, node.lineno, target))
                        continue
                    if target == layer:
                        for module in modules[:1]:
                            edges.setdefault("%s.%s" % (layer, name[:-3]), set()).add("%s.%s" % (layer, module))
                    if target != layer:
                        if RANKS[target] > rank:
                            problems.append("%s:%d: upward import of %s (layer %s imports only from lower layers)"
                                            % (where, node.lineno, target, layer or "plugins"))
                        elif RANKS[target] == rank:
                            problems.append("%s:%d: %s and %s are peers and do not import each other"
                                            % (where, node.lineno, layer, target))
                        private = [part for part in modules + names if part.startswith("_")]
                        if private:
                            problems.append("%s:%d: private name %s imported from another package"
                                            % (where, node.lineno, ", ".join(private)))
                        if bound:
                            foreign_modules.add(bound)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in foreign_modules and node.attr.startswith("_")):
                    problems.append("%s:%d: private name %s.%s used from another package"
                                    % (where, node.lineno, node.value.id, node.attr))
    problems.extend("import cycle: %s" % cycle for cycle in _cycles(edges))
    return problems


def write(root, relpath, text=""):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def clean_tree(root):
    for layer in RANKS:
        write(root, "module_utils/%s/__init__.py" % layer)
    write(root, "module_utils/_model/units.py", "def unit_type(name):\n    return name\n\n\ndef _private():\n    pass\n")
    write(root, "module_utils/_host/systemd.py",
          "from %s._model.units import unit_type\n" % PACKAGE)
    write(root, "module_utils/_tasks/info.py",
          "from %s._host import systemd\nfrom %s._model import units\n" % (PACKAGE, PACKAGE))
    write(root, "modules/oom_score_info.py", "from %s._tasks.info import run\n" % PACKAGE)


def test_the_collection_keeps_the_layer_rules():
    assert violations(os.path.join(REPO, "plugins")) == []


def test_every_layer_is_a_package_with_an_empty_init():
    base = os.path.join(REPO, "plugins", "module_utils")
    assert sorted(entry for entry in os.listdir(base) if entry != "__pycache__") == sorted(RANKS)
    for layer in RANKS:
        assert os.path.getsize(os.path.join(base, layer, "__init__.py")) == 0


def test_the_exporter_bundles_every_layer():
    with open(os.path.join(REPO, "roles", "oom_protection", "vars", "main.yml"), encoding="utf-8") as handle:
        bundled = yaml.safe_load(handle)["__oom_protection_exporter_layers"]
    assert sorted(bundled) == sorted(RANKS)


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path):
    clean_tree(tmp_path)
    assert violations(str(tmp_path)) == []


def test_the_checker_reports_an_upward_import(tmp_path):
    clean_tree(tmp_path)
    write(tmp_path, "module_utils/_engine/scoring.py",
          "def rank():\n    from %s._tasks.info import run\n    return run\n" % PACKAGE)
    assert violations(str(tmp_path)) == [
        "module_utils/_engine/scoring.py:2: upward import of _tasks (layer _engine imports only from lower layers)"]


def test_the_checker_reports_an_import_between_peers(tmp_path):
    clean_tree(tmp_path)
    write(tmp_path, "module_utils/_engine/leaks.py", "from %s._host import procfs\n" % PACKAGE)
    assert violations(str(tmp_path)) == ["module_utils/_engine/leaks.py:1: _engine and _host are peers and do not "
                                         "import each other"]


def test_the_checker_reports_a_private_name_from_another_package(tmp_path):
    clean_tree(tmp_path)
    write(tmp_path, "module_utils/_host/procfs.py", "from %s._model.units import _private\n" % PACKAGE)
    write(tmp_path, "module_utils/_host/own.py",
          "from %s._model import units\n\n\ndef f():\n    return units._private()\n" % PACKAGE)
    assert violations(str(tmp_path)) == [
        "module_utils/_host/own.py:5: private name units._private used from another package",
        "module_utils/_host/procfs.py:1: private name _private imported from another package",
    ]


def test_the_checker_reports_an_import_cycle_inside_a_package(tmp_path):
    clean_tree(tmp_path)
    write(tmp_path, "module_utils/_report/model.py", "from %s._report.html import page\n" % PACKAGE)
    write(tmp_path, "module_utils/_report/html.py", "def page():\n    from %s._report import model\n" % PACKAGE)
    assert violations(str(tmp_path)) == ["import cycle: _report.html -> _report.model -> _report.html"]


def test_the_checker_reports_a_file_outside_the_layers_and_an_unknown_layer(tmp_path):
    clean_tree(tmp_path)
    write(tmp_path, "module_utils/_flat.py", "")
    write(tmp_path, "modules/oom_events_info.py", "from %s._misc.x import y\n" % PACKAGE)
    assert violations(str(tmp_path)) == [
        "module_utils/_flat.py: not in a layer package (_engine, _host, _kill_history, _model, _report, _tasks)",
        "modules/oom_events_info.py:1: imports _misc, which is in no layer",
    ]
