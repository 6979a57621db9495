# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The selector options of oom_score_adj's single-rule form (one rule given directly, with value or oom_adj)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  pid:
    description:
      - Select the process with this process id. Single-rule form; see O(rules[].pid).
    type: int
  name:
    description:
      - Select processes with this name (the kernel's C(comm), at most 15 bytes). Single-rule form; see
        O(rules[].name), which also says what a longer name does.
    type: str
  name_pattern:
    description:
      - Select processes whose name matches this Python regular expression. Single-rule form; see O(rules[].name_pattern).
    type: str
  cmdline_pattern:
    description:
      - Select processes whose command line matches this Python regular expression. Single-rule form; see
        O(rules[].cmdline_pattern).
    type: str
  exe:
    description:
      - Select processes running this executable. Single-rule form; see O(rules[].exe).
    type: path
  user:
    description:
      - Select processes of this user (name or numeric uid). Single-rule form; see O(rules[].user).
    type: str
  unit:
    description:
      - Select every process of this systemd unit. Single-rule form; see O(rules[].unit).
    type: str
  cgroup:
    description:
      - Select processes in this cgroup (path or glob). Single-rule form; see O(rules[].cgroup).
    type: str
  include_descendants:
    description:
      - Also select every process below a selected one. Single-rule form; see O(rules[].include_descendants).
    type: bool
    default: false
"""
