"""gunicorn settings, from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``)."""

import os
import shutil
import tempfile

# prometheus_client's multiprocess mode: each worker writes its samples to files in this
# directory and /metrics (in whichever worker) adds them up. It must be set before
# prometheus_client is first imported (by the app, in the workers), so it comes first here.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stockflow-metrics-")


from app import sizing  # noqa: E402  (after the environment above)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# GUNICORN_WORKERS, else from the container's CPU quota (app/sizing.py), not the host's
workers = sizing.workers()
# each thread holds at most one database connection: workers x threads is this server's
# share of PostgreSQL's max_connections (README: the connection budget)
threads = sizing.threads()
# how long a worker may stop heart-beating before the arbiter kills it. With gthread
# workers the main thread keeps beating while a request thread runs, so this does NOT
# end a slow request: the app bounds each one itself (statement_timeout for SQL, a work
# budget for bundle graphs; README, "How a runaway request ends")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# on SIGTERM, in-flight requests get this long to finish
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# the longest request line gunicorn reads (the most it allows); the app answers a URL
# past its own, lower bound (app.api.MAX_URL_BYTES) with a 414 problem, and gunicorn
# one past this with the same problem (see on_starting)
limit_request_line = 8190
# one JSON object per request on stdout, with the X-Request-ID of the response; gunicorn's
# own messages are JSON lines too
accesslog = "-"
logger_class = "app.access_log.JsonAccessLogger"
errorlog = "-"
# gunicorn 23+ opens a control socket in $HOME; we manage workers with signals, and
# several servers on one host (tests, benchmarks) must not fight over one socket
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def on_starting(server):
    """Start the metrics empty (samples of an earlier run would be added to this one's),
    and make gunicorn's own refusals (URL or headers too long, a request line it cannot
    read) problem JSON like the API's, not gunicorn's HTML page."""
    from app import gunicorn_errors

    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    gunicorn_errors.install()


def post_worker_init(worker):
    """Move what the app allocated at start (modules, mappers, schemas: most of the
    heap) out of the garbage collector's sight: a request that allocates many objects
    (a 1,000-item batch, a 10,000-row import) triggers collections, and each full one
    walked that whole heap again (~5 ms of a batch's Python, while it holds its rows)."""
    import gc

    gc.freeze()


def child_exit(server, worker):
    """A dead worker's gauges (connections in use) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this file made."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
