"""App logs as one JSON object per line, each with the request id.

A line is ``{"time", "level", "logger", "message", "request_id", ...}`` plus any
``extra={...}`` fields the call passed (``company_id``, ``key_id``), and
``exception`` with the traceback when there is one. ``json.dumps`` escapes what a
client put into a message, so one event is always one line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

# attributes every LogRecord has; anything else on a record came from ``extra``
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, separators=(",", ":"))
