# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Read memory pressure stall information (PSI) from a proc root: <proc>/pressure/memory.

A reader only: it parses what the kernel offers and judges nothing. Kernels without PSI (before 4.20, or
booted with psi=0) have no such file, or one that refuses reads with EOPNOTSUPP: both give None, so a
report can say "unknown" instead of "no pressure". Standard library only, Python >= 3.8.
"""

from __future__ import annotations

PSI_KINDS = ("some", "full")
PSI_FIELDS = ("avg10", "avg60", "avg300", "total")


def parse_pressure(text):
    """'some avg10=0.00 avg60=0.00 avg300=0.00 total=0' lines -> {kind: {avg10, avg60, avg300, total}}.

    avg* are percentages of wall time in which tasks stalled on memory; total is microseconds since boot.
    """
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] not in PSI_KINDS:
            continue
        values = {}
        for item in parts[1:]:
            key, _sep, value = item.partition("=")
            if key not in PSI_FIELDS:
                continue
            try:
                values[key] = int(value) if key == "total" else float(value)
            except ValueError:
                values[key] = None
        out[parts[0]] = dict((field, values.get(field)) for field in PSI_FIELDS)
    return out or None


def read_memory_pressure(proc_path="/proc"):
    """PSI of the whole host's memory, or None where the kernel does not offer it."""
    try:
        with open(proc_path + "/pressure/memory", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return parse_pressure(text)
