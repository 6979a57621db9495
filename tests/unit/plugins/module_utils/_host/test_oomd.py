# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-oomd reader: oomd.conf and drop-ins in systemd's order, `oomctl dump` in the v252 and newer
formats, and the candidates oomd's code would consider. The real kill is in tests/guests/test_memory_stack.py;
these trees are for the cases a guest cannot show cheaply (masking drop-ins, nested oom.group, no swap)."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._host import oomd as _oomd
from ansible_collections.oomguard.fleet.plugins.module_utils._model.units import unit_of_cgroup
from ansible_collections.oomguard.fleet.plugins.module_utils._model import oomd_settings as _oomd_settings

DUMP_252 = """Dry Run: no
Swap Used Limit: 90.00%
Default Memory Pressure Limit: 60.00%
Default Memory Pressure Duration: 20s
System Context:
        Memory: Used: 301.4M Total: 985.6M
        Swap: Used: 0B Total: 0B
Swap Monitored CGroups:
        Path: /
                Swap Usage: (see System Context)
Memory Pressure Monitored CGroups:
        Path: /user.slice/user-0.slice/user@0.service
                Memory Pressure Limit: 50.00%
                Pressure: Avg10: 0.00 Avg60: 0.00 Avg300: 0.00 Total: 0
                Current Memory Usage: 12.5M
        Path: /oomguard.slice
                Memory Pressure Limit: 0.00%
                Memory Pressure Duration: 5s
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_dump_gives_the_running_settings_and_both_monitor_lists():
    dump = _oomd.parse_dump(DUMP_252)
    assert dump["settings"] == {"swap_used_limit_percent": 90.0, "default_memory_pressure_limit_percent": 60.0,
                                "default_memory_pressure_duration_sec": 20.0}
    assert dump["swap"] == [{"path": "/"}]
    assert dump["memory_pressure"] == [
        {"path": "/user.slice/user-0.slice/user@0.service", "limit_percent": 50.0},
        {"path": "/oomguard.slice", "limit_percent": 0.0, "duration_sec": 5.0},
    ]


def test_config_drop_ins_override_the_main_file_and_etc_masks_usr_lib(tmp_path):
    write(tmp_path / "etc/systemd/oomd.conf", "[OOM]\nSwapUsedLimit=80%\n")
    write(tmp_path / "usr/lib/systemd/oomd.conf.d/10-oomd-defaults.conf", "[OOM]\nDefaultMemoryPressureDurationSec=20s\n")
    write(tmp_path / "etc/systemd/oomd.conf.d/10-oomd-defaults.conf", "[OOM]\nDefaultMemoryPressureDurationSec=1min\n")
    write(tmp_path / "run/systemd/oomd.conf.d/50-test.conf", "[OOM]\nDefaultMemoryPressureLimit=400‰\n")
    config = _oomd.read_config(str(tmp_path))
    assert config["settings"] == {"swap_used_limit_percent": 80.0, "default_memory_pressure_limit_percent": 40.0,
                                  "default_memory_pressure_duration_sec": 60.0}
    assert config["files"] == ["/etc/systemd/oomd.conf", "/etc/systemd/oomd.conf.d/10-oomd-defaults.conf",
                               "/run/systemd/oomd.conf.d/50-test.conf"]


def test_no_config_means_oomd_built_in_defaults(tmp_path):
    assert _oomd.read_config(str(tmp_path))["settings"] == _oomd.DEFAULTS


def test_a_childless_monitored_cgroup_is_its_own_candidate(tmp_path):
    (tmp_path / "solo.slice").mkdir()
    assert _oomd.candidate_paths(str(tmp_path / "solo.slice")) == [str(tmp_path / "solo.slice")]


def test_candidates_are_leaves_or_oom_group_cgroups_which_oomd_does_not_descend_into(tmp_path):
    for leaf in ("a.slice/web.service", "a.slice/batch.service/worker", "a.slice/db.service/inner"):
        (tmp_path / leaf).mkdir(parents=True)
    write(tmp_path / "a.slice/db.service/memory.oom.group", "1\n")
    assert _oomd.candidate_paths(str(tmp_path / "a.slice")) == [
        str(tmp_path / "a.slice/batch.service/worker"), str(tmp_path / "a.slice/db.service"),
        str(tmp_path / "a.slice/web.service")]


def test_swap_rule_never_fires_without_swap(tmp_path):
    (tmp_path / "x.service").mkdir()
    result = _oomd.predict_swap(str(tmp_path), [{"path": "/x.service"}], 0, unit_of_cgroup)
    assert result["first"] is None
    assert result["reason"] == "the host has no swap: the swap rule never fires"


def test_swap_rule_takes_the_largest_swap_user_above_five_percent(tmp_path):
    for name, swap in (("small.service", 1 << 20), ("big.service", 300 << 20), ("mid.service", 100 << 20)):
        write(tmp_path / "s.slice" / name / "memory.swap.current", "%d\n" % swap)
    result = _oomd.predict_swap(str(tmp_path), [{"path": "/s.slice"}], 1 << 30, unit_of_cgroup)
    assert result["first"] == "/s.slice/big.service"
    assert result["first_unit"] == "big.service"
    assert [c["cgroup"] for c in result["candidates"]] == ["/s.slice/big.service", "/s.slice/mid.service",
                                                           "/s.slice/small.service"]
    assert result["candidates"][2]["eligible"] is False


def test_pressure_rule_ranks_by_reclaim_rate_then_memory(tmp_path):
    for name, current in (("quiet.service", 900 << 20), ("busy.service", 100 << 20)):
        write(tmp_path / "p.slice" / name / "memory.current", "%d\n" % current)
        write(tmp_path / "p.slice" / name / "memory.stat", "pgscan 0\n")

    def sleep(_seconds):  # reclaim happens in busy.service while the reader waits
        write(tmp_path / "p.slice/busy.service/memory.stat", "pgscan 5000\n")

    (result,) = _oomd.predict_pressure(str(tmp_path), [{"path": "/p.slice", "limit_percent": 40.0}], unit_of_cgroup,
                                       interval=1.0, sleep=sleep)
    assert result["first"] == "/p.slice/busy.service"
    assert result["candidates"][0]["pgscan_rate"] == 5000.0
    assert result["limit_percent"] == 40.0


def test_tier_values_are_checked_like_systemd_parses_them():
    assert _oomd_settings.setting_error("managed_oom_preference", "omit") is None
    assert _oomd_settings.setting_error("managed_oom_memory_pressure_limit", "100%") is None
    assert "from 0% to 100%" in _oomd_settings.setting_error("managed_oom_memory_pressure_limit", "101%")
