# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which userspace killers guard a host: earlyoom's command line and nohang's config on fake /proc trees.

The real earlyoom 1.7 and nohang 0.2.0 are started in tests/integration/test_userspace_killers_live.py; these
trees cover every option form and the configs those daemons would refuse."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs
from ansible_collections.oomguard.fleet.plugins.module_utils._host.userspace_killers import host_facts

MEM_KB = 4000000  # the fake host's MemTotal


def killers(fakeproc, swap_total_kb=0, oomd=None):
    procs, _warnings = _procfs.scan(fakeproc.root)
    return host_facts(fakeproc.root, procs, MEM_KB, swap_total_kb, oomd)


def earlyoom(fakeproc, *args, **kwargs):
    fakeproc.add(500, name=b"earlyoom", cmdline=[b"/usr/bin/earlyoom"] + [a.encode() for a in args])
    (entry,) = killers(fakeproc, **kwargs)
    assert entry["killer"] == "earlyoom" and entry["pid"] == 500
    return entry


def test_no_killer_running_gives_an_empty_list(fakeproc):
    fakeproc.add(1, name=b"init", ppid=0)
    assert killers(fakeproc) == []


# earlyoom -------------------------------------------------------------------------------------------

def test_earlyoom_without_options_says_its_defaults_and_that_they_are_defaults(fakeproc):
    entry = earlyoom(fakeproc)
    settings = entry["settings"]
    assert (settings["mem_term_percent"], settings["mem_kill_percent"]) == (10, 5)
    assert (settings["swap_term_percent"], settings["swap_kill_percent"]) == (10, 5)
    assert entry["defaults_applied"] == ["mem_kill_percent", "mem_term_percent", "swap_kill_percent",
                                         "swap_term_percent"]
    assert entry["acts_before_kernel"] is True and entry["settings_unknown"] is False
    assert entry["when"].startswith("earlyoom sends SIGTERM when MemAvailable <= 10% and free swap (none on this "
                                    "host: always true) <= 10%; SIGKILL at 5%/5%")


def test_earlyoom_m_alone_halves_the_kill_percent(fakeproc):
    entry = earlyoom(fakeproc, "-m", "10", swap_total_kb=1000000)
    assert (entry["settings"]["mem_term_percent"], entry["settings"]["mem_kill_percent"]) == (10, 5)
    assert "mem_kill_percent" in entry["defaults_applied"] and "mem_term_percent" not in entry["defaults_applied"]
    assert entry["when"] == ("earlyoom sends SIGTERM when MemAvailable <= 10% and free swap <= 10%; "
                             "SIGKILL at 5%/5%")


def test_earlyoom_m_with_kill_value_and_attached_short_forms(fakeproc):
    entry = earlyoom(fakeproc, "-m10,3", "-s", "20,7.5", swap_total_kb=1000000)
    settings = entry["settings"]
    assert (settings["mem_term_percent"], settings["mem_kill_percent"]) == (10, 3)
    assert (settings["swap_term_percent"], settings["swap_kill_percent"]) == (20, 7.5)
    assert entry["defaults_applied"] == []
    assert entry["when"].endswith("SIGKILL at 3%/7.5%")


def test_earlyoom_term_below_kill_is_raised_to_kill_as_earlyoom_does(fakeproc):
    entry = earlyoom(fakeproc, "-m", "2,6")
    assert (entry["settings"]["mem_term_percent"], entry["settings"]["mem_kill_percent"]) == (6, 6)


def test_earlyoom_sizes_in_kib_become_percentages_of_memtotal(fakeproc):
    entry = earlyoom(fakeproc, "-M", "400000,200000", "-S", "50000", swap_total_kb=1000000)
    settings = entry["settings"]
    assert (settings["mem_term_kib"], settings["mem_kill_kib"]) == (400000, 200000)
    assert (settings["mem_term_percent"], settings["mem_kill_percent"]) == (10, 5)
    # -S 50000 of 1,000,000 KiB swap: 5%, and the kill value is half of it.
    assert (settings["swap_term_percent"], settings["swap_kill_percent"]) == (5, 2.5)
    assert "swap_kill_kib" in entry["defaults_applied"]


def test_earlyoom_m_and_M_together_take_the_lower_of_each(fakeproc):
    entry = earlyoom(fakeproc, "-m", "4,1", "-M", "400000")  # -M: 10%, 5%
    assert (entry["settings"]["mem_term_percent"], entry["settings"]["mem_kill_percent"]) == (4, 1)


def test_earlyoom_S_without_swap_is_ignored_as_earlyoom_ignores_it(fakeproc):
    entry = earlyoom(fakeproc, "-S", "1000")
    assert entry["settings"]["swap_term_kib"] is None
    assert (entry["settings"]["swap_term_percent"], entry["settings"]["swap_kill_percent"]) == (10, 5)


@pytest.mark.parametrize("args", [
    ["--prefer", "(^|/)(my app|java)$", "--avoid", "^(sshd|Xorg)$", "--ignore", "^init sh$"],
    ["--prefer=(^|/)(my app|java)$", "--avoid=^(sshd|Xorg)$", "--ignore=^init sh$"],
    ["--pref", "(^|/)(my app|java)$", "--avo=^(sshd|Xorg)$", "--ignore", "^init sh$"],
])
def test_earlyoom_regexes_keep_their_spaces_in_every_getopt_form(fakeproc, args):
    settings = earlyoom(fakeproc, *args)["settings"]
    assert settings["prefer"] == "(^|/)(my app|java)$"
    assert settings["avoid"] == "^(sshd|Xorg)$"
    assert settings["ignore"] == "^init sh$"


def test_earlyoom_flags_grouped_with_an_option(fakeproc):
    entry = earlyoom(fakeproc, "-ngm", "15", "--ignore-root-user", "--sort-by-rss", "-r", "60", "-p")
    settings = entry["settings"]
    assert settings["kill_process_group"] and settings["ignore_root_user"] and settings["sort_by_rss"]
    assert settings["mem_term_percent"] == 15


def test_earlyoom_dryrun_never_acts(fakeproc):
    entry = earlyoom(fakeproc, "--dryrun", "-m", "50")
    assert entry["settings"]["dryrun"] is True
    assert entry["acts_before_kernel"] is False
    assert "never sends a signal" in entry["when"]


@pytest.mark.parametrize("args, reason", [
    (["--kill-everything"], "'--kill-everything' is not one earlyoom 1.3-1.9 knows"),
    (["-x"], "-x is not one earlyoom 1.3-1.9 knows"),
    (["-m", "ten"], "'ten' is not a number"),
    (["-m", "100"], "outside 0..99"),
    (["-m"], "-m lacks its argument"),
    (["stray"], "extra argument 'stray'"),
    (["--dryrun=yes"], "takes no argument"),
    (["--i", "x"], "is not one"),  # ambiguous: --ignore, --ignore-root-user
])
def test_earlyoom_options_it_cannot_read_keep_the_raw_args_and_guess_nothing(fakeproc, args, reason):
    entry = earlyoom(fakeproc, *args)
    assert entry["settings_unknown"] is True and entry["settings"] is None
    assert reason in entry["reason"]
    assert entry["acts_before_kernel"] is None
    assert entry["args"] == ["/usr/bin/earlyoom"] + args


# nohang ---------------------------------------------------------------------------------------------

NOHANG_CONF = """\
# nohang 0.2 config (abridged to what it requires for the thresholds)
zram_checking_enabled = False
psi_checking_enabled = True
psi_path = /proc/pressure/memory
psi_metrics = full_avg10
psi_excess_duration = 30
soft_threshold_min_mem = 5 %
soft_threshold_min_swap = 512 M
soft_threshold_max_zram = 55 %
soft_threshold_max_psi  = 40
hard_threshold_min_mem = 2 %
hard_threshold_min_swap = 256 M
hard_threshold_max_zram = 60 %
hard_threshold_max_psi = 90
min_badness = 20
@SOFT_ACTION_RE_NAME ^foo$ /// kill -USR1 $PID
"""


def nohang(fakeproc, cmdline, conf=NOHANG_CONF, conf_path="etc/nohang/nohang.conf", name=b"nohang",
           swap_total_kb=2000000):
    fakeproc.add(700, name=name, cmdline=[c.encode() for c in cmdline])
    if conf is not None:
        fakeproc._write("700/root/" + conf_path, conf)
    (entry,) = killers(fakeproc, swap_total_kb=swap_total_kb)
    assert entry["killer"] == "nohang" and entry["pid"] == 700
    return entry


def test_nohang_reads_the_config_its_command_line_names_in_percent_and_mib(fakeproc):
    entry = nohang(fakeproc, ["/usr/bin/python3", "/usr/sbin/nohang", "--monitor", "--config",
                              "/etc/nohang/nohang.conf"], name=b"python3")
    assert entry["config_file"] == "/etc/nohang/nohang.conf"
    settings = entry["settings"]
    assert settings["soft_threshold_min_mem"] == {"value": 5, "unit": "percent", "text": "5 %"}
    assert settings["hard_threshold_min_swap"] == {"value": 256, "unit": "MiB", "text": "256 M"}
    assert settings["min_badness"] == 20 and settings["psi_checking_enabled"] is True
    assert entry["acts_before_kernel"] is True
    assert entry["when"] == ("nohang sends SIGTERM when MemAvailable <= 5% and SwapFree <= 512 MiB; SIGKILL at "
                             "2%/256 MiB; also when full_avg10 of /proc/pressure/memory stays >= 40 (SIGTERM) / "
                             "90 (SIGKILL) for 30s with MemAvailable that low")


def test_nohang_custom_config_with_short_option_and_relative_path_reads_from_its_cwd(fakeproc):
    conf = NOHANG_CONF.replace("psi_checking_enabled = True", "psi_checking_enabled = False").replace(
        "soft_threshold_min_mem = 5 %", "soft_threshold_min_mem = 300 M")
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "-c", "conf/my.conf", "--monitor"], conf=conf,
                   conf_path="../cwd/conf/my.conf")
    assert entry["config_file"] == "conf/my.conf"
    assert entry["settings"]["soft_threshold_min_mem"]["unit"] == "MiB"
    assert entry["when"].startswith("nohang sends SIGTERM when MemAvailable <= 300 MiB and SwapFree <= 512 MiB")
    assert "full_avg10" not in entry["when"]


def test_nohang_without_swap_says_the_swap_condition_always_holds_and_psi_is_skipped(fakeproc):
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "--monitor", "--config", "/etc/nohang/nohang.conf"],
                   swap_total_kb=0)
    assert "SwapFree (no swap on this host: always true)" in entry["when"]
    assert "never on this host: nohang skips PSI without swap" in entry["when"]


def test_nohang_missing_config_is_said_not_guessed(fakeproc):
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "--monitor", "--config", "/etc/nohang/gone.conf"], conf=None)
    assert entry["settings_unknown"] is True and entry["settings"] is None
    assert entry["reason"].startswith("cannot read its config /etc/nohang/gone.conf")
    assert entry["acts_before_kernel"] is None


def test_nohang_unreadable_config_is_said(fakeproc):
    fakeproc.add(700, name=b"nohang", cmdline=[b"/usr/sbin/nohang", b"--monitor", b"-c", b"/etc/nohang/n.conf"])
    fakeproc._write("700/root/etc/nohang/n.conf/x", "")  # a directory where the file should be
    (entry,) = killers(fakeproc)
    assert entry["settings_unknown"] is True and "cannot read its config /etc/nohang/n.conf" in entry["reason"]


def test_nohang_config_lacking_a_key_it_requires_is_unknown(fakeproc):
    conf = NOHANG_CONF.replace("hard_threshold_min_mem = 2 %\n", "")
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "--monitor", "--config", "/etc/nohang/nohang.conf"], conf=conf)
    assert entry["settings_unknown"] is True
    assert "lacks hard_threshold_min_mem" in entry["reason"]


def test_nohang_threshold_in_an_unknown_unit_is_unknown(fakeproc):
    conf = NOHANG_CONF.replace("soft_threshold_min_mem = 5 %", "soft_threshold_min_mem = 5 G")
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "--monitor", "--config", "/etc/nohang/nohang.conf"], conf=conf)
    assert entry["settings_unknown"] is True and "neither a percentage nor MiB" in entry["reason"]


def test_nohang_check_run_is_no_daemon(fakeproc):
    entry = nohang(fakeproc, ["/usr/sbin/nohang", "--check", "--config", "/etc/nohang/nohang.conf"])
    assert entry["settings_unknown"] is True and "without --monitor" in entry["reason"]


def test_nohang_01_without_options_uses_its_default_config(fakeproc):
    entry = nohang(fakeproc, ["/usr/bin/python3", "/usr/sbin/nohang"], name=b"python3")
    assert entry["config_file"] == "/etc/nohang/nohang.conf"
    assert entry["settings"]["hard_threshold_min_mem"]["value"] == 2


def test_python_processes_that_are_not_nohang_are_not_killers(fakeproc):
    fakeproc.add(800, name=b"python3", cmdline=[b"/usr/bin/python3", b"/srv/app.py", b"--config", b"nohang"])
    assert killers(fakeproc) == []


# systemd-oomd ---------------------------------------------------------------------------------------

def test_systemd_oomd_says_which_cgroups_it_watches_and_when_it_kills(fakeproc):
    fakeproc.add(300, name=b"systemd-oomd", cmdline=[b"/usr/lib/systemd/systemd-oomd"])
    oomd = {"running": True, "error": None, "config": {},
            "settings": {"swap_used_limit_percent": 90.0, "default_memory_pressure_limit_percent": 60.0,
                         "default_memory_pressure_duration_sec": 30.0},
            "monitored": {"swap": [{"path": "/"}],
                          "memory_pressure": [{"path": "/user.slice", "limit_percent": 60.0}]}}
    (entry,) = killers(fakeproc, oomd=oomd)
    assert entry["killer"] == "systemd-oomd" and entry["acts_before_kernel"] is True
    assert entry["when"] == ("systemd-oomd kills a cgroup of /user.slice when its memory pressure stays above 60% "
                             "for 30s; kills the cgroup of / using the most swap when memory and swap use are both "
                             "above 90%")


def test_systemd_oomd_monitoring_nothing_kills_nothing(fakeproc):
    fakeproc.add(300, name=b"systemd-oomd", cmdline=[b"/usr/lib/systemd/systemd-oomd"])
    oomd = {"running": True, "error": None, "settings": {}, "monitored": {"swap": [], "memory_pressure": []}}
    (entry,) = killers(fakeproc, oomd=oomd)
    assert entry["acts_before_kernel"] is False and "kills nothing" in entry["when"]


def test_systemd_oomd_whose_state_cannot_be_read_is_unknown(fakeproc):
    fakeproc.add(300, name=b"systemd-oomd", cmdline=[b"/usr/lib/systemd/systemd-oomd"])
    oomd = {"running": True, "error": "systemd-oomd runs but oomctl is not installed", "config": {},
            "settings": None, "monitored": None}
    (entry,) = killers(fakeproc, oomd=oomd)
    assert entry["settings_unknown"] is True and entry["acts_before_kernel"] is None
    assert "oomctl is not installed" in entry["when"]
