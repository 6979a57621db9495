# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where every killer's lines are read: one journalctl run for the kernel and the killers, dmesg and syslog files
without a journal, and the result saying which sources were read and which killers were looked for."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import kernel as kl
from ansible_collections.oomguard.fleet.plugins.module_utils._kill_history import sources as ks

pytestmark = pytest.mark.usefixtures("utc")
KERNEL_KILL = ("Out of memory: Killed process 4242 (stress-ng) total-vm:3100000kB, anon-rss:3000000kB, "
               "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:6000kB oom_score_adj:200")
EARLYOOM_KILL = 'sending SIGTERM to process 4242 uid 1000 "stress-ng": badness 870, VmRSS 3012 MiB'
OOMD_KILL = ("Killed /system.slice/mariadb.service due to memory pressure for /system.slice being 81.00% > 80.00% "
             "for > 30s with reclaim activity")


def entry(ts, message, ident=None, transport="syslog"):
    record = {"__REALTIME_TIMESTAMP": str(int(ts * 1e6)), "MESSAGE": message, "_BOOT_ID": "b1",
              "_TRANSPORT": transport}
    if ident:
        record["SYSLOG_IDENTIFIER"] = ident
    return json.dumps(record)


JOURNAL = "\n".join([
    entry(1795643280.0, "Linux version 6.8.0-49-generic (buildd@lcy02) (gcc 13.2.0) #49-Ubuntu", "kernel", "kernel"),
    entry(1795643281.0, OOMD_KILL, "systemd-oomd", "journal"),
    entry(1795643281.1, "mariadb.service: systemd-oomd killed 3 process(es) in this unit.", "systemd", "journal"),
    entry(1795643281.2, "mariadb.service: Failed with result 'oom-kill'.", "systemd", "journal"),
    entry(1795643290.0, EARLYOOM_KILL, "earlyoom", "stdout"),
    entry(1795643293.0, KERNEL_KILL, "kernel", "kernel"),
]) + "\n"


class FakeHost(object):
    def __init__(self, tmp_path, commands):
        self.commands = commands
        self.calls = []
        self.warnings = []
        self.proc = tmp_path / "proc"
        (self.proc / "sys/kernel/random").mkdir(parents=True)
        (self.proc / "stat").write_text("btime 1795640000\n")
        (self.proc / "vmstat").write_text("oom_kill 1\n")

    def run(self, argv):
        self.calls.append(argv)
        answer = self.commands[os.path.basename(argv[0])]
        return answer(argv) if callable(answer) else answer

    def which(self, name):
        return "/usr/bin/" + name if name in self.commands else None

    def collect(self, **kwargs):
        kwargs.setdefault("log_files", ())
        kwargs.setdefault("killer_log_files", ())
        return ks.collect(run_command=self.run, which=self.which, warn=self.warnings.append,
                          proc_path=str(self.proc), **kwargs)


def kinds(result):
    return [(e["killer"], e["pid"], e["unit"]) for e in result["events"]]


def test_auto_reads_the_kernel_and_every_killer_in_one_journalctl_run(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, ""), "dmesg": (0, "", "")})
    result = host.collect()
    assert kinds(result) == [("systemd-oomd", None, "mariadb.service"), ("earlyoom", 4242, None),
                             ("kernel", 4242, None)]
    assert (result["source_used"], result["sources_read"], result["killers_looked_for"]) == (
        "journal", ["journal"], list(kl.KILLERS))
    assert host.calls == [["/usr/bin/journalctl", "--no-pager", "--quiet", "--output=json", "_TRANSPORT=kernel", "+",
                           "SYSLOG_IDENTIFIER=systemd-oomd", "SYSLOG_IDENTIFIER=earlyoom", "SYSLOG_IDENTIFIER=nohang",
                           "SYSLOG_IDENTIFIER=nohang-desktop", "SYSLOG_IDENTIFIER=kubelet",
                           "SYSLOG_IDENTIFIER=hyperkube", "SYSLOG_IDENTIFIER=k3s", "SYSLOG_IDENTIFIER=k3s-agent",
                           "SYSLOG_IDENTIFIER=microk8s.daemon-kubelite", "SYSLOG_IDENTIFIER=kubelite",
                           "SYSLOG_IDENTIFIER=oomd", "+", "MESSAGE_ID=d989611b15e44c9dbf31e3c81256e4ed",
                           "MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c",
                           "--output-fields=MESSAGE,_BOOT_ID,_TRANSPORT,SYSLOG_IDENTIFIER"]]


def test_journal_read_for_one_killer_asks_only_for_its_lines(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, "")})
    result = host.collect(source="journal", killers=["earlyoom"])
    assert kinds(result) == [("earlyoom", 4242, None)]
    assert host.calls[0][4:-1] == ["SYSLOG_IDENTIFIER=earlyoom"]
    assert (result["killers_looked_for"], host.warnings) == (["earlyoom"], [])


def test_journal_without_kernel_messages_keeps_the_killers_and_reads_the_kernel_from_dmesg(tmp_path):
    only_killers = "\n".join(line for line in JOURNAL.splitlines() if '"kernel"' not in line) + "\n"
    dmesg = "2026-11-25T21:48:13,000000+00:00 " + KERNEL_KILL + "\n"
    host = FakeHost(tmp_path, {"journalctl": (0, only_killers, ""), "dmesg": (0, dmesg, "")})
    result = host.collect()
    assert [e["killer"] for e in result["events"]] == ["systemd-oomd", "earlyoom", "kernel"]
    assert (result["source_used"], result["sources_read"], result["killers_looked_for"]) == (
        "dmesg", ["journal", "dmesg"], list(kl.KILLERS))


def test_auto_without_a_journal_reads_dmesg_and_the_syslog_file_for_the_killers(tmp_path):
    syslog = tmp_path / "syslog"
    syslog.write_text("Nov 25 21:48:10 host earlyoom[700]: %s\n" % EARLYOOM_KILL)
    dmesg = "2026-11-25T21:48:13,000000+00:00 " + KERNEL_KILL + "\n"
    host = FakeHost(tmp_path, {"dmesg": (0, dmesg, "")})
    result = host.collect(killer_log_files=(str(tmp_path / "missing"), str(syslog)))
    assert [e["killer"] for e in result["events"]] == ["earlyoom", "kernel"]
    assert result["sources_read"] == ["dmesg", "file:" + str(syslog)]
    assert result["killers_looked_for"] == list(kl.KILLERS)


def test_auto_with_dmesg_only_says_the_userspace_killers_were_not_looked_for(tmp_path):
    host = FakeHost(tmp_path, {"dmesg": (0, "", "")})
    result = host.collect(killer_log_files=(str(tmp_path / "missing"),))
    assert (result["events"], result["sources_read"], result["killers_looked_for"]) == ([], ["dmesg"], ["kernel"])


def test_auto_reading_the_kernel_from_syslog_reads_the_killers_in_the_same_pass(tmp_path):
    syslog = tmp_path / "syslog"
    syslog.write_text("Nov 25 21:48:10 host earlyoom[700]: %s\nNov 25 21:48:13 host kernel: %s\n"
                      % (EARLYOOM_KILL, KERNEL_KILL))
    host = FakeHost(tmp_path, {})
    result = host.collect(log_files=(str(syslog),), killer_log_files=(str(syslog),))
    assert [e["killer"] for e in result["events"]] == ["earlyoom", "kernel"]
    assert (result["source_used"], result["sources_read"]) == ("file", ["file:" + str(syslog)])
    assert result["killers_looked_for"] == list(kl.KILLERS)


def test_auto_with_nothing_readable_looks_for_no_killer(tmp_path):
    host = FakeHost(tmp_path, {})
    result = host.collect()
    assert (result["events"], result["sources_read"], result["killers_looked_for"]) == ([], [], [])
    assert len(host.warnings) == 1 and "the OOM kill history of this host is unknown" in host.warnings[0]


def test_dmesg_holds_only_the_kernel_and_oomd_lines(tmp_path):
    host = FakeHost(tmp_path, {"dmesg": (0, "[  812.000001] " + KERNEL_KILL + "\n", "")})
    result = host.collect(source="dmesg")
    assert (kinds(result), result["killers_looked_for"]) == ([("kernel", 4242, None)], ["kernel", "oomd"])


def test_file_source_reads_every_killer_and_says_so(tmp_path):
    log = tmp_path / "messages"
    log.write_text("Nov 25 21:48:10 host earlyoom[700]: %s\nNov 25 21:48:13 host kernel: %s\n"
                   % (EARLYOOM_KILL, KERNEL_KILL))
    result = FakeHost(tmp_path, {}).collect(source="file", path=str(log), killers=["kernel", "earlyoom"])
    assert [e["killer"] for e in result["events"]] == ["earlyoom", "kernel"]
    assert (result["sources_read"], result["killers_looked_for"]) == (["file:" + str(log)], ["kernel", "earlyoom"])


def test_since_applies_to_every_killer(tmp_path):
    host = FakeHost(tmp_path, {"journalctl": (0, JOURNAL, "")})
    result = host.collect(source="journal", since=1795643285.0)
    assert [e["killer"] for e in result["events"]] == ["earlyoom", "kernel"]


def test_file_source_reads_saved_journal_json_and_export_output(tmp_path):
    saved = tmp_path / "journal.json"
    saved.write_text(JOURNAL)
    host = FakeHost(tmp_path, {})
    result = host.collect(source="file", path=str(saved))
    assert kinds(result) == [("systemd-oomd", None, "mariadb.service"), ("earlyoom", 4242, None),
                             ("kernel", 4242, None)]
    export = tmp_path / "journal.export"
    paragraphs = []
    for n, line in enumerate(JOURNAL.splitlines()):
        fields = json.loads(line)
        paragraphs.append("__CURSOR=s=1;i=%d\n" % n + "".join("%s=%s\n" % item for item in fields.items()))
    export.write_text("\n".join(paragraphs))
    assert kinds(host.collect(source="file", path=str(export))) == kinds(result)
