"""``X-Request-ID``: one id per request, in the response, the logs and the access log.

A client (or a proxy in front of us) may send its own id so one request can be
followed across services; we echo it when it is a sane token, and make one up
otherwise, so a header can't smuggle new lines or markup into our logs.
"""

import logging
import re
import uuid

from flask import g, has_request_context, request

HEADER = "X-Request-ID"
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def assign() -> None:
    """``before_request``: take the client's id when valid, else a new one."""
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if VALID.fullmatch(incoming) else uuid.uuid4().hex


def current() -> str:
    """The id of the current request (a new one if a hook failed before ``assign``)."""
    if "request_id" not in g:
        assign()
    return g.request_id


def echo(response):
    """``after_request``: every response carries the id, errors included."""
    response.headers[HEADER] = current()
    return response


class LogFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True
