# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd knowledge: unit names, unit of a cgroup, and what unit files really declare."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._host import systemd as _systemd
from ansible_collections.oomguard.fleet.plugins.module_utils._model import units as _units


@pytest.mark.parametrize("name", ["ssh.service", "postgresql@15-main.service", "getty@.service", "dev-sda1.swap",
                                  "system-getty.slice", "session-3.scope", "a:b_c\\x2d.service"])
def test_valid_unit_names(name):
    assert _units.unit_name_error(name) is None


@pytest.mark.parametrize("name, words", [
    ("../x.service", "'/'"),
    ("a/b.service", "'/'"),
    ("", "non-empty"),
    ("sshd", "must end in"),
    ("ssh.servic", "must end in"),
    (".service", "before its .service suffix"),
    ("bad name.service", "may only contain"),
    ("x" * 250 + ".service", "at most"),
    ("foo@b/r.service", "'/'"),
])
def test_invalid_unit_names_say_why(name, words):
    assert words in _units.unit_name_error(name)


def kind(name):
    """How systemd's unit_name_is_valid() flags classify a name: plain, template, instance or invalid."""
    if _units.unit_name_error(name) is not None:
        return "invalid"
    if _units.is_template(name):
        return "template"
    return "instance" if "@" in name else "plain"


# The rules of systemd's src/basic/unit-name.c, case by case: a type suffix after the last '.', only
# [A-Za-z0-9:_.\\-] and '@' before it, the first '@' not first, a template only when that '@' stands right
# before the suffix, and fewer than 256 bytes (4096 for device, mount and swap units since systemd 256).
SYSTEMD_RULES = [
    ("foo.service", "plain"),
    ("foo-bar_baz:qux.socket", "plain"),
    ("a.b.c.target", "plain"),
    ("foo\\x2dbar.service", "plain"),
    ("dev-disk-by\\x2duuid-1234.device", "plain"),
    ("foo@.service", "template"),
    ("a.b@.timer", "template"),
    ("foo@bar.service", "instance"),
    ("foo@a.b.service", "instance"),
    ("foo@.bar.service", "instance"),
    ("foo@@.service", "instance"),
    ("foo@bar@.service", "instance"),
    ("foo@bar@baz.service", "instance"),
    ("", "invalid"),
    ("foo", "invalid"),
    (".service", "invalid"),
    ("@.service", "invalid"),
    ("@bar.service", "invalid"),
    ("foo.bogus", "invalid"),
    ("foo.Service", "invalid"),
    ("foo.service.", "invalid"),
    ("foo bar.service", "invalid"),
    ("foo/bar.service", "invalid"),
    ("f\u00f6o.service", "invalid"),
    ("foo@b\u00e4r.service", "invalid"),
    ("x" * 247 + ".service", "plain"),
    ("x" * 248 + ".service", "invalid"),
    ("x" * 4089 + ".mount", "plain"),
    ("x" * 4090 + ".mount", "invalid"),
    # Beyond systemd, documented: a prefix of dots only.
    ("..service", "invalid"),
    ("...service", "invalid"),
    ("..@x.service", "invalid"),
]


@pytest.mark.parametrize("name, expected", SYSTEMD_RULES, ids=[n if len(n) < 40 else n[:12] + "...%d" % len(n)
                                                               for n, _k in SYSTEMD_RULES])
def test_unit_names_are_judged_by_systemds_rules(name, expected):
    assert kind(name) == expected


@pytest.mark.parametrize("name, words", [
    ("x" * 248 + ".service", "a .service unit name is at most 255 bytes, this one has 256"),
    ("x" * 4090 + ".mount", "a .mount unit name is at most 4095 bytes"),
    ("@bar.service", "cannot start with '@'"),
    ("foo@b\u00e4r.service", "not '\u00e4'"),
    ("..service", "prefix cannot be only dots"),
])
def test_invalid_unit_names_say_which_rule_they_break(name, words):
    assert words in _units.unit_name_error(name)


def test_only_a_true_template_is_shown_through_the_probe_instance():
    assert _systemd.shown_name("foo@.service") == "foo@%s.service" % _systemd.TEMPLATE_PROBE_INSTANCE
    assert _systemd.shown_name("foo@@.service") == "foo@@.service"
    assert _systemd.shown_name("foo@.bar.service") == "foo@.bar.service"


@pytest.mark.parametrize("path, unit", [
    ("/system.slice/ssh.service", "ssh.service"),
    ("/system.slice/system-postgresql.slice/postgresql@15-main.service", "postgresql@15-main.service"),
    ("/system.slice/docker.service/worker", "docker.service"),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service", "user@1000.service"),
    ("/init.scope", "init.scope"),
    ("/system.slice", "system.slice"),
    ("/", None),
    (None, None),
    ("/lxc/39004/payload", None),
])
def test_unit_of_cgroup(path, unit):
    assert _units.unit_of_cgroup(path) == unit


def test_parse_show_splits_blocks_in_unit_order():
    text = "Id=a.service\nOOMScoreAdjust=0\n\nId=b.service\nOOMScoreAdjust=-900\nDropInPaths=\n"
    assert _systemd.parse_show(text) == [
        {"Id": "a.service", "OOMScoreAdjust": "0"},
        {"Id": "b.service", "OOMScoreAdjust": "-900", "DropInPaths": ""},
    ]


def test_show_units_makes_one_call_for_many_units():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "Id=a.service\nLoadState=loaded\n\nId=b.service\nLoadState=not-found\n", ""

    shown = _systemd.show_units(run, ["a.service", "b.service"])
    assert len(calls) == 1 and calls[0][-2:] == ["a.service", "b.service"]
    assert shown["b.service"]["LoadState"] == "not-found"


def test_show_units_reports_systemctl_errors():
    with pytest.raises(RuntimeError, match="Failed to connect to bus"):
        _systemd.show_units(lambda argv: (1, "", "Failed to connect to bus"), ["a.service"])


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_declared_value_comes_from_the_last_assignment(tmp_path):
    unit = write(tmp_path, "db.service", "[Service]\nExecStart=/bin/db\nOOMScoreAdjust=-100\n")
    drop = write(tmp_path, "60-oom.conf", "[Service]\nOOMScoreAdjust=300\nOOMPolicy=continue\n")
    declared = _systemd.read_declared([unit, drop])
    assert declared["oom_score_adjust"] == 300 and declared["oom_score_adjust_set"] is True
    assert declared["oom_score_adjust_source"] == drop
    assert declared["oom_policy"] == "continue"


def test_unit_without_setting_is_not_set_even_if_systemctl_would_echo_a_number(tmp_path):
    unit = write(tmp_path, "web.service", "[Unit]\nDescription=web\n[Service]\nExecStart=/bin/web\n")
    declared = _systemd.read_declared([unit])
    assert declared["oom_score_adjust"] is None and declared["oom_score_adjust_set"] is False


def test_empty_assignment_resets(tmp_path):
    unit = write(tmp_path, "a.service", "[Service]\nOOMScoreAdjust=500\n")
    drop = write(tmp_path, "z.conf", "[Service]\nOOMScoreAdjust=\n")
    assert _systemd.read_declared([unit, drop])["oom_score_adjust_set"] is False


def test_values_systemd_rejects_are_ignored_and_reported(tmp_path):
    unit = write(tmp_path, "a.service", "[Service]\nOOMScoreAdjust=200\n")
    drop = write(tmp_path, "z.conf", "[Service]\nOOMScoreAdjust=-17000\n")
    declared = _systemd.read_declared([unit, drop])
    assert declared["oom_score_adjust"] == 200
    assert "OOMScoreAdjust=-17000" in declared["ignored"][0]


def test_settings_in_other_sections_do_not_count(tmp_path):
    unit = write(tmp_path, "a.service", "[Unit]\nOOMScoreAdjust=100\n[Install]\nOOMScoreAdjust=7\n")
    assert _systemd.read_declared([unit])["oom_score_adjust_set"] is False


def test_socket_units_declare_in_their_own_section(tmp_path):
    unit = write(tmp_path, "a.socket", "[Socket]\nOOMScoreAdjust=-50\n")
    assert _systemd.read_declared([unit], "socket")["oom_score_adjust"] == -50


def test_comments_and_continuations_are_understood(tmp_path):
    unit = write(tmp_path, "a.service", "[Service]\n# OOMScoreAdjust=999\n;OOMScoreAdjust=998\n"
                 "Environment=A=1 \\\n  B=2\nOOMScoreAdjust=\\\n 400\n")
    assert _systemd.read_declared([unit])["oom_score_adjust"] == 400


def test_unreadable_unit_file_is_reported_not_fatal(tmp_path):
    declared = _systemd.read_declared([str(tmp_path / "missing.conf")])
    assert declared["unreadable"] == [str(tmp_path / "missing.conf")]


def test_show_units_shows_a_template_through_an_instance_without_drop_ins():
    """systemctl refuses `show foo@.service`; an instance loaded on demand shows the template's values."""
    seen = []

    def run(argv):
        seen.append(argv)
        return 0, "Id=job@oomguard-template-probe.service\nOOMScoreAdjust=500\n\nId=web.service\nOOMScoreAdjust=0\n", ""

    shown = _systemd.show_units(run, ["job@.service", "web.service"])
    assert seen[0][-2:] == ["job@oomguard-template-probe.service", "web.service"]
    assert shown["job@.service"]["OOMScoreAdjust"] == "500"
    assert shown["web.service"]["OOMScoreAdjust"] == "0"
    assert _systemd.shown_name("job@b.service") == "job@b.service"
