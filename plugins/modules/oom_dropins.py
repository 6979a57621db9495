#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write, check and remove all of a host's role-owned systemd OOM drop-ins in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oom_dropins
short_description: Manage all of a host's fingerprinted systemd OOM drop-ins in one call
version_added: 0.1.0
description:
  - Writes one drop-in per systemd unit with C(OOMScoreAdjust=) and, if set, C(OOMPolicy=), under
    C(<root>/<unit>.d/<file_name>), in the section the unit type uses (V([Service]), V([Socket]), V([Mount]),
    V([Swap])).
  - Every file it writes carries a fingerprint line naming O(owner_tag). Files without that line are never
    changed or removed; a foreign file at the module's file name is an error, not something to overwrite.
  - All units of a host are handled in one call, so 50 protected units cost the same single round trip as one.
  - Template units are supported. V(foo@.service) gets a drop-in in C(foo@.service.d/) that applies to every
    instance. An instance such as V(foo@bar.service) gets C(foo@bar.service.d/<stem>.instance.conf), a name
    that sorts after O(file_name), so the instance value wins over the template value in systemd's merge.
  - Writes are atomic (a temporary file in the target directory, then a rename); files are mode C(0644).
  - The module does not run C(systemctl daemon-reload); do that when RV(changed) is true (or only for
    RV(units_changed)). Running processes keep their value until a restart; M(oomguard.fleet.oom_score_adj)
    applies it to them now.
author:
  - oomguard contributors (@oomguard)
extends_documentation_fragment:
  - oomguard.fleet.dropin_files
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: Computes the same result and diff and writes nothing.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    details: One before/after entry per file written or removed.
  platform:
    support: full
    description: Target OS/families that can be operated against.
    platforms: posix
    details: Linux hosts running systemd.
options:
  units:
    description:
      - The drop-ins to manage, one entry per unit.
      - With O(state=absent) only C(name) is used.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The unit name, for example V(postgresql.service), V(getty@.service) (all instances) or
            V(getty@tty1.service) (one instance).
          - Must be a valid systemd unit name; path separators and missing suffixes are rejected.
          - A name of 254 or 255 bytes, valid for systemd, is refused with O(state=present); its drop-in directory
            (the name and C(.d)) would be longer than the 255 bytes a file name may have, so systemd reads no
            drop-in of its own for it.
        type: str
        required: true
      oom_score_adj:
        description:
          - The value for C(OOMScoreAdjust=), -1000..1000.
          - Only service, socket, mount and swap units have this setting; scopes and slices do not.
          - V(-1000) makes the processes unkillable and needs O(allow_oom_disable=true).
        type: int
      oom_policy:
        description:
          - The value for C(OOMPolicy=); only service and scope units have it.
        type: str
        choices:
          continue: The OOM kill is logged and the unit keeps running.
          stop: The unit is stopped cleanly after an OOM kill.
          kill: systemd sets C(memory.oom.group=1), so the kernel kills all of the unit's processes together.
      tier:
        description:
          - A label written into the file's comment (the role passes the tier name).
        type: str
      cgroup:
        description:
          - Resource-control and systemd-oomd settings for the same drop-in, keyed like the role's tier keys -
            C(memory_min), C(memory_low), C(memory_high), C(memory_max) (bytes with an optional K, M, G or T
            suffix, a percentage of RAM, or V(infinity); min <= low <= high <= max), C(managed_oom_preference)
            (V(none), V(avoid), V(omit)), C(managed_oom_memory_pressure) and C(managed_oom_swap) (V(auto),
            V(kill)), C(managed_oom_memory_pressure_limit) (a percentage).
          - They become C(MemoryMin=) .. C(MemoryMax=) and C(ManagedOOM*=). Memory settings and the preference
            exist for service, slice, scope, socket, mount and swap units; the other C(ManagedOOM*=) settings
            only for service, scope and slice units. Anything else fails the call before any write.
        type: dict
  state:
    description:
      - V(present) writes the listed drop-ins; V(absent) removes the owned drop-ins of the listed units.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - When true, the owned drop-ins under O(root) end up being exactly those listed in O(units). Owned
        files of units that are no longer listed (or written under another file name) are removed.
      - With O(state=absent), every owned drop-in under O(root) is removed, whatever O(units) lists.
      - A C(.d) directory left empty by a removal is removed too.
    type: bool
    default: false
  allow_oom_disable:
    description:
      - Allow V(-1000), which exempts the unit's processes from the OOM killer. A leak in such a process can
        then only end in killing everything else or a panic, so it is refused unless this is true.
    type: bool
    default: false
notes:
  - Drop-in semantics follow systemd.unit(5) - files are merged in lexicographic file name order across all
    drop-in directories of a unit and its template, and a scalar's last assignment wins.
seealso:
  - module: oomguard.fleet.oom_score_adj
  - module: oomguard.fleet.oom_score_info
  - name: systemd.unit(5)
    description: Drop-in directories and how they are merged.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.unit.html
"""

EXAMPLES = r"""
- name: Protect the database, deprioritise the batch workers
  oomguard.fleet.oom_dropins:
    units:
      - name: postgresql.service
        oom_score_adj: -500
      - name: ssh.service
        oom_score_adj: -900
        oom_policy: continue
      - name: batch-worker@.service
        oom_score_adj: 500
    exclusive: true
    header:
      - Ansible managed
  register: dropins

- name: Reload systemd only when a drop-in changed
  ansible.builtin.systemd_service:
    daemon_reload: true
  when: dropins.changed

- name: Remove every drop-in this collection wrote on the host
  oomguard.fleet.oom_dropins:
    state: absent
    exclusive: true
"""

RETURN = r"""
changed:
  description: Whether a file was written or removed (or would be, in check mode).
  returned: always
  type: bool
  sample: true
written:
  description: Paths written (or that would be written).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/postgresql.service.d/60-oomguard.conf]
removed:
  description: Paths removed (or that would be removed).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/old.service.d/60-oomguard.conf]
unchanged:
  description: Paths that already held the wanted content.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/ssh.service.d/60-oomguard.conf]
units_changed:
  description:
    - Units whose drop-in was written or removed; restart or re-apply only these.
  returned: always
  type: list
  elements: str
  sample: [postgresql.service]
diff:
  description: One before/after entry per file written or removed.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: /etc/systemd/system/postgresql.service.d/60-oomguard.conf
      after_header: /etc/systemd/system/postgresql.service.d/60-oomguard.conf
      before: ""
      after: "# oomguard-owner: oomguard.fleet.oom_protection\n[Service]\nOOMScoreAdjust=-500\n"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.dropins import DropIns, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    run_module(build_module(), DropIns)


if __name__ == "__main__":
    main()
