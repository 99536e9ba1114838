"""One HTTP attempt of a webhook delivery: POST the event's stored bytes, signed.

The URL is resolved once, through ``urls.delivery_addresses`` (which refuses, in
production, a name that now resolves to a non-public address), and the request
connects to those addresses, never to the name again: a second lookup could answer
differently (DNS rebinding). The name still goes out as the ``Host`` header and,
for https, as the TLS server name (SNI) and the name the certificate must match.

Bounds: connecting to one address takes at most 3 s, the whole attempt at most
10 s, however the receiver trickles its answer (a watchdog shuts the socket at the
deadline); redirects are not followed (a 3xx is an answer like any other); at most
4 KB of the response body is read, kept for the attempt's error. If an address
cannot be connected to, the next one the name resolved to is tried (nothing was
sent yet); once connected, a failure is the attempt's (sending again elsewhere
could deliver twice).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
import urllib3.connection
from urllib3.util.ssl_match_hostname import CertificateError

from app.events import urls

CONNECT_TIMEOUT_S = 3.0
TOTAL_TIMEOUT_S = 10.0
BODY_KEPT_BYTES = 4096
USER_AGENT = "StockFlow-Webhooks/1.0"


@dataclass(frozen=True)
class Result:
    """What one attempt got: a status code, or an error (or both), how long it took,
    the answer's ``Retry-After`` in seconds (when it gave a valid one), and whether
    the URL was refused before any connection was made."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after_s: float | None = None
    refused: bool = False


def post(url: str, body: bytes, headers: dict[str, str]) -> Result:
    """POST ``body`` to ``url`` with ``headers``; never raises for a network fault."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        host, port, addresses = urls.delivery_addresses(url)
    except urls.HostUnresolved as fault:
        # DNS may be down for a moment: a network fault like any other (retried)
        return Result(None, str(fault), elapsed_ms())
    except urls.UrlRefused as refusal:
        return Result(None, f"URL refused: {refusal}", elapsed_ms(), refused=True)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    sent_headers = {
        **headers,
        "Host": host_header,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    error = "no address to connect to"
    for address in addresses:
        remaining = TOTAL_TIMEOUT_S - (time.monotonic() - started)
        if remaining <= 0:
            error = f"timed out after {TOTAL_TIMEOUT_S:g} s"
            break
        connection = _connection(parts.scheme, host, address, port, remaining)
        try:
            connection.connect()
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as fault:
            # (a certificate that does not match the name is a ValueError)
            # this address refused or timed out the connection, or its TLS failed: the
            # next one may answer (nothing was sent)
            error = _connect_error(fault, address, port)
            connection.close()
            continue
        return _exchange(connection, target, body, sent_headers, started, elapsed_ms)
    return Result(None, error, elapsed_ms())


def _connection(scheme: str, host: str, address: str, port: int, remaining: float):
    """A connection to ``address``; https checks the certificate of ``host``."""
    timeout = min(CONNECT_TIMEOUT_S, remaining)
    if scheme == "https":
        return urllib3.connection.HTTPSConnection(
            address,
            port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED",
            server_hostname=host,
            assert_hostname=host,
        )
    return urllib3.connection.HTTPConnection(address, port, timeout=timeout)


def _exchange(connection, target, body, headers, started, elapsed_ms) -> Result:
    """Send the request on a connected ``connection`` and read the answer, all by the
    deadline: a watchdog shuts the socket down when the 10 s are up, so a receiver
    that trickles its answer a byte at a time cannot hold the worker."""
    remaining = max(0.001, TOTAL_TIMEOUT_S - (time.monotonic() - started))
    connection.sock.settimeout(remaining)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError, AttributeError):
            connection.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(remaining, cut)
    watchdog.daemon = True
    watchdog.start()
    response = None
    try:
        connection.request("POST", target, body=body, headers=headers, preload_content=False)
        response = connection.getresponse()
        kept = response.read(BODY_KEPT_BYTES, decode_content=False)
    except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as fault:
        if expired.is_set() or isinstance(fault, TimeoutError | socket.timeout):
            error = f"no answer within {TOTAL_TIMEOUT_S:g} s"
        else:
            error = f"connection broken: {_reason(fault)}"
        if response is None:
            return Result(None, error, elapsed_ms())
        kept = f"(reading the answer failed: {error})".encode()
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()
        connection.close()
    status = response.status
    detail = None
    if not 200 <= status < 300:
        text = kept.decode("utf-8", errors="replace").strip()
        detail = f"HTTP {status}" + (f": {text}" if text else "")
    return Result(status, detail, elapsed_ms(), retry_after(response.headers))


def _connect_error(fault: Exception, address: str, port: int) -> str:
    # NewConnectionError is a ConnectTimeoutError too (urllib3 keeps it so): first
    if isinstance(fault, urllib3.exceptions.NewConnectionError):
        return f"could not connect to {address} port {port}: {_reason(fault)}"
    if isinstance(fault, urllib3.exceptions.ConnectTimeoutError | TimeoutError):
        return f"connecting to {address} port {port} timed out"
    if isinstance(fault, ssl.SSLError | ssl.CertificateError | CertificateError):
        return f"TLS with {address} port {port} failed: {_reason(fault)}"
    return f"could not connect to {address} port {port}: {_reason(fault)}"


def _reason(fault: Exception) -> str:
    text = str(fault)
    # urllib3 prefixes the connection object's repr; keep what the OS said
    return text.split(": ", 1)[-1] if ": " in text else text


def retry_after(headers) -> float | None:
    """``Retry-After`` in seconds from now: delay-seconds or an HTTP date; None when
    absent or unreadable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
