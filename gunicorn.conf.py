"""gunicorn settings, from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# a request that runs longer than this is killed; the database statement timeout is shorter
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# on SIGTERM, in-flight requests get this long to finish
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# the longest request line gunicorn reads (the most it allows); the app answers a URL
# past its own, lower bound (app.api.MAX_URL_BYTES) with a 414 problem, and gunicorn
# one past this with the same problem (see on_starting)
limit_request_line = 8190
# one JSON object per request on stdout, with the X-Request-ID of the response
accesslog = "-"
logger_class = "app.access_log.JsonAccessLogger"
errorlog = "-"
# gunicorn 23+ opens a control socket in $HOME; we manage workers with signals, and
# several servers on one host (tests, benchmarks) must not fight over one socket
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def on_starting(server):
    """gunicorn's own refusals (URL or headers too long, a request line it cannot
    read) are problem JSON like the API's, not gunicorn's HTML page."""
    from app import gunicorn_errors

    gunicorn_errors.install()
