"""The app's extension objects: the database and the API (and nothing else)."""

import sqlite3

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from app import search
from app.errors import ProblemApi
from app.schemas import SchemaExtrasPlugin

# stable constraint names, so alembic migrations and the error mapper can refer to them
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
api = ProblemApi(spec_kwargs={"extra_plugins": [SchemaExtrasPlugin()]})


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_behaves_like_postgresql(dbapi_connection, _record):
    """Per SQLite connection: enforce foreign keys (off by default), and map case
    beyond ASCII in ``upper()``/``lower()`` as PostgreSQL does (SQLite's own know
    only ASCII), so name searches fold alike on both (``app.search``)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        dbapi_connection.create_function("upper", 1, search.simple_upper, deterministic=True)
        dbapi_connection.create_function("lower", 1, search.simple_lower, deterministic=True)
