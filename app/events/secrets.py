"""Webhook signing secrets: derived, never stored.

An endpoint's secret is ``whsec_`` + HMAC-SHA256(server key, "company:endpoint:salt"),
base64url. The database keeps only the random salt; the server key comes from
``STOCKFLOW_WEBHOOK_KEY`` (production refuses to start without one of at least 32
characters). So the secret can be shown once at creation, recomputed by the worker
for every signature, and a copy of the database (a backup, a replica, a replayed
idempotent response) cannot sign anything. We chose derivation over encryption at
rest because it needs no ciphertext, no extra dependency and no decrypt path:
there is nothing to decrypt. Rotating the server key changes every endpoint's
secret at once; rotating one endpoint's secret is a new salt.

In development with no ``STOCKFLOW_WEBHOOK_KEY``, a random key is created once in
the instance folder (``webhook.key``, mode 0600), so the embedded default works with
one command and the API and the worker, started from the same folder, agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

from flask import current_app

PREFIX = "whsec_"
MIN_KEY_LENGTH = 32
KEY_FILE = "webhook.key"
# a receiver should refuse a signature older (or newer) than this many seconds
REPLAY_WINDOW_S = 300


def server_key() -> bytes:
    """The key every endpoint secret is derived from."""
    configured = current_app.config.get("STOCKFLOW_WEBHOOK_KEY")
    if configured:
        return configured.encode()
    path = os.path.join(current_app.instance_path, KEY_FILE)
    try:
        with open(path, "rb") as file:
            return file.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(current_app.instance_path, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:
        # O_EXCL: two processes starting at once agree on whichever file was first
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as file:
            return file.read().strip()
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    return key


def new_salt() -> str:
    """A fresh salt: a new endpoint, or a rotated secret."""
    return secrets.token_hex(16)


def derive(company_id: int, endpoint_id: int, salt: str) -> str:
    """The endpoint's signing secret."""
    message = f"{company_id}:{endpoint_id}:{salt}".encode()
    digest = hmac.new(server_key(), message, hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``StockFlow-Signature`` header for ``body``: ``t=<unix seconds>,v1=<hex>``,
    the hex being HMAC-SHA256(secret, "<t>.<body>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, tolerance: int = REPLAY_WINDOW_S, now=None
) -> bool:
    """What a receiver does (the README shows the same code): the signature matches
    the raw body and its time is within ``tolerance`` seconds of now."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))
