"""Operator commands: ``flask --app wsgi create-company NAME`` and friends (``distribute-tables``
on a Citus coordinator)."""

import click
from flask import Flask

from app.extensions import db


def register(app: Flask) -> None:
    """Attach the commands to the app."""

    @app.cli.command("create-company")
    @click.argument("name")
    def create_company(name):
        """Create a company and print its id and first API key."""
        from app.companies.service import create_company

        company, plaintext = create_company(name.strip())
        db.session.commit()
        click.echo(f"company_id={company.id}")
        click.echo(f"api_key={plaintext}")

    @app.cli.command("create-api-key")
    @click.argument("company_id", type=int)
    @click.option("--name", default="cli", help="A label for the key.")
    def create_api_key(company_id, name):
        """Issue another API key for a company (e.g. after losing the last one)."""
        from app import auth
        from app.models import Company

        if db.session.get(Company, company_id) is None:
            raise click.ClickException(f"No company {company_id}.")
        _, plaintext = auth.new_api_key(company_id, name)
        db.session.commit()
        click.echo(f"api_key={plaintext}")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo company (once) and print its id and a fresh API key."""
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
