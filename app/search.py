"""Case-insensitive name search, folded the same way in the database on every backend.

A name and the text searched for are both folded *in SQL*, so the two sides of the
comparison can never disagree (Python's ``str.lower`` and PostgreSQL's ``lower()``
do: Python writes a final sigma as ``ς`` and ``İ`` as ``i`` + U+0307, PostgreSQL
neither). The fold is ``lower(upper(text))`` and two replacements:

- ``upper`` then ``lower``, one character at a time with Unicode's simple case
  mappings (what PostgreSQL's libc provider does under a UTF-8 ctype such as
  ``C.UTF-8``): ``ς``, ``σ`` and ``Σ`` are one letter; ``İ``, ``I``, ``i`` and the
  dotless ``ı`` are all ``i``;
- then ``ß`` (and ``ẞ``, which lowers to it) becomes ``ss``, as full case folding has
  it, and ``i`` + U+0307 (what full lower-casing makes of ``İ``, e.g. Python's and
  JavaScript's) becomes ``i``.

Accents are not folded (``έ`` is not ``ε``). SQLite's own ``upper``/``lower`` know
only ASCII, so every SQLite connection gets the Python functions below in their
place (``app.extensions``); ``tests/test_search.py`` checks on every code point that
the database and :func:`fold` agree.
"""

from __future__ import annotations

import sqlalchemy as sa

LIKE_ESCAPE = "/"
# after the simple mappings: (what, into), in this order
_REPLACEMENTS = (("ß", "ss"), ("i\u0307", "i"))
# the one lower-case mapping that is not one character (U+0130 -> "i" + U+0307)
_SIMPLE_LOWER = {"\u0130": "i"}


def simple_upper(text: str | None) -> str | None:
    """``upper`` with simple (one character to one character) case mappings."""
    if text is None:
        return None
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def simple_lower(text: str | None) -> str | None:
    """``lower`` with simple (one character to one character) case mappings."""
    if text is None:
        return None
    return "".join(
        lowered if len(lowered := c.lower()) == 1 else _SIMPLE_LOWER.get(c, c) for c in text
    )


def fold(text: str) -> str:
    """The fold :func:`folded` computes in the database, in Python."""
    text = simple_lower(simple_upper(text))
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return text


def folded(expression) -> sa.ColumnElement:
    """``expression`` case-folded in SQL (see the module docstring)."""
    text = sa.func.lower(sa.func.upper(expression, type_=sa.Text), type_=sa.Text)
    for old, new in _REPLACEMENTS:
        text = sa.func.replace(text, old, new, type_=sa.Text)
    return text


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally (``%`` and ``_`` too)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def name_contains(column, text: str) -> sa.ColumnElement:
    """Whether ``column`` contains ``text``, ignoring case (both folded in SQL)."""
    pattern = folded(sa.literal(escape_like(text), sa.Text))
    return folded(column).like(
        sa.literal("%", sa.Text) + pattern + sa.literal("%", sa.Text), escape=LIKE_ESCAPE
    )
