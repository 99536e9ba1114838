"""Bulk catalog import (upsert by SKU) and export. Functions flush, never commit.

An import is all or nothing: every row is checked (the schema, duplicate SKUs in the
file, SKUs of deleted products, warehouses, ``is_bundle`` of existing products) before
anything is written, and a bad row refuses the whole import with per-row errors. The
writes are a few multi-row statements per 1,000 rows, not one request's worth of SQL
per product:

- existing products of the listed SKUs are locked (``FOR NO KEY UPDATE``, in id order:
  sales of them go on, an archive waits);
- new products are inserted with ``INSERT ... ON CONFLICT (company_id, sku) DO NOTHING
  RETURNING``: a SKU another import created meanwhile is not returned and is updated
  instead;
- existing products get the listed fields with one ``UPDATE ... FROM (VALUES ...)``;
- new products' opening stock is written as the product creation writes it: an
  inventory row and one ``initial`` ledger row per warehouse.

Opening stock applies to new products only: for a SKU that exists it is ignored (and
reported), because stock changes go through stock operations and a catalog sync that
sends its file again must not add the stock again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid

import sqlalchemy as sa

from app import bulk
from app.changes import stock_changed
from app.errors import Problem, problem_type_uri
from app.extensions import db
from app.locks import THRESHOLDS, company_lock
from app.models import (
    Inventory,
    Product,
    ProductTypeThreshold,
    Warehouse,
    window_start,
    write_time,
)
from app.stock.batch import NEW_INVENTORY_COLUMNS
from app.thresholds.queries import default_threshold, refresh_alert_thresholds

CHUNK = bulk.CHUNK
MAX_IMPORT_ROWS = 10_000
# the catalog fields an import may set; a row updates only those it lists
CATALOG_FIELDS = ("name", "price", "product_type", "low_stock_threshold")
CSV_COLUMNS = ("sku", "name", "price", "product_type", "low_stock_threshold", "is_bundle")
STOCK_COLUMN = re.compile(r"stock:([0-9]{1,10})")
INTEGER = re.compile(r"-?[0-9]{1,12}")


def _problem(status: int, slug: str, detail: str, errors: dict) -> Problem:
    return Problem(
        status,
        detail,
        type_=problem_type_uri(slug),
        title="Invalid request" if status == 400 else None,
        errors=errors,
    )


# -- CSV in -------------------------------------------------------------------------------


def csv_to_products(body: bytes) -> dict:
    """A CSV file as the JSON body ``{"products": [...]}`` it stands for.

    Columns (header row, any order): ``sku``, ``name``, ``price``, ``product_type``,
    ``low_stock_threshold``, ``is_bundle`` (true/false), and opening stock either as one
    ``stock:<warehouse_id>`` column per warehouse or as a ``warehouse_id`` + ``quantity``
    pair. An empty cell is a field not given. Values are typed here (integers, booleans)
    and validated by the same schema as a JSON import, so the errors name
    ``products.<i>.<field>`` where ``i`` counts data rows from 0 (line ``i + 2``).
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _problem(
            400, "validation-error", "The CSV is not UTF-8.", {"_body": ["Not UTF-8."]}
        ) from error
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        raise _problem(
            400, "validation-error", f"Malformed CSV: {error}.", {"_body": [str(error)]}
        ) from error
    if not rows:
        raise _problem(400, "validation-error", "The CSV has no header row.", {"_body": ["Empty."]})
    header = [name.strip() for name in rows[0]]
    unknown = [
        name
        for name in header
        if name not in CSV_COLUMNS
        and name not in ("warehouse_id", "quantity")
        and not STOCK_COLUMN.fullmatch(name)
    ]
    problems = {}
    if unknown:
        problems["_header"] = [f"Unknown column(s): {', '.join(unknown)}."]
    if len(set(header)) != len(header):
        problems.setdefault("_header", []).append("A column appears twice.")
    if ("warehouse_id" in header) != ("quantity" in header):
        problems.setdefault("_header", []).append("warehouse_id and quantity go together.")
    if problems:
        raise _problem(400, "validation-error", "The CSV header is invalid.", problems)
    columns = [_column(name) for name in header]
    products = []
    for number, row in enumerate(rows[1:]):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise _problem(
                400,
                "validation-error",
                f"Row {number} (line {number + 2}) has {len(row)} cells; the header has "
                f"{len(header)}.",
                {f"products.{number}": ["Wrong number of cells."]},
            )
        products.append(_csv_row(columns, row))
    return {"products": products}


def _typed(value: str):
    """A CSV cell as the JSON value it most likely is (the schema judges it)."""
    if INTEGER.fullmatch(value):
        return int(value)
    return {"true": True, "false": False}.get(value.lower(), value)


def _column(name: str) -> tuple[str, str | int]:
    """How a header's column goes into a row's item: (how, the key or warehouse id)."""
    match = STOCK_COLUMN.fullmatch(name)
    if match:
        return "stock", int(match.group(1))
    if name == "warehouse_id":
        return "typed", "warehouse_id"
    if name == "quantity":
        return "typed", "initial_quantity"
    if name in ("low_stock_threshold", "is_bundle"):
        return "typed", name
    return "text", name  # text and prices stay text (a price is a decimal string)


def _csv_row(columns: list[tuple[str, str | int]], row: list[str]) -> dict:
    item: dict = {}
    stock = []
    for (how, key), raw in zip(columns, row, strict=True):
        value = raw.strip()
        if value == "":
            continue
        if how == "text":
            item[key] = value
        elif how == "typed":
            item[key] = _typed(value)
        else:
            stock.append({"warehouse_id": key, "quantity": _typed(value)})
    if stock:
        item["initial_stock"] = stock
    return item


# -- the import ------------------------------------------------------------------------------


def import_products(company_id: int, products: list[dict], *, dry_run: bool = False) -> dict:
    """Create or update (by SKU) every product, all or nothing; what each row did."""
    errors: dict[str, list[str]] = {}
    conflicts = False

    def refuse(row: int, field: str, message: str) -> None:
        errors.setdefault(f"products.{row}.{field}", []).append(message)

    if not dry_run:
        _hold_threshold_settings(company_id, products)
    first_row: dict[str, int] = {}
    for row, item in enumerate(products):
        if item["sku"] in first_row:
            refuse(row, "sku", f"Also in products.{first_row[item['sku']]}.")
        first_row.setdefault(item["sku"], row)

    existing = _lock_existing(company_id, list(first_row))
    for row, item in enumerate(products):
        found = existing.get(item["sku"])
        if found is None:
            continue
        if found["archived"]:
            refuse(
                row,
                "sku",
                "A deleted product has this SKU (the SKUs of deleted products stay reserved).",
            )
            conflicts = True
        elif "is_bundle" in item and item["is_bundle"] != found["is_bundle"]:
            refuse(row, "is_bundle", "Fixed at creation; this product's differs.")

    wanted = {s["warehouse_id"] for item in products for s in item["initial_stock"]}
    known = _warehouses(company_id, wanted)
    for row, item in enumerate(products):
        for stock in item["initial_stock"]:
            if stock["warehouse_id"] not in known:
                refuse(row, stock["field"], "Unknown warehouse.")

    if errors:
        only_conflicts = conflicts and all("deleted product" in m[0] for m in errors.values())
        raise _problem(
            409 if only_conflicts else 400,
            "duplicate-sku" if only_conflicts else "validation-error",
            f"{len({k.split('.')[1] for k in errors})} row(s) of the import are invalid; "
            "nothing was written.",
            errors,
        )

    new = [item for item in products if item["sku"] not in existing]
    if dry_run:
        created_ids: dict[str, int] = {}
    else:
        created_ids = _insert(company_id, sorted(new, key=lambda item: item["sku"]))
        # a SKU another import created since we looked is now an existing product
        raced = [item["sku"] for item in new if item["sku"] not in created_ids]
        if raced:
            existing.update(_lock_existing(company_id, raced))
        _update(company_id, [item for item in products if item["sku"] not in created_ids], existing)
        _opening_stock(
            company_id, [item for item in products if item["sku"] in created_ids], created_ids
        )

    rows = []
    for row, item in enumerate(products):
        created = item["sku"] not in existing
        rows.append(
            {
                "row": row,
                "sku": item["sku"],
                "id": created_ids.get(item["sku"]) if created else existing[item["sku"]]["id"],
                "action": "created" if created else "updated",
                "stock_ignored": not created and bool(item["initial_stock"]),
            }
        )
    return {
        "dry_run": dry_run,
        "created": sum(r["action"] == "created" for r in rows),
        "updated": sum(r["action"] == "updated" for r in rows),
        "stock_ignored": sum(r["stock_ignored"] for r in rows),
        "products": rows,
    }


def _hold_threshold_settings(company_id: int, products: list[dict]) -> None:
    """Take the company's ``THRESHOLDS`` lock (``app/locks.py``) before any row lock.

    Exclusive when a row sets a threshold or a type (an existing product's threshold
    copies are recomputed), so no concurrent first receipt computes a copy from the
    settings this import replaces; else shared when new products get opening stock,
    whose inventory rows' copies are computed from the settings. Held to the commit:
    an import that sets thresholds or types makes the company's receipts, returns,
    transfers and adjustments (not its sales) wait until it ends.
    """
    if any("product_type" in item or "low_stock_threshold" in item for item in products):
        company_lock(THRESHOLDS, company_id)
    elif any(item["initial_stock"] for item in products):
        company_lock(THRESHOLDS, company_id, shared=True)


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lock_existing(company_id: int, skus: list[str]) -> dict[str, dict]:
    """The company's products with these SKUs (deleted ones included), locked against an
    archive or a concurrent import's update (in id order, so two imports cannot deadlock)."""
    found = {}
    for chunk in _chunks(sorted(skus)):
        rows = db.session.execute(
            sa.select(Product.id, Product.sku, Product.is_bundle, Product.archived_at)
            .where(Product.company_id == company_id, Product.sku.in_(chunk))
            .order_by(Product.id)
            .with_for_update(key_share=True)
        )
        for product_id, sku, is_bundle, archived_at in rows:
            found[sku] = {
                "id": product_id,
                "is_bundle": is_bundle,
                "archived": archived_at is not None,
            }
    return found


def _warehouses(company_id: int, ids: set[int]) -> set[int]:
    """Which of ``ids`` are the company's active warehouses, key-share locked (no archive
    of a warehouse can slip in under its opening stock)."""
    known = set()
    for chunk in _chunks(sorted(ids)):
        known |= set(
            db.session.scalars(
                sa.select(Warehouse.id)
                .where(
                    Warehouse.company_id == company_id,
                    Warehouse.archived_at.is_(None),
                    Warehouse.id.in_(chunk),
                )
                .order_by(Warehouse.id)
                .with_for_update(read=True, key_share=True)
            )
        )
    return known


def _insert(company_id: int, items: list[dict]) -> dict[str, int]:
    """Insert the new products (sorted by SKU, so concurrent imports wait in one order);
    their ids by SKU. A SKU that exists by now is skipped (and not returned)."""
    created = {}
    for chunk in bulk.chunks(items):
        result = bulk.insert(
            "products",
            [
                "company_id",
                "sku",
                "name",
                "price",
                "product_type",
                "low_stock_threshold",
                "is_bundle",
            ],
            [
                (
                    company_id,
                    item["sku"],
                    item["name"],
                    item["price"],
                    item.get("product_type", "regular"),
                    item.get("low_stock_threshold"),
                    item.get("is_bundle", False),
                )
                for item in chunk
            ],
            "ON CONFLICT (company_id, sku) DO NOTHING RETURNING id, sku",
        )
        created.update({sku: product_id for product_id, sku in result})
    return created


def _update(company_id: int, items: list[dict], existing: dict[str, dict]) -> None:
    """Set the listed catalog fields of existing products: one UPDATE ... FROM (VALUES ...)
    per chunk of rows that list the same fields."""
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    groups: dict[tuple[str, ...], list[dict]] = {}
    for item in items:
        fields = tuple(f for f in CATALOG_FIELDS if f in item)
        if fields:
            groups.setdefault(fields, []).append(item)
    refresh = []
    for fields, group in groups.items():
        casts = {"price": "NUMERIC(12, 2)", "low_stock_threshold": "INTEGER"}
        assignments = ", ".join(f"{f} = CAST(v.{f} AS {casts.get(f, 'VARCHAR')})" for f in fields)
        for chunk in _chunks(group):
            params = {"company_id": company_id}
            values = []
            for i, item in enumerate(chunk):
                names = [f"id{i}"] + [f"{f}{i}" for f in fields]
                values.append("(" + ", ".join(f":{n}" for n in names) + ")")
                params[f"id{i}"] = existing[item["sku"]]["id"]
                for f in fields:
                    value = item[f]
                    # sqlite3 binds no Decimal: a decimal string, stored as a number
                    params[f"{f}{i}"] = str(value) if sqlite and f == "price" else value
            db.session.execute(
                sa.text(
                    f"WITH v (id, {', '.join(fields)}) AS (VALUES {', '.join(values)}) "
                    f"UPDATE products SET {assignments}, updated_at = CURRENT_TIMESTAMP "
                    "FROM v WHERE products.company_id = :company_id AND products.id = v.id"
                ),
                params,
            )
        if {"product_type", "low_stock_threshold"} & set(fields):
            refresh += [existing[item["sku"]]["id"] for item in group]
    for chunk in _chunks(sorted(refresh)):
        refresh_alert_thresholds(company_id, Inventory.product_id.in_(chunk))


def _new_product_thresholds(company_id: int, items: list[dict], ids: dict[str, int]):
    """product id -> low-stock threshold of the new products' inventory rows.

    ``threshold_of``'s rule for a product that has no reorder rule yet (a new one): its
    own threshold, else the company's for its type, else the type's default. Computed
    here because a correlated ``threshold_of`` per row is planned from the table's
    statistics, which know nothing of the rows this import just inserted (a 10,000-row
    import took 30 s instead of 3). tests/test_import_export.py checks it against
    ``threshold_of``.
    """
    configured = dict(
        db.session.execute(
            sa.select(
                ProductTypeThreshold.product_type, ProductTypeThreshold.low_stock_threshold
            ).where(ProductTypeThreshold.company_id == company_id)
        ).all()
    )
    thresholds = {}
    for item in items:
        own = item.get("low_stock_threshold")
        kind = item.get("product_type", "regular")
        thresholds[ids[item["sku"]]] = (
            own if own is not None else configured.get(kind, default_threshold(kind))
        )
    return thresholds


def _opening_stock(company_id: int, items: list[dict], ids: dict[str, int]) -> None:
    """New products' stock: an inventory row and an ``initial`` ledger row per warehouse,
    as ``POST /api/products`` writes them (one operation id for the whole import)."""
    operation_id = str(uuid.uuid4())
    now = bulk.utc(db.session.scalar(sa.select(write_time())))  # as service._record dates
    levels = [
        (ids[item["sku"]], stock["warehouse_id"], stock["quantity"])
        for item in items
        for stock in item["initial_stock"]
    ]
    threshold = _new_product_thresholds(company_id, items, ids)
    since = window_start(dt.datetime.now(dt.UTC).date())
    for chunk in bulk.chunks(levels):
        # new rows have sold nothing: their alert window starts today's (app.alerts.state)
        bulk.insert(
            "inventory",
            NEW_INVENTORY_COLUMNS,
            [(company_id, p, w, q, threshold[p], 0, since) for p, w, q in chunk],
        )
        bulk.insert(
            "inventory_ledger",
            [
                "company_id",
                "product_id",
                "warehouse_id",
                "reason",
                "quantity_change",
                "quantity_after",
                "operation_id",
                "occurred_at",
            ],
            [(company_id, p, w, "initial", q, q, operation_id, now) for p, w, q in chunk],
        )
    stock_changed({p for p, _, _ in levels})


# -- export ---------------------------------------------------------------------------------

EXPORT_BATCH = 1000  # rows fetched at a time (a server-side cursor on PostgreSQL)


def _catalog_rows(company_id: int):
    """The company's active products by id, each with its stock per active warehouse,
    read with a server-side cursor so a large catalog never sits in memory."""
    active_warehouse = (
        sa.select(Warehouse.id)
        .where(Warehouse.company_id == company_id, Warehouse.archived_at.is_(None))
        .scalar_subquery()
    )
    query = (
        sa.select(
            Product.id,
            Product.sku,
            Product.name,
            Product.price,
            Product.product_type,
            Product.low_stock_threshold,
            Product.is_bundle,
            Inventory.warehouse_id,
            Inventory.quantity,
        )
        .outerjoin(
            Inventory,
            sa.and_(
                Inventory.company_id == Product.company_id,
                Inventory.product_id == Product.id,
                Inventory.warehouse_id.in_(active_warehouse),
            ),
        )
        .where(Product.company_id == company_id, Product.archived_at.is_(None))
        .order_by(Product.id, Inventory.warehouse_id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    current = None
    for pid, sku, name, price, ptype, threshold, is_bundle, wid, quantity in db.session.execute(
        query
    ):
        if current is None or current["id"] != pid:
            if current is not None:
                yield current
            current = {
                "id": pid,
                "sku": sku,
                "name": name,
                "price": price,
                "product_type": ptype,
                "low_stock_threshold": threshold,
                "is_bundle": is_bundle,
                "initial_stock": [],
            }
        if wid is not None:
            current["initial_stock"].append({"warehouse_id": wid, "quantity": quantity})
    if current is not None:
        yield current


def _warehouse_ids(company_id: int) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(Warehouse.id)
            .where(Warehouse.company_id == company_id, Warehouse.archived_at.is_(None))
            .order_by(Warehouse.id)
        )
    )


def export_csv(company_id: int):
    """The catalog as CSV text, piece by piece: the import's columns, one
    ``stock:<warehouse_id>`` column per active warehouse."""
    warehouse_ids = _warehouse_ids(company_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *(f"stock:{w}" for w in warehouse_ids)])
    for count, product in enumerate(_catalog_rows(company_id), 1):
        stock = {s["warehouse_id"]: s["quantity"] for s in product["initial_stock"]}
        writer.writerow(
            [
                product["sku"],
                product["name"],
                str(product["price"]),
                product["product_type"],
                "" if product["low_stock_threshold"] is None else product["low_stock_threshold"],
                "true" if product["is_bundle"] else "false",
                *(stock.get(w, "") for w in warehouse_ids),
            ]
        )
        if count % 200 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def export_json(company_id: int):
    """The catalog as the import's JSON body, piece by piece."""
    yield '{"products": ['
    for count, product in enumerate(_catalog_rows(company_id)):
        del product["id"]
        product["price"] = str(product["price"])
        if product["is_bundle"]:
            del product["initial_stock"]  # a bundle holds no stock of its own
        yield ("," if count else "") + json.dumps(product)
    yield "]}"
