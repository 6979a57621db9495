# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proc_path option of the modules that read (and write) /proc: oom_score_info, oom_score_adj,
oom_protection_apply, oom_protection_leaks."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  proc_path:
    description:
      - Where procfs is mounted, the tree the module reads (and writes). Only tests point it at another, fake tree.
    type: path
    default: /proc
"""
