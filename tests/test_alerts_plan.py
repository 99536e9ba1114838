"""On a large company, PostgreSQL answers the alert statement from indexes: no
sequential scan of the ledger (or of the inventory)."""

import subprocess
import sys

import pytest
import sqlalchemy as sa

from app import create_app
from app.alerts.queries import explain
from app.extensions import db
from tests.conftest import ROOT, alembic_config

pytestmark = pytest.mark.postgres


def test_the_alert_plan_reads_the_ledger_and_inventory_through_indexes(scratch_database_url):
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
        plan = explain(company_id)
        db.engine.dispose()
    assert "inventory_ledger" in plan
    assert "Seq Scan on inventory_ledger" not in plan, plan
    assert "Seq Scan on inventory " not in plan, plan
    assert "ix_inventory_below_threshold" in plan, plan
