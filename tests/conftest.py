"""Test fixtures: a migrated database, an app, a client and factories.

The suite runs on SQLite by default and on PostgreSQL when ``TEST_DATABASE_URL``
is set; with ``TEST_CITUS=1`` as well, that URL is a Citus coordinator and the
schema is distributed (``flask distribute-tables``) before the tests run. The
schema comes from the alembic migrations (not ``create_all``), so every test also
exercises them. Each test starts from empty tables.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from app import create_app
from app.config import normalize_url
from app.distribution import distribute
from app.extensions import db

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql"))
ON_CITUS = ON_POSTGRES and os.environ.get("TEST_CITUS") == "1"


def alembic_config(url: str) -> Config:
    """An alembic Config for ``url`` that leaves pytest's logging alone."""
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", url)
    return config


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite, and tests that need a plain PostgreSQL
    server on Citus, saying why (CI fails on skips on PostgreSQL)."""
    for item in items:
        if not ON_POSTGRES and "postgres" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL"))
        marker = item.get_closest_marker("plain_postgres")
        if ON_CITUS and marker is not None:
            why = marker.args[0] if marker.args else "needs a plain PostgreSQL server"
            item.add_marker(pytest.mark.skip(reason=f"not on Citus: {why}"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """The migrated test database: TEST_DATABASE_URL, or a fresh SQLite file."""
    if ON_CITUS:
        # distributed tables cannot go back to single-column primary keys: drop them
        url = normalize_url(TEST_DATABASE_URL)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            db.metadata.drop_all(connection)
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    elif ON_POSTGRES:
        url = normalize_url(TEST_DATABASE_URL)
        command.downgrade(alembic_config(url), "base")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    if ON_CITUS:
        engine = sa.create_engine(url)
        try:
            # fewer shards than production's 32: the routing is the same, and the
            # TRUNCATE after every test takes every shard (2.5 s with 32)
            list(distribute(engine, db.metadata, int(os.environ.get("TEST_CITUS_SHARDS", "4"))))
        finally:
            engine.dispose()
    return url


def build_app(database_url: str, **overrides):
    """An app on the test database with the operator's token, plus ``overrides``."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STOCKFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def app(database_url):
    """One app for the session (tests that need other settings build their own)."""
    app = build_app(database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request):
    """Every test starts from empty tables (TRUNCATE on PostgreSQL, DELETE on SQLite)."""
    if "database_url" not in request.fixturenames and "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    yield
    with application.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                if ON_CITUS:
                    # a TRUNCATE takes every shard of every table on the workers
                    connection.execute(sa.text("SET LOCAL statement_timeout = 0"))
                connection.execute(
                    sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                )
            else:
                for table in tables:
                    connection.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def client(app):
    """A test client for the API."""
    return app.test_client()


@dataclass
class Tenant:
    """A company as a client sees it: its id and the headers that carry its key."""

    id: int
    name: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for this company."""
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def make_company(client):
    """Create a company through the API (as the operator)."""

    def make(name: str | None = None) -> Tenant:
        name = name or f"Company {uuid.uuid4().hex[:6]}"
        response = client.post(
            "/api/companies",
            json={"name": name},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 201, response.json
        body = response.json
        return Tenant(body["id"], body["name"], body["api_key"])

    return make


@pytest.fixture
def company(make_company) -> Tenant:
    """The company most tests act as."""
    return make_company("Acme")


@pytest.fixture
def other_company(make_company) -> Tenant:
    """A second tenant, for isolation tests."""
    return make_company("Globex")


@pytest.fixture
def make_warehouse(client):
    """Create a warehouse for a company through the API."""

    def make(tenant: Tenant, **overrides) -> dict:
        body = {"name": f"Warehouse {uuid.uuid4().hex[:6]}", **overrides}
        response = client.post("/api/warehouses", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def make_product(client):
    """Create a product for a company through the API."""

    def make(tenant: Tenant, **overrides) -> dict:
        body = {"name": "Widget", "sku": f"SKU-{uuid.uuid4().hex[:8]}", "price": "9.99"}
        body.update(overrides)
        response = client.post("/api/products", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def count_rows(app):
    """How many rows a model's table holds (optionally filtered)."""

    def count(model, *where) -> int:
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    return count


@pytest.fixture
def scratch_database_url(database_url, tmp_path):
    """An empty database of the same kind as the test database."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    name = f"stockflow_scratch_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
