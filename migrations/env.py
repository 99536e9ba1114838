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


def run_migrations_online() -> None:
    """Migrate a live database."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _configure(connection=connectable)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
