"""CPU seconds used by each kind of process between two moments (Linux /proc).

    python bench/cpu_by_process.py snap FILE    # remember the counters now
    python bench/cpu_by_process.py diff FILE    # print what each kind used since

gunicorn (master and workers), postgres (every backend, other jobs' too), wrk, ...
A process that ended in between is not counted.
"""

from __future__ import annotations

import collections
import json
import os
import sys


def snapshot() -> collections.Counter:
    """Clock ticks (user + system) per process kind."""
    ticks = collections.Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        kind = "gunicorn" if b"gunicorn" in cmdline else name.split(":")[0]
        ticks[kind] += int(fields[11]) + int(fields[12])
    return ticks


def main() -> None:
    command, path = sys.argv[1], sys.argv[2]
    if command == "snap":
        with open(path, "w") as f:
            json.dump(snapshot(), f)
        return
    with open(path) as f:
        before = json.load(f)
    now = snapshot()
    used = {kind: now[kind] - before.get(kind, 0) for kind in now}
    per_second = os.sysconf("SC_CLK_TCK")
    for kind, ticks in sorted(used.items(), key=lambda item: -item[1])[:5]:
        print(f"  cpu {kind:12s} {ticks / per_second:7.2f} s")


if __name__ == "__main__":
    main()
