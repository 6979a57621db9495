# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML audit report in a real headless Chromium: no console errors, hostile names shown as text.

Console errors are read through the DevTools protocol over --remote-debugging-pipe (standard library
only): Chromium's stderr log tags every console message INFO, whatever its level, so it cannot tell an
error from a log line. A deliberately broken page proves the checks catch what they claim to catch.
A full-page screenshot of the report is kept in .build/artifacts/ for people to look at.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTIFACTS = os.path.join(REPO, ".build", "artifacts")
HOSTILE = "<script>x</script>"
LONG_NAME = "kworker-exporter-with-a-name-far-too-long-for-a-table-cell"
SMALL_REASON = "#4: 0.02% of RAM+swap, adj 0, badness 800 pages"
EARLYOOM_WHEN = "earlyoom sends SIGTERM when MemAvailable <= 10% and free swap <= 10%; SIGKILL at 5%/5%"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--window-size=1280,1000", "--hide-scrollbars",
]
TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def chromium_installed():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is not installed (Debian package 'chromium'); the browser test needs it")


def fleet_report():
    record = {
        "kind": "unit", "target": "postgresql.service", "tier": "essential", "policy_oom_score_adj": -500,
        "policy_oom_policy": None, "declared_oom_score_adj": -500, "declared_set": True, "declared_oom_policy": None,
        "processes": [{"pid": 812, "name": "postgres", "oom_score_adj": 0}], "status": "denied",
        "reasons": ["kernel keeps 0 for pid 812 (postgres): lowering below the floor needs CAP_SYS_RESOURCE"],
    }
    ok = dict(record, target="ssh.service", tier="critical", policy_oom_score_adj=-900, declared_oom_score_adj=-900,
              processes=[{"pid": 612, "name": "sshd", "oom_score_adj": -900}], status="ok", reasons=[])
    host = {"kernel_release": "6.1.0-26-amd64", "mem_total_kb": 4000000, "swap_total_kb": 0, "total_pages": 1000000,
            "page_size": 4096, "cgroup_version": "v2", "can_lower_adj": False, "cgroup_limit_bytes": None,
            "sysctls": {"vm.panic_on_oom": 0, "vm.overcommit_memory": 0}, "oom_kill_count": 1}
    victims = [
        {"rank": 1, "pid": 666, "name": HOSTILE, "unit": "evil<b>.service", "badness": 410000, "share_percent": 41.0,
         "oom_score": 940, "oom_score_adj": 0},
        {"rank": 2, "pid": 812, "name": "postgres", "unit": "postgresql.service", "badness": 120000,
         "share_percent": 12.0, "oom_score": 746, "oom_score_adj": 0},
    ]
    kill = {"time": "2026-11-25T03:12:00.123456+00:00", "pid": 667, "name": HOSTILE, "uid": 0, "oom_score_adj": 0,
            "anon_rss_kb": 600000, "file_rss_kb": 4, "shmem_rss_kb": 0, "scope": "memcg",
            "oom_memcg": "/system.slice/evil.service", "unit": "evil.service",
            "reaped": True,
            "trigger": {"name": "<img src=x onerror=alert(1)>", "gfp_mask": "0xcc0", "order": 0, "oom_score_adj": 0}}
    # earlyoom killed the protected postgres: the fleet cards count it as protected but killed.
    protected_kill = {"time": "2026-11-25T03:10:00+00:00", "pid": 812, "name": "postgres", "killer": "earlyoom",
                      "unit": "postgresql.service", "signal": "SIGTERM", "reason": "memory"}
    earlyoom = {"killer": "earlyoom", "pid": 511, "args": ["/usr/bin/earlyoom", "-m", "10", "--prefer", HOSTILE],
                "config_file": None, "settings_unknown": False, "reason": None, "acts_before_kernel": True,
                "defaults_applied": ["mem_kill_percent"], "when": EARLYOOM_WHEN,
                "settings": {"mem_term_percent": 10.0, "mem_kill_percent": 5.0, "prefer": HOSTILE}}
    hosts = [
        {"name": "db1", "compliance": {"schema": 1, "systemd": True, "can_lower_adj": False, "state": "present",
                                       "records": [record, ok]},
         "host": dict(host, userspace_killers=[earlyoom]), "kill_order": victims, "events": [kill, protected_kill],
         "events_source": "journal",
         # 93 % of memory used: over the default at_risk threshold of 90 %.
         "headroom": {"mem_total_kb": 4000000, "mem_available_kb": 280000, "swap_total_kb": 0, "swap_free_kb": 0,
                      "committed_kb": 3900000, "commit_limit_kb": 2000000, "overcommit_memory": 0,
                      "oom_kill_count": 1, "pressure": None},
         "leaks": [{"pid": 4242, "name": HOSTILE, "unit": "session-3.scope", "oom_score_adj": -900, "memory_kb": 5120,
                    "source": {"pid": 612, "name": "sshd", "unit": "ssh.service", "oom_score_adj": -900},
                    "reason": "inherited from sshd (pid 612)"}]},
        {"name": "web9", "reachable": False, "errors": ["Failed to connect to the host via ssh: <b>refused</b>"]},
        # The audit's own processes were ranks 1-3; the next victim has a long name and a tiny share.
        {"name": "batch1", "compliance": {"schema": 1, "systemd": True, "can_lower_adj": True, "state": "present",
                                          "records": []},
         "host": host, "events": [], "events_source": "journal",
         "kill_order": [{"rank": 4, "pid": 4004, "name": LONG_NAME, "unit": "exporter.service", "badness": 800,
                         "share_percent": 0.02, "oom_score": 1, "oom_score_adj": 0, "reason": SMALL_REASON},
                        # A pod container's process: the container and pod stand where a unit would.
                        {"rank": 5, "pid": 5005, "name": "java", "unit": None, "badness": 700, "share_percent": 0.01,
                         "oom_score": 1, "oom_score_adj": 0, "reason": "#5: x",
                         "container": {"runtime": "containerd", "id": "a" * 64, "pod_uid": None, "qos": "burstable",
                                       "role": "workload", "name": "web", "pod": "shop/web-7f9c", "image": None}}],
         "kill_order_excluded": [{"rank": 1, "pid": 101, "name": "python3"}, {"rank": 2, "pid": 102, "name": "sh"},
                                 {"rank": 3, "pid": 103, "name": "ansible-playboo"}]},
    ]
    return _report.build_report(hosts, targets=["db1", "web9", "batch1"], generated_at="2026-11-25T21:52:30Z",
                                events_since="7d")


class DevTools(object):
    """A minimal DevTools protocol client over --remote-debugging-pipe (fd 3: commands in, fd 4: events out)."""

    def __init__(self, profile, log_path):
        cmd_read, self._cmd_write = os.pipe()
        self._out_read, out_write = os.pipe()

        def wire_pipes():
            # Move both ends above 4 first, so neither dup2 can clobber the other.
            high_in, high_out = os.dup(cmd_read) + 10, os.dup(out_write) + 10
            os.dup2(cmd_read, high_in)
            os.dup2(out_write, high_out)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self._log = open(log_path, "wb")
        # pass_fds keeps 3 and 4 across close_fds, but the child can only mark them inheritable when they are
        # already open here (pytest usually has them); otherwise nothing may be closed after wire_pipes().
        keep = _fds_open(3, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--remote-debugging-pipe", "--user-data-dir=%s" % profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=wire_pipes, pass_fds=(3, 4) if keep else (), close_fds=keep,
        )
        os.close(cmd_read)
        os.close(out_write)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("Chromium did not answer over the DevTools pipe in time")
            ready, _w, _x = select.select([self._out_read], [], [], remaining)
            if ready:
                chunk = os.read(self._out_read, 65536)
                if not chunk:
                    raise AssertionError("Chromium closed the DevTools pipe (it exited?)")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw.decode("utf-8"))

    def call(self, method, session=None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_write, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError("%s failed: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, seconds=TIMEOUT):
        deadline = time.monotonic() + seconds
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read_message(deadline))

    def drain(self, seconds):
        """Collect whatever arrives in the next few moments (late console messages)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except AssertionError:
            pass

    def close(self):
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_write)
        os.close(self._out_read)
        self._log.close()


def _fds_open(*fds):
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


class PageVisit(object):
    def __init__(self, console_errors, script_elements, body_text, dom, values=None):
        self.console_errors = console_errors
        self.script_elements = script_elements
        self.body_text = body_text
        self.dom = dom
        self.values = values or {}


def visit(path, tmp_path, screenshot=None, expressions=None):
    """Open a file in headless Chromium; return its console errors, <script> count, text and DOM, and the
    value of each of `expressions` ({name: JavaScript}) evaluated in the rendered page."""
    browser = DevTools(str(tmp_path / "profile-cdp"), str(tmp_path / "chromium-cdp.log"))
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(domain + ".enable", session=session)
        browser.call("Page.navigate", session=session, url="file://" + path)
        browser.wait_for("Page.loadEventFired")
        browser.drain(0.5)

        def evaluate(expression):
            return browser.call("Runtime.evaluate", session=session, expression=expression,
                                returnByValue=True)["result"].get("value")

        scripts = evaluate("document.getElementsByTagName('script').length")
        text = evaluate("document.body.innerText")
        dom = evaluate("document.documentElement.outerHTML")
        values = dict((name, evaluate(expression)) for name, expression in (expressions or {}).items())
        if screenshot:
            size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = browser.call("Page.captureScreenshot", session=session, format="png", captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
            with open(screenshot, "wb") as handle:
                handle.write(base64.b64decode(shot["data"]))
        browser.drain(0.2)
    finally:
        browser.close()
    errors = []
    for event in browser.events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console.%s: %s" % (params["type"], [a.get("value") for a in params.get("args", [])]))
        elif event.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: %s" % details.get("exception", {}).get("description", details.get("text")))
        elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append("log: %s" % params["entry"].get("text"))
    return PageVisit(errors, scripts, text, dom, values)


def run_cli(args, tmp_path, name):
    """The plain command-line way (--dump-dom / --screenshot), as a CI job or a person would run it."""
    log_path = tmp_path / ("%s.log" % name)
    cmd = [CHROMIUM] + FLAGS + ["--user-data-dir=%s" % (tmp_path / ("profile-" + name))] + args
    with open(str(log_path), "wb") as log:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, "chromium failed: %s" % log_path.read_text(errors="replace")[-2000:]
    console = [line for line in log_path.read_text(errors="replace").splitlines() if ":CONSOLE" in line]
    return done.stdout.decode("utf-8"), console


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "oom-audit.html"
    path.write_text(_render.render_html(fleet_report()), encoding="utf-8")
    return path


def test_report_renders_without_console_errors_and_hostile_names_show_as_text(report_file, tmp_path):
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "oom-audit-report.png")
    page = visit(str(report_file), tmp_path, screenshot=shot)
    assert page.console_errors == []
    assert page.script_elements == 0
    assert HOSTILE in page.body_text  # shown to the reader as the literal text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.dom  # and held in the DOM as escaped text, not markup
    assert "<img src=x onerror=alert(1)>" in page.body_text
    assert "Fleet summary" in page.body_text and "unreachable" in page.body_text
    assert "at risk" in page.body_text and "memory used 93.0% >= 90.0% (at risk)" in page.body_text
    assert "Protection leaks" in page.body_text and "sshd (612, ssh.service, -900)" in page.body_text
    assert os.path.getsize(shot) > 10000
    shutil.copy(str(report_file), os.path.join(ARTIFACTS, "oom-audit-report.html"))


# What the reader sees in the rendered page, read from the layout (innerText, sizes, the tooltip attribute).
NEXT_VICTIMS = """(() => {
  const host = [...document.querySelectorAll('section.host')].find(s => s.querySelector('h2').innerText.startsWith('batch1'));
  const heading = [...host.querySelectorAll('h3')].find(h => h.innerText === 'Next victims');
  let table = heading.nextElementSibling;
  while (table.tagName !== 'TABLE') { table = table.nextElementSibling; }
  return {headers: [...table.querySelectorAll('th')].map(th => th.innerText.trim()),
          rows: [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.innerText.trim())),
          note: host.querySelector('p.excluded') ? host.querySelector('p.excluded').innerText : null};
})()"""
SUMMARY_VICTIM = """(() => {
  const row = [...document.querySelectorAll('#summary tbody tr')].find(tr => tr.cells[0].innerText === 'batch1');
  const cell = row.cells[7];
  return {text: cell.innerText, title: cell.title, clipped: cell.scrollWidth > cell.clientWidth,
          ellipsis: getComputedStyle(cell).textOverflow};
})()"""


def test_next_victims_show_the_reason_the_kernels_rank_and_two_decimal_shares(report_file, tmp_path):
    page = visit(str(report_file), tmp_path, expressions={"victims": NEXT_VICTIMS})
    victims = page.values["victims"]
    assert victims["headers"] == ["rank", "process", "pid", "unit or container", "adj", "oom_score", "memory",
                                  "share of memory", "reason"]
    row, in_pod = victims["rows"]
    assert in_pod[3] == "container web of pod shop/web-7f9c (containerd, burstable)"
    assert row[0] == "4" and row[1] == LONG_NAME
    assert row[7] == "0.02%"
    assert row[8] == SMALL_REASON
    assert victims["note"].startswith("Ranks 1-3 are the audit's own processes, left out: #1 python3 (101)")
    assert "OOM kills in the last 7 days." in page.body_text


def test_the_summary_gives_a_clipped_next_victim_name_in_full(report_file, tmp_path):
    cell = visit(str(report_file), tmp_path, expressions={"cell": SUMMARY_VICTIM}).values["cell"]
    # The name does not fit its cell: what the ellipsis hides is in the tooltip.
    assert cell["clipped"] and cell["ellipsis"] == "ellipsis"
    assert cell["title"] == "#4 %s (pid 4004)" % LONG_NAME
    assert cell["text"].startswith("#4 kworker")


# The fleet card as the reader sees it (its text and the colour its class gives), and db1's userspace killers.
PROTECTED_CARD = """(() => {
  const card = document.querySelector('#summary .card.protected-but-killed');
  return {text: card.innerText.replace(/\\s+/g, ' ').trim(), colour: getComputedStyle(card.querySelector('b')).color};
})()"""
USERSPACE_KILLERS = """(() => {
  const host = [...document.querySelectorAll('section.host')].find(s => s.querySelector('h2').innerText.startsWith('db1'));
  let table = host.querySelector('h3.userspace-killers').nextElementSibling;
  while (table.tagName !== 'TABLE') { table = table.nextElementSibling; }
  return [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.innerText.trim()));
})()"""


def test_fleet_cards_count_protected_but_killed_in_the_alarm_colour(report_file, tmp_path):
    card = visit(str(report_file), tmp_path, expressions={"card": PROTECTED_CARD}).values["card"]
    assert card["text"] == "protected but killed 1"
    assert card["colour"] == "rgb(207, 34, 46)"  # var(--bad)


def test_host_section_lists_its_userspace_killers_and_when_they_act(report_file, tmp_path):
    rows = visit(str(report_file), tmp_path, expressions={"rows": USERSPACE_KILLERS}).values["rows"]
    assert rows == [["earlyoom", "511", "yes", EARLYOOM_WHEN, "defaults: mem_kill_percent"]]


def test_dump_dom_on_the_command_line_holds_the_hostile_name_as_text(report_file, tmp_path):
    dom, console = run_cli(["--dump-dom", "file://%s" % report_file], tmp_path, "dump")
    assert "&lt;script&gt;x&lt;/script&gt;" in dom
    assert "<script" not in dom.lower()
    assert console == []  # the page has no script, so Chromium logs no console message of any level


def test_screenshot_on_the_command_line_is_written(report_file, tmp_path):
    shot = tmp_path / "cli.png"
    _out, console = run_cli(["--screenshot=%s" % shot, "file://%s" % report_file], tmp_path, "shot")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert console == []


# --- the checks really detect what they claim ------------------------------------------------------------


def test_the_check_catches_a_console_error(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body><p>hi</p>'
                   '<script>console.error("deliberate console error");</script></body></html>')
    page = visit(str(bad), tmp_path)
    assert any("deliberate console error" in error for error in page.console_errors), page.console_errors


def test_the_check_catches_an_injected_script_that_runs(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body><p>hi</p>'
                   "<p>%s</p></body></html>" % HOSTILE)
    page = visit(str(bad), tmp_path)
    assert page.script_elements == 1
    assert any("x is not defined" in error for error in page.console_errors), page.console_errors
    assert HOSTILE not in page.body_text


def test_the_check_catches_a_report_whose_escaping_is_broken(report_file, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(report_file.read_text().replace("&lt;script&gt;x&lt;/script&gt;", HOSTILE))
    page = visit(str(broken), tmp_path)
    assert page.script_elements > 0
    # The report's Content-Security-Policy blocks the script, and Chromium reports that as an error.
    assert page.console_errors, "an injected script element went unnoticed"
