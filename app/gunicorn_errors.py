"""gunicorn's own refusals as the problem JSON the API sends, not an HTML page.

gunicorn answers a request it cannot read (a request line past
``limit_request_line``, headers past their limits, a malformed request line) before
any app code runs, through ``gunicorn.util.write_error``; ``install`` (a
gunicorn.conf.py hook) replaces that one function in the master, so every worker
it forks answers in the API's shape.
"""

import json

from gunicorn import util

from app.errors import PROBLEM_MIMETYPE, status_problem_type


def write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """``util.write_error``'s signature, writing ``application/problem+json``."""
    body = json.dumps(
        {
            "type": status_problem_type(status_int),
            "title": reason,
            "status": status_int,
            "detail": mesg or reason,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MIMETYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Make gunicorn write its refusals with ``write_problem``."""
    util.write_error = write_problem
