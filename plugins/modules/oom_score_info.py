#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oomguard contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: oom_score_info
short_description: Kernel-accurate OOM facts, the predicted kill order and the host's OOM settings
version_added: "0.1.0"
description:
  - Reads every process straight from C(/proc) and computes what the Linux OOM killer computes for it
    in C(oom_badness()) of C(mm/oom_kill.c) - resident anonymous, file and shared memory, swap and page tables,
    shifted by C(oom_score_adj) times a thousandth of the memory in scope.
  - Returns the processes in the order the kernel would kill them, the largest badness first. On a tie the
    younger process goes first, because the kernel's task-list walk keeps the later of equal scores.
    Each entry has a one-line reason, and the kernel's own C(oom_score) next to the value predicted from the
    memory parts.
  - Without O(cgroup_limit) the ranking is the global one over every process on the host; the filters only
    choose which processes are returned, and each keeps its global rank.
    With O(cgroup_limit) the filtered processes are taken as the members of a memory cgroup of that size,
    and ranked the way a memory-cgroup OOM ranks them (C(oom_score_adj) scaled by the limit's pages).
  - Reads the cheap per-process files (C(stat), C(status), C(oom_score), C(oom_score_adj)) for everyone, and
    C(cmdline) and C(cgroup) only for processes that are returned or that a filter needs.
  - With O(units), reports per systemd unit what it really declares, read from its unit file and drop-ins
    (C(systemctl show) echoes the manager's own value when nothing is set), its C(OOMPolicy=), main PID and the
    C(oom_score_adj) the kernel applies to each of its processes.
  - Filters of different kinds must all match; the values inside one filter are alternatives.
  - Needs only Python 3.8+ and its standard library on the target.
author:
  - oomguard contributors (@oomguard)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: This module never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: full
    details: Linux only; it reads C(/proc).
extends_documentation_fragment:
  - oomguard.fleet.proc_path
  - oomguard.fleet.process_filters
options:
  cgroup_limit:
    description:
      - Predict the kill order inside a memory cgroup with this limit instead of a global OOM.
      - Bytes as an integer, or a size with a unit such as V(512M), V(512MiB), V(2G) (powers of 1024).
      - Only the filtered processes are ranked, as the members of that cgroup.
    type: str
  scrub_cmdline:
    description:
      - Mask the values of arguments that look like credentials in the returned C(cmdline) of RV(processes)
        with C(********), as monitoring agents that collect process lists do, so that they do not land in
        controller output, CI logs and reports.
      - An argument name matches when it contains, in any case, one of C(password), C(passwd), C(passphrase),
        C(pwd), C(token), C(secret), C(key) or C(credential) (so also C(api_key), C(access-key), C(PGPASSWORD)).
        Masked are the value of C(--name=VALUE), C(-name=VALUE) and C(name=VALUE) (as a whole argument, all of its
        rest; inside one, as in C(user=a,password=b) or a URL's C(?token=abc), up to the next space, C(,), C(;),
        C(&) or quote), the next argument after C(--name VALUE) unless it starts with C(-), the password of a URL
        C(scheme://user:PASSWORD@host), and C(-pVALUE) once a C(mysql) or C(mariadb) client (C(mysql),
        C(mysqldump), C(mysqladmin), C(mariadb), C(mariadb-dump), ...) appears in the command line; C(-p) and
        C(--password) alone (the client prompts) are left as they are. An argument that holds a whole shell
        command (C(sh -c "...")) is judged word by word.
      - A name that ends in C(file), C(path), C(dir) or C(directory) (C(--key-file=/etc/ssl/site.pem),
        C(--password-file PATH)) is kept as it is - it names where a secret is kept, not the secret.
      - Only the returned copy is masked. O(cmdline_patterns) match the real command line on the host.
      - V(false) returns command lines as the kernel shows them.
    type: bool
    default: true
  oomd_sample_interval:
    description:
      - Seconds between the two C(pgscan) readings that rank the candidates of a cgroup systemd-oomd monitors for
        memory pressure (it ranks by reclaim rate first). Only spent when such a cgroup has two or more candidates.
      - V(0) ranks them by C(memory.current) alone and leaves C(pgscan_rate) null in the C(prediction) of RV(host.systemd_oomd).
    type: float
    default: 1.0
notes:
  - C(oom_score) is the kernel's reading for a global OOM (0..2000 since Linux 5.9, 0..1000 before).
    RV(processes[].predicted_oom_score) is computed with the formula of the running kernel's scale.
  - Processes that exit while they are read are left out. Fields that cannot be read give a partial result
    and one warning, not a failure.
  - The OOM killer also skips processes being reaped and vfork children before exec; C(/proc) does not show
    either, so they are ranked like any other process.
seealso:
  - module: oomguard.fleet.oom_score_adj
  - module: oomguard.fleet.oom_events_info
"""

EXAMPLES = r"""
- name: Who dies next on this host?
  oomguard.fleet.oom_score_info:
    top: 5
    return_processes: false
  register: oom

- name: Show the first victims
  ansible.builtin.debug:
    msg: "{{ oom.kill_order | map(attribute='reason') | list }}"

- name: Is sshd protected, and does systemd really apply what it declares?
  oomguard.fleet.oom_score_info:
    units:
      - ssh.service
      - postgresql@15-main.service
  register: oom_units

- name: Fail when the kernel does not apply the declared value
  ansible.builtin.assert:
    that:
      - item.value.processes | map(attribute='oom_score_adj') | unique == [item.value.declared_oom_score_adj]
    fail_msg: "{{ item.key }} declares {{ item.value.declared_oom_score_adj }} but runs with {{ item.value.processes }}"
  loop: "{{ oom_units.units | dict2items }}"
  when: item.value.declared_set

- name: Kill order inside a 2 GiB memory cgroup holding the batch workers
  oomguard.fleet.oom_score_info:
    cgroups:
      - /system.slice/batch.service
    cgroup_limit: 2G
    top: 3

- name: Which userspace killers act before the kernel, and when
  oomguard.fleet.oom_score_info:
    top: 0
    return_processes: false
  register: oom_killers

- name: Say it
  ansible.builtin.debug:
    msg: "{{ oom_killers.host.userspace_killers | selectattr('acts_before_kernel') | map(attribute='when') | list }}"

- name: Processes of the postgres user with a high score
  oomguard.fleet.oom_score_info:
    users: [postgres]
    min_score: 700
"""

RETURN = r"""
processes:
  description:
    - The returned processes, in kill order - candidates first by rank, then the processes the kernel never selects.
    - Memory values are kB, as in C(/proc/PID/status).
  returned: when O(return_processes) is true
  type: list
  elements: dict
  contains:
    pid:
      description: Process id (thread-group id).
      type: int
      sample: 812
    ppid:
      description: Parent process id.
      type: int
      sample: 1
    name:
      description: The kernel's name (comm). Bytes that are not UTF-8 appear as C(\xNN).
      type: str
      sample: postgres
    cmdline:
      description:
        - Arguments. Empty for kernel threads and zombies; null when unreadable.
        - Values of credential-like arguments are masked as C(********) unless O(scrub_cmdline) is false.
      type: list
      elements: str
      sample: ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"]
    state:
      description: Process state letter from C(stat).
      type: str
      sample: S
    uid:
      description: Real user id.
      type: int
      sample: 105
    user:
      description: Real user name, or the uid as text when it has no name.
      type: str
      sample: postgres
    unit:
      description: The systemd unit owning the process (from its cgroup); null when none.
      type: str
      sample: postgresql@15-main.service
    cgroup:
      description: The process's cgroup path in the hierarchy systemd manages.
      type: str
      sample: /system.slice/system-postgresql.slice/postgresql@15-main.service
    container:
      description:
        - The container, pod and runtime the process belongs to, from its cgroup path (every path form of
          Docker, Podman, containerd, CRI-O, kubelet, LXC and systemd-nspawn, on cgroup v1, v2 and hybrid
          hosts; the innermost owner wins), with names from the runtime's own files on the host. Null outside
          containers.
        - Keys - C(runtime) (V(docker), V(podman), V(containerd), V(cri-o), V(lxc), V(nspawn), or V(kubepods)
          for a pod whose engine neither the path nor the files show), C(id) (the full id or name from the path;
          null for a runtime's helper such as conmon or an LXC monitor), C(pod_uid), C(qos) (V(guaranteed),
          V(burstable), V(besteffort)), C(role) (V(workload), V(sandbox) for a pod's pause container, V(helper)),
          C(name), C(pod) (C(namespace/name)) and C(image), each null when nothing on the host says it.
      type: dict
      sample: {"runtime": "containerd", "id": "3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
               "pod_uid": "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b", "qos": "burstable", "role": "workload",
               "name": "web", "pod": "shop/web-7f9c", "image": "shop/web:2"}
    oom_score:
      description: The kernel's C(/proc/PID/oom_score).
      type: int
      sample: 684
    oom_score_adj:
      description: The kernel's C(/proc/PID/oom_score_adj).
      type: int
      sample: -900
    rss_anon_kb:
      description: Resident anonymous memory.
      type: int
      sample: 182340
    rss_file_kb:
      description: Resident file-backed memory; mapped files count toward the score.
      type: int
      sample: 20480
    rss_shmem_kb:
      description: Resident shared memory.
      type: int
      sample: 131072
    swap_kb:
      description: Swapped-out memory.
      type: int
      sample: 0
    pgtables_kb:
      description: Page tables.
      type: int
      sample: 1232
    badness:
      description:
        - The kernel's badness in pages, for a global OOM or, with O(cgroup_limit), for that cgroup.
        - Null when the process is never selected.
      type: int
      sample: 84213
    predicted_oom_score:
      description: C(oom_score) computed from the memory parts and adj with this kernel's formula.
      type: int
      sample: 684
    killable:
      description: Whether the OOM killer can select it at all.
      type: bool
      sample: true
    unkillable_reason:
      description:
        - Why it is never selected - V(kernel thread), V(init), V(zombie), V(no memory (exiting)) or
          V(oom_score_adj -1000). Null for candidates.
      type: str
      sample: null
    rank:
      description: Position in the kill order (1 is the first victim); null when never selected.
      type: int
      sample: 3
    kernel_thread:
      description: Whether this is a kernel thread.
      type: bool
      sample: false
kill_order:
  description: The first O(top) victims, first victim first.
  returned: always
  type: list
  elements: dict
  contains:
    rank:
      description:
        - The kernel's position, 1 for the first victim. A rank held by one of this run's own processes is
          missing (see RV(own_processes_excluded)).
      type: int
      sample: 1
    pid:
      description: Process id.
      type: int
      sample: 4321
    name:
      description: Process name.
      type: str
      sample: java
    container:
      description: The process's container label, as in RV(processes[].container); null outside containers.
      type: dict
      sample: null
    unit:
      description: Owning systemd unit; null when none.
      type: str
      sample: batch.service
    badness:
      description: Badness in pages.
      type: int
      sample: 3760000
    share_percent:
      description: The process's memory as a share of RAM+swap, or of the cgroup limit.
      type: float
      sample: 61.2
    oom_score:
      description: The kernel's C(oom_score) (global scope).
      type: int
      sample: 1073
    oom_score_adj:
      description: Its adjustment.
      type: int
      sample: 0
    reason:
      description: One line saying why it is at this position.
      type: str
      sample: "first victim: 61.2% of RAM+swap, adj 0, badness 3760000 pages"
pod_drift:
  description:
    - On a Kubernetes node (kubelet's C(kubepods) cgroups exist), the processes of pod containers whose
      C(oom_score_adj) is not what kubelet's QoS policy gives them - -997 for Guaranteed and node-critical pods
      (-998 before Kubernetes 1.20), 1000 for BestEffort, 3..999 for Burstable (2..999 before 1.20), -998 for
      the pod's sandbox. kubelet sets it once when the container starts and nothing puts it back, so a value
      someone changed stays wrong until the container restarts. A workload may also set its own.
    - Empty elsewhere. On a node every process's cgroup is read for it.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process id.
      type: int
    name:
      description: Process name.
      type: str
    oom_score_adj:
      description: Its live value.
      type: int
    container:
      description: Its container label, as in RV(processes[].container).
      type: dict
    expected:
      description: What kubelet's policy gives it, in words.
      type: str
    expected_oom_score_adj:
      description: The one value it should have, or V(null) for a Burstable range.
      type: int
  sample:
    - {pid: 48211, name: java, oom_score_adj: -500, expected: "-997 (Guaranteed; -998 before Kubernetes 1.20)",
       expected_oom_score_adj: -997, container: {runtime: containerd, id: 3f4e8b2c9a1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f,
       pod_uid: 1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b, qos: guaranteed, role: workload, name: web,
       pod: shop/web-7f9c, image: "shop/web:2"}}
own_processes_excluded:
  description:
    - The processes of this run (see O(exclude_own_processes)) that were left out of RV(kill_order), with the rank
      each holds in the kernel's order, first rank first. Every one the filters select and the kernel could kill is
      listed, also when its rank lies beyond O(top).
    - Empty when none was ranked or when O(exclude_own_processes) is false.
  returned: always
  type: list
  elements: dict
  contains:
    rank:
      description: Its position in the kernel's kill order.
      type: int
      sample: 2
    pid:
      description: Process id.
      type: int
      sample: 5120
    name:
      description: Process name.
      type: str
      sample: ansible
  sample: [{"rank": 2, "pid": 5120, "name": "ansible"}, {"rank": 9, "pid": 5131, "name": "python3"}]
host:
  description: The host's OOM-relevant facts.
  returned: always
  type: dict
  contains:
    kernel_release:
      description: The kernel release, as C(uname -r) prints it.
      type: str
      sample: 6.1.0-26-amd64
    score_scale:
      description: Range of C(oom_score) on this kernel, V(0-2000) since 5.9 or V(0-1000) before.
      type: str
      sample: 0-2000
    mem_total_kb:
      description: RAM.
      type: int
      sample: 16318412
    swap_total_kb:
      description: Swap.
      type: int
      sample: 0
    total_pages:
      description: RAM plus swap in pages, the scope of a global OOM.
      type: int
      sample: 4079603
    page_size:
      description: Bytes per page.
      type: int
      sample: 4096
    can_lower_adj:
      description:
        - Whether this host or container may lower C(oom_score_adj) below a process's floor, that is whether
          CAP_SYS_RESOURCE is in the effective set.
      type: bool
      sample: false
    systemd_running:
      description: Whether systemd is the init system (C(/run/systemd/system) exists).
      type: bool
      sample: true
    cgroup_version:
      description: V(v2), V(v1) or V(hybrid).
      type: str
      sample: v2
    sysctls:
      description:
        - C(vm.panic_on_oom), C(vm.oom_kill_allocating_task), C(vm.oom_dump_tasks), C(vm.overcommit_memory)
          and C(vm.overcommit_ratio); null when unreadable.
      type: dict
      sample: {"vm.panic_on_oom": 0, "vm.oom_kill_allocating_task": 0}
    oom_kill_count:
      description: OOM kills since boot (C(oom_kill) in C(/proc/vmstat)); null on kernels without it.
      type: int
      sample: 2
    earlyoom_running:
      description: Whether earlyoom runs (kept for compatibility; RV(host.userspace_killers) says whether and when it acts).
      type: bool
      sample: false
    systemd_oomd_running:
      description: Whether systemd-oomd runs; it kills whole cgroups under memory pressure.
      type: bool
      sample: false
    memory_controller:
      description:
        - How the memory controller is reachable, V(v2) (unified hierarchy with the memory controller), V(v1)
          (a v1 memory hierarchy, also on hybrid hosts, where systemd applies only C(MemoryMax=)), or null.
      type: str
      sample: v2
    systemd_oomd:
      description:
        - systemd-oomd on this host. C(running); C(config) the C([OOM]) settings from C(oomd.conf) and its
          drop-ins (C(swap_used_limit_percent), C(default_memory_pressure_limit_percent),
          C(default_memory_pressure_duration_sec); built-in defaults where nothing is set), C(config_sources)
          (the file that set each, null for the default) and C(config_files).
        - While it runs, from C(oomctl dump) - C(settings) (what the daemon runs with) and C(monitored) (C(swap) and
          C(memory_pressure) lists of C({path, limit_percent})); C(error) when the dump failed.
        - C(prediction) (unified hierarchy only) - which cgroup systemd-oomd would kill first, following its code -
          C(swap) and one C(memory_pressure) entry per monitored cgroup, each with C(first) (cgroup path or null),
          C(first_unit), C(reason) (why there is none), C(omitted) and the ranked C(candidates) (C(cgroup), C(unit),
          C(preference), C(memory_current), C(swap_current), C(pgscan_rate), C(eligible), C(reason)).
      type: dict
      sample:
        running: true
        config: {swap_used_limit_percent: 90.0, default_memory_pressure_limit_percent: 60.0,
                 default_memory_pressure_duration_sec: 20.0}
        monitored: {swap: [], memory_pressure: [{path: /batch.slice, limit_percent: 40.0}]}
        prediction:
          swap: {first: null, reason: no cgroup is monitored with ManagedOOMSwap=kill}
          memory_pressure: [{monitored: /batch.slice, first: /batch.slice/etl.service, first_unit: etl.service}]
    userspace_killers:
      description:
        - One entry per userspace OOM killer found running (earlyoom, nohang, systemd-oomd), in pid order;
          empty when none runs. Each has C(killer), C(pid), C(args) (its command line), C(config_file) (nohang),
          C(settings), C(defaults_applied), C(settings_unknown), C(reason), C(acts_before_kernel) and C(when).
        - earlyoom is read from its command line as its own option parser reads it (C(-m PERCENT[,KILL]),
          C(-s), C(-M)/C(-S) sizes in KiB turned into percentages of MemTotal/SwapTotal, the lower one winning
          when both forms are given, C(--prefer)/C(--avoid)/C(--ignore) with C(=) or a separate value, grouped
          short options). C(settings) holds C(mem_term_percent), C(mem_kill_percent), C(swap_term_percent),
          C(swap_kill_percent), the C(*_kib) sizes, C(prefer), C(avoid), C(ignore), C(dryrun),
          C(ignore_root_user), C(sort_by_rss), C(kill_process_group), C(prekill_hook), C(notify_script).
          C(defaults_applied) names the values earlyoom's defaults gave (10% to SIGTERM, 5% to SIGKILL, a kill
          value half the term value when only one is given).
        - nohang is read from the config file its C(--config)/C(-c) argument names (nohang 0.1's defaults when
          none is given), through the process's own root and working directory. C(settings) holds
          C(soft_threshold_min_mem), C(hard_threshold_min_mem), C(soft_threshold_min_swap),
          C(hard_threshold_min_swap), C(soft_threshold_max_zram), C(hard_threshold_max_zram) (each
          C({value, unit, text}), C(unit) V(percent) or V(MiB) as written), C(soft_threshold_max_psi),
          C(hard_threshold_max_psi), C(psi_excess_duration), C(psi_metrics), C(psi_path),
          C(psi_checking_enabled), C(zram_checking_enabled) and C(min_badness). nohang has no built-in
          defaults for them - a config without one would not start.
        - systemd-oomd's entry takes RV(host.systemd_oomd) (C(settings) plus C(monitored)).
        - C(acts_before_kernel) is true when the thresholds make the killer act before the kernel's OOM killer
          (which acts only when an allocation cannot be met), false when it never acts (earlyoom C(--dryrun),
          systemd-oomd monitoring no cgroup), null with C(settings_unknown). C(when) says it in one line.
        - An option, a config or a value this release cannot read gives C(settings_unknown) true, C(reason) and
          null C(settings); nothing is guessed.
      type: list
      elements: dict
      sample:
        - killer: earlyoom
          pid: 512
          args: [/usr/bin/earlyoom, -m, "10", --avoid, "^(sshd|postgres)$"]
          config_file: null
          settings: {mem_term_percent: 10.0, mem_kill_percent: 5.0, swap_term_percent: 10.0, swap_kill_percent: 5.0,
                     avoid: "^(sshd|postgres)$", dryrun: false}
          defaults_applied: [swap_kill_percent, swap_term_percent, mem_kill_percent]
          settings_unknown: false
          reason: null
          acts_before_kernel: true
          when: "earlyoom sends SIGTERM when MemAvailable <= 10% and free swap <= 10%; SIGKILL at 5%/5%"
    process_count:
      description: Processes scanned.
      type: int
      sample: 212
    cgroup_limit_bytes:
      description: The O(cgroup_limit) the kill order was computed for; null for a global OOM.
      type: int
      sample: null
    headroom:
      description:
        - How close the host is to an OOM, as the kernel reports it (kB; null where the kernel does not say).
          C(mem_total_kb), C(mem_available_kb) (C(MemAvailable)), C(swap_total_kb), C(swap_free_kb),
          C(committed_kb) (C(Committed_AS)) and C(commit_limit_kb) (C(CommitLimit), enforced only when
          C(overcommit_memory) is 2), C(overcommit_memory), C(oom_kill_count) and C(pressure), the host's
          memory PSI from C(/proc/pressure/memory) (C(some) and C(full), each C(avg10), C(avg60), C(avg300) in
          percent and C(total) in microseconds), null where the kernel offers no PSI.
      type: dict
      sample:
        mem_total_kb: 16318412
        mem_available_kb: 12000000
        swap_total_kb: 0
        swap_free_kb: 0
        committed_kb: 5100000
        commit_limit_kb: 8159204
        overcommit_memory: 0
        oom_kill_count: 0
        pressure:
          some: {avg10: 0.0, avg60: 0.0, avg300: 0.0, total: 1234}
          full: {avg10: 0.0, avg60: 0.0, avg300: 0.0, total: 567}
units:
  description:
    - Per requested unit, what systemd declares and what the kernel applies.
    - V(declared_set) is false when no unit file or drop-in assigns C(OOMScoreAdjust=), whatever
      V(systemctl_oom_score_adj) says.
    - C(cgroup) holds the memory side of the unit. C(declared) is systemd's view (C(systemctl show)) of
      C(memory_min) .. C(memory_max) in bytes or V(max), and of C(managed_oom_preference), C(managed_oom_swap),
      C(managed_oom_memory_pressure) and C(managed_oom_memory_pressure_limit) (a percentage); a key is null when
      this systemd has no such setting. C(control_group), C(path) (its memory cgroup directory), C(exists) and
      C(layout) (V(v2), V(v1) or null) say where the rest was read.
    - On V(v2) - C(memory.min), C(memory.low), C(memory.high), C(memory.max), C(memory.current),
      C(memory.swap.current), C(memory.oom.group), C(memory.events) (all its counters), C(memory.pressure)
      (C(some)/C(full) with C(avg10), C(avg60), C(avg300), C(total)) and C(xattrs) (C(user.oomd_avoid),
      C(user.oomd_omit), and systemd-oomd's own kill counters C(user.oomd_ooms), C(user.oomd_kill)).
      On V(v1) - C(memory.limit_in_bytes) (V(max) when unlimited), C(memory.usage_in_bytes) and
      C(memory.oom_control).
    - C(oom_kills) is the number of processes the kernel OOM-killed in the cgroup (C(oom_kill) of
      C(memory.events) or C(memory.oom_control)), C(ooms) how often it hit its limit (v2); both null when the
      kernel does not count them.
    - For a template such as V(foo@.service), systemctl cannot show the template itself, so its settings are
      those systemd gives an instance without drop-ins of its own (an instance named
      V(oomguard-template-probe), loaded on demand and never started); C(processes) are those of every running
      instance, and C(main_pid) and C(active_state) are null.
  returned: when O(units) is given
  type: dict
  sample:
    ssh.service:
      declared_oom_score_adj: -900
      declared_set: true
      declared_source: /etc/systemd/system/ssh.service.d/60-oomguard.conf
      declared_oom_policy: null
      systemctl_oom_score_adj: -900
      oom_policy: stop
      main_pid: 612
      load_state: loaded
      active_state: active
      processes: [{"pid": 612, "name": "sshd", "oom_score_adj": 0}]
      ignored: []
      cgroup:
        control_group: /system.slice/ssh.service
        layout: v2
        declared: {memory_min: 67108864, memory_max: max, managed_oom_preference: omit}
        memory.min: 67108864
        memory.max: max
        memory.events: {low: 0, high: 0, max: 0, oom: 0, oom_kill: 0}
        xattrs: {user.oomd_omit: "1", user.oomd_avoid: null}
        oom_kills: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.info import OOMScoreInfo, argument_spec
from ansible_collections.oomguard.fleet.plugins.module_utils._tasks.task import run_module


def build_module():
    return AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)


def main():
    run_module(build_module(), OOMScoreInfo)


if __name__ == "__main__":
    main()
