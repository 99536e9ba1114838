"""The migrations, the models and schema.sql describe one schema."""

import importlib.util
import warnings

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.models import UTCDateTime
from tests.conftest import ROOT, alembic_config


def load_schema_sql_module():
    spec = importlib.util.spec_from_file_location("schema_sql", ROOT / "migrations/schema_sql.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schema_sql_is_what_the_migrations_generate():
    module = load_schema_sql_module()
    assert (ROOT / "schema.sql").read_text() == module.render_schema_sql(), (
        "schema.sql is stale: run `python migrations/schema_sql.py`"
    )


def compare(connection) -> list:
    """The differences between the models and a database's schema, but for the
    expression index of the alert order: SQLite cannot reflect it, and PostgreSQL
    reflects it in its own spelling (its presence is checked by name, and schema.sql
    pins its definition)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", ".*expression-based index 'ix_inventory_alert_order'")
        differences = compare_metadata(
            MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            ),
            db.metadata,
        )
        names = {index["name"] for index in sa.inspect(connection).get_indexes("inventory")}
    if connection.dialect.name == "postgresql":
        assert "ix_inventory_alert_order" in names
    return [
        difference
        for difference in differences
        if not (
            difference[0] in ("add_index", "remove_index")
            and difference[1].name == "ix_inventory_alert_order"
        )
    ]


def test_migrated_database_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare(connection)
    assert differences == [], "models and migrations differ: write a migration"


def tables_of(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_creates_every_table_and_downgrade_base_removes_them(scratch_database_url):
    config = alembic_config(scratch_database_url)
    command.upgrade(config, "head")
    assert tables_of(scratch_database_url) == set(db.metadata.tables) | {"alembic_version"}
    command.downgrade(config, "base")
    assert tables_of(scratch_database_url) <= {"alembic_version"}
    command.upgrade(config, "head")  # and up again, cleanly
    assert set(db.metadata.tables) <= tables_of(scratch_database_url)


@pytest.mark.postgres
def test_schema_sql_builds_the_same_schema_as_the_migrations(scratch_database_url, database_url):
    engine = sa.create_engine(scratch_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql((ROOT / "schema.sql").read_text())
    with engine.connect() as connection:
        differences = compare(connection)
    engine.dispose()
    assert differences == []


def test_every_timestamp_is_timezone_aware_and_creation_times_are_set_by_the_database():
    for table in db.metadata.tables.values():
        for column in table.columns:
            if column.name.endswith("_at"):
                assert isinstance(column.type, UTCDateTime), column
                assert column.type.impl.timezone, column
                if column.name in ("created_at", "recorded_at", "occurred_at"):
                    assert column.server_default is not None, column
