"""Operator commands: ``flask --app wsgi create-company NAME`` and friends (``distribute-tables``
on a Citus coordinator)."""

import click
import marshmallow as ma
import sqlalchemy as sa
from flask import Flask

from app.errors import flatten_messages
from app.extensions import db


def validated(schema: ma.Schema, data: dict) -> dict:
    """``data`` as the API's own schema loads it (trimmed, checked); what the API
    would refuse with a 400 is a usage error here, and nothing is written."""
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        problems = flatten_messages(error.messages)
        raise click.UsageError(
            "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items())
        ) from error


def register(app: Flask) -> None:
    """Attach the commands to the app."""

    @app.cli.command("create-company")
    @click.argument("name")
    def create_company(name):
        """Create a company and print its id and first API key."""
        from app.companies.schemas import CompanyCreateSchema
        from app.companies.service import create_company

        company, plaintext = create_company(
            validated(CompanyCreateSchema(), {"name": name})["name"]
        )
        db.session.commit()
        click.echo(f"company_id={company.id}")
        click.echo(f"api_key={plaintext}")

    @app.cli.command("create-api-key")
    @click.argument("company_id", type=int)
    @click.option("--name", default="cli", help="A label for the key.")
    def create_api_key(company_id, name):
        """Issue another API key for a company (e.g. after losing the last one)."""
        from app import auth
        from app.companies.schemas import ApiKeyCreateSchema
        from app.models import Company

        name = validated(ApiKeyCreateSchema(), {"name": name})["name"]
        if db.session.get(Company, company_id) is None:
            raise click.ClickException(f"No company {company_id}.")
        _, plaintext = auth.new_api_key(company_id, name)
        db.session.commit()
        click.echo(f"api_key={plaintext}")

    @app.cli.command("recompute-thresholds")
    @click.option("--company", "company_id", type=int, help="The company to repair.")
    @click.option("--all-companies", is_flag=True, help="Repair every company.")
    def recompute_thresholds(company_id, all_companies):
        """Recompute the low-stock threshold copy of every inventory row (after an
        import or a restore); one transaction per company."""
        from app import changes
        from app.models import Company
        from app.thresholds.queries import recompute_alert_thresholds

        if (company_id is not None) == all_companies:
            raise click.UsageError("Give either --company ID or --all-companies.")
        if all_companies:
            company_ids = list(db.session.scalars(sa.select(Company.id).order_by(Company.id)))
        elif db.session.get(Company, company_id) is None:
            raise click.ClickException(f"No company {company_id}.")
        else:
            company_ids = [company_id]
        for one in company_ids:
            repaired = recompute_alert_thresholds(one)
            if repaired:
                # the alerts changed: pollers must not keep their 304
                changes.bump(one)
            db.session.commit()
            click.echo(f"company_id={one} repaired={repaired}")

    @app.cli.command("refresh-alert-state")
    @click.option("--company", "company_id", type=int, help="Only this company.")
    @click.option(
        "--rebuild", is_flag=True, help="Recompute every row from the ledger, not only moved ones."
    )
    def refresh_alert_state(company_id, rebuild):
        """Move the low-stock alert state to today's window (run daily after 00:00 UTC);
        with --rebuild, recompute it from the ledger. Every company unless --company."""
        import datetime as dt

        from app.alerts import state
        from app.models import Company

        if company_id is not None and db.session.get(Company, company_id) is None:
            raise click.ClickException(f"No company {company_id}.")
        company_ids = [company_id] if company_id is not None else state.company_ids()
        today = dt.datetime.now(dt.UTC).date()
        for one in company_ids:
            state.refresh(one, today, rebuild=rebuild)
            click.echo(f"company_id={one} as_of={today.isoformat()}")

    @app.cli.command("import-products")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--company", "company_id", type=int, required=True, help="The company's id.")
    @click.option("--chunk", default=1000, show_default=True, help="Rows per transaction.")
    @click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
    def import_products(path, company_id, chunk, dry_run):
        """Import a catalog CSV (the columns of POST /api/products/import), chunk by chunk."""
        from app.products.import_cli import run

        run(path, company_id, chunk, dry_run)

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo company (once) and print its id and a fresh API key; the demo
        key printed before is revoked (only hashes are stored, so it can't be shown
        again)."""
        from app.demo import seed

        company_id, plaintext, created = seed()
        db.session.commit()
        click.echo(("Loaded" if created else "Already loaded:") + " demo company")
        click.echo(f"company_id={company_id}")
        click.echo(f"api_key={plaintext}")

    @app.cli.command("distribute-tables")
    @click.option(
        "--shard-count",
        type=click.IntRange(1),
        default=None,
        help="Shards per tenant table when none is distributed yet (default: citus.shard_count).",
    )
    def distribute_tables(shard_count):
        """On a Citus coordinator, after `alembic upgrade head`: distribute every tenant
        table by company_id (colocated) and make the others reference tables. Idempotent:
        run it after every upgrade, so tables added by a migration are placed too."""
        from app.distribution import DistributionError, distribute

        try:
            for line in distribute(db.engine, db.metadata, shard_count):
                click.echo(line)
        except DistributionError as error:
            raise click.ClickException(str(error)) from error

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
    @click.option(
        "--poll-interval",
        type=click.FloatRange(0.05),
        default=None,
        help="Seconds an idle worker waits before looking again "
        "(default: STOCKFLOW_WORKER_POLL_S, 1).",
    )
    def worker(once, poll_interval):
        """Deliver webhooks from the outbox until SIGTERM/SIGINT (the delivery in flight
        is finished first, then exit 0). Run as many as you like side by side."""
        import dataclasses
        import signal

        from flask import current_app

        from app.events.worker import Settings, Worker

        settings = Settings.from_config(current_app.config)
        if poll_interval is not None:
            settings = dataclasses.replace(settings, poll_s=poll_interval)
        runner = Worker(current_app._get_current_object(), settings)

        def stop(signum, _frame):
            # the loop ends after the delivery in flight; a second signal changes nothing
            runner.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        bind = current_app.config.get("STOCKFLOW_WORKER_METRICS_BIND")
        if bind and not once:
            from app.metrics import serve_metrics_only

            # the worker's own counters (the API's /metrics cannot see this process)
            serve_metrics_only(current_app._get_current_object(), bind)
        if once:
            click.echo(f"attempts={runner.run_once()}")
        else:
            runner.run()
