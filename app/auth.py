"""API keys and the current company.

A key is ``sf_<prefix>_<secret>``: the prefix (not secret) finds the row, the
SHA-256 of the whole key is compared in constant time. Keys carry 256 bits of
randomness, so a fast hash is the right tool (a slow password hash protects
low-entropy secrets, which these are not).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import secrets
import threading

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from app import liveness
from app.errors import Problem, problem_type_uri
from app.extensions import db
from app.models import ApiKey
from app.oneshot import own_transaction

KEY_PREFIX = "sf"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(company_id: int, name: str) -> tuple[ApiKey, str]:
    """Create a key row (flushed, not committed) and return it with the plaintext."""
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(company_id=company_id, name=name, prefix=prefix, key_hash=hash_key(plaintext))
    db.session.add(key)
    db.session.flush()
    return key, plaintext


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        type_=problem_type_uri("unauthorized"),
        headers={"WWW-Authenticate": 'Bearer realm="stockflow"'},
    )


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# the lookup of every API request, as the driver takes it (psycopg2's and sqlite3's
# named parameters): the same SELECT as sa.select(ApiKey.id, ApiKey.company_id,
# ApiKey.key_hash).where(prefix == :prefix, revoked_at IS NULL), without building and
# compiling it each time (a fifth of a single write's Python time went there)
KEY_LOOKUP = {
    style: f"SELECT id, company_id, key_hash FROM {ApiKey.__tablename__} "
    f"WHERE prefix = {placeholder} AND revoked_at IS NULL"
    for style, placeholder in (("postgresql", "%(prefix)s"), ("sqlite", ":prefix"))
}


def _key_row(prefix: str):
    """The key's id, company and hash, if it is not revoked. A read of its own: no BEGIN
    round trip, and a single-statement write after it can still be its own
    transaction (app.oneshot)."""
    connection = db.session.connection()
    with own_transaction(connection):
        return connection.exec_driver_sql(
            KEY_LOOKUP[connection.dialect.name], {"prefix": prefix}
        ).first()


def key_for_token(token: str):
    """The row (``id``, ``company_id``) of a valid, unrevoked key, else None.

    Looked up on every request, reading what is committed: a revoked key stops
    working with the next request after the revocation commits."""
    parts = token.split("_")
    # a key is printable ASCII; anything else (a NUL, which PostgreSQL refuses in
    # text) never reaches the database
    if len(parts) < 3 or parts[0] != KEY_PREFIX or not (token.isascii() and token.isprintable()):
        return None
    # the request's first statement checks its connection too (app.liveness)
    row = liveness.first_read(lambda: _key_row(parts[1]))
    # compare even when the prefix is unknown, so timing says nothing either way
    expected = row.key_hash if row else "0" * 64
    if hmac.compare_digest(expected, hash_key(token)) and row is not None:
        return row
    return None


# Keys that authenticated in this process lately: the SHA-256 of the token -> (key id,
# company id). Only views that confirm the key themselves (``confirms_key``) use it.
RECENT_KEYS = 4096
_recent: collections.OrderedDict[str, tuple[int, int]] = collections.OrderedDict()
_recent_lock = threading.Lock()


def _remember(token: str, key_id: int, company_id: int) -> None:
    digest = hash_key(token)
    with _recent_lock:
        _recent[digest] = (key_id, company_id)
        _recent.move_to_end(digest)
        while len(_recent) > RECENT_KEYS:
            _recent.popitem(last=False)


def _recalled(token: str) -> tuple[int, int] | None:
    with _recent_lock:
        return _recent.get(hash_key(token))


def _forget(token: str) -> None:
    with _recent_lock:
        _recent.pop(hash_key(token), None)


def confirms_key(view):
    """Mark a view as one whose main statement confirms the API key in its own round
    trip: a key this process authenticated lately is then not looked up before the
    view (a round trip less on a dashboard's 304 poll, on a sale). The view passes
    ``unconfirmed_key_id()`` to its statement and ``key_confirmed(valid)`` its
    answer; a view that writes makes the key a condition of its write, and calls
    ``ensure_key_confirmed()`` before writing any other way. Whatever else the view
    answers (a 400, a 404, a replay, an error of its own), the key is looked up
    before the answer leaves: a revoked key gets a 401, as on every other route,
    from the next request after the revocation commits."""

    @functools.wraps(view)
    def confirming(*args, **kwargs):
        try:
            answer = view(*args, **kwargs)
        except HTTPException:
            ensure_key_confirmed()
            raise
        ensure_key_confirmed()
        return answer

    confirming.confirms_key = True
    return confirming


def unconfirmed_key_id() -> int | None:
    """The id of the request's key if its statement must confirm it, else None."""
    return g.api_key_id if g.get("key_unconfirmed") else None


def key_confirmed(valid: bool) -> None:
    """The view's statement found the key (``unconfirmed_key_id``) unrevoked, or not."""
    if g.pop("key_unconfirmed", False) and not valid:
        _forget(bearer_token() or "")
        raise _unauthorized("Invalid or revoked API key.")


def ensure_key_confirmed() -> None:
    """Look the key up now if the view did not confirm it (a 401 if it is revoked)."""
    if g.pop("key_unconfirmed", False):
        token = bearer_token() or ""
        if key_for_token(token) is None:
            _forget(token)
            raise _unauthorized("Invalid or revoked API key.")


def admin_only(view):
    """Mark a view as the operator's: it takes the admin token, not an API key."""
    view.admin_only = True
    return view


def authenticate() -> None:
    """``before_request``: every ``/api/`` route needs a company's API key.

    Safe by default: a new route is protected unless marked ``admin_only``. The
    OpenAPI document and its UI are public; unknown routes fall through to 404.
    A CORS preflight (``OPTIONS``) carries no credentials and reaches no view.
    """
    if request.url_rule is None or request.blueprint == "api-docs":
        return
    if request.method == "OPTIONS":
        return
    if not request.path.startswith("/api/"):
        return
    view = current_app.view_functions[request.endpoint]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, request.method.lower(), view)
    if getattr(view, "admin_only", False):
        require_admin_token()
    elif getattr(view, "confirms_key", False):
        token = bearer_token() or ""
        recalled = _recalled(token)
        if recalled is None:
            require_api_key()
            _remember(token, g.api_key_id, g.company_id)
        else:
            g.api_key_id, g.company_id = recalled
            g.key_unconfirmed = True
    else:
        require_api_key()


def require_api_key() -> None:
    """The API key decides the company of the request."""
    token = bearer_token()
    if token is None:
        raise _unauthorized("Missing API key: send 'Authorization: Bearer <api key>'.")
    key = key_for_token(token)
    if key is None:
        raise _unauthorized("Invalid or revoked API key.")
    g.company_id = key.company_id
    g.api_key_id = key.id


def require_admin_token() -> None:
    """Only the operator's ``STOCKFLOW_ADMIN_TOKEN`` may create companies."""
    configured = current_app.config.get("STOCKFLOW_ADMIN_TOKEN")
    if not configured:
        raise Problem(
            403,
            "Company creation over the API is disabled: STOCKFLOW_ADMIN_TOKEN is not set.",
            type_=problem_type_uri("admin-disabled"),
        )
    token = bearer_token()
    if token is None or not hmac.compare_digest(token.encode(), configured.encode()):
        raise _unauthorized("Missing or invalid admin token.")


def current_company_id() -> int:
    """The company of the authenticated request."""
    return g.company_id


def current_api_key_id() -> int:
    """The id of the API key that authenticated the request."""
    return g.api_key_id


def authenticated() -> bool:
    """Whether the request was authenticated with a company's API key."""
    return "company_id" in g
