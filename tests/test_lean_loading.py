"""A usual body is checked in plain code (``lean_import_item``,
``ProductCreateSchema.load``, ``app.schemas.LeanLoad``) and anything else by
marshmallow's fields: both must load the same values and refuse the same bodies with
the same errors. Drawn bodies mix usual values with every near miss the fields refuse
(padding, control characters, lengths at the bounds, numbers where text goes, amounts
past two places, integers past the database's range)."""

from __future__ import annotations

import decimal

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.products.schemas import ProductCreateSchema, ProductImportItemSchema
from app.schemas import MAX_INT
from app.stock.schemas import (
    OPERATION_SCHEMAS,
    OperationSchema,
    ReceiptSchema,
    TransferSchema,
    lean_operation,
)

# the near misses first (lengths at and past each bound, padding that trimming takes
# off, control and invisible characters), then any text
NEAR_MISSES = ["y" * 255, "y" * 256, f" {'y' * 255} ", "x" * 100, "x" * 101, f" {'x' * 100} "]
NEAR_MISSES += ["", " ", "a\x00b", "tab\tin", "line\nbreak", "\u200bzero-width", "\x85", "é"]
NEAR_MISSES += [0, -1, 1, MAX_INT, MAX_INT + 1, True, None, "1", "9.999", "1e2", 1.5]
BOUNDARY_TEXT = st.sampled_from([value for value in NEAR_MISSES if isinstance(value, str)])
TEXT = st.one_of(BOUNDARY_TEXT, st.text(min_size=0, max_size=12))
NUMBERS = st.one_of(
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([MAX_INT, MAX_INT + 1, 2**63]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, max_value=10**11),
)
MONEY_TEXT = st.sampled_from(
    ["9.99", "0", "10", "1.5", "1.555", "+1", ".5", "1e2", "01.50", "12345678901", "-1", " 1"]
)
VALUES = st.one_of(TEXT, NUMBERS, MONEY_TEXT, st.booleans(), st.none())
FIELDS = {
    "name": st.one_of(BOUNDARY_TEXT, VALUES),
    "sku": st.one_of(BOUNDARY_TEXT, VALUES),
    "price": st.one_of(MONEY_TEXT, VALUES),
    "product_type": st.one_of(st.sampled_from(["regular", "kit-2.b", "-x", "a b"]), VALUES),
    "low_stock_threshold": st.one_of(st.integers(-1, 5), VALUES),
    "is_bundle": st.one_of(st.booleans(), VALUES),
    "warehouse_id": st.one_of(st.integers(-1, 3), VALUES),
    "initial_quantity": st.one_of(st.integers(-1, 3), VALUES),
    "initial_stock": st.just([{"warehouse_id": 1, "quantity": 2}]),
    "unknown": VALUES,
}
USUAL = {"name", "sku", "price"}


USUAL_VALUES = {
    "name": st.sampled_from(["Widget", " Widget ", "é" * 255]),
    "sku": st.sampled_from(["W-1", "x" * 100]),
    "price": st.sampled_from(["9.99", "0", "10.5", "9999999999.99"]),
    "product_type": st.sampled_from(["regular", "kit-2.b"]),
    "low_stock_threshold": st.sampled_from([None, 0, 7, MAX_INT]),
    "is_bundle": st.booleans(),
    "warehouse_id": st.sampled_from([1, MAX_INT]),
    "initial_quantity": st.sampled_from([0, 5, MAX_INT]),
}


@st.composite
def bodies(draw):
    """A usual body (the plain code's), often with a field or two taken from the near
    misses: each near miss is then judged against a body that is otherwise fine."""
    optional = sorted(set(USUAL_VALUES) - USUAL)
    keys = USUAL | set(draw(st.sets(st.sampled_from(optional), max_size=4)))
    body = {key: draw(USUAL_VALUES[key]) for key in sorted(keys)}
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2)):
        if draw(st.booleans()) and key in body:
            del body[key]
        else:
            body[key] = draw(FIELDS[key])
    return body


def plain(value):
    """Decimals as their text, so 1.5 and 1.50 differ as they do in a response."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, decimal.Decimal) else value


def outcome(load, body):
    try:
        return "loaded", plain(load(body))
    except ma.ValidationError as error:
        return "refused", error.messages


@settings(max_examples=1500, deadline=None)
@given(body=bodies())
def test_a_product_create_body_loads_the_same_in_plain_code_and_through_the_fields(body):
    schema = ProductCreateSchema()
    assert outcome(schema.load, body) == outcome(lambda b: ma.Schema.load(schema, b), body)


@settings(max_examples=1500, deadline=None)
@given(body=bodies())
def test_an_import_row_loads_the_same_in_plain_code_and_through_the_fields(body):
    schema = ProductImportItemSchema()
    assert outcome(schema.load, body) == outcome(lambda b: ma.Schema.load(schema, b), body)


@pytest.mark.parametrize("schema", [ProductCreateSchema, ProductImportItemSchema])
def test_every_near_miss_in_every_field_loads_the_same_both_ways(schema):
    # deterministic: each near miss in each field of an otherwise usual body
    schema = schema()
    usual = {"name": "Widget", "sku": "W-1", "price": "9.99", "warehouse_id": 1}
    for field in [*USUAL_VALUES, "initial_stock"]:
        for value in NEAR_MISSES:
            body = usual | {field: value}
            full = outcome(lambda b: ma.Schema.load(schema, b), body)
            assert outcome(schema.load, body) == full, (field, value)


def test_a_usual_body_takes_the_plain_code_path():
    # the property above holds trivially if nothing ever took the lean path
    body = {"name": " Widget ", "sku": "W-1", "price": "9.9", "warehouse_id": 3}
    assert ProductCreateSchema().load(body) == {
        "name": "Widget",
        "sku": "W-1",
        "price": decimal.Decimal("9.90"),
        "product_type": "regular",
        "is_bundle": False,
        "initial_stock": [{"warehouse_id": 3, "quantity": 0, "field": "warehouse_id"}],
    }
    schema = ProductCreateSchema()
    calls = []
    schema._do_load = lambda *a, **k: calls.append(1)  # the fields' path, not taken
    schema.load(body)
    assert calls == []


# -- single stock operations (app.schemas.LeanLoad) ------------------------------------

OPERATION_USUAL = {
    OperationSchema: ("product_id", "warehouse_id", "quantity"),
    ReceiptSchema: ("product_id", "warehouse_id", "quantity"),
    TransferSchema: ("product_id", "from_warehouse_id", "to_warehouse_id", "quantity"),
}
OPERATION_EXTRAS = ["reference", "note", "occurred_at", "supplier_id", "unit_cost", "type"]


@st.composite
def operation_bodies(draw, ids):
    body = {name: draw(st.sampled_from([1, 7, MAX_INT])) for name in ids}
    for name in draw(st.sets(st.sampled_from(["reference", "note"]), max_size=2)):
        body[name] = draw(st.sampled_from(["PO-1", " padded ", None, "x" * 255]))
    for name in draw(st.lists(st.sampled_from([*ids, *OPERATION_EXTRAS]), max_size=2)):
        if draw(st.booleans()) and name in body:
            del body[name]
        else:
            body[name] = draw(st.one_of(st.sampled_from(NEAR_MISSES), VALUES))
    return body


@pytest.mark.parametrize("schema", list(OPERATION_USUAL), ids=lambda s: s.__name__)
def test_a_stock_operation_body_loads_the_same_in_plain_code_and_through_the_fields(schema):
    schema = schema()
    usual = {name: 1 for name in OPERATION_USUAL[type(schema)]}
    for name in [*usual, *OPERATION_EXTRAS]:
        for value in [*NEAR_MISSES, "x" * 2000, "x" * 2001, "2020-01-01T00:00:00Z"]:
            body = usual | {name: value}
            full = outcome(lambda b: ma.Schema.load(schema, b), body)
            assert outcome(schema.load, body) == full, (name, value)

    @settings(max_examples=500, deadline=None)
    @given(body=operation_bodies(OPERATION_USUAL[type(schema)]))
    def same_both_ways(body):
        assert outcome(schema.load, body) == outcome(lambda b: ma.Schema.load(schema, b), body)

    same_both_ways()
    assert schema._lean(usual | {"reference": " PO-1 "}) == usual | {"reference": "PO-1"}


@pytest.mark.parametrize("kind", ["sale", "return", "receipt", "transfer"])
def test_a_batch_item_of_a_common_shape_loads_as_its_operations_fields_load_it(kind):
    # LeanList takes lean_operation's answer for every item, or the fields' for all
    schema = OPERATION_SCHEMAS[kind]()
    ids = OPERATION_USUAL[type(schema)]

    @settings(max_examples=300, deadline=None)
    @given(body=operation_bodies(ids))
    def same_as_the_fields(body):
        item = {**body, "type": kind}
        lean = lean_operation(item)
        if lean is not None:
            assert lean.pop("type") == kind
            fields = {k: v for k, v in item.items() if k != "type"}
            assert outcome(lambda b: ma.Schema.load(schema, b), fields) == ("loaded", plain(lean))

    same_as_the_fields()
    usual = {name: 3 for name in ids}
    assert lean_operation({**usual, "type": kind}) == {**usual, "type": kind}
    assert lean_operation({**usual, "type": kind, "extra": 1}) is None
