"""Operator commands: ``flask --app wsgi create-company NAME`` and friends."""

import click
import marshmallow as ma
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
