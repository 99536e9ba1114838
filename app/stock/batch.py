"""Batch stock operations: up to 1,000 operations of any kind in one transaction.

The batch is all or nothing, and costs a handful of statements however many items
it has:

0. unless every item is a sale, the company's threshold settings held still (the
   shared ``THRESHOLDS`` lock, ``app/locks.py``): new inventory rows get a threshold
   copy computed from them, as the single operations' rows do;
1. the referenced products, warehouses and suppliers, one query each, key-share
   locked (PostgreSQL) so that none can be archived under the batch;
2. the batch locks of the warehouses it touches (``app.locks.batch_locks``): batches
   over the same warehouses run in the order they came, which row locks alone do not
   keep;
3. every touched inventory row created if missing and locked, in ONE statement whose
   rows are sorted by (warehouse id, product id): the order the single operations
   lock in (``service._move``), so batches and single operations touching the same
   rows in any order wait for each other and never deadlock; then the locked rows
   (and the database's clock) read in one more;
4. the items applied in request order in Python over the locked levels, which
   finds every refused item (not enough stock, past the largest storable level, a
   stale count), not only the first;
5. the final levels (and the rows' window sales, which the low-stock alerts read:
   ``app.alerts.state``) in one multi-row UPDATE, the ledger in one multi-row INSERT.

Functions flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from operator import itemgetter

import sqlalchemy as sa

from app import bulk
from app.bundles import queries as bundles
from app.changes import alerts_changed, stock_changed
from app.errors import Problem, problem_type_uri
from app.events import outbox
from app.extensions import db
from app.locks import THRESHOLDS, batch_locks, company_lock
from app.models import Inventory, Product, Supplier, Warehouse, window_start, write_time
from app.schemas import MAX_INT as MAX_QUANTITY
from app.schemas import TWO_PLACES
from app.stock.service import alerting
from app.thresholds.queries import refresh_alert_thresholds

# what a new inventory row is written with (the batch and the import create them)
NEW_INVENTORY_COLUMNS = [
    "company_id",
    "product_id",
    "warehouse_id",
    "quantity",
    "alert_threshold",
    "window_sales",
    "window_since",
]
# an inventory row created by a batch, until its threshold is computed (same transaction)
THRESHOLD_PENDING = -1
REASONS = {"receipt": "receipt", "sale": "sale", "return": "return"}
SIGNS = {"receipt": +1, "sale": -1, "return": +1}


@dataclass
class Item:
    """One batch item, expanded into the inventory rows it changes."""

    index: int
    kind: str
    data: dict
    # (warehouse id, product id, signed change, reason), in lock order
    changes: list[tuple[int, int, int, str]] = field(default_factory=list)
    bundle_product_id: int | None = None
    counted: int | None = None  # an adjustment that sets the level (a count)


class Refusals:
    """Every refused item of a batch: per-field messages and the facts behind them."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}
        self.items: list[dict] = []
        self.invalid = False  # any 400-kind refusal (bad input rather than stock)

    def add(self, index: int, name: str, message: str, problem: str, **facts) -> None:
        """Refuse item ``index`` because of its field ``name``."""
        self.errors.setdefault(f"operations.{index}.{name}", []).append(message)
        self.items.append({"index": index, "field": name, "problem": problem, **facts})
        self.invalid = self.invalid or problem == "validation-error"

    def raise_if_any(self) -> None:
        """A 400 when an item is bad input, else a 409 when one is refused by the stock."""
        if not self.errors:
            return
        count = len({item["index"] for item in self.items})
        if self.invalid:
            raise Problem(
                400,
                f"{count} operation(s) of the batch are invalid; nothing was applied.",
                type_=problem_type_uri("validation-error"),
                title="Invalid request",
                errors=self.errors,
                extra={"items": self.items},
            )
        raise Problem(
            409,
            f"{count} operation(s) of the batch were refused; nothing was applied.",
            type_=problem_type_uri("batch-refused"),
            errors=self.errors,
            extra={"items": self.items},
        )


def apply(company_id: int, operations: list[dict]) -> dict:
    """Apply the operations in order, all or nothing; the ledger rows and final levels."""
    refusals = Refusals()
    if any(operation["type"] != "sale" for operation in operations):
        # an increment may insert an inventory row and compute its threshold copy
        company_lock(THRESHOLDS, company_id, shared=True)
    products, warehouses, suppliers = _references(company_id, operations)
    items = _expand(company_id, operations, products, warehouses, suppliers, refusals)
    refusals.raise_if_any()

    rows = sorted({(w, p) for item in items for w, p, _, _ in item.changes})
    # the batches before it over the same warehouses go first, in the order they came
    batch_locks(company_id, {w for w, _ in rows})
    # ``now``: the database's clock once every row is locked: an undated item is dated
    # after the writes it waited for, as the single operations' ledger rows are
    # (service._record)
    levels, kept, now = _lock(company_id, rows)
    entries = _simulate(items, levels, refusals)
    refusals.raise_if_any()

    operation_id = str(uuid.uuid4())
    window_sales = _window_sales(entries, kept, now)
    _write_levels(company_id, levels, window_sales, rows)
    written = _write_ledger(company_id, operation_id, now, entries)
    _note_levels(company_id, rows, kept, levels, window_sales)
    stock_changed({p for _, p in rows})
    # the alert version moves for rows that were, or now are, low and sold in the window
    alerts_changed(
        {
            (p, w)
            for w, p in rows
            if alerting(kept[(w, p)].quantity, kept[(w, p)].threshold, kept[(w, p)].window_sales)
            or alerting(levels[(w, p)], kept[(w, p)].threshold, window_sales[(w, p)])
        }
    )
    return {
        "operation_id": operation_id,
        "entries": written,
        "stock": [
            {"product_id": p, "warehouse_id": w, "quantity": levels[(w, p)]}
            for w, p in sorted(rows, key=lambda r: (r[1], r[0]))
        ],
    }


def _ids(operations: list[dict], *names: str) -> list[int]:
    found = set()
    for name in names:
        found.update([op.get(name) for op in operations])
    found.discard(None)
    return sorted(found)


def _references(company_id: int, operations: list[dict]):
    """The company's active products (id -> is_bundle), warehouses and suppliers that the
    batch names, one query each. On PostgreSQL they are key-share locked: an archive
    (FOR UPDATE) waits for this transaction, and one that committed first hides them."""

    def active(model, ids, *columns):
        if not ids:
            return []
        return db.session.execute(
            sa.select(model.id, *columns)
            .where(model.company_id == company_id, model.archived_at.is_(None), model.id.in_(ids))
            .order_by(model.id)
            .with_for_update(read=True, key_share=True)
        ).all()

    products = dict(active(Product, _ids(operations, "product_id"), Product.is_bundle))
    warehouse_ids = _ids(operations, "warehouse_id", "from_warehouse_id", "to_warehouse_id")
    warehouses = {row[0] for row in active(Warehouse, warehouse_ids)}
    suppliers = {row[0] for row in active(Supplier, _ids(operations, "supplier_id"))}
    return products, warehouses, suppliers


def _expand(company_id, operations, products, warehouses, suppliers, refusals) -> list[Item]:
    """Each operation as the inventory changes it makes (bundles: their leaf components),
    refusing those that name what the company does not have."""
    any_bundle = any(products.values())
    components = bundles.component_map(company_id) if any_bundle else {}
    bundle_ids = bundles.bundle_ids(company_id) if any_bundle else set()
    items = []
    for index, data in enumerate(operations):
        kind = data["type"]
        item = Item(index, kind, data)
        if (
            kind in SIGNS
            and data["product_id"] in products
            and not products[data["product_id"]]  # not a bundle
            and data["warehouse_id"] in warehouses
            and data.get("supplier_id") is None
        ):
            # the usual item, one row: what the general path below gives it, less the work
            item.changes = [
                (
                    data["warehouse_id"],
                    data["product_id"],
                    SIGNS[kind] * data["quantity"],
                    REASONS[kind],
                )
            ]
            items.append(item)
            continue
        known = True
        for name in ("product_id", "warehouse_id", "from_warehouse_id", "to_warehouse_id"):
            if name in data and data[name] not in (
                products if name == "product_id" else warehouses
            ):
                what = "product" if name == "product_id" else "warehouse"
                refusals.add(index, name, f"Unknown {what}.", "validation-error")
                known = False
        if data.get("supplier_id") is not None and data["supplier_id"] not in suppliers:
            refusals.add(index, "supplier_id", "Unknown supplier.", "validation-error")
            known = False
        if kind == "transfer" and data["from_warehouse_id"] == data["to_warehouse_id"]:
            refusals.add(
                index, "to_warehouse_id", "Must differ from from_warehouse_id.", "validation-error"
            )
            known = False
        if not known:
            continue
        product_id = data["product_id"]
        if kind == "adjustment":
            if products[product_id]:
                refusals.add(index, "product_id", "Bundles cannot be adjusted.", "validation-error")
                continue
            if "delta" in data:
                item.changes = [(data["warehouse_id"], product_id, data["delta"], "adjustment")]
            else:
                item.counted = data["quantity"]
                item.changes = [(data["warehouse_id"], product_id, 0, "adjustment")]
            items.append(item)
            continue
        moved = _moved(index, products[product_id], data, components, bundle_ids, refusals)
        if moved is None:
            continue
        item.bundle_product_id = product_id if products[product_id] else None
        if kind == "transfer":
            for p, q in moved.items():
                item.changes.append((data["from_warehouse_id"], p, -q, "transfer_out"))
                item.changes.append((data["to_warehouse_id"], p, q, "transfer_in"))
        else:
            sign = SIGNS[kind]
            item.changes = [
                (data["warehouse_id"], p, sign * q, REASONS[kind]) for p, q in moved.items()
            ]
        item.changes.sort(key=lambda c: (c[0], c[1]))
        items.append(item)
    return items


def _moved(index, is_bundle, data, components, bundle_ids, refusals) -> dict[int, int] | None:
    """The products that really move (as ``service._stocked_products``), or None if refused."""
    product_id, quantity = data["product_id"], data["quantity"]
    if not is_bundle:
        return {product_id: quantity}
    leaves = bundles.explode(product_id, components)
    empty = set(leaves) & bundle_ids
    if not leaves or empty:
        detail = (
            f"Bundle {product_id} has no components."
            if not leaves
            else f"Bundle {product_id} contains bundle(s) without components: {sorted(empty)}."
        )
        refusals.add(index, "product_id", detail, "bundle-without-components")
        return None
    moved = {component_id: per_bundle * quantity for component_id, per_bundle in leaves.items()}
    if max(moved.values()) > MAX_QUANTITY:
        refusals.add(
            index,
            "quantity",
            f"Too many bundles: a component would move more than {MAX_QUANTITY} units.",
            "validation-error",
        )
        return None
    return moved


@dataclass(frozen=True)
class Kept:
    """A locked inventory row as it was before the batch: what the alerts read of it."""

    quantity: int
    threshold: int
    window_since: dt.datetime | None
    window_sales: int


def _lock(company_id: int, rows: list[tuple[int, int]]):
    """Create the missing inventory rows and lock every touched row, in the global
    (warehouse id, product id) order, in one statement per chunk; the current levels,
    each row as it was (``Kept``), and the database's clock (``write_time``), read once
    they are all locked.

    ``ON CONFLICT DO UPDATE`` locks an existing row as it reaches it, and a new row is
    locked by its insert, so rows are taken one by one in the VALUES order, as the
    single operations take them; a ``SELECT ... FOR UPDATE`` after an insert of the
    missing rows would take the new rows first and could deadlock against them. Its
    ``WHERE false`` updates nothing, yet locks the row all the same (PostgreSQL locks
    before it evaluates the condition): no row version is written only to lock, whose
    foreign keys the batch's UPDATE of the row would then check again (PostgreSQL
    checks them when a row this transaction wrote is updated)."""
    levels, kept = {}, {}
    pending = []
    # a new row has sold nothing: its alert window starts today's
    since = window_start(dt.datetime.now(dt.UTC).date())
    for chunk in bulk.chunks(rows):
        bulk.insert(
            "inventory",
            NEW_INVENTORY_COLUMNS,
            [(company_id, p, w, 0, THRESHOLD_PENDING, 0, since) for w, p in chunk],
            "ON CONFLICT (company_id, product_id, warehouse_id) "
            "DO UPDATE SET quantity = inventory.quantity WHERE false",
        )
    clock = write_time().compile(dialect=db.session.get_bind().dialect)
    for chunk in bulk.chunks(rows):
        # locked by this transaction: no other can change them before the commit
        pairs, params = bulk.relation(
            [("warehouse_id", "integer"), ("product_id", "integer")], chunk
        )
        result = bulk.execute(
            "SELECT i.warehouse_id, i.product_id, i.quantity, i.alert_threshold, "
            f"i.window_since, i.window_sales, {clock} FROM {pairs} JOIN inventory AS i "
            "ON i.company_id = {mark} AND i.product_id = v.product_id "
            "AND i.warehouse_id = v.warehouse_id",
            [*params, company_id],
        )
        for w, p, quantity, threshold, window_since, window_sales, read_at in result:
            now = read_at  # the same for every row of the statement
            levels[(w, p)] = quantity
            kept[(w, p)] = Kept(
                quantity,
                threshold,
                None if window_since is None else bulk.utc(window_since),
                window_sales,
            )
            if threshold == THRESHOLD_PENDING:
                pending.append(p)
    assert len(levels) == len(rows), "every touched row exists, locked"
    if pending:
        # the new rows' thresholds, in one statement (the rule lives in thresholds)
        for chunk in bulk.chunks(sorted(set(pending))):
            refresh_alert_thresholds(
                company_id,
                Inventory.product_id.in_(chunk),
                Inventory.alert_threshold == THRESHOLD_PENDING,
            )
    return levels, kept, bulk.utc(now)


def _note_levels(company_id: int, rows, kept: dict[tuple, Kept], levels, window_sales) -> None:
    """Each touched row's level before and after the batch, for the outbox: one event
    per crossing, never one per item. A row the batch created reads its threshold,
    which ``_lock`` computed in the database, back (one statement, only then)."""
    new = sorted({p for w, p in rows if kept[(w, p)].threshold == THRESHOLD_PENDING})
    thresholds = {}
    for chunk in bulk.chunks(new):
        thresholds.update(
            {
                (w, p): threshold
                for w, p, threshold in db.session.execute(
                    sa.select(
                        Inventory.warehouse_id, Inventory.product_id, Inventory.alert_threshold
                    ).where(Inventory.company_id == company_id, Inventory.product_id.in_(chunk))
                )
            }
        )
    for w, p in rows:
        before = kept[(w, p)]
        threshold = (
            before.threshold if before.threshold != THRESHOLD_PENDING else thresholds[(w, p)]
        )
        outbox.level_changed(p, w, before.quantity, levels[(w, p)], threshold, window_sales[(w, p)])


def _window_sales(entries, kept: dict[tuple, Kept], now: dt.datetime) -> dict[tuple, int]:
    """Each touched row's window sales after the batch: its sales dated inside the row's
    window added (as ``service.window_sale`` adds a single sale's). The rows are locked,
    so no refresh moves a window under the batch."""
    sales = {key: row.window_sales for key, row in kept.items()}
    for item, p, w, delta, reason, _ in entries:
        since = kept[(w, p)].window_since
        if (
            reason == "sale"
            and since is not None
            and (item.data.get("occurred_at") or now) >= since
        ):
            sales[(w, p)] -= delta
    return sales


def _simulate(items: list[Item], levels: dict, refusals: Refusals) -> list[tuple]:
    """Apply the items in request order to ``levels``; the ledger rows they write.

    A refused item changes nothing, and the items after it are applied as if it had
    not been sent (as the single endpoints would, one request at a time)."""
    entries = []
    for item in items:
        data = item.data
        after = {}
        refused = False
        for w, p, delta, reason in item.changes:
            before = levels[(w, p)]
            if item.counted is not None:
                expected = data.get("expected_quantity")
                if expected is not None and before != expected:
                    refusals.add(
                        item.index,
                        "expected_quantity",
                        f"The stock is {before}, not the expected {expected}.",
                        "stock-changed",
                        current_quantity=before,
                        expected_quantity=expected,
                    )
                    refused = True
                    break
                delta = item.counted - before
            level = before + delta
            name = "delta" if "delta" in data else "quantity"
            if level < 0:
                refusals.add(
                    item.index,
                    name,
                    f"Only {before} unit(s) of product {p} in warehouse {w}; {-delta} requested.",
                    "insufficient-stock",
                    product_id=p,
                    warehouse_id=w,
                    available=before,
                    requested=-delta,
                )
                refused = True
            elif level > MAX_QUANTITY:
                refusals.add(
                    item.index,
                    name,
                    f"Adding {delta} unit(s) of product {p} in warehouse {w} to {before} would "
                    f"pass the largest storable level ({MAX_QUANTITY}).",
                    "stock-limit",
                    product_id=p,
                    warehouse_id=w,
                    available=before,
                    requested=delta,
                )
                refused = True
            after[(w, p)] = (delta, reason, level)
        if refused:
            continue
        for (w, p), (delta, reason, level) in after.items():
            levels[(w, p)] = level
            entries.append((item, p, w, delta, reason, level))
    return entries


def _write_levels(company_id: int, levels: dict, window_sales: dict, rows: list) -> None:
    """Every touched row's final level and window sales: one multi-row UPDATE ... FROM
    per chunk (the rows as arrays on PostgreSQL, ``VALUES`` on SQLite)."""
    for chunk in bulk.chunks(rows):
        new, params = bulk.relation(
            [
                ("product_id", "integer"),
                ("warehouse_id", "integer"),
                ("quantity", "integer"),
                ("window_sales", "bigint"),
            ],
            [(p, w, levels[(w, p)], window_sales[(w, p)]) for w, p in chunk],
        )
        bulk.execute(
            "UPDATE inventory SET quantity = v.quantity, window_sales = v.window_sales, "
            f"updated_at = CURRENT_TIMESTAMP FROM {new} "
            "WHERE inventory.company_id = {mark} "
            "AND inventory.product_id = v.product_id AND inventory.warehouse_id = v.warehouse_id",
            [*params, company_id],
        )


LEDGER_COLUMNS = (
    "company_id",
    "product_id",
    "warehouse_id",
    "reason",
    "quantity_change",
    "quantity_after",
    "operation_id",
    "reference",
    "note",
    "bundle_product_id",
    "supplier_id",
    "unit_cost",
    "occurred_at",
)


def _write_ledger(company_id: int, operation_id: str, now: dt.datetime, entries) -> list[tuple]:
    """The ledger rows, one multi-row INSERT per chunk; each row written, as the tuple
    of its ``LEDGER_COLUMNS`` values with its id and ``recorded_at`` (``as_json`` makes
    them the API's entries, once the transaction has committed and released its rows).

    Ids come from the sequence in VALUES order, so the returned ids, sorted, belong to
    the rows in the order they were sent."""
    rows = []
    for item, p, w, delta, reason, level in entries:
        data = item.data
        rows.append(
            (
                company_id,
                p,
                w,
                reason,
                delta,
                level,
                operation_id,
                data.get("reference"),
                data["reason"] if item.kind == "adjustment" else data.get("note"),
                item.bundle_product_id,
                data.get("supplier_id"),
                data.get("unit_cost"),
                data.get("occurred_at") or now,
            )
        )
    written = []
    for chunk in bulk.chunks(rows):
        returned = sorted(
            bulk.insert(
                "inventory_ledger", list(LEDGER_COLUMNS), chunk, "RETURNING id, recorded_at"
            ).all(),
            key=itemgetter(0),
        )
        written.extend(
            (row, entry_id, recorded_at)
            for row, (entry_id, recorded_at) in zip(chunk, returned, strict=True)
        )
    return written


class _Memo(dict):
    """``function`` of a value, computed once per distinct value (equal values give
    one answer: only for values whose equal ones convert alike)."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def __missing__(self, value):
        self[value] = answer = self.function(value)
        return answer

    __call__ = dict.__getitem__


class JsonBody(list):
    """A response body (a Werkzeug sequence) that is ``json.dumps(as_json(result))``,
    written when it is first read rather than when the view returns.

    The view returns before ``api.transactional`` commits, and the answer is read after
    that (for its Content-Length, then to send it): the ~5-9 ms of turning 1,000
    ledger rows into text no longer hold the batch's row locks. With an
    ``Idempotency-Key`` the stored copy reads it before the commit, as before. Every
    way Werkzeug reads a sequence body (iterating it, its length) writes it first."""

    def __init__(self, result: dict):
        super().__init__()
        self._result: dict | None = result

    def _written(self):
        if self._result is not None:
            result, self._result = self._result, None
            self.append(json.dumps(as_json(result)).encode())

    def __iter__(self):
        self._written()
        return super().__iter__()

    def __len__(self):
        self._written()
        return super().__len__()

    def __getitem__(self, index):
        self._written()
        return super().__getitem__(index)

    def __bool__(self):
        return True


def as_json(result: dict) -> dict:
    """The result as ``OperationResultSchema`` would dump it (without its per-row cost).
    The rows share their time objects: each is converted and written once."""
    entries = []
    as_utc = _Memo(bulk.utc)  # the rows share their recorded_at
    texts: dict[int, tuple[dt.datetime, str]] = {}

    def iso(value: dt.datetime) -> str:
        known = texts.get(id(value))
        if known is None or known[0] is not value:
            known = texts[id(value)] = (value, value.isoformat())
        return known[1]

    columns = LEDGER_COLUMNS[1:]
    for row, entry_id, recorded_at in result["entries"]:
        entry = dict(zip(columns, row[1:], strict=True))
        entry["id"] = entry_id
        unit_cost = entry["unit_cost"]
        if unit_cost is not None:
            entry["unit_cost"] = str(unit_cost.quantize(TWO_PLACES))
        entry["occurred_at"] = iso(entry["occurred_at"])
        entry["recorded_at"] = iso(as_utc(recorded_at))
        entries.append(entry)
    return {**result, "entries": entries}
