# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proc reader against fake trees: hostile names, zombies, kernel threads, races, unreadable files."""

from __future__ import annotations

from ansible_collections.oomguard.fleet.plugins.module_utils._host import procfs as _procfs


def only(fakeproc, pid):
    procs = _procfs.scan(fakeproc.root)[0]
    return [p for p in procs if p.pid == pid][0]


def test_name_with_spaces_and_parentheses_is_read_whole(fakeproc):
    fakeproc.add(10, name=b"my (evil) ) name", ppid=7)
    proc = only(fakeproc, 10)
    assert proc.name == "my (evil) ) name"
    assert proc.ppid == 7


def test_name_that_looks_like_stat_fields_does_not_shift_them(fakeproc):
    fakeproc.add(11, name=b") S 99 99 99", ppid=3, starttime=4242)
    proc = only(fakeproc, 11)
    assert proc.name == ") S 99 99 99"
    assert (proc.ppid, proc.starttime, proc.state) == (3, 4242, "S")


def test_name_with_newline_is_kept(fakeproc):
    fakeproc.add(12, name=b"two\nlines")
    proc = only(fakeproc, 12)
    assert proc.name == "two\nlines"


def test_non_utf8_name_keeps_its_bytes_visible(fakeproc):
    fakeproc.add(13, name=b"caf\xe9\xff")
    proc = only(fakeproc, 13)
    assert proc.name == "caf\\xe9\\xff"


def test_memory_parts_come_from_status(fakeproc):
    fakeproc.add(14, rss_anon_kb=4000, rss_file_kb=800, rss_shmem_kb=64, swap_kb=1200, pgtables_kb=48)
    proc = only(fakeproc, 14)
    assert (proc.rss_anon_kb, proc.rss_file_kb, proc.rss_shmem_kb, proc.swap_kb, proc.pgtables_kb) == (4000, 800, 64, 1200, 48)
    assert proc.rss_kb == 4864
    assert proc.has_mm is True


def test_zombie_has_no_memory(fakeproc):
    fakeproc.add(15, state="Z", has_mm=False, oom_score=0)
    proc = only(fakeproc, 15)
    assert proc.state == "Z"
    assert proc.has_mm is False
    assert proc.rss_kb == 0


def test_kernel_thread_is_recognised_by_pf_kthread(fakeproc):
    fakeproc.add(40, name=b"kworker/0:1", ppid=2, flags=0x04208040, has_mm=False, oom_score=0)
    proc = only(fakeproc, 40)
    assert proc.kthread is True


def test_kthreadd_itself_is_a_kernel_thread(fakeproc):
    fakeproc.add(2, name=b"kthreadd", ppid=0, flags=0x00208040, has_mm=False, oom_score=0)
    proc = only(fakeproc, 2)
    assert proc.kthread is True


def test_process_that_vanished_between_listing_and_reading_is_skipped(fakeproc):
    fakeproc.add(20)
    fakeproc.add_vanished(21)
    procs, warnings = _procfs.scan(fakeproc.root)
    assert [p.pid for p in procs] == [20]
    assert warnings == []


def test_unreadable_status_gives_a_partial_process_with_an_error(fakeproc):
    fakeproc.add(22)
    fakeproc.break_file(22, "status")
    proc = only(fakeproc, 22)
    assert proc.name == "worker"
    assert proc.has_mm is None
    assert proc.errors and proc.errors[0].startswith("status:")


def test_unreadable_oom_score_is_none_and_noted(fakeproc):
    fakeproc.add(23)
    fakeproc.break_file(23, "oom_score")
    proc = only(fakeproc, 23)
    assert proc.oom_score is None
    assert proc.oom_score_adj == 0
    assert any(e.startswith("oom_score:") for e in proc.errors)


def test_expensive_fields_are_read_only_when_asked(fakeproc):
    fakeproc.add(24, cmdline=[b"/usr/bin/java", b"-jar", b"app.jar"], cgroup="/system.slice/app.service")
    plain = _procfs.read_process(fakeproc.root, 24)
    assert plain.cmdline is None and plain.cgroup is None
    full = _procfs.read_process(fakeproc.root, 24, {"cmdline", "cgroup"})
    assert full.cmdline == ["/usr/bin/java", "-jar", "app.jar"]
    assert full.cgroup == "/system.slice/app.service"


def test_hybrid_host_takes_systemd_path_when_unified_is_root(fakeproc):
    fakeproc.add(25, cgroup_text="4:memory:/system.slice/db.service\n1:name=systemd:/system.slice/db.service\n0::/\n")
    proc = _procfs.read_process(fakeproc.root, 25, {"cgroup"})
    assert proc.cgroup == "/system.slice/db.service"


def test_pure_v2_host_takes_unified_path(fakeproc):
    fakeproc.add(26, cgroup_text="0::/system.slice/web.service\n")
    proc = _procfs.read_process(fakeproc.root, 26, {"cgroup"})
    assert proc.cgroup == "/system.slice/web.service"


def test_host_facts_from_fake_tree(tmp_path):
    from fakeproc import FakeProc
    fake = FakeProc(tmp_path / "p", release="6.8.0", mem_total_kb=2000000, swap_total_kb=1000000,
                    cap_eff=1 << 24, sysctls={"panic_on_oom": 1}, oom_kill=7)
    host = _procfs.read_host(fake.root, page_size=4096)
    assert host["total_pages"] == 3000000 * 1024 // 4096
    assert host["sysctls"]["vm.panic_on_oom"] == 1
    assert host["oom_kill_count"] == 7
    assert host["can_lower_adj"] is True
    assert host["cgroup_version"] == "v2"
    assert host["kernel_release"] == "6.8.0"


def test_host_without_cap_sys_resource_cannot_lower(fakeproc):
    assert _procfs.read_host(fakeproc.root)["can_lower_adj"] is False


def test_missing_oom_kill_counter_is_none(tmp_path):
    from fakeproc import FakeProc
    fake = FakeProc(tmp_path / "p", oom_kill=None)
    assert _procfs.read_host(fake.root)["oom_kill_count"] is None


def test_hybrid_host_prefers_systemds_hierarchy_over_a_container_unified_path(fakeproc):
    # A container without a cgroup namespace: the unified line is the container's own cgroup.
    fakeproc.add(27, cgroup_text="9:name=systemd:/system.slice/db.service\n4:memory:/ctr\n0::/ctr\n")
    proc = _procfs.read_process(fakeproc.root, 27, {"cgroup"})
    assert proc.cgroup == "/system.slice/db.service"


def test_paths_are_relative_to_the_systemd_manager_of_a_container(fakeproc):
    prefix = "/libpod_parent/libpod-974de4c5"
    fakeproc.add(1, name=b"systemd", cgroup_text="9:name=systemd:%s/init.scope\n0::%s\n" % (prefix, prefix))
    fakeproc.add(28, cgroup_text="9:name=systemd:%s/system.slice/db.service\n0::%s\n" % (prefix, prefix))
    procs = _procfs.scan(fakeproc.root, {"cgroup"})[0]
    assert {p.pid: p.cgroup for p in procs} == {1: "/init.scope", 28: "/system.slice/db.service"}


def test_paths_stay_absolute_without_a_systemd_manager(fakeproc):
    fakeproc.add(1, name=b"catatonit", cgroup_text="0::/libpod_parent/libpod-1\n")
    fakeproc.add(29, cgroup_text="0::/libpod_parent/libpod-1\n")
    proc = _procfs.read_process(fakeproc.root, 29, {"cgroup"})
    assert proc.cgroup == "/libpod_parent/libpod-1"


# The fast paths of the scan: one read() for cmdline and cgroup, status fields found by position, one parse
# per distinct cgroup file. Each has a case that must take the slow way and still give the same answer.

def test_a_command_line_longer_than_one_read_buffer_is_read_whole(fakeproc):
    # The kernel allows single arguments of up to 128 KiB; one read() takes 64 KiB.
    long_arg = b"x" * (3 * 65536 + 17)
    fakeproc.add(30, cmdline=[b"/usr/bin/python3", long_arg, b"end"])
    proc = _procfs.read_process(fakeproc.root, 30, {"cmdline"})
    assert proc.cmdline == ["/usr/bin/python3", long_arg.decode(), "end"]


def test_a_command_line_of_exactly_one_read_buffer_is_read_to_its_end(fakeproc):
    arg = b"y" * (65536 - 1)  # with its NUL the file is exactly one buffer: a full read that may have more
    fakeproc.add(31, cmdline=[arg])
    assert _procfs.read_process(fakeproc.root, 31, {"cmdline"}).cmdline == [arg.decode()]


def test_command_line_arguments_keep_invalid_bytes_visible_each_on_its_own(fakeproc):
    fakeproc.add(32, cmdline=[b"caf\xc3", b"\xa9t\xc3\xa9"])
    assert _procfs.read_process(fakeproc.root, 32, {"cmdline"}).cmdline == ["caf\\xc3", "\\xa9t\u00e9"]


def test_a_status_longer_than_one_read_buffer_keeps_the_memory_lines_after_a_long_groups_line(fakeproc):
    fakeproc.add(33, rss_anon_kb=4321, swap_kb=12)
    path = fakeproc.path("33", "status")
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    groups = b"Groups:\t" + b" ".join(b"%d" % gid for gid in range(100000, 115000))  # about 90 KiB
    with open(path, "wb") as handle:
        handle.write(b"\n".join(lines[:5] + [groups] + lines[5:]))
    proc = _procfs.read_process(fakeproc.root, 33)
    assert (proc.rss_anon_kb, proc.swap_kb, proc.has_mm) == (4321, 12, True)


def test_status_fields_on_the_first_and_the_last_line_are_found():
    status = _procfs.parse_status(b"Uid:\t1000\t1000\t1000\t1000\nRssAnon:\t  12 kB\nCapEff:\t0000000000000001")
    assert status["uid"] == 1000
    assert status["rss_anon_kb"] == 12
    assert status["cap_eff"] == 1


def test_status_fields_in_another_order_than_the_kernels_are_all_found():
    status = _procfs.parse_status(b"CapEff:\t0000000001000000\nVmSwap:\t5 kB\nRssAnon:\t1 kB\nUid:\t3\t3\t3\t3\n")
    assert (status["cap_eff"], status["swap_kb"], status["rss_anon_kb"], status["uid"]) == (1 << 24, 5, 1, 3)


def test_a_status_value_that_is_not_a_number_counts_as_missing():
    status = _procfs.parse_status(b"Name:\tx\nUid:\tnobody\nRssAnon:\t12 kB\nVmSwap:\t?? kB\nCapEff:\t\n")
    assert status["uid"] is None
    assert status["swap_kb"] == 0
    assert status["cap_eff"] is None
    assert status["rss_anon_kb"] == 12 and status["has_mm"] is True


def test_a_field_name_inside_another_line_is_not_taken_for_the_field():
    # Name: shows the comm with a newline escaped, so a process cannot start a line of its own.
    status = _procfs.parse_status(b"Name:\tfake\\nRssAnon:\t999\nUid:\t5\t5\t5\t5\nRssAnon:\t7 kB\n")
    assert status["rss_anon_kb"] == 7


# The lines of a 6.x kernel's status between Uid and CapEff that the fast parse reads in groups.
KERNEL_STATUS = (
    b"Name:\tpostgres\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t812\nPid:\t812\nPPid:\t1\n"
    b"Uid:\t106\t106\t106\t106\nGid:\t112\t112\t112\t112\nVmPeak:\t  219396 kB\nVmRSS:\t   30124 kB\n"
    b"RssAnon:\t    4096 kB\nRssFile:\t   21932 kB\nRssShmem:\t    4096 kB\nVmData:\t    3456 kB\n"
    b"VmLib:\t   12000 kB\nVmPTE:\t     120 kB\nVmSwap:\t      64 kB\nHugetlbPages:\t       0 kB\n"
    b"Threads:\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000001000000\n"
    b"CapBnd:\t000001ffffffffff\n"
)
KERNEL_VALUES = [106, 4096, 21932, 4096, 120, 64, 1 << 24]


def test_the_fast_status_parse_reads_the_kernels_layout():
    assert _procfs._status_values_fast(KERNEL_STATUS) == KERNEL_VALUES
    assert _procfs._status_values(KERNEL_STATUS) == _procfs._status_values_any(KERNEL_STATUS) == KERNEL_VALUES


def test_the_fast_status_parse_reads_capeff_on_the_last_line_without_a_newline():
    status = KERNEL_STATUS.split(b"\nCapBnd:", maxsplit=1)[0]
    assert _procfs._status_values_fast(status) == KERNEL_VALUES


def test_a_status_whose_grouped_lines_are_not_adjacent_is_parsed_line_by_line():
    # A kernel that printed another line between RssFile and RssShmem, or VmSwap before VmPTE (as before 4.5
    # some did around VmSwap): the fast parse gives up and every value is still found.
    between = KERNEL_STATUS.replace(b"RssShmem:", b"RssOther:\t  1 kB\nRssShmem:")
    swapped = KERNEL_STATUS.replace(b"VmPTE:\t     120 kB\nVmSwap:\t      64 kB\n",
                                    b"VmSwap:\t      64 kB\nVmPTE:\t     120 kB\n")
    for status in (between, swapped):
        assert _procfs._status_values_fast(status) is None
        assert _procfs._status_values(status) == KERNEL_VALUES


def test_a_status_without_memory_lines_is_parsed_line_by_line():
    # Kernel threads and zombies have no Rss* and Vm* lines.
    status = KERNEL_STATUS.split(b"VmPeak:", maxsplit=1)[0] + KERNEL_STATUS.split(b"Threads:")[1]
    assert _procfs._status_values_fast(status) is None
    assert _procfs._status_values(status) == [106, None, None, None, None, None, 1 << 24]


def test_processes_with_different_cgroup_files_keep_their_own_paths_when_the_parse_cache_is_full(fakeproc, monkeypatch):
    monkeypatch.setattr(_procfs, "_CGROUP_CACHE_MAX", 2)
    monkeypatch.setattr(_procfs, "_CGROUP_CACHE", {})
    for pid in range(40, 46):
        fakeproc.add(pid, cgroup_text="4:memory:/m%d\n1:name=systemd:/system.slice/s%d.service\n0::/\n" % (pid, pid))
    fakeproc.add(46, cgroup_text="4:memory:/m40\n1:name=systemd:/system.slice/s40.service\n0::/\n")
    procs = {p.pid: p for p in _procfs.scan(fakeproc.root, {"cgroup"})[0]}
    for pid in range(40, 46):
        assert procs[pid].cgroup == "/system.slice/s%d.service" % pid
        assert procs[pid].cgroup_paths == ("/m%d" % pid, "/system.slice/s%d.service" % pid, "/")
    assert procs[46].cgroup_paths == procs[40].cgroup_paths
    assert len(_procfs._CGROUP_CACHE) <= 2


def test_read_details_keeps_fields_that_are_already_read(fakeproc):
    fakeproc.add(47, cmdline=[b"now"], cgroup="/system.slice/now.service")
    proc = _procfs.read_process(fakeproc.root, 47)
    proc.cgroup = "/system.slice/before.service"
    assert _procfs.read_details(fakeproc.root, proc, frozenset(("cmdline", "cgroup")))
    assert proc.cgroup == "/system.slice/before.service"
    assert proc.cmdline == ["now"]
