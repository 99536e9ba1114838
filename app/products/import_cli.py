"""``flask import-products FILE.csv --company ID``: a catalog file through the import
service, one transaction per chunk of rows, with a progress bar and a summary."""

from __future__ import annotations

import csv
import io

import click
import marshmallow as ma

from app import changes
from app.errors import Problem, flatten_messages
from app.events import outbox
from app.extensions import db
from app.models import Company
from app.products import importing
from app.products.schemas import ProductImportSchema


def _chunks(path: str, size: int):
    """The file as (first data row's index, CSV text of the header and up to ``size`` rows)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise click.ClickException("The file is empty.")
        rows, start = [], 0
        for row in reader:
            rows.append(row)
            if len(rows) == size:
                yield start, _text(header, rows), len(rows)
                start, rows = start + len(rows), []
        if rows or start == 0:
            yield start, _text(header, rows), len(rows)


def _text(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _shifted(errors: dict[str, list[str]], start: int) -> dict[str, list[str]]:
    """Error paths ``products.<i>...`` of a chunk as rows of the whole file."""
    shifted = {}
    for path, messages in errors.items():
        head, _, rest = path.partition(".")
        index, _, field = rest.partition(".")
        if head == "products" and index.isdigit():
            path = f"products.{int(index) + start}" + (f".{field}" if field else "")
        shifted[path] = messages
    return shifted


def _fail(start: int, errors: dict, detail: str) -> None:
    for path, messages in sorted(_shifted(errors, start).items()):
        click.echo(f"  {path}: {'; '.join(messages)}", err=True)
    raise click.ClickException(
        f"{detail} Rows before {start} were imported; fix the file and run it again "
        "(rows already imported are updated, not duplicated)."
        if start
        else detail
    )


def run(path: str, company_id: int, chunk: int, dry_run: bool) -> None:
    """Import ``path`` for the company, ``chunk`` rows per transaction; print a summary."""
    if db.session.get(Company, company_id) is None:
        raise click.ClickException(f"No company {company_id}.")
    if chunk < 1 or chunk > importing.MAX_IMPORT_ROWS:
        raise click.BadParameter(f"between 1 and {importing.MAX_IMPORT_ROWS}", param_hint="--chunk")
    with open(path, newline="", encoding="utf-8-sig") as f:
        total = max(sum(1 for _ in csv.reader(f)) - 1, 0)
    summary = {"created": 0, "updated": 0, "stock_ignored": 0}
    schema = ProductImportSchema()
    with click.progressbar(length=total, label="Importing" if not dry_run else "Checking") as bar:
        for start, text, count in _chunks(path, chunk):
            if count == 0:
                break
            try:
                data = schema.load(importing.csv_to_products(text))
                result = importing.import_products(company_id, data["products"], dry_run=dry_run)
            except ma.ValidationError as error:
                db.session.rollback()
                _fail(start, flatten_messages(error.messages), "Invalid rows.")
            except Problem as problem:
                db.session.rollback()
                _fail(start, problem.errors or {}, problem.description)
            if dry_run:
                db.session.rollback()
            else:
                # what a request's transaction does before it commits
                outbox.write_pending(company_id)
                changes.bump(company_id)
                db.session.commit()
            for name in summary:
                summary[name] += result[name]
            bar.update(count)
    verb = "Would create" if dry_run else "Created"
    click.echo(
        f"{verb} {summary['created']}, updated {summary['updated']} product(s) "
        f"from {total} row(s); opening stock ignored for {summary['stock_ignored']} "
        "existing product(s)."
    )
