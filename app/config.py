"""Configuration, read from the environment when the app is created."""

import os

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def database_url(instance_path: str) -> str:
    """``DATABASE_URL``, or a SQLite file in the instance folder when unset."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "stockflow.sqlite3")
    return normalize_url(url)


def normalize_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg2 driver we ship.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, and some platforms
    hand out ``postgres://``, which SQLAlchemy does not accept at all.
    """
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


def engine_options(url: str) -> dict:
    """Pool settings: detect dead connections before use; wait on SQLite's lock."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    # JIT compilation costs tens of milliseconds and pays off only for long
    # analytical queries; an API's statements are short, so it stays off
    return {"pool_pre_ping": True, "connect_args": {"options": "-c jit=off"}}


def load_config(instance_path: str) -> dict:
    """Everything the app reads from the environment, as a Flask config mapping."""
    url = database_url(instance_path)
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "STOCKFLOW_ADMIN_TOKEN": os.environ.get("STOCKFLOW_ADMIN_TOKEN") or None,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        "MAX_CONTENT_LENGTH": int(
            os.environ.get("STOCKFLOW_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
        ),
        # flask-smorest / OpenAPI
        "API_TITLE": "StockFlow",
        "API_VERSION": "1.0.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
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
