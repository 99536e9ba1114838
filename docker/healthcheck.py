"""The image's HEALTHCHECK.

- ``python docker/healthcheck.py`` (the API): GET /health on the port gunicorn listens
  on (from GUNICORN_BIND or PORT, as gunicorn.conf.py reads them), not a hard-coded 8000.
- ``python docker/healthcheck.py worker``: the webhook worker touched its heartbeat file
  (``STOCKFLOW_WORKER_HEARTBEAT``) within the last minute (its loop does, between
  deliveries and every poll; one delivery takes at most 10 s).
"""

import os
import sys
import time
import urllib.request

WORKER_STALE_S = 60

if sys.argv[1:] == ["worker"]:
    path = os.environ.get("STOCKFLOW_WORKER_HEARTBEAT", "")
    try:
        sys.exit(0 if path and time.time() - os.stat(path).st_mtime < WORKER_STALE_S else 1)
    except OSError:
        sys.exit(1)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
port = bind.rsplit(":", 1)[-1]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
