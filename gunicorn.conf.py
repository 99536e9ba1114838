"""gunicorn settings, from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``)."""

import math
import os
import shutil
import tempfile

CGROUP = "/sys/fs/cgroup"


def cpu_limit(cgroup: str = CGROUP) -> float:
    """The CPUs this process may use: the container's quota (cgroup v2 ``cpu.max``, or
    v1 ``cpu.cfs_quota_us``) when one is set, else the CPUs it may be scheduled on.

    ``os.cpu_count()`` is the host's: in a container started with ``--cpus=0.5`` on a
    16-core host it says 16, and 33 workers would fight over half a core.
    """
    cpus = float(len(os.sched_getaffinity(0)))
    quota = period = None
    try:
        with open(os.path.join(cgroup, "cpu.max")) as file:
            fields = file.read().split()
        if fields and fields[0] != "max":
            quota, period = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        try:
            with open(os.path.join(cgroup, "cpu", "cpu.cfs_quota_us")) as file:
                quota = int(file.read())
            with open(os.path.join(cgroup, "cpu", "cpu.cfs_period_us")) as file:
                period = int(file.read())
        except (OSError, ValueError):
            pass
    if quota and period and quota > 0:
        cpus = min(cpus, quota / period)
    return cpus


def default_workers(cgroup: str = CGROUP) -> int:
    """2 per usable CPU (rounded up) plus one."""
    return 2 * max(1, math.ceil(cpu_limit(cgroup))) + 1


bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS") or default_workers())
# each thread holds at most one database connection: workers x threads is this server's
# share of PostgreSQL's max_connections (README: the connection budget)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# a request that runs longer than this is killed; the database statement timeout is shorter
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# on SIGTERM, in-flight requests get this long to finish
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# one JSON object per request on stdout, with the X-Request-ID of the response; gunicorn's
# own messages are JSON lines too
accesslog = "-"
logger_class = "app.access_log.JsonAccessLogger"
errorlog = "-"
# gunicorn 23+ opens a control socket in $HOME; we manage workers with signals, and
# several servers on one host (tests, benchmarks) must not fight over one socket
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# prometheus_client's multiprocess mode: each worker writes its samples to files in this
# directory and /metrics (in whichever worker) adds them up. It must be set before the
# app (and prometheus_client) is imported, which happens in the workers, after this file.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stockflow-metrics-")


def on_starting(server):
    """Samples of an earlier run would be added to this one's: start empty."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):
    """A dead worker's gauges (connections in use) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this file made."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
