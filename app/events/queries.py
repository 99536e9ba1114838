"""Reading webhook endpoints, their deliveries (with attempts) and the event feed.

Every statement filters on one company (Citus routes it to one shard). A page of
deliveries is bounded work: at most ``limit`` deliveries (cursor pagination on the
``(company_id, endpoint_id, id)`` index, no count) and, for them, one statement
reading at most ``ATTEMPTS_SHOWN`` attempts each.
"""

from __future__ import annotations

import base64
import binascii
import json

import sqlalchemy as sa

from app.errors import field_error, not_found
from app.extensions import db
from app.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

ATTEMPTS_SHOWN = 20
MAX_BIGINT = 2**63 - 1


def endpoint_dict(endpoint: WebhookEndpoint) -> dict:
    """An endpoint as the API shows it (never its salt)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": json.loads(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def endpoint_list(company_id: int, filters: dict) -> sa.Select:
    """The company's endpoints (optionally only enabled or disabled ones), by id."""
    query = sa.select(WebhookEndpoint).where(WebhookEndpoint.company_id == company_id)
    if "enabled" in filters:
        query = query.where(WebhookEndpoint.enabled.is_(filters["enabled"]))
    return query.order_by(WebhookEndpoint.id)


def encode_cursor(row_id: int) -> str:
    """An opaque cursor pointing just after the row ``row_id`` in newest-first order."""
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points after; a 400 on ``cursor`` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, row_id = raw.partition(":")
        value = int(row_id)
        if prefix != "id" or not 0 <= value <= MAX_BIGINT or encode_cursor(value) != cursor:
            raise ValueError("not a cursor")
        return value
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise field_error("cursor", "Not a valid cursor.") from error


def deliveries_of(company_id: int, endpoint_id: int) -> sa.Select:
    """An endpoint's deliveries with their event's public id and type."""
    return (
        sa.select(WebhookDelivery, Event.uid, Event.type)
        .join(
            Event,
            sa.and_(
                Event.company_id == WebhookDelivery.company_id,
                Event.id == WebhookDelivery.event_id,
            ),
        )
        .where(
            WebhookDelivery.company_id == company_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
    )


def newest_first(query: sa.Select, id_column, args: dict, row_id) -> tuple[list, str | None]:
    """One page of ``query`` by ``id_column`` descending, from ``args``' ``cursor`` for
    ``args``' ``limit`` rows, and the cursor of the next page (None on the last);
    ``row_id`` reads a row's id."""
    if args.get("cursor"):
        query = query.where(id_column < decode_cursor(args["cursor"]))
    limit = args["limit"]
    rows = db.session.execute(query.order_by(id_column.desc()).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(row_id(rows[limit - 1]))


def delivery_page(company_id: int, endpoint_id: int, args: dict) -> dict:
    """An endpoint's deliveries, newest first, ``limit`` at a time, each with its
    latest attempts; a 404 for an endpoint that is not the company's."""
    exists = db.session.scalar(
        sa.select(WebhookEndpoint.id).where(
            WebhookEndpoint.company_id == company_id, WebhookEndpoint.id == endpoint_id
        )
    )
    if exists is None:
        raise not_found("Webhook")
    query = deliveries_of(company_id, endpoint_id)
    if args.get("status"):
        query = query.where(WebhookDelivery.status == args["status"])
    rows, next_cursor = newest_first(query, WebhookDelivery.id, args, lambda row: row[0].id)
    attempts = _attempts(company_id, [row[0].id for row in rows])
    return {
        "deliveries": [_delivery_dict(*row, attempts.get(row[0].id, [])) for row in rows],
        "next_cursor": next_cursor,
    }


def delivery(company_id: int, endpoint_id: int, delivery_id: int) -> dict:
    """One delivery as the listing shows it."""
    row = db.session.execute(
        deliveries_of(company_id, endpoint_id).where(WebhookDelivery.id == delivery_id)
    ).one()
    return _delivery_dict(*row, _attempts(company_id, [delivery_id]).get(delivery_id, []))


def _attempts(company_id: int, delivery_ids: list[int]) -> dict[int, list[dict]]:
    """The latest ``ATTEMPTS_SHOWN`` attempts of each delivery, newest first: one
    statement, however many attempts a delivery has."""
    if not delivery_ids:
        return {}
    ranked = (
        sa.select(
            WebhookAttempt.delivery_id,
            WebhookAttempt.id,
            WebhookAttempt.attempted_at,
            WebhookAttempt.status_code,
            WebhookAttempt.duration_ms,
            WebhookAttempt.error,
            WebhookAttempt.next_retry_at,
            sa.func.row_number()
            .over(partition_by=WebhookAttempt.delivery_id, order_by=WebhookAttempt.id.desc())
            .label("position"),
        )
        .where(
            WebhookAttempt.company_id == company_id,
            WebhookAttempt.delivery_id.in_(delivery_ids),
        )
        .subquery()
    )
    rows = db.session.execute(
        sa.select(ranked)
        .where(ranked.c.position <= ATTEMPTS_SHOWN)
        .order_by(ranked.c.delivery_id, ranked.c.id.desc())
    ).mappings()
    found: dict[int, list[dict]] = {}
    for row in rows:
        found.setdefault(row["delivery_id"], []).append(
            {
                name: row[name]
                for name in ("attempted_at", "status_code", "duration_ms", "error", "next_retry_at")
            }
        )
    return found


def _delivery_dict(delivery: WebhookDelivery, uid: str, type_: str, attempts: list) -> dict:
    return {
        "id": delivery.id,
        "event_id": uid,
        "event_type": type_,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        # a pending delivery's next try; a finished one has none
        "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "attempts": attempts,
    }


def event_page(company_id: int, args: dict) -> dict:
    """The company's events, newest first (by id), each payload exactly as it is
    delivered; ``type`` filters, ``cursor`` pages on."""
    query = sa.select(Event.id, Event.payload).where(Event.company_id == company_id)
    if args.get("type"):
        query = query.where(Event.type == args["type"])
    rows, next_cursor = newest_first(query, Event.id, args, lambda row: row.id)
    return {"events": [json.loads(row.payload) for row in rows], "next_cursor": next_cursor}
