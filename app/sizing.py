"""How many gunicorn workers and threads, and so how many database connections.

``os.cpu_count()`` is the host's: in a container started with ``--cpus=0.5`` on a
16-core host it says 16, and 33 workers x 4 threads would fight over half a core and
open up to 132 database connections (PostgreSQL allows 100 by default). The
container's CPU quota (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``) is what
counts; ``GUNICORN_WORKERS`` overrides it.
"""

from __future__ import annotations

import math
import os

CGROUP = "/sys/fs/cgroup"
DEFAULT_THREADS = 4


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return None


def cpu_limit(cgroup: str = CGROUP) -> float:
    """The CPUs this process may use: the cgroup's quota when one is set, else the
    CPUs it may be scheduled on."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = period = None
    v2 = _read(os.path.join(cgroup, "cpu.max"))
    try:
        if v2 is not None:
            fields = v2.split()
            if fields[0] != "max":
                quota, period = int(fields[0]), int(fields[1])
        else:
            v1_quota = _read(os.path.join(cgroup, "cpu", "cpu.cfs_quota_us"))
            v1_period = _read(os.path.join(cgroup, "cpu", "cpu.cfs_period_us"))
            if v1_quota is not None and v1_period is not None:
                quota, period = int(v1_quota), int(v1_period)
    except (ValueError, IndexError):
        quota = period = None
    if quota and period and quota > 0:
        cpus = min(cpus, quota / period)
    return cpus


def workers(env=os.environ, cgroup: str = CGROUP) -> int:
    """``GUNICORN_WORKERS``, else 2 per usable CPU (rounded up) plus one."""
    explicit = (env.get("GUNICORN_WORKERS") or "").strip()
    if explicit:
        return int(explicit)
    return 2 * max(1, math.ceil(cpu_limit(cgroup))) + 1


def threads(env=os.environ) -> int:
    """``GUNICORN_THREADS``, default 4: each holds at most one database connection."""
    return int((env.get("GUNICORN_THREADS") or "").strip() or DEFAULT_THREADS)
