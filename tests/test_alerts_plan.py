"""On a large company, PostgreSQL answers the alert statements from indexes: the
first page of the default window is a range scan of the index of alerting rows
(no ledger at all), and the ledger path has no sequential scan of the ledger (or of
the inventory)."""

import datetime as dt
import subprocess
import sys

import pytest
import sqlalchemy as sa

from app import create_app
from app.alerts import state
from app.alerts.queries import explain
from app.extensions import db
from tests.conftest import ROOT, alembic_config

pytestmark = pytest.mark.postgres


def test_the_alert_plans_read_a_page_from_the_alert_index_and_the_ledger_through_indexes(
    scratch_database_url,
):
    from alembic import command

    command.upgrade(alembic_config(scratch_database_url), "head")
    # two companies of 2,000 products x 5 warehouses with 300,000 ledger rows each
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/generate_tenants.py"),
            "--database-url",
            scratch_database_url,
            "--products",
            "2000",
            "--ledger-rows",
            "300000",
            "--tenants",
            "2",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_database_url})
    with app.app_context():
        company_id = db.session.scalar(
            sa.select(sa.func.min(sa.text("id"))).select_from(sa.table("companies"))
        )
        # the generator writes the tables directly: build the state as ops would
        state.refresh(company_id, dt.datetime.now(dt.UTC).date(), rebuild=True)
        db.session.execute(sa.text("ANALYZE inventory"))
        db.session.commit()
        kept = explain(company_id, maintained=True)
        plan = explain(company_id)
        db.engine.dispose()
    # the page: an index range scan in the alerts' order, stopped by the limit
    assert "ix_inventory_alert_order" in kept, kept
    assert "inventory_ledger" not in kept, kept
    assert "Seq Scan on inventory " not in kept, kept
    assert "Sort" not in kept.split("Limit", 1)[1].split("SubPlan", 1)[0], kept
    assert "inventory_ledger" in plan
    assert "Seq Scan on inventory_ledger" not in plan, plan
    assert "Seq Scan on inventory " not in plan, plan
    assert "ix_inventory_below_threshold" in plan, plan
