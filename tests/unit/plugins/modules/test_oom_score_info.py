# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""oom_score_info on fake /proc trees: filters, kill order, cgroup limits, partial reads and bad input."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs
from ansible_collections.oomguard.fleet.plugins.modules import oom_score_info

from modrun import run_module

MIB = 1024


def run(fakeproc, **args):
    args.setdefault("proc_path", fakeproc.root)
    return run_module(oom_score_info.main, args)


def info(fakeproc, **args):
    result, failed = run(fakeproc, **args)
    assert not failed, result.get("msg")
    return result


def pids(rows):
    return [row["pid"] for row in rows]


@pytest.fixture
def host(fakeproc):
    """init, a kernel thread, a zombie, a protected daemon and three workers of known size."""
    fakeproc.add(1, name=b"systemd", ppid=0, oom_score=0, rss_anon_kb=8 * MIB, cgroup="/init.scope")
    fakeproc.add(2, name=b"kthreadd", ppid=0, flags=0x00208040, has_mm=False, oom_score=0)
    fakeproc.add(90, name=b"defunct", state="Z", has_mm=False, oom_score=0)
    fakeproc.add(100, name=b"sshd", uid=0, rss_anon_kb=6 * MIB, oom_score_adj=-1000, oom_score=0,
                 cgroup="/system.slice/ssh.service", cmdline=[b"sshd: /usr/sbin/sshd -D"])
    fakeproc.add(200, name=b"postgres", uid=65534, rss_anon_kb=400 * MIB, rss_shmem_kb=128 * MIB,
                 cgroup="/system.slice/postgresql.service", cmdline=[b"/usr/lib/postgresql/bin/postgres", b"-D", b"/db"])
    fakeproc.add(300, name=b"java", rss_anon_kb=900 * MIB, cgroup="/system.slice/batch.service",
                 cmdline=[b"/usr/bin/java", b"-jar", b"batch.jar"])
    fakeproc.add(301, name=b"java", rss_anon_kb=100 * MIB, oom_score_adj=500, cgroup="/system.slice/batch.service",
                 cmdline=[b"/usr/bin/java", b"-jar", b"report.jar"])
    return fakeproc


def test_kill_order_is_largest_badness_first_with_adj(host):
    result = info(host, top=10)
    # 1,000,000 pages in scope: adj 500 adds 500,000 pages to java 301's 25,610, above java 300's 230,410.
    assert [(row["pid"], row["badness"]) for row in result["kill_order"]] == [(301, 525610), (300, 230410), (200, 135178)]


def test_init_kernel_threads_zombies_and_minus_1000_are_never_candidates(host):
    result = info(host, include_kernel_threads=True)
    rows = {row["pid"]: row for row in result["processes"]}
    assert rows[1]["unkillable_reason"] == "init"
    assert rows[2]["unkillable_reason"] == "kernel thread"
    assert rows[90]["unkillable_reason"] == "zombie"
    assert rows[100]["unkillable_reason"] == "oom_score_adj -1000"
    for pid in (1, 2, 90, 100):
        assert rows[pid]["killable"] is False and rows[pid]["rank"] is None
    assert pids(result["kill_order"]) == [301, 300, 200]


def test_processes_are_listed_in_kill_order_then_the_unkillable(host):
    result = info(host)
    assert pids(result["processes"]) == [301, 300, 200, 1, 90, 100]


def test_kernel_threads_are_hidden_by_default(host):
    result = info(host)
    assert 2 not in pids(result["processes"])


def test_memory_parts_and_badness_are_reported_in_kb_and_pages(host):
    result = info(host, pids=[200])
    row = result["processes"][0]
    assert (row["rss_anon_kb"], row["rss_shmem_kb"]) == (400 * MIB, 128 * MIB)
    assert row["badness"] == (528 * MIB + 40) // 4
    assert row["user"] == "nobody" and row["uid"] == 65534
    assert row["unit"] == "postgresql.service"
    assert row["cmdline"] == ["/usr/lib/postgresql/bin/postgres", "-D", "/db"]


def test_filters_keep_the_global_rank(host):
    result = info(host, names=["postgres"])
    assert pids(result["processes"]) == [200]
    assert result["processes"][0]["rank"] == 3
    assert pids(result["kill_order"]) == [200]


def test_filters_of_different_kinds_must_all_match(host):
    result = info(host, names=["java"], cmdline_patterns=["report"])
    assert pids(result["processes"]) == [301]


def test_values_inside_one_filter_are_alternatives(host):
    result = info(host, names=["sshd", "postgres"])
    assert sorted(pids(result["processes"])) == [100, 200]


def test_unit_and_cgroup_filters(host):
    by_unit = info(host, units=["batch.service"])
    by_glob = info(host, cgroups=["/system.slice/*.service"])
    assert sorted(pids(by_unit["processes"])) == [300, 301]
    assert sorted(pids(by_glob["processes"])) == [100, 200, 300, 301]


def test_user_filter_accepts_names_and_uids(host):
    by_name = info(host, users=["nobody"])
    by_uid = info(host, users=["65534"])
    assert pids(by_name["processes"]) == pids(by_uid["processes"]) == [200]


def test_min_score_filters_on_the_kernels_score(host):
    host.add(400, name=b"hot", oom_score=1500)
    result = info(host, min_score=1000)
    assert pids(result["processes"]) == [400]


def test_top_limits_the_kill_order(host):
    result = info(host, top=1)
    assert pids(result["kill_order"]) == [301]
    assert result["kill_order"][0]["reason"].startswith("first victim:")


def test_cgroup_limit_ranks_only_the_filtered_processes_by_the_limits_pages(host):
    # In a 2 GiB cgroup one adj point is 524 pages: 301 gets 100 MiB + 500 * 524 pages, 300 has 900 MiB.
    result = info(host, cgroups=["/system.slice/batch.service"], cgroup_limit="2G")
    order = result["kill_order"]
    assert pids(order) == [301, 300]
    assert order[0]["badness"] == (100 * MIB + 40) // 4 + 500 * (2 * 1024 * 1024 // 4 // 1000)
    assert result["host"]["cgroup_limit_bytes"] == 2 * 1024 ** 3
    assert "cgroup limit" in order[0]["reason"]


def test_small_cgroup_limit_lets_size_win_over_adj(host):
    result = info(host, cgroups=["/system.slice/batch.service"], cgroup_limit="3900K")
    assert pids(result["kill_order"]) == [300, 301]


def test_cgroups_matches_a_v1_memory_cgroup_on_a_hybrid_host(host):
    """On v1/hybrid hosts a memory cgroup has its own tree; its path selects the processes, and with
    cgroup_limit they are ranked against that limit (the kill order inside the memory cgroup)."""
    hybrid = "12:memory:/jobs/nightly\n3:cpu,cpuacct:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n0::/\n"
    host.add(500, name=b"etl", rss_anon_kb=300 * MIB, cgroup_text=hybrid)
    host.add(501, name=b"etl", rss_anon_kb=100 * MIB, oom_score_adj=100, cgroup_text=hybrid)
    host.add(502, name=b"cron", rss_anon_kb=1 * MIB, cgroup_text=hybrid.replace("/jobs/nightly", "/"))
    result = info(host, cgroups=["/jobs/nightly"], cgroup_limit="1G")
    assert pids(result["kill_order"]) == [500, 501]
    assert sorted(pids(result["processes"])) == [500, 501]
    # The unit is still the one systemd shows (name=systemd), and the unit filter still finds all three.
    assert {row["unit"] for row in result["processes"]} == {"cron.service"}
    assert sorted(pids(info(host, units=["cron.service"])["processes"])) == [500, 501, 502]
    # A path in no hierarchy matches nothing; a glob works on the memory tree too.
    assert info(host, cgroups=["/jobs/weekly"])["processes"] == []
    assert sorted(pids(info(host, cgroups=["/jobs/*"])["processes"])) == [500, 501]


def test_host_facts_are_returned(host):
    result = info(host, top=0, return_processes=False)
    facts = result["host"]
    assert facts["score_scale"] == "0-2000"
    assert facts["total_pages"] == 1000000
    assert facts["sysctls"]["vm.oom_dump_tasks"] == 1
    assert facts["can_lower_adj"] is False
    assert facts["process_count"] == 7
    assert "processes" not in result


def test_pre_5_9_kernel_predicts_on_the_0_to_1000_scale(tmp_path):
    from fakeproc import FakeProc
    old = FakeProc(tmp_path / "p", release="4.19.0-25-amd64")
    old.add(10, rss_anon_kb=400000, oom_score=100)
    old.add(11, rss_anon_kb=4000, oom_score=1)
    result = info(old)
    assert result["host"]["score_scale"] == "0-1000"
    rows = {row["pid"]: row for row in result["processes"]}
    assert rows[10]["predicted_oom_score"] == 100
    assert rows[11]["predicted_oom_score"] == 1


def test_watchers_that_kill_before_the_kernel_are_detected(host):
    host.add(500, name=b"earlyoom")
    result = info(host)
    assert result["host"]["earlyoom_running"] is True
    assert result["host"]["systemd_oomd_running"] is False


def test_unreadable_fields_give_a_partial_result_and_one_warning(host):
    host.break_file(300, "oom_score")
    host.break_file(301, "cmdline")
    result = info(host)
    rows = {row["pid"]: row for row in result["processes"]}
    assert rows[300]["oom_score"] is None and rows[300]["badness"] is not None
    assert rows[301]["cmdline"] is None
    assert len(result["warnings"]) == 1
    assert "pid 300" in result["warnings"][0] and "pid 301" in result["warnings"][0]


def test_the_details_of_kernel_threads_are_read_only_when_they_are_asked_for(host):
    # The command line and cgroup are read in the scan's own pass; a kernel thread left out is not read.
    host.break_file(2, "cmdline")
    assert info(host)["warnings"] == []
    result = info(host, include_kernel_threads=True)
    assert {row["pid"]: row for row in result["processes"]}[2]["cmdline"] is None
    assert len(result["warnings"]) == 1 and "pid 2" in result["warnings"][0]


def test_with_a_name_filter_only_the_matching_processes_have_their_details_read(host):
    host.break_file(300, "cmdline")
    result = info(host, names=["postgres"])
    assert pids(result["processes"]) == [200] and result["warnings"] == []
    warnings = info(host, names=["java"])["warnings"]
    assert len(warnings) == 1 and "pid 300" in warnings[0]


def test_vanished_process_is_left_out_silently(host):
    host.add_vanished(999)
    result = info(host)
    assert 999 not in pids(result["processes"])
    assert result["warnings"] == []


@pytest.mark.parametrize("args, words", [
    (dict(name_patterns=["(unclosed"]), ["name_patterns", "(unclosed", "regular expression"]),
    (dict(cmdline_patterns=["*bad"]), ["cmdline_patterns", "regular expression"]),
    (dict(top=-1), ["top", "-1"]),
    (dict(users=["no-such-user-oomguard"]), ["users", "no-such-user-oomguard"]),
    (dict(units=["../x.service"]), ["units", "../x.service", "valid systemd unit name"]),
    (dict(units=["a/b.service"]), ["units", "a/b.service"]),
    (dict(units=["sshd"]), ["units", "sshd"]),
    (dict(cgroups=["system.slice"]), ["cgroups", "absolute"]),
    (dict(cgroup_limit="lots"), ["cgroup_limit", "lots"]),
    (dict(names=["sshd", "systemd-journald"]),
     ["names: 'systemd-journald' is 16 bytes", "'systemd-journal'", "name_pattern or cmdline_pattern"]),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(host, args, words):
    before = host.digest()
    result, failed = run(host, **args)
    assert failed
    for word in words:
        assert word in result["msg"]
    assert "\n" not in result["msg"]
    assert host.digest() == before


def test_one_run_reads_meminfo_and_the_mount_table_once(host, monkeypatch):
    """The host facts, the headroom and the cgroup mounts share one reading of each file."""
    reads = []
    original = procfs.read_bytes

    def counting(path, dir_fd=None):
        reads.append(path)
        return original(path, dir_fd)

    monkeypatch.setattr(procfs, "read_bytes", counting)
    result = info(host)
    assert result["host"]["headroom"]["mem_total_kb"] == result["host"]["mem_total_kb"]
    assert [path for path in reads if path.endswith("/meminfo")] == [host.root + "/meminfo"]
    assert [path for path in reads if path.endswith("/mountinfo")] == [host.root + "/self/mountinfo"]
