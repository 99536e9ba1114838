"""Field types every feature's schemas share: strict, trimmed, exact."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import validate

MAX_INT = 2**31 - 1  # the database's integer columns
TWO_PLACES = decimal.Decimal("0.01")


# What no stored text holds, as regular-expression character classes that mean the
# same in Python and in the OpenAPI document (ECMA-262): control characters (C0, DEL,
# C1, so U+0085 too), and characters that are invisible or break lines where a
# reader sees one line: U+00AD soft hyphen, U+180E, U+200B zero width space, U+2028
# and U+2029 line and paragraph separators, the bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069; they can make text display as other
# text), U+2060-U+2064 word joiner and invisible operators, U+206A-U+206F, U+FEFF
# byte order mark, U+FFF9-U+FFFB. Kept: the joiners scripts and emoji need (U+200C,
# U+200D), the direction marks mixed right-to-left text needs (U+200E, U+200F,
# U+061C), variation selectors and emoji tag characters.
CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f"
MULTILINE_CONTROL_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # keeps \t \n \r
INVISIBLE_CLASS = (
    r"\u00ad\u180e\u200b\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
# lone surrogates: no database can store one (not in the document: JSON text the
# document describes never holds one)
_SURROGATES = "\ud800-\udfff"
_FORBIDDEN = re.compile(f"[{CONTROL_CLASS}{INVISIBLE_CLASS}{_SURROGATES}]")
_FORBIDDEN_MULTILINE = re.compile(f"[{MULTILINE_CONTROL_CLASS}{INVISIBLE_CLASS}{_SURROGATES}]")

CONTROL_CHARACTER_MESSAGE = (
    "Must not contain control characters, invisible characters or line separators."
)


def has_control_character(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a character no stored text may hold (see above);
    ``multiline`` allows newlines and tabs."""
    return bool((_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(text))


class Text(ma.fields.String):
    """A string that is trimmed, length-checked and free of control characters.

    Control and invisible characters (and lone surrogates, which no database can
    store) are refused rather than stored, wherever they are: checked before
    trimming, since ``str.strip`` takes U+001C-U+001F and U+0085 for white space.
    ``multiline`` allows newlines and tabs.
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
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_character(text, multiline=self.multiline):
            raise ma.ValidationError(CONTROL_CHARACTER_MESSAGE)
        text = text.strip()
        if not self.min_length <= len(text) <= self.max_length:
            raise ma.ValidationError(
                f"Length must be between {self.min_length} and {self.max_length} "
                "characters after trimming."
            )
        return text


def _text_pattern(multiline: bool, required: bool) -> str:
    """The JSON-schema pattern of a ``Text``: none of the refused characters and,
    unless it may be empty, a character that is not white space (values are trimmed)."""
    refused = (MULTILINE_CONTROL_CLASS if multiline else CONTROL_CLASS) + INVISIBLE_CLASS
    allowed = f"[^{refused}]"
    visible = f"[^\\s{refused}]"
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


class LeanList(ma.fields.List):
    """A list whose usual items ``lean`` checks in plain code: it returns an item as the
    inner field would load it, or None for anything it does not fully vouch for. One
    such item and the whole list goes through the inner field, so every error (and
    every value it loads) is the inner field's own. Marshmallow costs ~50-100 µs per
    nested item: a 1,000-item batch or a 10,000-row import spent most of its Python in
    it."""

    def __init__(self, inner, lean, **kwargs):
        super().__init__(inner, **kwargs)
        self.lean = lean

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is list:
            loaded = []
            for item in value:
                lean_item = self.lean(item)
                if lean_item is None:
                    break
                loaded.append(lean_item)
            else:
                return loaded
        return super()._deserialize(value, attr, data, **kwargs)


def lean_text(value, max_length: int):
    """``value`` as ``Text(max_length=...)`` (single line, ``min_length`` 1) loads it,
    or None if that field would refuse it."""
    if type(value) is not str or has_control_character(value):
        return None
    text = value.strip()
    return text if 1 <= len(text) <= max_length else None


def lean_money(value):
    """``value`` as ``Money`` loads it when it is the decimal string clients send, or
    None (numbers and anything else: let the field judge)."""
    if type(value) is not str or not _MONEY.fullmatch(value):
        return None
    return decimal.Decimal(value).quantize(TWO_PLACES)


def lean_integer(value, minimum: int = 0, maximum: int = MAX_INT):
    """``value`` if ``StrictInteger(minimum=...)`` loads it as is, else None."""
    if type(value) is not int or not minimum <= value <= maximum:
        return None
    return value


class LeanLoad:
    """A ``ma.Schema`` mixin: a body of only the required ``LEAN_IDS`` (JSON integers from
    1 to ``MAX_INT``) and, optionally, the single-line ``LEAN_TEXTS`` (name -> max length,
    or null) is loaded in plain code; any other body (another field, a number as text,
    a newline in a note) by the fields, so every error is theirs. The marshmallow load
    was a tenth of a single stock operation's Python."""

    LEAN_IDS: tuple[str, ...] = ()
    LEAN_TEXTS: dict[str, int] = {}

    def load(self, data, *, many=None, partial=None, unknown=None):
        if many is None and partial is None and unknown is None and type(data) is dict:
            loaded = self._lean(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def _lean(self, data: dict, passed: str | None = None) -> dict | None:
        """``data`` as the fields would load it, or None; key ``passed`` (a batch item's
        ``type``) is left for the caller."""
        loaded = {}
        for name in self.LEAN_IDS:
            value = data.get(name)
            if type(value) is not int or not 1 <= value <= MAX_INT:
                return None
            loaded[name] = value
        if len(data) - len(loaded) - (passed is not None and passed in data):
            for name, value in data.items():
                if name in loaded or name == passed:
                    continue
                max_length = self.LEAN_TEXTS.get(name)
                if max_length is None:
                    return None
                if value is not None:
                    value = lean_text(value, max_length)
                    if value is None:
                        return None
                loaded[name] = value
        return loaded


class StrictBoolean(ma.fields.Boolean):
    """Only JSON ``true`` or ``false``; ``1`` or ``"yes"`` are mistakes, not booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Money(ma.fields.Decimal):
    """An exact amount: a JSON number or a decimal string of plain digits, >= 0, at
    most two decimal places and ten integer digits, serialized as a string ("19.99").

    The document says so: an input amount is ``anyOf`` that string and that number
    (``money_properties``); a ``dump_only`` one (a response) is the string.
    """

    PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
    MAXIMUM = 9999999999.99  # the document's bound on a JSON number (floats: it's exact)

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
        elif isinstance(value, str) and not re.fullmatch(self.PATTERN, value):
            # a string is what we send back: plain digits (not "+1", ".5" or "1e2")
            raise ma.ValidationError(
                "Not a valid amount: a JSON number, or a string of digits with at most "
                "2 decimal places."
            )
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


_MONEY = re.compile(Money.PATTERN)


def money_properties(converter, field, ret: dict, **kwargs) -> dict:
    """apispec attribute function: an input ``Money`` is the documented string or a
    JSON number of the same range and precision; a response's stays the string.

    It runs after apispec's own functions and reshapes ``ret`` in place (they can
    only add keys). ``anyOf``, not ``oneOf``: a nullable amount lets null through
    both branches (OpenAPI 3.0 puts ``nullable`` beside a ``type``).
    """
    if not isinstance(field, Money) or field.dump_only or "anyOf" in ret:
        return {}
    nullable = {"nullable": True} if ret.pop("nullable", False) else {}
    string = {"type": ret.pop("type"), "format": ret.pop("format"), "pattern": ret.pop("pattern")}
    number = {"type": "number", "minimum": 0, "maximum": Money.MAXIMUM, "multipleOf": 0.01}
    ret["anyOf"] = [string | nullable, number | nullable]
    return {}


class Secret(ma.fields.String):
    """A secret a response shows once (a new API key). ``transactional`` never stores
    it: the copy kept for an ``Idempotency-Key`` replay has null in its place, and
    the replay names the field in its ``Secret-Withheld`` header."""

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}))
        metadata["description"] = (
            metadata.get("description", "A secret") + ", shown only in this response: a "
            "replay of the request (same Idempotency-Key) has null here and names the "
            "field in its Secret-Withheld header."
        )
        super().__init__(dump_only=True, allow_none=True, metadata=metadata, **kwargs)


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


def json_value(value):
    """A value JSON has no type for, as our schemas dump it: a date or time ISO 8601
    (``isoformat``, as ``ma.fields.DateTime``), an amount its decimal string."""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    raise TypeError(f"not a value of a response: {value!r}")


def plain_json(body) -> str:
    """``body`` (dicts and lists of JSON's types, times and amounts) as JSON, compact, by
    ``json.dumps``: what a schema's dump and ``jsonify`` give for a body that already
    has the schema's keys, without marshmallow's field-by-field work."""
    return json.dumps(body, default=json_value, separators=(",", ":"))
