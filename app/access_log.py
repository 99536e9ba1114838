"""gunicorn's access log as one JSON object per line, with the request id.

gunicorn's own format is a printf template, which can't escape a quote or a new
line that a client put in its path or user agent; ``json.dumps`` can.
"""

import json
import time

from gunicorn.glogging import Logger

from app import request_id

REQUEST_ID_HEADER = request_id.HEADER.lower()


class JsonAccessLogger(Logger):
    """``logger_class`` for gunicorn.conf.py: the access log and gunicorn's own
    error log (boot, worker exits, timeouts) as JSON lines."""

    def setup(self, cfg):
        super().setup(cfg)
        from app.logging_json import JsonFormatter

        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        headers = {name.lower(): value for name, value in (resp.headers or [])}
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "request_id": headers.get(REQUEST_ID_HEADER),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        try:
            self.access_log.info(json.dumps(entry, separators=(",", ":")))
        except Exception:  # pragma: no cover - logging must never fail a request
            self.exception("could not write the access log")
