# A test workload for the guests: names itself (comm), holds the given MiB of touched anonymous memory and
# sleeps. Run by the test units (ExecStart=/usr/bin/python3 /usr/local/lib/oomguard-test/hold.py NAME MIB).
import sys
import time

with open("/proc/self/comm", "w") as handle:
    handle.write(sys.argv[1][:15])
held = b"\xa5" * (int(sys.argv[2]) * 1024 * 1024)
while True:
    time.sleep(3600)
