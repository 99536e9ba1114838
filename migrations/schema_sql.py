"""Generate schema.sql, the PostgreSQL DDL of the migrations (alembic offline mode).

    python migrations/schema_sql.py          # rewrite schema.sql
    python migrations/schema_sql.py --check  # exit 1 if schema.sql is stale

tests/test_schema.py fails when schema.sql, the migrations and the models drift apart.
"""

import io
import pathlib
import sys

from alembic import command
from alembic.config import Config

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA_SQL = ROOT / "schema.sql"
HEADER = (
    "-- StockFlow PostgreSQL schema, generated from the alembic migrations by\n"
    "-- `python migrations/schema_sql.py`. Do not edit: write a migration instead.\n\n"
)


def render_schema_sql() -> str:
    """The SQL that ``alembic upgrade head`` runs on PostgreSQL."""
    buffer = io.StringIO()
    config = Config(str(ROOT / "alembic.ini"), output_buffer=buffer)
    config.attributes["configure_logger"] = False
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg2://")
    command.upgrade(config, "head", sql=True)
    lines = buffer.getvalue().splitlines()
    return HEADER + "\n".join(line.rstrip() for line in lines) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sql = render_schema_sql()
    if "--check" in sys.argv:
        sys.exit(0 if SCHEMA_SQL.read_text() == sql else 1)
    SCHEMA_SQL.write_text(sql)
    print(f"wrote {SCHEMA_SQL}")
