"""Name search (`?q=` on products, `?name=` on warehouses and suppliers) ignores case
beyond ASCII the same way on PostgreSQL and SQLite: folded in the database, on both
sides of the comparison."""

import pytest
import sqlalchemy as sa

from app.extensions import db

# each search route: the list path, its filter parameter, and how to create a named row
ROUTES = {
    "products": ("/api/products", "q"),
    "warehouses": ("/api/warehouses", "name"),
    "suppliers": ("/api/suppliers", "name"),
}

NAMES = ["ΟΔΥΣΣΕΑΣ", "İSTANBUL", "Straße", "Blue Widget", "Οδυσσέας Ελύτης"]

# (query, the names it finds)
CASES = [
    # Greek: capitals, small letters with a final sigma, mixed
    ("ΟΔΥΣΣΕΑΣ", {"ΟΔΥΣΣΕΑΣ"}),
    ("οδυσσεας", {"ΟΔΥΣΣΕΑΣ"}),
    ("Οδυσσεασ", {"ΟΔΥΣΣΕΑΣ"}),
    ("σς", {"ΟΔΥΣΣΕΑΣ", "Οδυσσέας Ελύτης"}),
    ("ελύτης", {"Οδυσσέας Ελύτης"}),
    ("ΕΛΎΤΗΣ", {"Οδυσσέας Ελύτης"}),
    ("ελυτης", set()),  # accents are not folded: ύ is not υ
    # Turkish dotted capital I, and the dotless small ı: both fold to i
    ("İSTANBUL", {"İSTANBUL"}),
    ("istanbul", {"İSTANBUL"}),
    ("İstanbul", {"İSTANBUL"}),
    ("ıstanbul", {"İSTANBUL"}),
    ("i\u0307stanbul", {"İSTANBUL"}),  # Python's and JavaScript's lower-casing of İ
    # German sharp s: ß, ẞ and ss are one
    ("Straße", {"Straße"}),
    ("STRASSE", {"Straße"}),
    ("strasse", {"Straße"}),
    ("STRAẞE", {"Straße"}),
    # plain ASCII
    ("widget", {"Blue Widget"}),
    ("BLUE w", {"Blue Widget"}),
    ("gadget", set()),
]


@pytest.fixture
def named_rows(client, company):
    """One product, warehouse and supplier for each name."""
    for i, name in enumerate(NAMES):
        for path, body in (
            ("/api/products", {"name": name, "sku": f"S{i}", "price": "1"}),
            ("/api/warehouses", {"name": name}),
            ("/api/suppliers", {"name": name}),
        ):
            response = client.post(path, json=body, headers=company.headers)
            assert response.status_code == 201, response.json


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_name_search_folds_case_beyond_ascii(client, company, named_rows, route):
    path, parameter = ROUTES[route]
    for query, expected in CASES:
        response = client.get(path, query_string={parameter: query}, headers=company.headers)
        assert response.status_code == 200, response.json
        assert {row["name"] for row in response.json} == expected, query


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_name_is_found_by_itself_in_any_case(client, company, named_rows, route):
    path, parameter = ROUTES[route]
    for name in NAMES:
        for query in (name, name.lower(), name.upper(), name.casefold()):
            response = client.get(path, query_string={parameter: query}, headers=company.headers)
            assert name in {row["name"] for row in response.json}, (name, query)


def test_the_database_folds_as_the_python_fold_does(app):
    """The fold the database computes (PostgreSQL's lower/upper under its ctype, or the
    functions registered on each SQLite connection) agrees with ``app.search.fold``
    on every code point, so both backends find the same rows."""
    from app.search import fold, folded

    chars = [chr(i) for i in range(1, 0x110000) if not 0xD800 <= i < 0xE000]
    with app.app_context():
        for start in range(0, len(chars), 50_000):
            chunk = "".join(chars[start : start + 50_000])
            got = db.session.scalar(sa.select(folded(sa.literal(chunk, sa.Text))))
            assert got == fold(chunk), start
