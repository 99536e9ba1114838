"""gunicorn settings, from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# how long a worker may stop heart-beating before the arbiter kills it. With gthread
# workers the main thread keeps beating while a request thread runs, so this does NOT
# end a slow request: the app bounds each one itself (statement_timeout for SQL, a work
# budget for bundle graphs; README, "How a runaway request ends")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# on SIGTERM, in-flight requests get this long to finish
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# one JSON object per request on stdout, with the X-Request-ID of the response
accesslog = "-"
logger_class = "app.access_log.JsonAccessLogger"
errorlog = "-"
# gunicorn 23+ opens a control socket in $HOME; we manage workers with signals, and
# several servers on one host (tests, benchmarks) must not fight over one socket
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
