# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit report benchmark: building, rendering and opening the reports of 10, 100 and 1,000 hosts.

The fleets come from tests/integration/large_fleet.py (real recorded audit results, renamed). For each size,
in interleaved rounds:

  build    oom_audit_report's build_report over the host results (normalising, judging, sorting)
  render   render_all: the JSON, JUnit and HTML texts
  load     headless Chromium opening the HTML file at 1366x768 until its load event, one browser for all
           rounds (its own start is not counted)

and once per size the sizes of the three files, the page's height and the summary block's bottom edge in
CSS pixels. The 10-host fleet is the baseline: the ratios say how each cost grows with the hosts.

    PYTHONPATH=<dir holding ansible_collections> python benchmarks/bench_report.py [--sizes 10,100,1000] [--rounds 5]

The browser and its profile are removed before the script exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import large_fleet  # noqa: E402  pylint: disable=wrong-import-position
from test_report_browser import DevTools  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.oomguard.fleet.plugins.module_utils._report import model as _report
from ansible_collections.oomguard.fleet.plugins.module_utils._report import render as _render

SCREEN = {"width": 1366, "height": 768}
MEASURE = """(() => ({
    page_height: document.documentElement.scrollHeight,
    summary_bottom: document.getElementById('summary').getBoundingClientRect().bottom,
}))()"""


class Page(object):
    def __init__(self, workdir):
        self.browser = DevTools(os.path.join(workdir, "profile"), os.path.join(workdir, "chromium.log"))
        target = self.browser.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.browser.call("Page.enable", session=self.session)
        self.browser.call("Emulation.setDeviceMetricsOverride", session=self.session, deviceScaleFactor=1,
                          mobile=False, **SCREEN)

    def load(self, path):
        self.browser.events = []
        started = time.monotonic()
        self.browser.call("Page.navigate", session=self.session, url="file://%s" % path)
        self.browser.wait_for("Page.loadEventFired")
        return time.monotonic() - started

    def measure(self):
        return self.browser.call("Runtime.evaluate", session=self.session, expression=MEASURE,
                                 returnByValue=True)["result"]["value"]

    def close(self):
        self.browser.close()


def timed(function, *args):
    started = time.monotonic()
    result = function(*args)
    return time.monotonic() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    workdir = tempfile.mkdtemp(prefix="bench-report-")
    times = dict((size, {"build": [], "render": [], "load": []}) for size in sizes)
    facts = {}
    page = Page(workdir)
    try:
        for _round in range(args.rounds):
            for size in sizes:
                hosts = large_fleet.fleet_hosts(size)
                seconds, report = timed(_report.build_report, hosts, [h["name"] for h in hosts],
                                        large_fleet.GENERATED_AT, "7d")
                times[size]["build"].append(seconds)
                seconds, contents = timed(_render.render_all, report)
                times[size]["render"].append(seconds)
                path = os.path.join(workdir, "oom-audit-%d.html" % size)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(contents["html"])
                times[size]["load"].append(page.load(path))
                if size not in facts:
                    facts[size] = dict(page.measure(), **dict(
                        ("%s_bytes" % fmt, len(text.encode("utf-8"))) for fmt, text in contents.items()))
    finally:
        page.close()
        shutil.rmtree(workdir, ignore_errors=True)
    base = sizes[0]
    rows = []
    for size in sizes:
        row = {"hosts": size}
        for step in ("build", "render", "load"):
            median = statistics.median(times[size][step])
            row[step + "_s"] = round(median, 3)
            row[step + "_ratio"] = round(median / statistics.median(times[base][step]), 1)
        row.update(facts[size])
        rows.append(row)
    print("| hosts | build s (x) | render s (x) | Chromium load s (x) | HTML bytes | JSON bytes | JUnit bytes "
          "| page height px | summary bottom px |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print("| {hosts} | {build_s} ({build_ratio}) | {render_s} ({render_ratio}) | {load_s} ({load_ratio}) "
              "| {html_bytes} | {json_bytes} | {junit_bytes} | {page_height} | {summary_bottom:.0f} |".format(**row))
    print(json.dumps({"rounds": args.rounds, "rows": rows}, sort_keys=True))


if __name__ == "__main__":
    main()
