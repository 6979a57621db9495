# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Role-owned systemd drop-in files: their names (template vs instance) and the ownership fingerprint.

A drop-in is "owned" when one of its lines is exactly the fingerprint line for the owner tag. Files without it
belong to someone else and are never changed or removed, whatever their name. No I/O.
"""

from __future__ import annotations
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import is_template


DEFAULT_FILE_NAME = "60-oomguard.conf"
DEFAULT_OWNER_TAG = "oomguard.fleet.oom_protection"
DEFAULT_ROOT = "/etc/systemd/system"
FILE_MODE = 0o644
DIR_MODE = 0o755
FINGERPRINT_PREFIX = "# oomguard-owner: "


# The bytes of one file name on Linux (NAME_MAX): <unit>.d must fit, so a unit name of 254 or 255 bytes
# (valid for systemd, whose UNIT_NAME_MAX is 256 with the NUL) can have no drop-in directory of its own.
NAME_MAX = 255


def fingerprint(owner_tag):
    return FINGERPRINT_PREFIX + owner_tag


def is_owned(text, owner_tag):
    line = fingerprint(owner_tag)
    return any(candidate.strip() == line for candidate in text.splitlines())


def file_name_error(file_name):
    if not file_name or "/" in file_name or file_name.startswith(".") or not file_name.endswith(".conf"):
        return "file_name must be a plain file name ending in .conf, got %r" % (file_name,)
    return None


def instance_file_name(file_name):
    """The file name used for one instance of a template (foo@bar.service).

    systemd reads foo@bar.service.d/ and foo@.service.d/ and merges all files in lexicographic order of
    their names; equal names mask each other. A distinct name that sorts after the template-level one
    makes the instance value win without relying on masking: "60-x.instance.conf" > "60-x.conf".
    """
    return file_name[:-len(".conf")] + ".instance.conf"


def is_instance(name):
    base = name.rpartition(".")[0]
    return "@" in base and not is_template(name)


def target_file_name(unit, file_name):
    return instance_file_name(file_name) if is_instance(unit) else file_name
