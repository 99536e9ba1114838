"""One HTTP attempt of a webhook delivery: POST the event's stored bytes, signed.

The URL is resolved once, through ``urls.delivery_addresses`` (which refuses, in
production, a name that now resolves to a non-public address), and the request
connects to those addresses, never to the name again: a second lookup could answer
differently (DNS rebinding). The name still goes out as the ``Host`` header and,
for https, as the TLS server name (SNI) and the name the certificate must match.

Bounds: connecting to one address takes at most 3 s, the whole attempt at most
10 s (connecting, sending, and each wait for the answer get what is left of the
10 s); redirects are not followed (a 3xx is an answer like any other); at most
4 KB of the response body is read, kept for the attempt's error.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

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
        pool = _pool(parts.scheme, host, address, port)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=sent_headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
                timeout=urllib3.Timeout(
                    connect=min(CONNECT_TIMEOUT_S, remaining), read=remaining, total=remaining
                ),
            )
        except urllib3.exceptions.NewConnectionError as fault:
            # this address refused or timed out the connection: the next one may answer
            error = f"could not connect to {address} port {port}: {_reason(fault)}"
            pool.close()
            continue
        except urllib3.exceptions.ConnectTimeoutError:
            error = f"connecting to {address} port {port} timed out"
            pool.close()
            continue
        except urllib3.exceptions.HTTPError as fault:
            # connected, then it failed: sending it again elsewhere could deliver twice
            pool.close()
            return Result(None, _describe(fault), elapsed_ms())
        try:
            kept = response.read(BODY_KEPT_BYTES, decode_content=False)
        except urllib3.exceptions.HTTPError as fault:
            kept = f"(reading the response failed: {_describe(fault)})".encode()
        finally:
            response.release_conn()
            pool.close()
        status = response.status
        detail = None
        if not 200 <= status < 300:
            text = kept.decode("utf-8", errors="replace").strip()
            detail = f"HTTP {status}" + (f": {text}" if text else "")
        return Result(status, detail, elapsed_ms(), retry_after(response.headers))
    return Result(None, error, elapsed_ms())


def _pool(scheme: str, host: str, address: str, port: int) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to ``address``; https checks the certificate of ``host``."""
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=host,
            assert_hostname=host,
        )
    return urllib3.HTTPConnectionPool(address, port, maxsize=1, retries=False)


def _reason(fault: Exception) -> str:
    text = str(fault)
    # urllib3 prefixes the connection object's repr; keep what the OS said
    return text.split(": ", 1)[-1] if ": " in text else text


def _describe(fault: Exception) -> str:
    if isinstance(fault, urllib3.exceptions.ReadTimeoutError):
        return f"no answer within {TOTAL_TIMEOUT_S:g} s"
    if isinstance(fault, urllib3.exceptions.SSLError):
        return f"TLS failed: {_reason(fault)}"
    if isinstance(fault, urllib3.exceptions.ProtocolError):
        return f"connection broken: {_reason(fault)}"
    return f"{type(fault).__name__}: {_reason(fault)}"


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
