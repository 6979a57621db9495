# Dummy workload for the oomguard test fleet: names itself, touches some anonymous memory so its
# OOM badness is not zero, then sleeps until it is stopped.
# usage: python3 workload.py <name (comm, at most 15 chars)> <MiB>
from __future__ import annotations

import sys
import time

PAGE = 4096


def main() -> None:
    name, mib = sys.argv[1], int(sys.argv[2])
    # /proc/<pid>/comm is what name-based selectors and the kernel's OOM report see.
    with open("/proc/self/comm", "w", encoding="ascii") as comm:
        comm.write(name[:15])
    data = bytearray(mib * 1024 * 1024)
    # A fresh bytearray is untouched zero pages; writing one byte per page makes it resident.
    for offset in range(0, len(data), PAGE):
        data[offset] = 1
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
