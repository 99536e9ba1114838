"""Which webhook URLs StockFlow will call (server-side request forgery rules).

In development (the default) any http(s) URL is accepted, so tests and a local
setup can deliver to loopback. With ``STOCKFLOW_ENV=production``:

- the URL must be https, without user:password (a credential would be stored in
  plaintext);
- every address its host resolves to must be public: not loopback, private,
  link-local (which includes the cloud metadata service 169.254.169.254), carrier
  NAT, multicast, reserved or unspecified, IPv4-mapped IPv6 included;
- except hosts listed in ``STOCKFLOW_WEBHOOK_ALLOWED_HOSTS`` (comma-separated host
  names or addresses, for on-premise receivers), which skip the address rule.

The rule is checked when an endpoint is saved and again at every delivery, on the
addresses the delivery then connects to (``delivery_addresses``), so a name that
resolved to a public address at creation and to 127.0.0.1 later (DNS rebinding)
is refused at delivery time.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class UrlRefused(ValueError):
    """The URL may not be called; the message says why."""


class HostUnresolved(UrlRefused):
    """The host does not resolve (now): at delivery time a network fault, retried."""


def production() -> bool:
    return current_app.config.get("STOCKFLOW_ENV") == "production"


def allowed_hosts() -> set[str]:
    configured = current_app.config.get("STOCKFLOW_WEBHOOK_ALLOWED_HOSTS") or ""
    if isinstance(configured, str):
        configured = configured.split(",")
    return {host.strip().lower().strip("[]") for host in configured if host.strip()}


def check_url(url: str) -> tuple[str, int]:
    """The URL's host and port if it may be called (without resolving it); else
    ``UrlRefused``."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - parses the host: a bad IPv6 literal raises here
    except ValueError:
        raise UrlRefused("Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Must be an http or https URL.")
    if not parts.hostname:
        raise UrlRefused("Must name a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("Has an invalid port.") from None
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Must not carry a user name or password.")
    if production() and parts.scheme != "https":
        raise UrlRefused("Must be https (STOCKFLOW_ENV=production).")
    return parts.hostname.lower(), port


def refused_address(address: str) -> bool:
    """Whether an address is one production never calls."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip in METADATA_ADDRESSES
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def delivery_addresses(url: str) -> tuple[str, int, list[str]]:
    """The host, port and the addresses a delivery may connect to (resolved now).

    Connect to one of these addresses, not to the name again: a second lookup
    could answer differently. In development, or for an allowed host, every
    address is returned; in production only if all are public (one private answer
    refuses the URL: an attacker's name may mix them)."""
    host, port = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise HostUnresolved(f"Host {host!r} does not resolve ({error}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if production() and host not in allowed_hosts():
        bad = [a for a in addresses if refused_address(a)]
        if bad:
            raise UrlRefused(
                f"Host {host!r} resolves to a non-public address ({', '.join(bad)}); "
                "list it in STOCKFLOW_WEBHOOK_ALLOWED_HOSTS if it is an on-premise receiver."
            )
    return host, port, addresses


def validate(url: str) -> None:
    """The check when an endpoint is saved: the URL's form and, in production, where
    it resolves now (``UrlRefused`` says why not)."""
    check_url(url)
    if production():
        delivery_addresses(url)
