"""The one error shape of the API: RFC 9457 problem details.

Every error, from a failed validation to an unexpected exception, leaves as
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``
and, for bad input, ``errors`` mapping each bad field to its messages.
"""

from __future__ import annotations

import http
import json
import logging

import marshmallow as ma
import sqlalchemy.exc as sa_exc
from flask import Flask, Response, g
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation of every error response).

    Besides the standard members, a problem may carry extension members: the facts a
    client needs to act on it (a 409 says how much is ``available``). The known ones
    are listed; others may be added (RFC 9457 lets clients ignore what they don't
    know), so the document allows additional members.
    """

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(metadata={"description": "URI identifying the problem type"})
    title = ma.fields.String(metadata={"description": "Short summary of the problem type"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={
            "description": "Messages per bad field (dotted path for nested fields; "
            "`_body` for the body as a whole)"
        },
    )
    # extension members, by the problem types that carry them
    product_id = ma.fields.Integer(
        metadata={"description": "insufficient-stock, over-receipt, product-archived: the product"}
    )
    warehouse_id = ma.fields.Integer(
        metadata={"description": "insufficient-stock, warehouse-archived: the warehouse"}
    )
    available = ma.fields.Integer(
        metadata={"description": "insufficient-stock, stock-limit: units on hand now"}
    )
    requested = ma.fields.Integer(
        metadata={
            "description": "insufficient-stock, stock-limit, over-receipt: units the request moves"
        }
    )
    quantity_on_hand = ma.fields.Integer(
        metadata={"description": "product-has-stock, warehouse-has-stock: units still held"}
    )
    bundle_product_ids = ma.fields.List(
        ma.fields.Integer(),
        metadata={"description": "product-in-bundle: the bundles that contain the product"},
    )
    supplier_id = ma.fields.Integer(
        metadata={
            "description": "duplicate-supplier-link: the supplier already linked; "
            "supplier-archived: the order's supplier"
        }
    )
    remaining = ma.fields.Integer(
        metadata={"description": "over-receipt: units of the product left to receive"}
    )
    order_status = ma.fields.String(
        metadata={
            "description": "purchase-order-not-draft, -not-ordered, -closed, -not-cancellable: "
            "the order's status now"
        }
    )
    current_quantity = ma.fields.Integer(metadata={"description": "stock-changed: the stock now"})
    expected_quantity = ma.fields.Integer(
        metadata={"description": "stock-changed: the stock the count expected"}
    )


class Problem(HTTPException):
    """An HTTP error that carries a problem type, a detail and per-field errors.

    Raise it anywhere in a request; the error handler renders it.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str | None = None,
        title: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict | None = None,
    ):
        super().__init__(description=detail)
        self.code = status
        self.problem_type = type_
        self.title = title
        self.errors = errors
        self.extra_headers = headers or {}
        self.extra = extra or {}


def problem_type_uri(slug: str) -> str:
    """The URI of one of StockFlow's problem types."""
    return f"urn:stockflow:problem:{slug}"


# the problem type of an error that carries no type of its own (a route that doesn't
# exist, a method it doesn't have, a body too large, ...); any other status gets its
# reason phrase as a slug
STATUS_PROBLEM_TYPES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    431: "request-header-fields-too-large",
    500: "internal-error",
}


def status_problem_type(status: int) -> str:
    """The problem type URI for an error known only by its status."""
    slug = STATUS_PROBLEM_TYPES.get(status) or _phrase(status).lower().replace(" ", "-")
    return problem_type_uri(slug)


def field_error(field: str, message: str, status: int = 400) -> Problem:
    """A validation problem about one field."""
    return Problem(
        status,
        f"Invalid value for '{field}': {message}",
        type_=problem_type_uri("validation-error"),
        title="Invalid request",
        errors={field: [message]},
    )


def not_found(what: str) -> Problem:
    """A 404 for a resource that does not exist or belongs to another company."""
    return Problem(404, f"{what} not found.", type_=problem_type_uri("not-found"))


def conflict(slug: str, detail: str, **extra) -> Problem:
    """A 409: the request is valid but conflicts with the current state."""
    return Problem(409, detail, type_=problem_type_uri(slug), extra=extra)


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"a.0.b": [msg, ...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # marshmallow files errors about a whole object (or body) under _schema
            if key == "_schema":
                path = prefix or "_body"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, sub_messages in flatten_messages(value, path).items():
                flat.setdefault(sub_path, []).extend(sub_messages)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict):
                for sub_path, sub_messages in flatten_messages(item, prefix).items():
                    flat.setdefault(sub_path, []).extend(sub_messages)
            else:
                flat.setdefault(prefix or "_body", []).append(str(item))
    else:
        flat.setdefault(prefix or "_body", []).append(str(messages))
    return flat


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    title: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
    extra: dict | None = None,
) -> Response:
    """Build the problem+json response."""
    body = {
        "type": type_ or status_problem_type(status),
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def handle_http_exception(error: HTTPException) -> Response:
    """Render any HTTPException (abort, Problem, webargs validation) as a problem."""
    if error.code == 304:
        # not an error: the client's copy is current (an ETag check said so)
        response = Response(status=304)
        if g.get("etag"):
            response.set_etag(g.etag)
        return response
    if isinstance(error, Problem):
        return problem_response(
            error.code,
            error.description,
            type_=error.problem_type,
            title=error.title,
            errors=error.errors,
            headers=error.extra_headers,
            extra=error.extra,
        )
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    messages = data.get("messages")
    if messages is not None:
        # webargs nests messages under the location (json, query, headers); the
        # location is noise for a client that sent one body, so keep the fields
        if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers", "form"}:
            merged: dict = {}
            for location_messages in messages.values():
                for path, msgs in flatten_messages(location_messages).items():
                    merged.setdefault(path, []).extend(msgs)
        else:
            merged = flatten_messages(messages)
        fields = sorted(k for k in merged if k != "_body")
        detail = (
            f"The request has invalid fields: {', '.join(fields)}."
            if fields
            else "; ".join(merged.get("_body", ["The request is invalid."]))
        )
        return problem_response(
            error.code,
            detail,
            type_=problem_type_uri("validation-error"),
            title="Invalid request",
            errors=merged,
            headers=headers,
        )
    return problem_response(
        error.code or 500,
        data.get("message") or error.description or _phrase(error.code or 500),
        headers=headers,
    )


def handle_unexpected(error: Exception) -> Response:
    """A bug or an outage: log it, never leak internals to the client."""
    # OperationalError: the server is gone, refused us, or cancelled a statement at
    # statement_timeout; TimeoutError: no pooled connection came free in time
    if isinstance(error, sa_exc.OperationalError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        log.warning("database unavailable: %s", error)
        return problem_response(
            503,
            "The database is unavailable; retry later.",
            type_=problem_type_uri("database-unavailable"),
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error", exc_info=error)
    return problem_response(500, InternalServerError.description)


class ProblemApi(Api):
    """flask-smorest's Api whose errors (and their documentation) are problems."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def _register_error_handlers(self):
        """Register the problem handlers instead of flask-smorest's own."""
        register_error_handlers(self._app)

    def _register_pagination_header(self):
        """``X-Pagination`` is a JSON text in a header: document it as the string it
        is (flask-smorest documents the decoded object, which no header can be)."""
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata as JSON: total, total_pages, "
                "first_page, last_page, page, previous_page, next_page",
                "schema": {"type": "string"},
            },
            lazy=True,
        )

    def _register_responses(self):
        """Document every error response as the ``application/problem+json`` we send.

        flask-smorest documents its error responses with the content type of the
        successful ones; a client generated from the spec (or a fuzzer checking
        conformance) would then reject our errors.
        """
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_MIMETYPE: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {
                "description": "An error, as RFC 9457 problem details",
                "content": {PROBLEM_MIMETYPE: {"schema": self.ERROR_SCHEMA}},
            },
            lazy=True,
        )


def register_error_handlers(app: Flask) -> None:
    """Make every error a problem+json response."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
    # registered after Flask-SQLAlchemy's own teardown (db.init_app comes first), so it
    # runs before it: teardown functions run in reverse order
    app.teardown_appcontext(release_session)


def release_session(_error=None) -> None:
    """Teardown: end the request's database session, even if the connection is lost.

    ``transactional`` has committed or rolled back every write by now; what is left is
    at most a read transaction. If the database went away after the response was built,
    rolling that back fails, and an exception in teardown would turn the finished
    response into the server's bare 500. The connection is invalidated (the pool
    replaces it): log it and let the response go out.
    """
    from app.extensions import db  # app.extensions imports this module

    try:
        db.session.remove()
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("database connection lost at the end of a request: %s", error)
        db.session.remove()
