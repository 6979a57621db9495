# Reads, inside a fleet container, the oom_score_adj the kernel applies to every process of the named
# systemd units (found by their cgroup path) and of the named processes (by comm), straight from /proc.
# Independent of the collection's code on purpose: this is what verify.yml trusts.
# usage: python3 proc_values.py [unit.service ...] [comm:NAME ...]   -> JSON {target: [[pid, comm, adj], ...]}
from __future__ import annotations

import json
import os
import sys


def read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def main() -> None:
    targets = sys.argv[1:]
    found: dict[str, list] = {target: [] for target in targets}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cgroup_parts = set()
            for line in read(f"/proc/{entry}/cgroup").splitlines():
                cgroup_parts.update(line.split(":", 2)[-1].split("/"))
            comm = read(f"/proc/{entry}/comm").strip()
            adj = int(read(f"/proc/{entry}/oom_score_adj"))
        except (OSError, ValueError):
            continue  # gone meanwhile
        if not read(f"/proc/{entry}/cmdline"):
            continue  # kernel threads and zombies
        for target in targets:
            if (target.startswith("comm:") and comm == target[5:]) or target in cgroup_parts:
                found[target].append([int(entry), comm, adj])
    print(json.dumps(found))


if __name__ == "__main__":
    main()
