"""Configuration, read from the environment when the app is created."""

import os
import re

import sqlalchemy as sa

from app import swagger_ui

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_IMPORT_BYTES = 16 * 1024 * 1024
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_CONNECT_TIMEOUT_S = 3
DEFAULT_POOL_TIMEOUT_S = 5
DEFAULT_BUNDLE_WORK_LIMIT = 5_000_000
# an admin token shorter than this is a guessable one; production refuses it
MIN_ADMIN_TOKEN_LENGTH = 24
MIN_WEBHOOK_KEY_LENGTH = 32  # app/events/secrets.py


class ConfigError(RuntimeError):
    """The environment describes a configuration the app refuses to run with."""


def database_url(instance_path: str, env=os.environ) -> str:
    """``DATABASE_URL``; else a PostgreSQL URL built from ``POSTGRES_HOST``,
    ``POSTGRES_PORT``, ``POSTGRES_USER``, ``POSTGRES_PASSWORD`` and ``POSTGRES_DB``
    (any password works: it is escaped here, not pasted into a URL by hand); else a
    SQLite file in the instance folder."""
    url = env.get("DATABASE_URL", "").strip()
    if url:
        check_database_url(url)
        return normalize_url(url)
    if env.get("POSTGRES_HOST", "").strip():
        return sa.engine.URL.create(
            "postgresql+psycopg2",
            username=env.get("POSTGRES_USER") or None,
            password=env.get("POSTGRES_PASSWORD") or None,
            host=env["POSTGRES_HOST"].strip(),
            port=int(env.get("POSTGRES_PORT") or 5432),
            database=env.get("POSTGRES_DB") or None,
        ).render_as_string(hide_password=False)
    return "sqlite:///" + os.path.join(instance_path, "stockflow.sqlite3")


URL_ENCODING_HINT = (
    "URL-encode special characters in the user and password (@ as %40, % as %25, "
    ": as %3A, / as %2F), or leave DATABASE_URL unset and give POSTGRES_HOST, "
    "POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB instead"
)


def check_database_url(url: str) -> None:
    """Refuse a URL whose password was pasted unescaped: ``p@ss`` would silently make
    ``ss@db`` the host, ``50%`` a broken escape."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"DATABASE_URL must look like postgresql://user:password@host/db; {URL_ENCODING_HINT}"
        )
    authority = rest.split("/", 1)[0]
    if authority.count("@") > 1 or re.search(r"%(?![0-9A-Fa-f]{2})", authority):
        raise ConfigError(f"DATABASE_URL has an unescaped '@' or '%' in it; {URL_ENCODING_HINT}")
    try:
        sa.engine.make_url(url)
    except sa.exc.ArgumentError as error:
        raise ConfigError(
            f"DATABASE_URL is not a valid URL ({error}); {URL_ENCODING_HINT}"
        ) from None


def normalize_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg2 driver we ship.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, and some platforms
    hand out ``postgres://``, which SQLAlchemy does not accept at all.
    """
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def engine_options(url: str, env=os.environ) -> dict:
    """Pool settings that fail fast instead of hanging when the database is in trouble.

    PostgreSQL: a pooled connection is checked before use (a restarted server's
    dead connections are replaced, so workers recover by themselves: app.liveness,
    which does it without a round trip of its own on API requests); opening a
    connection, waiting for a pooled one and running a statement are all bounded,
    so a request that can't reach the database turns into a 503 within seconds.
    SQLite: wait on the file lock instead of failing at once, and insert one row
    per statement (an id drawn inside the INSERT, see app.models.NextId, is only
    unique one row at a time).
    """
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}, "use_insertmanyvalues": False}
    statement_timeout = int(env.get("STOCKFLOW_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS))
    # JIT compilation costs tens of milliseconds and pays off only for long
    # analytical queries; an API's statements are short, so it stays off
    options = f"-c jit=off -c statement_timeout={statement_timeout}"
    return {
        # app.liveness checks connections instead (see above)
        "pool_pre_ping": False,
        "pool_timeout": int(env.get("STOCKFLOW_POOL_TIMEOUT_S", DEFAULT_POOL_TIMEOUT_S)),
        "connect_args": {
            "options": options,
            "connect_timeout": int(
                env.get("STOCKFLOW_DB_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S)
            ),
            # notice a peer that vanished without closing the socket
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            # and a peer that stops acknowledging what we send (a partition)
            "tcp_user_timeout": 10_000,
        },
    }


def check_config(config) -> None:
    """Refuse to start with a configuration that is unsafe for production."""
    if config["STOCKFLOW_ENV"] != "production":
        return
    token = config.get("STOCKFLOW_ADMIN_TOKEN") or ""
    if len(token) < MIN_ADMIN_TOKEN_LENGTH:
        raise ConfigError(
            "STOCKFLOW_ENV=production needs STOCKFLOW_ADMIN_TOKEN set to a random "
            f"value of at least {MIN_ADMIN_TOKEN_LENGTH} characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        raise ConfigError("STOCKFLOW_ENV=production needs DATABASE_URL (PostgreSQL)")
    if len(config.get("STOCKFLOW_WEBHOOK_KEY") or "") < MIN_WEBHOOK_KEY_LENGTH:
        raise ConfigError(
            "STOCKFLOW_ENV=production needs STOCKFLOW_WEBHOOK_KEY set to a random value of "
            f"at least {MIN_WEBHOOK_KEY_LENGTH} characters (webhook secrets derive from it; "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def load_config(instance_path: str) -> dict:
    """Everything the app reads from the environment, as a Flask config mapping."""
    url = database_url(instance_path)
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "STOCKFLOW_ENV": os.environ.get("STOCKFLOW_ENV", "development").strip().lower(),
        "STOCKFLOW_ADMIN_TOKEN": os.environ.get("STOCKFLOW_ADMIN_TOKEN") or None,
        # /metrics is served only to this bearer token (a 404 while unset)
        "STOCKFLOW_METRICS_TOKEN": os.environ.get("STOCKFLOW_METRICS_TOKEN") or None,
        # browser origins allowed to call the API; none (CORS off) unless listed
        "STOCKFLOW_CORS_ORIGINS": [
            origin.strip()
            for origin in os.environ.get("STOCKFLOW_CORS_ORIGINS", "").split(",")
            if origin.strip()
        ],
        # webhook signing secrets derive from it (app/events/secrets.py)
        "STOCKFLOW_WEBHOOK_KEY": os.environ.get("STOCKFLOW_WEBHOOK_KEY") or None,
        # on-premise webhook receivers production may call (app/events/urls.py)
        "STOCKFLOW_WEBHOOK_ALLOWED_HOSTS": os.environ.get("STOCKFLOW_WEBHOOK_ALLOWED_HOSTS", ""),
        # the webhook worker (app/events/worker.py): how long a claimed delivery is
        # held, how long a failing one is retried, how long finished ones are kept,
        # and how often an idle worker looks for due work
        "STOCKFLOW_WEBHOOK_LEASE_S": float(os.environ.get("STOCKFLOW_WEBHOOK_LEASE_S", "30")),
        "STOCKFLOW_WEBHOOK_RETRY_HOURS": float(
            os.environ.get("STOCKFLOW_WEBHOOK_RETRY_HOURS", "24")
        ),
        "STOCKFLOW_WEBHOOK_RETENTION_DAYS": float(
            os.environ.get("STOCKFLOW_WEBHOOK_RETENTION_DAYS", "7")
        ),
        "STOCKFLOW_WORKER_POLL_S": float(os.environ.get("STOCKFLOW_WORKER_POLL_S", "1")),
        # host:port where the worker serves its own /metrics (unset: it does not)
        "STOCKFLOW_WORKER_METRICS_BIND": os.environ.get("STOCKFLOW_WORKER_METRICS_BIND") or None,
        # the worker also runs the daily alert-state refresh (refresh-alert-state)
        "STOCKFLOW_WORKER_REFRESHES_ALERTS": os.environ.get(
            "STOCKFLOW_WORKER_REFRESHES_ALERTS", "1"
        )
        .strip()
        .lower()
        not in ("0", "false", "no", "off"),
        # a file the worker touches as it runs (the container's health check reads it)
        "STOCKFLOW_WORKER_HEARTBEAT": os.environ.get("STOCKFLOW_WORKER_HEARTBEAT") or None,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # how often the dashboard page polls the alerts (seconds)
        "STOCKFLOW_DASHBOARD_POLL_S": float(os.environ.get("STOCKFLOW_DASHBOARD_POLL_S", "15")),
        # the steps one request may spend on bundle graphs (app.bundles.queries.Explosion)
        "STOCKFLOW_BUNDLE_WORK_LIMIT": int(
            os.environ.get("STOCKFLOW_BUNDLE_WORK_LIMIT", DEFAULT_BUNDLE_WORK_LIMIT)
        ),
        "MAX_CONTENT_LENGTH": int(
            os.environ.get("STOCKFLOW_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
        ),
        # POST /api/products/import only: 10,000 rows of JSON with opening stock fit
        "STOCKFLOW_MAX_IMPORT_BYTES": int(
            os.environ.get("STOCKFLOW_MAX_IMPORT_BYTES", DEFAULT_MAX_IMPORT_BYTES)
        ),
        # flask-smorest / OpenAPI
        "API_TITLE": "StockFlow",
        "API_VERSION": "1.0.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # served by the app (app/swagger_ui.py), never a CDN
        "OPENAPI_SWAGGER_UI_URL": swagger_ui.URL,
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Multi-tenant inventory: products, warehouses, a stock "
                "ledger, suppliers and low-stock alerts. Errors are RFC 9457 problem "
                "details. Authenticate with `Authorization: Bearer <api key>`."
            },
            "security": [{"apiKey": []}],
            "components": {
                "securitySchemes": {
                    "apiKey": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A company API key",
                    },
                    "adminToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "The operator's STOCKFLOW_ADMIN_TOKEN",
                    },
                }
            },
        },
    }
