# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info through Ansible on this machine, with the real earlyoom 1.7 and nohang 0.2.0 running (from
their Debian packages, see killerdaemons): the host facts name both with the thresholds they were given, and
earlyoom's own startup banner, its statement of the limits it merged, agrees with what the reader computed."""

from __future__ import annotations

import os

import pytest

import killerdaemons  # noqa: E402  pylint: disable=wrong-import-position
import livetools  # noqa: E402  pylint: disable=wrong-import-position

pytest.importorskip("ansible", reason="ansible-core is not importable in this interpreter")


@pytest.fixture(scope="module")
def killers(tmp_path_factory):
    with killerdaemons.running_killers(tmp_path_factory.mktemp("killers")) as daemons:
        yield daemons
    for daemon in (daemons["earlyoom"], daemons["nohang"]):
        assert not os.path.exists("/proc/%d" % daemon.pid), "%s outlived the test" % daemon.log_path


@pytest.fixture(scope="module")
def facts(killers):
    result = livetools.run_module_ok("oom_score_info", {"top": 0, "return_processes": False})
    entries = dict((entry["pid"], entry) for entry in result["host"]["userspace_killers"])
    return result["host"], entries


def test_the_real_earlyoom_is_named_with_the_thresholds_it_merged(killers, facts):
    host, entries = facts
    entry = entries[killers["earlyoom"].pid]
    assert entry["killer"] == "earlyoom" and entry["settings_unknown"] is False, entry
    assert entry["args"][1:] == killerdaemons.EARLYOOM_ARGS
    settings = entry["settings"]
    # -M 524288 KiB is below -m 5 on this machine: the lower one wins, as earlyoom itself says at startup.
    banner = killerdaemons.earlyoom_banner(killers["earlyoom"].output())
    for key, value in banner.items():
        assert settings[key] == pytest.approx(value, abs=0.006), (key, settings, banner)
    assert settings["mem_term_percent"] == round(100.0 * 524288 / host["mem_total_kb"], 2)
    assert (settings["swap_term_percent"], settings["swap_kill_percent"]) == (50, 20)
    assert settings["prefer"] == "^(my app|stress)$" and settings["avoid"] == "^sshd$"
    assert settings["dryrun"] is True
    assert entry["acts_before_kernel"] is False
    assert entry["when"] == "earlyoom runs with --dryrun: it reports low memory but never sends a signal"
    assert host["earlyoom_running"] is True  # the boolean stays


def test_the_real_nohang_is_named_with_its_config_and_thresholds(killers, facts):
    host, entries = facts
    entry = entries[killers["nohang"].pid]
    assert entry["killer"] == "nohang" and entry["settings_unknown"] is False, entry
    assert entry["config_file"] == killers["nohang_config"]
    settings = entry["settings"]
    assert settings["soft_threshold_min_mem"] == {"value": 2, "unit": "MiB", "text": "2 M"}
    assert settings["hard_threshold_min_mem"] == {"value": 1, "unit": "MiB", "text": "1 M"}
    assert settings["soft_threshold_min_swap"] == {"value": 10, "unit": "percent", "text": "10 %"}
    assert settings["min_badness"] == 100000
    assert entry["acts_before_kernel"] is True
    swap = "SwapFree" if host["swap_total_kb"] else "SwapFree (no swap on this host: always true)"
    assert entry["when"].startswith("nohang sends SIGTERM when MemAvailable <= 2 MiB and %s <= 10%%; "
                                    "SIGKILL at 1 MiB/5%%" % swap)
