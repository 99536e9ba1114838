"""Scale-out on Citus: every tenant table distributed by ``company_id``, the rest copied.

The placement is read from the metadata, so a table a later migration adds is placed
by the same rule as the others, by running ``flask --app wsgi distribute-tables``
again after ``alembic upgrade head``:

- a table with a ``company_id`` column is a tenant table: hash-distributed by
  ``company_id``, colocated with every other tenant table, so all of one company's
  rows are in one shard group and every request of that company is routed to it;
- a table marked ``info={"distribution": "reference"}`` (``companies``,
  ``api_keys``), or without ``company_id``, is a reference table: one copy on every
  node, joined locally by any shard, and read where the company is not yet known
  (an API key finds its company with one local index lookup, no fan-out).

Re-running is safe: tables already placed are left alone (a table placed the wrong
way is reported, never silently changed). ``alembic_version`` stays a local table of
the coordinator, where the migrations run.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import sqlalchemy as sa

DISTRIBUTION_COLUMN = "company_id"
REFERENCE = "reference"
DISTRIBUTED = "distributed"


_CITUS: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()
_IS_CITUS = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"


def install(engine: sa.Engine) -> None:
    """Learn from ``engine``'s first connection (PostgreSQL) whether its database is a
    Citus coordinator, so that no request takes a connection of its own to ask."""

    def first_connect(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(_IS_CITUS)
            _CITUS[engine] = bool(cursor.fetchone()[0])
        dbapi_connection.rollback()

    sa.event.listen(engine, "first_connect", first_connect)


def on_citus(engine: sa.Engine) -> bool:
    """Whether ``engine``'s database is a Citus coordinator (``install`` learnt it from
    the engine's first connection; asked on one of its own if it was not installed).

    Citus refuses what a few single-statement hot paths rely on (a non-IMMUTABLE
    function in an UPDATE's RETURNING: the sale's ``clock_timestamp()``, taken after
    the row lock was granted); there the general path answers, as it always did."""
    known = _CITUS.get(engine)
    if known is None:
        if engine.dialect.name != "postgresql":
            known = False
        else:
            with engine.connect() as connection:
                known = bool(connection.exec_driver_sql(_IS_CITUS).scalar())
        _CITUS[engine] = known
    return known


class DistributionError(RuntimeError):
    """The database is not a Citus coordinator, or a table is placed the wrong way."""


@dataclass(frozen=True)
class Placement:
    """Where one table goes."""

    table: str
    kind: str  # REFERENCE or DISTRIBUTED


def plan(metadata: sa.MetaData) -> list[Placement]:
    """Every table of the metadata and its placement, referenced tables first (the
    order Citus needs: a foreign key may only point at a table already placed)."""
    placements = []
    for table in metadata.sorted_tables:
        kind = table.info.get("distribution")
        if kind is None:
            kind = DISTRIBUTED if DISTRIBUTION_COLUMN in table.c else REFERENCE
        if kind not in (REFERENCE, DISTRIBUTED):
            raise DistributionError(f"{table.name}: unknown distribution {kind!r}")
        placements.append(Placement(table.name, kind))
    return placements


def _placed(connection) -> dict[str, tuple[str, str | None, int]]:
    """The tables Citus already knows: name -> (kind, distribution column, colocation id)."""
    rows = connection.execute(
        sa.text(
            "SELECT table_name::text, citus_table_type, distribution_column, colocation_id "
            "FROM citus_tables"
        )
    )
    return {name: (kind, column, colocation) for name, kind, column, colocation in rows}


def distribute(engine: sa.Engine, metadata: sa.MetaData, shard_count: int | None = None):
    """Place every table of ``metadata`` on the Citus cluster ``engine`` points at (its
    coordinator, after ``alembic upgrade head``); yield a line per table.

    Each table is placed in its own transaction, so an interrupted run is finished by
    running it again.
    """
    if engine.dialect.name != "postgresql":
        raise DistributionError(f"not a Citus coordinator: {engine.dialect.name}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.scalar(sa.text(_IS_CITUS)):
            raise DistributionError(
                "not a Citus coordinator: the citus extension is not installed in this database"
            )
        # otherwise making ``companies`` a reference table silently turns every local
        # table that points at it into a "Citus local table", which then refuses to be
        # distributed
        connection.execute(sa.text("SET citus.enable_local_reference_table_foreign_keys = off"))
        # Citus can't distribute a table whose statement_timeout cancels the copy
        connection.execute(sa.text("SET statement_timeout = 0"))
        placements = plan(metadata)
        placed = _placed(connection)
        tenant_tables = [p.table for p in placements if p.kind == DISTRIBUTED]
        anchor = next((t for t in tenant_tables if t in placed), None)
        converted = []
        for placement in placements:
            table = placement.table
            if table in placed:
                _check(placement, placed[table])
                yield f"{table}: already {placement.kind}"
                continue
            if placement.kind == REFERENCE:
                connection.execute(sa.text("SELECT create_reference_table(:t)"), {"t": table})
            else:
                connection.execute(
                    sa.text(
                        "SELECT create_distributed_table(:t, :column, colocate_with => :with"
                        + (", shard_count => :shards)" if shard_count and not anchor else ")")
                    ),
                    {
                        "t": table,
                        "column": DISTRIBUTION_COLUMN,
                        "with": anchor or "none",
                        "shards": shard_count,
                    },
                )
                anchor = anchor or table
            converted.append(table)
            yield f"{table}: now {placement.kind}" + (
                f" by {DISTRIBUTION_COLUMN}, colocated with {anchor}"
                if placement.kind == DISTRIBUTED
                else ""
            )
        # the coordinator keeps a local copy of rows that were there before; the
        # shards have them now
        for table in reversed(converted):
            connection.execute(
                sa.text("SELECT truncate_local_data_after_distributing_table(:t)"), {"t": table}
            )
        placed = _placed(connection)
        colocations = {placed[t][2] for t in tenant_tables}
        if len(colocations) != 1:
            raise DistributionError(f"tenant tables are not all colocated: {colocations}")


def _check(placement: Placement, current: tuple[str, str | None, int]) -> None:
    """A table Citus already knows must be placed the way the rule says."""
    kind, column, _ = current
    expected = (placement.kind, DISTRIBUTION_COLUMN if placement.kind == DISTRIBUTED else "<none>")
    if (kind, column) != expected:
        raise DistributionError(
            f"{placement.table} is {kind} (column {column}); expected {expected[0]}"
            + (f" by {DISTRIBUTION_COLUMN}" if placement.kind == DISTRIBUTED else "")
        )
