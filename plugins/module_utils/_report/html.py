# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils file is private to the oomguard.fleet collection; it may change without notice.
"""The HTML view of a fleet audit report: one Jinja2 template, rendered with autoescape.

The JSON report (model.build_report) is the source of truth; this page only shows it. Every value comes
from hosts and is escaped by the template engine (autoescape, nothing marked safe except the page's own
CSS), the page carries no script and a Content-Security-Policy that would block one. Jinja2 ships with
ansible-core on the controller, where this runs; the import is guarded so the module can say so clearly
on a Python without it.
"""

from __future__ import annotations

try:
    import jinja2
    from markupsafe import Markup  # a dependency of Jinja2
    HAS_JINJA2 = True
except ImportError:
    jinja2 = Markup = None
    HAS_JINJA2 = False

from ansible_collections.oomguard.fleet.plugins.module_utils._report.judge import (
    FAILING_STATUSES, HOST_STATUS_ADVICE, HOST_STATUS_LABELS,
)
from ansible_collections.oomguard.fleet.plugins.module_utils._report.model import event_sort_key
from ansible_collections.oomguard.fleet.plugins.module_utils._report.text import (
    container_text, display_time, event_victim, excluded_text, share_text, since_text,
)

# Hosts in the summary's table. A larger report adds a table of all hosts and collapses their sections;
# a smaller one shows every host in the summary with its section open, as it always did.
WORST_HOSTS = 10
# Hosts named one by one in a sentence (the hosts whose kill history is unknown).
LISTED_HOSTS = 20

_CSS = """:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; background: var(--bg); }
.card b { display: block; font-size: 1.6rem; }
.card.bad b { color: var(--bad); } .card.warn b { color: var(--warn); } .card.ok b { color: var(--ok); }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; }
code.name { white-space: pre; }
code.path { font-size: 11px; overflow-wrap: anywhere; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; overflow-wrap: break-word; }
.badge { display: inline-block; border-radius: 1rem; padding: 0 .55rem; font-size: 12px; font-weight: 600;
         color: #fff; white-space: nowrap; }
.s-ok, .s-compliant { background: var(--ok); }
.s-drift, .s-missing, .s-unknown, .s-drifting { background: var(--bad); }
.s-denied { background: #bc4c00; }
.card.denied b { color: #bc4c00; }
p.advice { margin: .2rem 0 .6rem; }
.s-unreachable, .s-failed { background: #6e40c9; }
.s-not_running, .s-not_effective, .s-no_assignments { background: var(--muted); }
.bar { display: inline-block; width: 10rem; height: .8rem; background: #eaeef2; border-radius: 3px;
       vertical-align: middle; overflow: hidden; }
.bar span { display: block; height: 100%; background: #bc4c00; }
.host { border: 1px solid var(--line); border-radius: 6px; padding: 0 1rem; margin: .25rem 0; }
.host > details > summary { cursor: pointer; padding: .2rem 0; }
.host > details > summary > h2 { display: inline; border: 0; margin: 0; font-size: 1.05rem; }
.host > details[open] { padding-bottom: .5rem; }
.summary .cards { margin: .5rem 0; gap: .5rem; }
.summary .card { padding: .3rem .7rem; min-width: 7rem; } .summary .card b { font-size: 1.3rem; }
.summary h2 { margin-top: .8rem; }
td.nowrap, td.clip code { white-space: nowrap; }
th.num { white-space: normal; } td.nowrap .bar { width: 6rem; }
td.clip { max-width: 9rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
nav.jump { margin: .3rem 0 0; }
.errors { color: var(--bad); }
.empty { color: var(--muted); font-style: italic; }
ul.reasons { margin: 0; padding-left: 1.1rem; }
dl.settings { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: .3rem 0 1rem; }
dl.settings dt { color: var(--muted); } dl.settings dd { margin: 0; }
.s-at_risk { background: var(--bad); } .s-warning { background: var(--warn); } .s-leak { background: var(--warn); }
.bar.l-warning span { background: var(--warn); } .bar.l-at_risk span { background: var(--bad); }
.bar.l-ok span { background: var(--ok); }
ul.findings { margin: .2rem 0 .6rem; padding-left: 1.1rem; }
"""

_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{# No script, no remote fetch: even text that escaped escaping could not run or phone home. #}
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oomguard fleet audit</title>
<style>{{ css }}</style></head><body>
{% macro badge(status, label=none) %}<span class="badge s-{{ status }}">{{ label or status.replace("_", " ") }}</span>{% endmacro %}
{% macro bar(percent, level="", text=none) %}
{%- if percent is none %}<span class="empty">unknown</span>
{%- else %}{% set label = text or '%.1f%%' % percent %}{#-
-#}<span class="bar{{ ' l-' ~ level if level }}" title="{{ label }}"><span style="width:{{ '%.1f%%' % percent }}"></span>{#-
-#}</span> {{ label }}
{%- endif %}{% endmacro %}
{% macro table(headers, empty) %}
{%- set rows = caller() %}
{%- if rows | trim %}<table><thead><tr>
{%- for h in headers %}<th{{ ' class="num"' | safe if h.startswith('#') }}>{{ h.lstrip('#') }}</th>{% endfor -%}
</tr></thead><tbody>{{ rows }}</tbody></table>
{%- else %}<p class="empty">{{ empty }}</p>{% endif %}{% endmacro %}
{% macro kill_rows(events, with_host) %}
{%- for ev, host in events %}
{%- set rss = [ev.anon_rss_kb, ev.file_rss_kb, ev.shmem_rss_kb] | reject('none') | list %}
<tr>{% if with_host %}<td><a href="#{{ anchors[host] }}">{{ host }}</a></td>{% endif -%}
<td class="time">{{ ev.time | when }}</td>{#- Reports merged from files written before events carried their killer: the kernel's. #}
<td>{{ ev.get("killer") or "kernel" }}</td>
<td>{% if ev.pid is not none %}<code class="name">{{ ev.name | show }}</code>{% else %}{#-
  A kill without a victim pid (systemd-oomd, kubelet) names its unit, pod or cgroup. #}{{ ev | victim }}{% endif %}</td>
<td class="num">{{ ev.pid | show }}</td><td class="num">{{ ev.oom_score_adj | adj }}</td>
<td class="num">{{ (rss | sum if rss else none) | kb }}</td><td>{{ ev.unit | show }}{% if ev.get("pod") %}<br>pod {{ ev.pod }}{% endif %}{#-
-#}{% if ev.get("container") %}<br><span class="container">{{ ev.container | container }}</span>{% endif %}</td>
<td>{% if ev.get("killer", "kernel") == "kernel" %}{{ ev.scope | show }}{% if ev.oom_memcg %}<br><code class="path">{{ ev.oom_memcg }}</code>{% endif %}{#-
-#}{% else %}{{ ev.get("reason") | show }}{{ ", %s" % ev.signal if ev.get("signal") }}{#-
-#}{% if ev.get("cgroup") %}<br><code class="path">{{ ev.cgroup }}</code>{% endif %}{% endif %}</td>
<td>{% if ev.trigger and ev.trigger.name is not none %}<code class="name">{{ ev.trigger.name }}</code>{% else %}{{ none | show }}{% endif %}</td>
{#- Reports merged from files written before events carried their line have no key. #}
<td>{{ "%s line" % ev.get("line") if ev.get("line") else none | show }}</td></tr>
{%- endfor %}{% endmacro %}
{% set kill_headers = ["time", "killer", "victim", "#pid", "#adj", "#rss", "unit", "scope or reason", "triggered by", "read from"] %}
{% macro host_row(host) %}
{%- set victim = host.kill_order[0] if host.kill_order else none %}
<tr><td class="time"><a href="#{{ anchors[host.name] }}">{{ host.name }}</a></td>
<td class="nowrap">{{ badge(host.status, labels[host.status]) }}{% if host.risk.at_risk %} {{ badge("at_risk") }}{% endif %}</td>
<td class="nowrap">{{ bar(host.risk.figures.memory_used_percent if host.risk.figures else none, level_of(host, "memory_used_percent")) }}</td>
<td class="num">{{ host.assignments.ok }}</td><td class="num">{{ failing(host) }}</td>
<td class="num">{{ host.assignments.not_running }}</td><td class="num">{{ host.leaks | length }}</td>
{#- A long name is cut to keep the row on one line: the tooltip has it whole, the host's section too. #}
<td class="clip"{% if victim %} title="#{{ victim.rank }} {{ victim.name | show }} (pid {{ victim.pid | show }})"{% endif %}>{#-
-#}{% if victim %}#{{ victim.rank }} <code>{{ victim.name | show }}</code> ({{ victim.pid | show }}){% else %}{{ none | show }}{% endif %}</td>
<td class="num">{{ host.events | length if host.events or host.events_source else none | show }}</td>
{#- One line per host: the full text is in the tooltip and in the host's section. #}
<td class="clip" title="{{ host.errors | join('; ') }}">{{ host.errors | join("; ") }}</td></tr>
{%- endmacro %}
{% set host_headers = ["host", "status", "headroom (memory used)", "#ok", "#not ok", "#not running", "#leaks", "next victim",
                       "#recent kills", "problems"] %}
{% set counts = report.summary.by_status %}
{% set summary = report.summary %}
{# The summary block fits one screen (1366x768) whatever the fleet's size: the browser test measures it. #}
<section class="summary" id="summary">
<h1>oomguard fleet audit</h1>
<p class="meta">Generated {{ report.generated_at | show }} by {{ report.generator }}, report schema {{ report.schema_version }}
{{- "; OOM kills %s" % (report.events_since | since) if report.events_since }}.</p>
<h2>Fleet summary</h2>
<div class="cards">
<div class="card">hosts<b>{{ summary.hosts }}</b></div>
<div class="card ok">compliant<b>{{ counts.compliant }}</b></div>
<div class="card {{ 'bad' if counts.drifting else 'ok' }}">drifting<b>{{ counts.drifting }}</b></div>
<div class="card {{ 'denied' if counts.denied else 'ok' }}" title="{{ advice.denied }}">denied (no CAP_SYS_RESOURCE)<b>{{ counts.denied }}</b></div>
<div class="card {{ 'bad' if counts.unreachable else 'ok' }}">unreachable<b>{{ counts.unreachable }}</b></div>
<div class="card {{ 'bad' if counts.failed else 'ok' }}">audit failed<b>{{ counts.failed }}</b></div>
<div class="card">no assignments<b>{{ counts.no_assignments }}</b></div>
<div class="card {{ 'bad' if summary.at_risk else 'ok' }}">at risk<b>{{ summary.at_risk }}</b></div>
<div class="card {{ 'warn' if summary.leaks else 'ok' }}">protection leaks<b>{{ summary.leaks }}</b></div>
<div class="card {{ 'warn' if summary.recent_kills else 'ok' }}">recent OOM kills<b>{{ summary.recent_kills }}</b></div>
<div class="card protected-but-killed {{ 'bad' if summary.protected_but_killed else 'ok' }}">protected but killed{#-
-#}<b>{{ summary.protected_but_killed | default(0) }}</b></div>
</div>
{% if counts.denied %}<p class="advice">{{ counts.denied }} host{{ "s are" if counts.denied > 1 else " is" }} <b>denied</b>: {#-
-#} {{ advice.denied }}.</p>{% endif %}
{% set large = report.hosts | length > worst %}
{% if large %}<h3>The {{ worst }} worst hosts</h3>{% endif %}
{% call table(host_headers, "No hosts were audited.") %}
{% for host in report.hosts[:worst] %}{{ host_row(host) }}{% endfor %}
{% endcall %}
<nav class="jump meta">{% if large %}<a href="#hosts">All {{ summary.hosts }} hosts</a>, worst first &middot; {% endif %}{#-
-#}<a href="#kills">Recent OOM kills</a> &middot; <a href="#details">Host details</a>{{ " (collapsed)" if large }}</nav>
</section>
{% if large %}
<h2 id="hosts">All hosts, worst first</h2>
{% call table(host_headers, "") %}
{% for host in report.hosts %}{{ host_row(host) }}{% endfor %}
{% endcall %}
{% endif %}
{% set fleet_kills = report.hosts | fleet_kills %}
<h3 id="kills">Recent OOM kills in the fleet</h3>
{% set unknown = report.hosts | selectattr("events_source", "none") | rejectattr("events") | list %}
{% call table(["host"] + kill_headers, "No OOM kills were found in the logs%s." % (" that could be read" if unknown else "")) %}
{{- kill_rows(fleet_kills[:50], true) }}
{% endcall %}
{% if unknown %}
<p class="meta">Kill history unknown (no log could be read, or the host was not audited) on
{% for h in unknown[:listed] %} <a href="#{{ anchors[h.name] }}">{{ h.name }}</a>{{ "," if not loop.last }}{% endfor %}
{{- " and %d more" % (unknown | length - listed) if unknown | length > listed }}.</p>
{% endif %}
{% if fleet_kills | length > 50 %}<p class="meta">{{ fleet_kills | length - 50 }} more in the host sections below.</p>{% endif %}
<h2 id="details">Host details</h2>
{% for host in report.hosts %}
<section class="host" id="{{ anchors[host.name] }}">
{#- Collapsed in a large fleet, so that a thousand hosts are a thousand lines; open in a small one. #}
<details{{ " open" if not large }}><summary><h2>{{ host.name }} {{ badge(host.status, labels[host.status]) }}{#-
-#}{% if host.risk.at_risk %} {{ badge("at_risk") }}{% endif %}</h2></summary>
{% if host.status in advice %}<p class="advice">{{ badge(host.status, labels[host.status]) }} {{ advice[host.status] | capitalize_first }}.</p>{% endif %}
{% if host.errors %}<ul class="errors">{% for e in host.errors %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}
{% if host.status == "unreachable" %}
<p class="empty">Nothing could be gathered: the host was unreachable.</p></details></section>
{% else %}
{% set comp = host.compliance %}
{% if comp is not none %}
<h3>Protection status</h3>
<p class="meta">systemd: {{ comp.systemd | show }}; can lower oom_score_adj (CAP_SYS_RESOURCE): {{ comp.can_lower_adj | show }}{#-
-#}; policy state: {{ comp.state | show }}</p>
{% call table(["status", "kind", "target", "tier", "#policy", "#declared", "live processes (pid: adj)", "reasons"],
              "No OOM protection assignments on this host.") %}
{% for rec in comp.records %}
<tr><td>{{ badge(rec.status) }}</td><td>{{ rec.kind | show }}</td><td><code>{{ rec.target | show }}</code></td>
<td>{{ rec.tier | show }}</td>
<td class="num">{{ rec.policy_oom_score_adj | adj }}{{ " / %s" % rec.policy_oom_policy if rec.policy_oom_policy }}</td>
<td class="num">{% if rec.declared_set is false %}<span class="empty">not set</span>{% else %}{{ rec.declared_oom_score_adj | adj }}{% endif %}
{{- " / %s" % rec.declared_oom_policy if rec.declared_oom_policy }}</td>
<td>{% for p in rec.processes %}<code>{{ p.name | show }}</code> {{ p.pid | show }}: {{ p.oom_score_adj | adj }}{{ ", " if not loop.last }}{% else %}{#-
-#}<span class="empty">none</span>{% endfor %}</td>
<td>{% if rec.reasons %}<ul class="reasons">{% for r in rec.reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
{%- if rec.settings %}<ul class="reasons">{% for st in rec.settings %}<li>{{ badge(st.status) }} <code>{{ st.setting }}{#-
-#}</code> policy {{ st.policy | show }}, declared {{ st.declared | show }}, effective {{ st.effective | show }}</li>{% endfor %}</ul>{% endif %}
{%- if rec.oom_kills is not none or rec.oomd_kills is not none %}{#-
-#}<p class="meta">OOM kills counted by its cgroup: {{ rec.oom_kills | show }} by the kernel, {{ rec.oomd_kills | show }} by systemd-oomd</p>{#-
-#}{% endif %}</td></tr>
{%- endfor %}
{% endcall %}
{% if comp.skipped_units %}
<p class="meta">Not applied, because this host has no systemd: {% for unit in comp.skipped_units %}<code>{{ unit }}</code>{{ ", " if not loop.last }}{#-
-#}{% endfor %}</p>
{% endif %}
{% endif %}
<h3>Headroom and pressure</h3>
{% set hr = host.headroom %}
{% if hr is none %}<p class="empty">Unknown: no headroom figures were gathered from this host.</p>
{% else %}
{% set fig = host.risk.figures %}
{% if host.risk.findings %}<ul class="findings">{% for f in host.risk.findings %}<li>{{ badge(f.level) }} {{ f.text }}</li>{% endfor %}</ul>{% endif %}
<dl class="settings">
<dt>memory used</dt><dd>{{ bar(fig.memory_used_percent, level_of(host, "memory_used_percent")) }} ({#-
-#}{{ hr.mem_available_kb | kb }} available of {{ hr.mem_total_kb | kb }})</dd>
<dt>swap used</dt><dd>{% if hr.swap_total_kb %}{#-
-#}{{ bar(fig.swap_used_percent, level_of(host, "swap_used_percent")) }} (of {{ hr.swap_total_kb | kb }}){% else %}no swap{% endif %}</dd>
<dt>commit charge</dt><dd>{{ hr.committed_kb | kb }} of the commit limit {{ hr.commit_limit_kb | kb }} ({{ fig.commit_used_percent | pct }}{#-
-#}); vm.overcommit_memory={{ hr.overcommit_memory | show }}{#-
-#}{{ " (the limit is enforced)" if hr.overcommit_memory == 2 else " (the limit is not enforced in this mode)" }}</dd>
{% if hr.pressure %}
{% for kind in ["some", "full"] %}{% set p = hr.pressure[kind] %}
<dt>memory pressure {{ kind }}</dt><dd>avg10 {{ p.avg10 | pct }}, avg60 {{ p.avg60 | pct }}, avg300 {{ p.avg300 | pct }}{#-
-#}, total {{ p.total | show }} &micro;s</dd>
{% endfor %}
{% else %}<dt>memory pressure</dt><dd><span class="empty">not offered by this kernel</span></dd>
{% endif %}
<dt>OOM kills since the previous report</dt><dd>{{ fig.oom_kills_since_previous | show }}</dd>
</dl>
{% endif %}
<h3>Protection leaks</h3>
{% call table(["#pid", "process", "unit", "#adj", "#memory", "value came from", "why"],
              "No process holds a negative oom_score_adj that nothing assigns.") %}
{% for leak in host.leaks %}
<tr><td class="num">{{ leak.pid | show }}</td><td><code class="name">{{ leak.name | show }}</code></td><td>{{ leak.unit | show }}</td>
<td class="num">{{ leak.oom_score_adj | adj }}</td><td class="num">{{ leak.memory_kb | kb }}</td>
<td>{% if leak.source %}<code class="name">{{ leak.source.name | show }}{#-
-#}</code> ({{ leak.source.pid | show }}, {{ leak.source.unit | show }}, {{ leak.source.oom_score_adj | adj }}){% else %}{#-
-#}<span class="empty">unknown (no protected ancestor is alive)</span>{% endif %}</td>
<td>{{ leak.reason | show }}</td></tr>
{%- endfor %}
{% endcall %}
{% if host.get("pod_drift") %}
<h3 class="pod-drift">Pod containers not at kubelet's value</h3>
{% call table(["#pid", "process", "container", "#adj", "kubelet gives it"], "") %}
{% for d in host.pod_drift %}
<tr><td class="num">{{ d.pid | show }}</td><td><code class="name">{{ d.name | show }}</code></td>
<td><span class="container">{{ d.container | container }}</span></td><td class="num">{{ d.oom_score_adj | adj }}</td>
<td>{{ d.expected | show }}</td></tr>
{%- endfor %}
{% endcall %}
{% endif %}
<h3>Next victims</h3>
{% if host.kill_order_excluded %}<p class="meta excluded">{{ host.kill_order_excluded | excluded | capitalize_first }}: {#-
-#}{% for o in host.kill_order_excluded %} #{{ o.rank | show }} <code class="name">{{ o.name | show }}</code> ({{ o.pid | show }}){#-
-#}{{ "," if not loop.last }}{% endfor %}.</p>{% endif %}
{% call table(["#rank", "process", "#pid", "unit or container", "#adj", "#oom_score", "#memory", "share of memory", "reason"],
              "No kill order was gathered.") %}
{% for v in host.kill_order %}
<tr><td class="num">{{ v.rank }}</td><td><code class="name">{{ v.name | show }}</code></td><td class="num">{{ v.pid | show }}</td>
<td>{% if v.get("container") %}<span class="container">{{ v.container | container }}</span>{% else %}{{ v.unit | show }}{% endif %}</td>
<td class="num">{{ v.oom_score_adj | adj }}</td><td class="num">{{ v.oom_score | show }}</td>
<td class="num">{{ v.memory_kb | kb }}</td><td class="nowrap">{{ bar(v.memory_share_percent, text=v.memory_share_percent | share) }}</td>
<td class="reason">{{ v.reason | show }}</td></tr>
{%- endfor %}
{% endcall %}
{% if host.get("protected_but_killed") %}
<h3 class="protected-but-killed">Protected but killed</h3>
{% call table(["time", "killer", "assignment", "tier", "protection", "victim"], "") %}
{% for p in host.protected_but_killed %}
<tr><td class="time">{{ p.time | when }}</td><td>{{ p.killer }}</td><td>{{ p.kind | show }} <code>{{ p.target | show }}</code></td>
<td>{{ p.tier | show }}</td><td>{{ p.protection | show }}</td><td>{{ p | victim }}</td></tr>
{%- endfor %}
{% endcall %}
{% endif %}
<h3>Recent OOM kills{{ " (from %s)" % host.events_source if host.events_source }}</h3>
{% if host.get("sources_read") is not none or host.get("killers_looked_for") is not none %}
<p class="meta sources">Read: {{ host.sources_read | join(", ") if host.sources_read else "nothing (no source could be read)" }};
killers looked for: {{ host.killers_looked_for | join(", ") if host.killers_looked_for else "none" }}{#-
-#}{% if host.get("kills_by_killer") %}{{ "; kills by killer: " }}{#-
-#}{% for k, n in host.kills_by_killer.items() %}{{ k }} {{ n }}{{ ", " if not loop.last }}{% endfor %}{% endif %}.</p>
{% endif %}
{% if host.events or host.events_source is not none %}
{% call table(kill_headers, "No OOM kills found.") %}{{ kill_rows(host.events | map("pair", host.name) | list, false) }}{% endcall %}
{% elif host.cgroup_oom_kills is not none %}{#-
-#}<p class="meta">No kernel log could be read on this host; the assigned units' cgroups counted {{ host.cgroup_oom_kills }} OOM kill(s).</p>
{% else %}<p class="empty">Unknown: no kernel log could be read on this host.</p>
{% endif %}
{% if host.get("userspace_killers") is not none %}
<h3 class="userspace-killers">Userspace killers</h3>
{% call table(["killer", "#pid", "acts before the kernel", "when", "settings"],
              "No earlyoom, nohang or systemd-oomd runs on this host: the kernel's OOM killer acts alone.") %}
{% for k in host.userspace_killers %}
<tr><td>{{ k.killer }}</td><td class="num">{{ k.pid | show }}</td><td>{{ "unknown" if k.acts_before_kernel is none else k.acts_before_kernel | show }}</td>
<td class="reason">{{ k.when | show }}</td>
<td>{% if k.settings_unknown %}<span class="empty">unknown: {{ k.reason | show }}</span>{#-
-#}{% if k.args %}<br><code>{{ k.args | join(" ") }}</code>{% endif %}{% else %}{#-
-#}{% if k.config_file %}config <code>{{ k.config_file }}</code>{% endif %}{#-
-#}{% if k.defaults_applied %}{{ "; " if k.config_file }}defaults: {{ k.defaults_applied | join(", ") }}{% endif %}{% endif %}</td></tr>
{%- endfor %}
{% endcall %}
{% endif %}
{% if host.oomd %}
<h3>systemd-oomd</h3>
{% if not host.oomd.running %}<p class="meta">systemd-oomd is not running on this host.</p>
{% elif host.oomd.prediction %}{% set pr = host.oomd.prediction %}
<dl class="settings">
<dt>swap rule: kills first</dt><dd>{% if pr.swap.first %}<code>{{ pr.swap.first }}</code>{% else %}{#-
-#}<span class="empty">nothing ({{ pr.swap.reason | show }})</span>{% endif %}</dd>
{% for rule in pr.memory_pressure %}<dt>pressure on <code>{{ rule.monitored | show }}</code> above {{ rule.limit_percent | pct }}: kills first</dt>
<dd>{% if rule.first %}<code>{{ rule.first }}</code>{% else %}<span class="empty">nothing ({{ rule.reason | show }})</span>{% endif %}{#-
-#}{% if rule.omitted %}; never: {% for o in rule.omitted %}<code>{{ o }}</code>{{ ", " if not loop.last }}{% endfor %}{% endif %}</dd>
{% endfor %}</dl>
{% else %}<p class="meta">No prediction: {{ host.oomd.error | show }}</p>
{% endif %}
{% endif %}
{% set settings = host.host | settings %}
{% if settings %}
<h3>Host OOM settings</h3><dl class="settings">{% for k, v in settings %}<dt>{{ k }}</dt><dd>{{ v | show }}</dd>{% endfor %}</dl>
{% endif %}
</details></section>
{% endif %}
{% endfor %}
</body></html>
"""


def _show(value):
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _adj(value):
    if value is None:
        return _show(None)
    return "%+d" % value if value else "0"


def _kb(value):
    if value is None:
        return _show(None)
    if value >= 1048576:
        return "%.1f GiB" % (value / 1048576.0)
    if value >= 1024:
        return "%.1f MiB" % (value / 1024.0)
    return "%d kB" % value


def _pct(value):
    return _show(None) if value is None else "%.1f%%" % value


def _settings(settings):
    items = []
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            items.extend(value.items())
        else:
            items.append((key, value))
    return items


def _fleet_kills(hosts):
    kills = [(ev, host["name"]) for host in hosts for ev in host["events"]]
    return sorted(kills, key=lambda item: event_sort_key(item[0]), reverse=True)


def _level_of(host, figure):
    for finding in host["risk"]["findings"]:
        if finding["figure"] == figure:
            return finding["level"]
    return "ok"


def _environment():
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update({
        "show": _show, "adj": _adj, "kb": _kb, "pct": _pct, "when": display_time, "settings": _settings,
        "fleet_kills": _fleet_kills, "pair": lambda value, other: (value, other),
        "share": lambda value: None if value is None else share_text(value), "since": since_text,
        "excluded": excluded_text, "victim": event_victim, "container": container_text, "capitalize_first": lambda text: text[:1].upper() + text[1:],
    })
    return env


def render_html(report):
    """The page of a report built by model.build_report. Needs Jinja2 (HAS_JINJA2)."""
    hosts = report["hosts"]
    template = _environment().from_string(_TEMPLATE)
    return template.render(
        report=report, css=Markup(_CSS),
        anchors=dict((host["name"], "host-%d" % index) for index, host in enumerate(hosts, 1)),
        labels=HOST_STATUS_LABELS, advice=HOST_STATUS_ADVICE, level_of=_level_of,
        failing=lambda host: sum(host["assignments"][s] for s in FAILING_STATUSES),
        worst=WORST_HOSTS, listed=LISTED_HOSTS,
    )
