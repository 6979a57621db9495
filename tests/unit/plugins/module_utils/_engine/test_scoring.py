# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's arithmetic: reference values observed on a 6.18 kernel, pre-5.9 scale, selection rule."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._engine import scoring as _scoring
from ansible_collections.oomguard.fleet.plugins.module_utils._host.procfs import Process

PAGE = 4096
TOTAL = 6171023  # RAM+swap pages of a 24 GiB host


def proc(pid=100, kb=0, adj=0, starttime=None, **extra):
    fields = dict(pid=pid, ppid=1, name="p%d" % pid, state="S", kthread=False, has_mm=True, rss_anon_kb=kb,
                  rss_file_kb=0, rss_shmem_kb=0, swap_kb=0, pgtables_kb=0, oom_score_adj=adj, oom_score=666,
                  starttime=starttime if starttime is not None else pid)
    fields.update(extra)
    return Process(**fields)


@pytest.mark.parametrize("adj, expected", [(0, 666), (7, 671), (16, 677), (100, 733), (500, 1000), (1000, 1333)])
def test_small_process_scores_match_the_values_seen_on_a_5_9_plus_kernel(adj, expected):
    # A small real process: about 2 MB resident.
    badness = _scoring.badness_pages(proc(kb=2000, adj=adj), TOTAL, PAGE)
    assert _scoring.predicted_oom_score(badness, TOTAL) == expected


@pytest.mark.parametrize("adj, expected", [(0, 733), (100, 800), (500, 1066)])
def test_process_using_ten_percent_matches_reference_values(adj, expected):
    ten_percent_kb = TOTAL * 4 // 10 + 2000
    badness = _scoring.badness_pages(proc(kb=ten_percent_kb, adj=adj), TOTAL, PAGE)
    assert _scoring.predicted_oom_score(badness, TOTAL) == expected


def test_swap_and_page_tables_count_toward_badness():
    p = proc(kb=400, swap_kb=800, pgtables_kb=40)
    assert _scoring.badness_pages(p, TOTAL, PAGE) == (400 + 800 + 40) // 4


def test_file_backed_and_shared_memory_count_toward_badness():
    p = proc(kb=0, rss_file_kb=4096, rss_shmem_kb=4096)
    assert _scoring.badness_pages(p, TOTAL, PAGE) == 2048


def test_adj_shifts_by_a_thousandth_of_total_pages_per_point():
    assert _scoring.badness_pages(proc(kb=0, adj=10), TOTAL, PAGE) == 10 * (TOTAL // 1000)


def test_negative_badness_truncates_toward_zero_like_c():
    badness = _scoring.badness_pages(proc(kb=4, adj=-999), TOTAL, PAGE)
    assert badness == 1 - 999 * (TOTAL // 1000)
    # badness*1000/total = -998.99: C truncates to -998 -> (1000 - 998) * 2 / 3 = 1; flooring would give 0.
    assert _scoring.predicted_oom_score(badness, TOTAL) == 1


@pytest.mark.parametrize("case", [
    dict(oom_score_adj=-1000),
    dict(kthread=True),
    dict(has_mm=False),
    dict(has_mm=False, state="Z"),
    dict(pid=1, oom_score=0),
])
def test_never_selected_processes_have_no_badness_and_score_zero(case):
    p = proc(kb=100000, **case)
    assert _scoring.badness_pages(p, TOTAL, PAGE) is None
    assert _scoring.predicted_oom_score(None, TOTAL) == 0


def test_pid_one_inside_a_container_is_a_normal_candidate():
    # The kernel scores a container's PID 1 like any process (it is not the global init).
    p = proc(pid=1, kb=4000, oom_score=667)
    assert _scoring.badness_pages(p, TOTAL, PAGE) == 1000


def test_minus_999_is_still_killable():
    assert _scoring.badness_pages(proc(kb=40, adj=-999), TOTAL, PAGE) is not None


def test_pre_5_9_kernel_uses_the_0_to_1000_scale():
    assert _scoring.scale_for_release("5.8.18") == _scoring.SCALE_1000
    assert _scoring.scale_for_release("5.9.0") == _scoring.SCALE_2000
    assert _scoring.scale_for_release("3.10.0-1160.el7.x86_64") == _scoring.SCALE_1000
    tiny = _scoring.badness_pages(proc(kb=8), TOTAL, PAGE)
    assert _scoring.predicted_oom_score(tiny, TOTAL, _scoring.SCALE_1000) == 0
    tenth = _scoring.badness_pages(proc(kb=TOTAL * 4 // 10 + 2000), TOTAL, PAGE)
    assert _scoring.predicted_oom_score(tenth, TOTAL, _scoring.SCALE_1000) == 100


def test_pre_4_17_kernel_gives_cap_sys_admin_a_three_percent_bonus():
    root = proc(kb=40000, cap_eff=1 << 21)
    assert _scoring.badness_pages(root, TOTAL, PAGE, release="4.9.0") == 10000 - 300
    assert _scoring.badness_pages(root, TOTAL, PAGE, release="4.17.0") == 10000


def test_kill_order_takes_the_largest_badness_first():
    small, big, mid = proc(1001, kb=4000), proc(1002, kb=40000), proc(1003, kb=20000)
    order = _scoring.kill_order([small, big, mid], TOTAL, PAGE)
    assert [p.pid for p, _b in order] == [1002, 1003, 1001]


def test_kill_order_never_contains_minus_1000():
    shielded = proc(1001, kb=10 ** 7, adj=-1000)
    order = _scoring.kill_order([shielded, proc(1002, kb=4)], TOTAL, PAGE)
    assert [p.pid for p, _b in order] == [1002]


def test_ties_go_to_the_younger_process_as_the_kernel_keeps_the_later_of_equals():
    older, younger = proc(500, kb=4000, starttime=10), proc(400, kb=4000, starttime=20)
    order = _scoring.kill_order([older, younger], TOTAL, PAGE)
    assert [p.pid for p, _b in order] == [400, 500]


def test_ties_on_start_time_go_to_the_higher_pid():
    a, b = proc(300, kb=4000, starttime=10), proc(301, kb=4000, starttime=10)
    assert [p.pid for p, _b in _scoring.kill_order([a, b], TOTAL, PAGE)] == [301, 300]


def test_adj_reorders_inside_a_memory_cgroup_by_the_limits_pages():
    limit_pages = 100 * 1024 * 1024 // PAGE  # 25600 pages: one adj point = 25 pages
    big = proc(1, kb=50 * 1024, oom_score=700)          # 12800 pages, adj 0
    small_boosted = proc(2, kb=20 * 1024, adj=400)      # 5120 + 400 * 25 = 15120
    order = _scoring.kill_order([big, small_boosted], limit_pages, PAGE)
    assert [(p.pid, b) for p, b in order] == [(2, 15120), (1, 12800)]


def test_the_same_adj_does_not_reorder_a_global_oom_on_a_big_host():
    big = proc(10, kb=50 * 1024 * 1024)                  # 50 GiB worth of pages
    small_boosted = proc(11, kb=20 * 1024, adj=400)
    order = _scoring.kill_order([big, small_boosted], TOTAL * 4, PAGE)
    assert [p.pid for p, _b in order] == [10, 11]


def test_adj_has_no_effect_in_a_cgroup_smaller_than_1000_pages():
    limit_pages = 999
    a = proc(1, kb=400, adj=0, oom_score=667)
    b = proc(2, kb=200, adj=1000)
    assert _scoring.badness_pages(b, limit_pages, PAGE) == 50
    assert [p.pid for p, _b in _scoring.kill_order([a, b], limit_pages, PAGE)] == [1, 2]


def test_pre_5_9_selection_treats_all_negative_badness_as_one_point():
    # Before 5.9 every candidate scored at least 1, so among negative scores the later process won.
    first = proc(1, kb=4000, adj=-900, starttime=1, oom_score=1)
    second = proc(2, kb=40, adj=-900, starttime=2, oom_score=1)
    old = _scoring.kill_order([first, second], TOTAL, PAGE, _scoring.SCALE_1000)
    new = _scoring.kill_order([first, second], TOTAL, PAGE, _scoring.SCALE_2000)
    assert [p.pid for p, _b in old] == [2, 1]
    assert [p.pid for p, _b in new] == [1, 2]


def test_kill_reason_names_share_and_adj():
    p = proc(7, kb=TOTAL * 4 * 61 // 100)
    line = _scoring.kill_reason(1, p, 0, TOTAL, PAGE)
    assert line.startswith("first victim: 61.0% of RAM+swap, adj 0")
