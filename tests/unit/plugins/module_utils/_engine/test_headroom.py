# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Headroom and pressure: the PSI reader, the figures, thresholds with overrides and the `at risk` judgement.

The real kernel's files are read by the live tests (tests/integration/test_headroom_live.py); fake trees
here cover what this machine cannot show on demand: a kernel without PSI, swap, overcommit mode 2.
"""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import headroom as _headroom
from ansible_collections.oomguard.fleet.plugins.module_utils._host import pressure as _pressure
from ansible_collections.oomguard.fleet.plugins.module_utils._host import headroom as _host_headroom

PSI = "some avg10=1.50 avg60=30.25 avg300=2.00 total=123456\nfull avg10=0.00 avg60=0.50 avg300=0.10 total=789\n"


def headroom(total=1000000, available=500000, swap_total=0, swap_free=0, committed=100, limit=1000, mode=0,
             pressure=None, kills=3):
    return _host_headroom.headroom_from({"MemTotal": total, "MemAvailable": available, "SwapTotal": swap_total,
                                         "SwapFree": swap_free, "Committed_AS": committed, "CommitLimit": limit},
                                        mode, pressure, kills)


def write(fakeproc, rel, text):
    fakeproc._write(rel, text)


def test_psi_lines_are_parsed_into_some_and_full_averages_and_totals():
    assert _pressure.parse_pressure(PSI) == {
        "some": {"avg10": 1.5, "avg60": 30.25, "avg300": 2.0, "total": 123456},
        "full": {"avg10": 0.0, "avg60": 0.5, "avg300": 0.1, "total": 789},
    }


def test_a_kernel_without_psi_gives_none_not_zero_pressure(fakeproc):
    assert _pressure.read_memory_pressure(fakeproc.root) is None


def test_read_headroom_takes_meminfo_overcommit_psi_and_the_kill_counter_from_the_proc_root(fakeproc):
    write(fakeproc, "meminfo", "MemTotal: 2000 kB\nMemAvailable: 500 kB\nSwapTotal: 100 kB\nSwapFree: 40 kB\n"
          "CommitLimit: 1100 kB\nCommitted_AS: 1650 kB\n")
    write(fakeproc, "pressure/memory", PSI)
    write(fakeproc, "sys/vm/overcommit_memory", "2\n")
    raw = _host_headroom.read_headroom(fakeproc.root)
    assert raw == {"mem_total_kb": 2000, "mem_available_kb": 500, "swap_total_kb": 100, "swap_free_kb": 40,
                   "committed_kb": 1650, "commit_limit_kb": 1100, "overcommit_memory": 2,
                   "pressure": _pressure.parse_pressure(PSI), "oom_kill_count": 3}
    assert _headroom.figures(raw) == {"memory_used_percent": 75.0, "swap_used_percent": 60.0,
                                      "commit_used_percent": 150.0, "psi_some_avg60": 30.25,
                                      "psi_full_avg60": 0.5, "oom_kills_since_previous": None}


def test_an_idle_host_has_no_findings():
    assert _headroom.evaluate(headroom(available=900000), _headroom.merge_thresholds(None)) == []


@pytest.mark.parametrize("available, level", [(150000, "warning"), (100000, "at_risk"), (30000, "at_risk")])
def test_memory_used_crosses_the_seeds_80_and_90_percent_thresholds(available, level):
    findings = _headroom.evaluate(headroom(available=available), _headroom.merge_thresholds(None))
    assert [(f["figure"], f["level"]) for f in findings] == [("memory_used_percent", level)]
    assert _headroom.at_risk(findings) is (level == "at_risk")


def test_a_finding_names_the_figure_its_value_and_the_threshold_it_crossed():
    finding = _headroom.evaluate(headroom(available=70000), _headroom.merge_thresholds(None))[0]
    assert finding == {"figure": "memory_used_percent", "value": 93.0, "level": "at_risk", "threshold": 90.0,
                       "text": "memory used 93.0% >= 90.0% (at risk)"}


def test_pressure_over_its_threshold_makes_the_host_at_risk_with_plenty_of_memory():
    findings = _headroom.evaluate(headroom(available=900000, pressure=_pressure.parse_pressure(PSI)),
                                  _headroom.merge_thresholds(None))
    assert [(f["figure"], f["level"]) for f in findings] == [("psi_some_avg60", "at_risk")]


def test_the_commit_limit_is_judged_only_in_overcommit_mode_2():
    thresholds = _headroom.merge_thresholds(None)
    assert _headroom.evaluate(headroom(available=900000, committed=1500, mode=0), thresholds) == []
    findings = _headroom.evaluate(headroom(available=900000, committed=1500, mode=2), thresholds)
    assert [(f["figure"], f["value"]) for f in findings] == [("commit_used_percent", 150.0)]


def test_kills_since_the_previous_report_count_and_a_reboot_makes_them_unknown():
    thresholds = _headroom.merge_thresholds(None)
    assert [f["figure"] for f in _headroom.evaluate(headroom(available=900000, kills=5), thresholds, 3)] == \
        ["oom_kills_since_previous"]
    assert _headroom.figures(headroom(kills=1), 3)["oom_kills_since_previous"] is None
    assert _headroom.evaluate(headroom(available=900000, kills=3), thresholds, 3) == []


def test_an_inventory_override_moves_a_threshold_and_a_number_sets_at_risk():
    merged = _headroom.merge_thresholds({"memory_used_percent": 40, "psi_some_avg60": {"warning": None}})
    assert merged["memory_used_percent"] == {"warning": 80.0, "at_risk": 40}
    assert merged["psi_some_avg60"] == {"warning": None, "at_risk": 25.0}
    assert _headroom.at_risk(_headroom.evaluate(headroom(available=500000), merged))


@pytest.mark.parametrize("overrides, message", [
    ({"memory_used": 90}, "unknown threshold 'memory_used'; known: commit_used_percent, "),
    ({"memory_used_percent": {"critical": 95}}, "threshold memory_used_percent has no level 'critical'"),
    ({"memory_used_percent": "high"}, "threshold memory_used_percent.at_risk must be a number >= 0 or null"),
    ({"memory_used_percent": -1}, "threshold memory_used_percent.at_risk must be a number >= 0 or null"),
    ({"memory_used_percent": True}, "threshold memory_used_percent.at_risk must be a number >= 0 or null"),
    ([90], "thresholds must be a mapping of figure names to levels, got list"),
])
def test_bad_thresholds_are_one_line_errors(overrides, message):
    with pytest.raises(ValueError) as err:
        _headroom.merge_thresholds(overrides)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
