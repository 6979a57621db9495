# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for the unit tests: fake /proc trees, a way to run modules in-process, and UTC local time."""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from fakeproc import FakeProc  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def utc(monkeypatch):
    """Local time is UTC, so that log times without an offset (traditional syslog, dmesg -T) are predictable."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def fakeproc(tmp_path):
    """A fake proc root on a 6.x kernel with ~3.8 GiB of RAM and no swap; add processes with .add()."""
    return FakeProc(tmp_path / "proc")
