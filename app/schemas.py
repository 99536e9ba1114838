"""Field types every feature's schemas share: strict, trimmed, exact."""

from __future__ import annotations

import datetime as dt
import decimal
import re

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import validate

MAX_INT = 2**31 - 1  # the database's integer columns
TWO_PLACES = decimal.Decimal("0.01")
# what Decimal() should read from a string: not "1_0", " 1 ", "NaN" or non-ASCII digits
DECIMAL_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


CONTROL_CHARACTER_MESSAGE = "Must not contain control characters."


# Unicode's categories Cc (control characters) and Cs (surrogates), as one regex: the
# per-character unicodedata loop cost ~40 us a field, too much for a 10,000-row import
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_character(text: str, allowed: str = "") -> bool:
    """Whether ``text`` holds a control character (or a lone surrogate, which no
    database can store) other than those ``allowed``."""
    if not allowed:
        return _CONTROL.search(text) is not None
    return any(c not in allowed for c in _CONTROL.findall(text))


class Text(ma.fields.String):
    """A string that is trimmed, length-checked and free of control characters.

    Control characters (and lone surrogates, which no database can store) are
    refused rather than stored; ``multiline`` allows newlines and tabs.
    """

    def __init__(self, *, min_length: int = 1, max_length: int = 255, multiline=False, **kwargs):
        # the OpenAPI document says what the validation below says, so a client
        # (or a fuzzer) generated from it sends what we accept
        kwargs["metadata"] = {
            "minLength": min_length,
            "maxLength": max_length,
            "pattern": _text_pattern(multiline, required=min_length > 0),
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)
        self.min_length = min_length
        self.max_length = max_length
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if has_control_character(text, allowed="\n\r\t" if self.multiline else ""):
            raise ma.ValidationError(CONTROL_CHARACTER_MESSAGE)
        if not self.min_length <= len(text) <= self.max_length:
            raise ma.ValidationError(
                f"Length must be between {self.min_length} and {self.max_length} "
                "characters after trimming."
            )
        return text


def _text_pattern(multiline: bool, required: bool) -> str:
    """The JSON-schema pattern of a ``Text``: no control characters and, unless
    it may be empty, a character that is not white space (values are trimmed)."""
    controls = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f" if multiline else "\\x00-\\x1f"
    allowed = f"[^{controls}\\x7f-\\x9f]"
    visible = f"[^\\s{controls}\\x7f-\\x9f]"
    return f"^{allowed}*{visible}{allowed}*$" if required else f"^{allowed}*$"


class QueryText(ma.fields.String):
    """A text query parameter (a filter or a cursor): taken as given, but a control
    character is a 400 (the parser checks), and the document says so."""

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": _text_pattern(False, required=False)} | kwargs.get(
            "metadata", {}
        )
        super().__init__(**kwargs)


class StrictInteger(ma.fields.Integer):
    """A JSON integer (no strings, floats or booleans) within the database's range."""

    def __init__(self, *, minimum: int = 0, maximum: int = MAX_INT, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=minimum, max=maximum))
        super().__init__(strict=True, **kwargs)


class Id(StrictInteger):
    """A reference to a row by id."""

    def __init__(self, **kwargs):
        super().__init__(minimum=1, **kwargs)


class QueryInteger(ma.fields.Integer):
    """An integer query parameter (query strings are text, so "5" is 5) within range."""

    def __init__(self, *, minimum: int = 0, maximum: int = MAX_INT, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=minimum, max=maximum))
        super().__init__(**kwargs)


class QueryId(QueryInteger):
    """A row id as a query parameter."""

    def __init__(self, **kwargs):
        super().__init__(minimum=1, **kwargs)


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 time (UTC when it has no offset), returned in UTC.

    A time whose UTC form leaves the calendar (0001-01-01T00:00+14:00) is out of
    range, not a crash in ``astimezone``.
    """

    def __init__(self, **kwargs):
        super().__init__(default_timezone=dt.UTC, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        when = super()._deserialize(value, attr, data, **kwargs)
        try:
            return when.astimezone(dt.UTC)
        except OverflowError as error:
            raise ma.ValidationError("Out of range.") from error


class StrictBoolean(ma.fields.Boolean):
    """Only JSON ``true`` or ``false``; ``1`` or ``"yes"`` are mistakes, not booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Money(ma.fields.Decimal):
    """An exact amount: a JSON number or a decimal string, >= 0, at most two
    decimal places and ten integer digits, serialized as a string ("19.99")."""

    PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"

    def __init__(self, **kwargs):
        kwargs["metadata"] = {
            "pattern": self.PATTERN,
            "example": "19.99",
            **kwargs.get("metadata", {}),
        }
        super().__init__(as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str | decimal.Decimal):
            raise self.make_error("invalid")
        if isinstance(value, float):  # only when not parsed by our JSON parser
            value = repr(value)
        if isinstance(value, str) and not DECIMAL_STRING.fullmatch(value):
            raise self.make_error("invalid")
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount.is_signed():
            raise ma.ValidationError("Must be greater than or equal to 0.")
        if amount.adjusted() >= 10:
            raise ma.ValidationError("Must have at most 10 integer digits.")
        if amount != amount.quantize(TWO_PLACES):
            raise ma.ValidationError("Must have at most 2 decimal places.")
        return amount.quantize(TWO_PLACES)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return super()._serialize(decimal.Decimal(value).quantize(TWO_PLACES), attr, obj, **kwargs)


PRODUCT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
PRODUCT_TYPE_MAX_LENGTH = 50


class ProductType(Text):
    """A product type name: letters, digits, ``_``, ``-`` and ``.``."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=PRODUCT_TYPE_MAX_LENGTH,
            metadata={"pattern": PRODUCT_TYPE_PATTERN},
            validate=validate.Regexp(
                PRODUCT_TYPE_PATTERN,
                error="Use letters, digits, '_', '-' or '.', starting with a letter or digit.",
            ),
            **kwargs,
        )


class PatchSchema(ma.Schema):
    """Base of every PATCH body: an empty PATCH is a client bug, not a no-op."""

    OPENAPI_EXTRA = {"minProperties": 1}

    @ma.validates_schema
    def something_to_change(self, data, **kwargs):
        """At least one field must be given."""
        if not data:
            raise ma.ValidationError("Give at least one field to change.", "_body")


class SchemaExtrasPlugin(BasePlugin):
    """apispec plugin: a schema's ``OPENAPI_EXTRA`` (rules that span fields, such as
    "at least one field" or "exactly one of these two") goes into its document."""

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        return getattr(resolve_schema_cls(schema), "OPENAPI_EXTRA", None) if schema else None
