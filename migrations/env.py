"""alembic environment: the app's metadata, the app's database URL."""

import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

import app.models  # noqa: F401  (registers every table on the metadata)
from app.config import database_url, normalize_url
from app.extensions import db

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = db.metadata


def _url() -> str:
    """An explicit sqlalchemy.url (tests), else what the app would use."""
    explicit = config.get_main_option("sqlalchemy.url")
    if explicit:
        return normalize_url(explicit)
    # the app's instance folder (Flask puts it beside the app package)
    instance = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance")
    os.makedirs(instance, exist_ok=True)
    return database_url(instance)


def _render_item(type_, obj, autogen_context):
    """Render the app's TypeDecorators as their portable SQL type in migrations."""
    if type_ == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL (``alembic upgrade head --sql``), used to generate schema.sql."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection) -> None:
    """Run the migrations on ``connection``.

    SQLite changes a table by rebuilding it (batch mode), and dropping the old copy
    of a table other tables point at would delete (or cascade to) their rows while
    foreign keys are enforced; so they are off during the migration (the pragma
    only takes effect outside a transaction), and checked once it is done.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        connection.commit()
    try:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
            connection.commit()


def run_migrations_online() -> None:
    """Migrate a live database."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _migrate(connectable)
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
