"""Writes the two generated guide pages of the documentation site (hack/build-docs).

examples.md shows every file of docs/examples as it is; playbooks.md shows each playbook's header comment (its
usage and variables), the only documentation a playbook carries.

usage: python guide-pages.py <repository root> <output dir>
"""

import pathlib
import sys


def fence(text, lang):
    return "```%s\n%s\n```\n" % (lang, text.rstrip("\n"))


def header_comment(path):
    """The comment lines at the top of a playbook (after ---), without their '# '."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == "---" and not lines:
            continue
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return lines


def examples_page(root):
    base = root / "docs" / "examples"
    parts = [
        "# Example inventory\n",
        "An inventory that protects a small fleet by tier (from `docs/examples/` in the collection's repository). "
        "Each file as it is:\n",
    ]
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        parts.append("## `%s`\n" % path.relative_to(base))
        parts.append(fence(path.read_text(encoding="utf-8"), "yaml"))
    return "\n".join(parts)


def playbooks_page(root):
    parts = [
        "# Playbooks\n",
        "The collection's playbooks, run by their name (`ansible-playbook -i inventory oomguard.fleet.NAME`). "
        "Each one's header, from `playbooks/` in the collection:\n",
    ]
    for path in sorted((root / "playbooks").glob("*.yml")):
        lines = header_comment(path)
        if not lines:
            sys.exit("guide-pages: %s has no header comment" % path)
        parts.append("## `oomguard.fleet.%s`\n" % path.stem)
        parts.append(fence("\n".join(lines), "text"))
    return "\n".join(parts)


def main():
    root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    (out / "examples.md").write_text(examples_page(root), encoding="utf-8")
    (out / "playbooks.md").write_text(playbooks_page(root), encoding="utf-8")


if __name__ == "__main__":
    main()
