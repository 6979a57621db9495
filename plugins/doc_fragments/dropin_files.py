# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drop-in file options shared by oom_dropins and oom_protection_apply (both plan with _tasks.dropins)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  file_name:
    description:
      - The file name of the drop-in inside each C(<unit>.d/) directory. It must end in C(.conf).
      - systemd applies drop-ins in lexicographic order of file names and the last assignment wins, so a
        later file (for example C(99-local.conf)) still overrides this one.
    type: str
    default: 60-oomguard.conf
  owner_tag:
    description:
      - The fingerprint written into every file, as a line C(# oomguard-owner) followed by the tag. Only files with
        exactly this line are changed or removed.
    type: str
    default: oomguard.fleet.oom_protection
  header:
    description:
      - Comment lines written at the top of every file (for example the role's C(ansible_managed) text).
        Each line is prefixed with C(# ).
    type: list
    elements: str
    default: []
  root:
    description:
      - The directory holding the unit drop-in directories. It must exist.
    type: path
    default: /etc/systemd/system
"""
