"""What every feature blueprint shares: request parsing and the request transaction.

- ``Blueprint``: flask-smorest's, with a parser that reads JSON numbers as exact
  ``Decimal``, answers 400 (not 422) to invalid input and 415 to a body that is
  not JSON.
- ``transactional``: one database transaction per mutating request, committed only
  when the response is a success, with ``Idempotency-Key`` replay stored in that
  same transaction.
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import json
import logging

import flask_smorest
import marshmallow as ma
import sqlalchemy as sa
from flask import Response, g, make_response, request
from flask_smorest.exceptions import NotModified
from marshmallow.utils import missing
from webargs.flaskparser import FlaskParser, abort
from werkzeug.exceptions import RequestEntityTooLarge

from app import auth, changes
from app.errors import PROBLEM_MIMETYPE, Problem, ProblemSchema, problem_type_uri
from app.events import outbox
from app.extensions import db
from app.models import IdempotencyKey
from app.schemas import CONTROL_CHARACTER_MESSAGE, Secret, has_control_character

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# endpoint -> function reading a text/csv body into the JSON body the endpoint's schema
# validates (``POST /api/products/import`` takes either)
CSV_BODIES = {}
MAX_IDEMPOTENCY_KEY_LENGTH = 255
SECRET_WITHHELD_HEADER = "Secret-Withheld"
# the longest path plus query string the API reads; gunicorn's request line limit
# (gunicorn.conf.py) is higher, so a longer URL gets this 414 as problem JSON
MAX_URL_BYTES = 4096


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def request_body(req) -> bytes:
    """The request body. A streamed one (no Content-Length, e.g. chunked) that passes
    ``MAX_CONTENT_LENGTH`` is a 413: Werkzeug stops reading at the limit and would
    hand over the truncated body as if it were all."""
    data = req.get_data(cache=True)
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(data) >= limit:
        if req.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return data


def check_url_length() -> None:
    """``before_request``: a path plus query string over ``MAX_URL_BYTES`` is a 414,
    whatever the route (no route needs one that long; a filter that long is a mistake
    or an attack)."""
    environ = request.environ
    # WSGI hands both over as latin-1 text: one character per byte sent
    length = len(environ.get("SCRIPT_NAME", "")) + len(environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING", "")
    if length + (len(query) + 1 if query else 0) > MAX_URL_BYTES:
        raise Problem(
            414,
            f"The URL is longer than {MAX_URL_BYTES} bytes (path and query string).",
            type_=problem_type_uri("uri-too-long"),
        )


# JSON numbers with a fraction as exact Decimal; NaN and Infinity refused
_DECODER = json.JSONDecoder(parse_float=decimal.Decimal, parse_constant=_reject_constant)


class JSONParser(FlaskParser):
    """webargs parser: exact decimals, 400 on bad input, 415 on non-JSON bodies."""

    DEFAULT_VALIDATION_STATUS = 400

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}

    def _get_schema(self, argmap, req) -> ma.Schema:
        """One instance per schema class, made on first use: webargs would build one per
        request (a tenth of a sale's CPU). A schema keeps no state between loads, and
        instances given to ``@bp.arguments`` are shared the same way already."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def load_querystring(self, req, schema):
        """Query parameters; a control character in one the route reads is a 400
        naming it (no stored text holds one, and PostgreSQL refuses NUL outright)."""
        names = sorted({field.data_key or name for name, field in schema.fields.items()})
        bad = [n for n in names if any(has_control_character(v) for v in req.args.getlist(n))]
        if bad:
            abort(400, messages={"query": {n: [CONTROL_CHARACTER_MESSAGE] for n in bad}})
        return super().load_querystring(req, schema)

    def _raw_load_json(self, req):
        if req.mimetype == "text/csv" and req.endpoint in CSV_BODIES:
            return CSV_BODIES[req.endpoint](request_body(req))
        if not req.is_json:
            if request_body(req):
                abort(
                    415,
                    message="The request body must be JSON (Content-Type: application/json).",
                )
            return missing
        try:
            body = request_body(req)
            # json.loads with these options would make a decoder per request
            return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError):
            abort(400, messages={"json": ["Invalid JSON body."]})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint using the StockFlow parser and pagination defaults."""

    ARGUMENTS_PARSER = JSONParser()
    PAGINATION_ARGUMENTS_PARSER = JSONParser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 200}

    def alt_response(self, status_code, response=None, **options):
        """An extra documented response; an error one is a problem, as sent."""
        if response is None and int(status_code) >= 400:
            options.setdefault("schema", ProblemSchema)
            options.setdefault("content_type", PROBLEM_MIMETYPE)
        return super().alt_response(status_code, response, **options)

    def _check_not_modified(self, etag):
        """304 when If-None-Match names this ETag, compared weakly as RFC 9110 asks
        (a proxy that compresses may have made it ``W/"..."``); remember the ETag
        so that the 304 carries it."""
        g.etag = etag
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and (
            request.if_none_match.contains_weak(etag)
        ):
            raise NotModified


def paginate(query: sa.Select, pagination_parameters) -> list:
    """One page of a select's rows (LIMIT/OFFSET), recording the total for the
    ``X-Pagination`` header that ``@bp.paginate()`` adds."""
    pagination_parameters.item_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    if pagination_parameters.first_item >= pagination_parameters.item_count:
        # past the end: empty, and no OFFSET beyond the database's 64-bit range
        return []
    return list(
        db.session.scalars(
            query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
        )
    )


def _fingerprint() -> str:
    """What makes two requests 'the same': method, path, query and the body's JSON
    value (not its layout: key order, white space and how a number is written)."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(_canonical_body())
    return digest.hexdigest()


def _canonical_body() -> bytes:
    """The body as canonical JSON (sorted keys, no white space, numbers exact); a
    body that isn't JSON as sent (the view refuses it, so the key stays unused)."""
    raw = request_body(request)
    if not request.is_json:
        return raw
    try:
        document = json.loads(
            raw,
            parse_float=decimal.Decimal,
            parse_int=decimal.Decimal,
            parse_constant=_reject_constant,
        )
        return b"J" + _canonical_json(document).encode()
    except (ValueError, RecursionError):
        return raw


def _canonical_json(value) -> str:
    """One text per JSON value: 1.50, 1.5 and 15e-1 are one number, 1.1 and
    1.1000000000000001 two (no float, no rounding)."""
    if isinstance(value, dict):
        members = (f"{json.dumps(k)}:{_canonical_json(v)}" for k, v in sorted(value.items()))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical_json(v) for v in value) + "]"
    if isinstance(value, decimal.Decimal):
        sign, digit_tuple, exponent = value.as_tuple()
        digits = "".join(map(str, digit_tuple))
        significant = digits.rstrip("0")
        if not significant:
            return "0"
        exponent += len(digits) - len(significant)
        return f"{'-' if sign else ''}{significant}e{exponent}"
    return json.dumps(value)  # a string, true, false or null


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if (
        not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH)
        or not key.isascii()
        or not all(32 < ord(c) < 127 for c in key)
    ):
        raise Problem(
            400,
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII "
            "characters.",
            type_=problem_type_uri("validation-error"),
            title="Invalid request",
            errors={IDEMPOTENCY_HEADER: ["Not a valid idempotency key."]},
        )
    return key


def _replay(record: IdempotencyKey, fingerprint: str) -> Response:
    """The stored response of the first request, or a 422 if this one differs."""
    if record.fingerprint != fingerprint:
        raise Problem(
            422,
            f"This {IDEMPOTENCY_HEADER} was already used with a different request.",
            type_=problem_type_uri("idempotency-key-reused"),
        )
    if record.status_code is None:  # pragma: no cover - only if a crash left a placeholder
        raise Problem(
            409,
            "A request with this Idempotency-Key is still in progress; retry later.",
            type_=problem_type_uri("idempotency-key-in-progress"),
        )
    response = Response(
        record.response_body, status=record.status_code, mimetype="application/json"
    )
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _find_key(company_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.company_id == company_id, IdempotencyKey.key == key
        )
    )


def _claim_key(company_id: int, key: str, fingerprint: str) -> IdempotencyKey | Response:
    """Insert the key before doing the work; a concurrent twin waits on it, then replays."""
    existing = _find_key(company_id, key)
    if existing is not None:
        return _replay(existing, fingerprint)
    record = IdempotencyKey(company_id=company_id, key=key, fingerprint=fingerprint)
    db.session.add(record)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # another request with this key committed first: answer as it did
        db.session.rollback()
        existing = _find_key(company_id, key)
        return _replay(existing, fingerprint)
    return record


# PostgreSQL's "try again" errors: serialization failure and deadlock
RETRYABLE_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 3


def _retryable(error: sa.exc.DBAPIError) -> bool:
    return getattr(error.orig, "pgcode", None) in RETRYABLE_SQLSTATES


def transactional(view):
    """Run a mutating view in one transaction, committed only on success.

    With an ``Idempotency-Key`` header, the key and the response are stored in
    the same transaction as the effect, and a retry replays that response. This
    decorator goes outermost (above ``@bp.response``) because the stored response
    is the serialized one. A transaction that PostgreSQL aborts as a deadlock or
    serialization failure is run again (a bounded number of times); the client
    never sees those.
    """

    withheld = _secret_fields(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _idempotency_key()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return _run_once(view, key, withheld, args, kwargs)
            except sa.exc.DBAPIError as error:
                db.session.rollback()
                if attempt == MAX_ATTEMPTS or not _retryable(error):
                    raise
                log.info("retrying %s after %s", request.path, error.orig.pgcode)
            except BaseException:
                db.session.rollback()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _secret_fields(view) -> dict[int, list[str]]:
    """Per success status of a view, the top-level fields of its response schema
    that are ``Secret``: never stored for a replay."""
    fields: dict[int, list[str]] = {}
    responses = getattr(view, "_apidoc", {}).get("response", {}).get("responses", {})
    for status, documented in responses.items():
        for doc in documented:
            schema = doc.get("schema")
            if isinstance(schema, ma.Schema) and not schema.many:
                names = [
                    field.data_key or name
                    for name, field in schema.fields.items()
                    if isinstance(field, Secret)
                ]
                if names:
                    fields[int(status)] = names
    return fields


def _stored_copy(response: Response, secrets: list[str]) -> tuple[str, dict[str, str]]:
    """The body and headers kept for a replay: each secret field null, and named in
    the ``Secret-Withheld`` header, so the secret is shown only once."""
    body = response.get_data(as_text=True)
    headers = {name: response.headers[name] for name in ("Location",) if name in response.headers}
    if secrets:
        document = json.loads(body)
        for name in secrets:
            if name in document:
                document[name] = None
        body = json.dumps(document)
        headers[SECRET_WITHHELD_HEADER] = ", ".join(secrets)
    return body, headers


def _run_once(view, key: str | None, withheld: dict[int, list[str]], args, kwargs) -> Response:
    record = None
    outbox.discard()  # notes of an attempt that was rolled back and is being retried
    # keys are per company; the operator's routes have none and ignore the header
    if key is not None and auth.authenticated():
        claimed = _claim_key(auth.current_company_id(), key, _fingerprint())
        if isinstance(claimed, Response):
            return claimed
        record = claimed
    response = make_response(view(*args, **kwargs))
    if response.status_code >= 400:
        db.session.rollback()
        outbox.discard()
        return response
    if auth.authenticated():
        outbox.write_pending(auth.current_company_id())
        changes.bump(auth.current_company_id())
    if record is not None:
        body, headers = _stored_copy(response, withheld.get(response.status_code, []))
        record.status_code = response.status_code
        record.response_body = body
        record.response_headers = json.dumps(headers)
    if db.session.registry.has():  # else the request's one statement committed itself
        db.session.commit()
    return response
