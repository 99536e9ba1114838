"""Operator commands: ``flask --app wsgi create-company NAME`` and friends."""

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
        """Load the demo company (once) and print its id and a fresh API key."""
        from app.demo import seed

        company_id, plaintext, created = seed()
        db.session.commit()
        click.echo(("Loaded" if created else "Already loaded:") + " demo company")
        click.echo(f"company_id={company_id}")
        click.echo(f"api_key={plaintext}")
