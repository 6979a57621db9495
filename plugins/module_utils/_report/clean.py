# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""Cleaning untrusted values from hosts before they enter a report: text that XML can carry and that has a
bounded length, integers, booleans, small mappings. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import math
import re


TEXT_MAX = 4096
# XML 1.0 cannot carry C0 controls (other than tab/newline/CR), lone surrogates, U+FFFE/U+FFFF.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value, limit=TEXT_MAX):
    """A value from a host as safe text: None stays None, characters XML cannot hold become U+FFFD."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif not isinstance(value, str):
        value = str(value)
    value = _XML_INVALID_RE.sub("\ufffd", value)
    if len(value) > limit:
        value = value[:limit - 1] + "\u2026"
    return value


def clean_int(value):
    """An integer, or None for anything that is not one (booleans are not integers here)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def clean_bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        return None
    if isinstance(value, int):
        return bool(value)
    return None


def clean_scalar(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return clean_text(value)


def clean_mapping(value, depth=0):
    """Free-form host settings: scalars and nested mappings of scalars, keys as text, sorted."""
    if not isinstance(value, dict):
        return None
    out = {}
    for key in sorted(value, key=str):
        item = value[key]
        if isinstance(item, dict):
            if depth < 2:
                out[clean_text(key, 200)] = clean_mapping(item, depth + 1)
        elif isinstance(item, (list, tuple)):
            out[clean_text(key, 200)] = [clean_scalar(v) for v in item if not isinstance(v, (dict, list, tuple))]
        else:
            out[clean_text(key, 200)] = clean_scalar(item)
    return out


def text_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value if v is not None and v != ""]
    return [clean_text(value)]


def clean_number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
