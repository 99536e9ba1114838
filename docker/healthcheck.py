"""The image's HEALTHCHECK: GET /health on the port gunicorn listens on (from
GUNICORN_BIND or PORT, as gunicorn.conf.py reads them), not a hard-coded 8000."""

import os
import sys
import urllib.request

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
port = bind.rsplit(":", 1)[-1]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
