# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel-log engine on the corpus of real excerpts (tests/unit/fixtures/kernel_log/corpus): per file, the
events it must find -- and for files without a kill line, that it invents none."""

from __future__ import annotations

import calendar
import os
import time

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import lines as log_lines

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "kernel_log", "corpus")
# Traditional syslog lines carry no year; the corpus is read as if the files were written on New Year 2026.
NEW_YEAR_2026 = calendar.timegm((2026, 1, 1, 0, 0, 0))
POD = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice"
CRI = "/cri-containerd-ec9ee26695deb4cc72bc665efff1cf3a03fdfb12f1303e02fe9252985e084a95.scope"
DOCKER = "/system.slice/docker-00748bf4e957f82c239a1db8a88579059b7d40c7b5fbd3f43617d31d3f646f12.scope"
LXC = "/lxc/703/ns/system.slice/pulse.service"
SPARC_TASK = "/user.slice/user-1000.slice/session-1.scope"
LOCALES = ("de", "es", "fr", "ja", "ru", "zh")
pytestmark = pytest.mark.usefixtures("utc")


def corpus_text(name):
    with open(os.path.join(CORPUS, name), encoding="utf-8") as handle:
        return handle.read()


def corpus_events(name):
    return kl.parse_text(corpus_text(name), ref_time=NEW_YEAR_2026)


def kill(pid, name, uid=None, line="kill", constraint=None, oom_memcg=None, task_memcg=None):
    return {"pid": pid, "name": name, "uid": uid, "line": line, "constraint": constraint,
            "oom_memcg": oom_memcg, "task_memcg": task_memcg}


def summary_of(event):
    return {key: event[key] for key in ("pid", "name", "uid", "line", "constraint", "oom_memcg", "task_memcg")}


SPARC = [kill(1811, "stress-ng", 1000, constraint="CONSTRAINT_NONE", task_memcg=SPARC_TASK)]

EXPECTED = {
    "rhel6-2.6.32-messages-uid-before-name.log": [kill(11726, "mysqld", 498)],
    "rhel7-3.10-messages-node-kills.log": [
        kill(pid, "node", 1000) for pid in (799153, 799402, 799889, 799707, 799791, 800660, 800329, 801542)],
    "rhel7-3.10-messages-memcg-selection-and-kill.log": [
        kill(pid, "memcg_test_1", 0) for pid in (42453, 42474, 42471)],
    "centos7-docker-memcg-sacrificed-child.log": [kill(18177, "palo_be", 0)],
    "ubuntu-5.4-syslog-global-kills-and-reaper.log": [
        kill(15784, "python3"), kill(15925, "(resolved)"), kill(15783, "python3"), kill(15934, "(resolved)")],
    "ubuntu-5.4-syslog-docker-memcg-kills.log": [kill(pid, "python3") for pid in (15617, 15674, 15623)],
    "dmesg-legacy-selection-and-kill.txt": [kill(21518, "python2")],
    "journal-short-legacy-selection-and-kill.txt": [kill(27438, "R")],
    "dmesg-T-en-kubernetes-memcg-then-new-trigger.txt": [kill(28438, "java", 0)],
    "dmesg-T-en-trigger-without-kill.txt": [],
    "dmesg-3.14-trigger-without-kill.txt": [],
    "dmesg-4.14-kata-trigger-without-kill.txt": [],
    "syslog-usec-summary-only-lxc-kubernetes.log": [
        kill(461754, "pt_main_thread", 0, line="summary", constraint="CONSTRAINT_MEMCG",
             oom_memcg="/lxc.payload....-lxc/" + POD, task_memcg="/lxc.payload.ny2g2r5hh3-lxc/" + POD + CRI)],
    "dmesg-grep-summary-only-global-docker.txt": [
        kill(7134, "java", 1000, line="summary", constraint="CONSTRAINT_NONE", task_memcg=DOCKER)],
    "journal-proxmox-lxc-memcg.txt": [
        kill(3777481, "pulse", 100999),
        kill(3783517, "pulse", 100999, constraint="CONSTRAINT_MEMCG", oom_memcg=LXC, task_memcg=LXC)],
    "bare-messages-4.19-and-5.4.txt": [kill(4015, "python"), kill(4249, "python", 0)],
    "dmesg-5.x-memcg-kill-uid.txt": [kill(4971, "netdata", 201)],
    "dmesg-5.x-eks-memcg-kill-burst.txt": [
        kill(140339, "python3", 0)] + [kill(pid, "mount", 0) for pid in range(141313, 141318)] + [
        kill(141320, "python3", 0)],
    "syslog-reaper-only.log": [],
    "syslog-grep-triggers-only.log": [],
    "ubuntu-20.04-syslog-summary-kill-reaper.log": [
        kill(140113, "simplescreenrec", 1000, constraint="CONSTRAINT_NONE",
             task_memcg="/user.slice/user-1000.slice/session-22.scope")],
    "journal-reverse-polish-locale.txt": [
        kill(142701, "convert", 1000, constraint="CONSTRAINT_NONE",
             task_memcg="/user.slice/user-1000.slice/user@1000.service")],
    "dmesg-sparc64-summary-kill-reaper-next-trigger.txt": SPARC,
    "dmesg-3.18-mips-kill-then-trigger.txt": [kill(2502, "python")],
    "kmsg-4.9-arm-trigger-without-kill.txt": [],
    "journal-french-locale-oomd-not-kernel.txt": [],
    "syslog-4.4-linode-trigger-single-digit-day.log": [],
    "rhel6-2.6.32-bare-sacrificed-child-then-trigger.txt": [kill(28364, "sh", 0)],
    "dmesg-6.1-arch-arm-summary-kill-audit-next-trigger.txt": [
        kill(360, "polkitd", 102, constraint="CONSTRAINT_NONE", task_memcg="/")],
    # journalctl's pager cut the summary line: what is left still gives the constraint, not the victim's cgroup.
    "journal-nixos-ellipsized-summary.txt": [kill(1055041, "nix-env", 0, constraint="CONSTRAINT_NONE")],
}
EXPECTED.update({"dmesg-T-%s-locale-sparc64-report.txt" % lang: SPARC for lang in LOCALES})


def test_every_corpus_file_has_expectations_and_a_source():
    names = sorted(name for name in os.listdir(CORPUS) if name != "README.md")
    assert names == sorted(EXPECTED)
    readme = corpus_text("README.md")
    for name in names:
        assert corpus_text(name).startswith("# Source: https://"), name
        assert "`%s`" % name in readme, name
    assert len(names) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_exactly_the_kills_it_holds(name):
    assert [summary_of(event) for event in corpus_events(name)] == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_source_headers_are_not_kernel_records(name):
    header = [line for line in corpus_text(name).splitlines() if line.startswith("#")]
    assert header
    assert log_lines.records_from_text(header) == []


# ---------------------------------------------------------------------------------------------------------
# Formats the engine used to miss or misread.

def test_rhel6_kill_line_with_the_uid_before_the_name_is_an_event():
    (event,) = corpus_events("rhel6-2.6.32-messages-uid-before-name.log")
    assert (event["pid"], event["uid"], event["name"], event["total_vm_kb"], event["anon_rss_kb"],
            event["file_rss_kb"], event["shmem_rss_kb"]) == (11726, 498, "mysqld", 7823732, 2539268, 768, None)


def test_summary_line_alone_is_one_event_marked_as_read_from_the_summary():
    (event,) = corpus_events("dmesg-grep-summary-only-global-docker.txt")
    assert event["line"] == "summary"
    assert event["scope"] == "global"
    assert event["unit"] == "docker-00748bf4e957f82c239a1db8a88579059b7d40c7b5fbd3f43617d31d3f646f12.scope"
    assert event["total_vm_kb"] is None and event["anon_rss_kb"] is None
    assert event["raw"].startswith("oom-kill:constraint=CONSTRAINT_NONE,")


def test_summary_only_memcg_kill_has_both_memory_cgroups_and_a_time():
    (event,) = corpus_events("syslog-usec-summary-only-lxc-kubernetes.log")
    assert event["scope"] == "memcg"
    assert event["time"] == "2025-08-30T06:58:55.050705+00:00"


def test_summary_and_kill_line_of_one_kill_are_one_event_read_from_the_kill_line():
    events = corpus_events("ubuntu-20.04-syslog-summary-kill-reaper.log")
    assert len(events) == 1
    assert events[0]["line"] == "kill"
    assert events[0]["total_vm_kb"] == 3759660
    assert events[0]["oom_score_adj"] == 0
    assert events[0]["reaped"] is True


def test_a_grep_for_the_summary_and_reaper_lines_still_gives_the_kill_once_and_reaped():
    grepped = [line for line in corpus_text("ubuntu-20.04-syslog-summary-kill-reaper.log").splitlines()
               if "oom-kill:" in line or "oom_reaper:" in line]
    assert len(grepped) == 2
    (event,) = kl.parse_text(grepped, ref_time=NEW_YEAR_2026)
    assert (event["pid"], event["name"], event["uid"], event["line"], event["reaped"]) == (
        140113, "simplescreenrec", 1000, "summary", True)


def test_summary_after_its_kill_line_in_a_newest_first_journal_completes_that_event():
    (event,) = corpus_events("journal-reverse-polish-locale.txt")
    assert (event["line"], event["constraint"], event["scope"], event["unit"]) == (
        "kill", "CONSTRAINT_NONE", "global", "user@1000.service")


def test_selection_line_without_its_kill_line_is_no_event():
    text = corpus_text("rhel7-3.10-messages-memcg-selection-and-kill.log")
    selection_only = [line for line in text.splitlines() if "Killed process" not in line]
    assert any("or sacrifice child" in line for line in selection_only)
    assert kl.parse_text(selection_only, ref_time=NEW_YEAR_2026) == []


def test_selection_line_names_the_chosen_process_but_the_event_is_the_child_the_kernel_killed():
    (event,) = corpus_events("centos7-docker-memcg-sacrificed-child.log")
    assert (event["pid"], event["scope"]) == (18177, "memcg")


@pytest.mark.parametrize("lang", LOCALES)
def test_dmesg_T_time_in_another_locale_is_the_events_time(lang):
    (event,) = corpus_events("dmesg-T-%s-locale-sparc64-report.txt" % lang)
    assert event["time"] == "2026-12-01T21:34:18+00:00"


@pytest.mark.parametrize("lang", LOCALES + ("en",))
def test_dmesg_T_prefix_in_any_locale_never_becomes_part_of_a_trigger_name(lang):
    name = ("dmesg-T-en-trigger-without-kill.txt" if lang == "en"
            else "dmesg-T-%s-locale-sparc64-report.txt" % lang)
    triggers = [r.text for r in log_lines.records_from_text(corpus_text(name)) if "invoked oom-killer" in r.text]
    assert triggers
    assert all(text.split(" invoked ")[0] in ("systemd-journal", "php.bin") for text in triggers)


def test_dmesg_T_trigger_of_a_report_with_its_kill_is_named_without_the_prefix():
    text = "\n".join([
        "[Di Dez  1 21:34:18 2026] python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "[Di Dez  1 21:34:18 2026] Out of memory: Killed process 1811 (python3) total-vm:43240kB, anon-rss:0kB, "
        "file-rss:64kB, shmem-rss:0kB",
    ])
    (event,) = kl.parse_text(text)
    assert event["trigger"]["name"] == "python3"
    assert event["time"] == "2026-12-01T21:34:18+00:00"


@pytest.mark.parametrize("prefix, expected", [
    ("[Di Dez  1 09:48:36 2026]", (2026, 12, 1)),
    ("[mar. déc.  1 09:48:36 2026]", (2026, 12, 1)),
    ("[mar mar  4 09:48:36 2025]", (2025, 3, 4)),
    ("[Ср мая  7 09:48:36 2025]", (2025, 5, 7)),
    ("[二 12月  1 09:48:36 2026]", (2026, 12, 1)),
    ("[火  1月  7 09:48:36 2025]", (2025, 1, 7)),
    ("[화  3월  4 09:48:36 2025]", (2025, 3, 4)),
])
def test_dmesg_T_dates_in_several_locales(prefix, expected):
    ts, text = log_lines.split_line(prefix + " Out of memory: Killed process 1 (x)")
    assert text == "Out of memory: Killed process 1 (x)"
    assert time.gmtime(ts)[:3] == expected


# journalctl's short format is strftime's "%b %d %H:%M:%S" in the reader's locale; these are glibc's renderings.
@pytest.mark.parametrize("prefix, month", [
    ("wrz 13 15:08:56", 9),
    ("avril 16 21:08:50", 4),
    ("Okt 07 09:05:03", 10),
    (" 1\u6708 07 09:05:03", 1),
    ("1\u6708 07 09:05:03", 1),
    (" 1\uc6d4 07 09:05:03", 1),
])
def test_journal_short_times_in_other_locales(prefix, month):
    ts, text = log_lines.split_line(prefix + " host kernel: Out of memory: Killed process 1 (x)", ref_time=NEW_YEAR_2026)
    assert text == "Out of memory: Killed process 1 (x)"
    assert time.gmtime(ts).tm_mon == month


def test_dmesg_T_prefix_with_an_unknown_month_is_removed_without_a_time():
    assert log_lines.split_line("[Xq Yz  1 09:48:36 2026] Out of memory") == (None, "Out of memory")


def test_kernel_task_table_rows_are_not_taken_for_a_dmesg_T_prefix():
    line = "[  62685]     0 62685     2925      679    65536        0          -998 bash"
    assert log_lines.split_line(line) == (None, line)
