"""Webhook endpoints: create, change, delete, rotate a secret, test, redeliver.
Functions flush, never commit.

Locks (the order of app/locks.py): a write takes the endpoint's row first, then
touches its deliveries. Changing or deleting an endpoint takes it exclusively
(``FOR NO KEY UPDATE`` / the DELETE's own lock); adding a delivery to it (a test,
a redelivery) takes it ``FOR SHARE``, so an endpoint cannot be deleted, disabled
or re-pointed under a delivery being added: the one that comes second waits and
then sees the first one's outcome (a 404 for a deleted endpoint, a 409 for a
disabled one), never a foreign-key error.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from app import bulk
from app.errors import conflict, field_error, not_found
from app.events import outbox, queries, urls
from app.events import secrets as signing
from app.extensions import db
from app.models import Event, WebhookDelivery, WebhookEndpoint, write_time

DISABLED_BY_API = "Disabled through the API (PATCH enabled: false)."


def _check_url(url: str) -> None:
    """The URL rule of app.events.urls, as a 400 on ``url`` saying why."""
    try:
        urls.validate(url)
    except urls.UrlRefused as refused:
        raise field_error("url", str(refused)) from None


def _now() -> dt.datetime:
    """The database's clock (the outbox stamps its rows with the same)."""
    return bulk.utc(db.session.scalar(sa.select(write_time())))


def get_endpoint(company_id: int, endpoint_id: int, *, lock: str | None = None):
    """The company's endpoint, else a 404; ``lock``: ``"update"`` (to change it) or
    ``"share"`` (to add deliveries to it)."""
    query = sa.select(WebhookEndpoint).where(
        WebhookEndpoint.company_id == company_id, WebhookEndpoint.id == endpoint_id
    )
    if lock == "update":
        # NO KEY UPDATE: the outbox's fan-out (a key-share lock from its foreign key)
        # is not held up by a PATCH
        query = query.with_for_update(key_share=True)
    elif lock == "share":
        query = query.with_for_update(read=True)
    endpoint = db.session.scalar(query)
    if endpoint is None:
        raise not_found("Webhook")
    return endpoint


def create_endpoint(company_id: int, data: dict) -> dict:
    """A new endpoint, with its signing secret (derived, never stored)."""
    _check_url(data["url"])
    endpoint = WebhookEndpoint(
        company_id=company_id,
        url=data["url"],
        description=data.get("description"),
        events=json.dumps(data["events"]),
        enabled=True,
        secret_salt=signing.new_salt(),
    )
    db.session.add(endpoint)
    db.session.flush()  # the secret derives from the id
    return _with_secret(endpoint)


def update_endpoint(company_id: int, endpoint_id: int, changes: dict) -> dict:
    """Change an endpoint's url, events, description or enabled. Enabling it clears
    why it was disabled; disabling it records that the company did."""
    endpoint = get_endpoint(company_id, endpoint_id, lock="update")
    if "url" in changes:
        _check_url(changes["url"])
        endpoint.url = changes["url"]
    if "events" in changes:
        endpoint.events = json.dumps(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if changes.get("enabled") is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = None
        endpoint.disabled_at = None
    elif changes.get("enabled") is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = DISABLED_BY_API
        endpoint.disabled_at = _now()
    db.session.flush()
    return queries.endpoint_dict(endpoint)


def delete_endpoint(company_id: int, endpoint_id: int) -> None:
    """Delete an endpoint; its deliveries and their attempts go with it (the foreign
    keys cascade). One conditional DELETE: its row lock waits for a test or a
    redelivery in flight, and a second DELETE finds nothing (404)."""
    deleted = db.session.execute(
        sa.delete(WebhookEndpoint).where(
            WebhookEndpoint.company_id == company_id, WebhookEndpoint.id == endpoint_id
        )
    )
    if deleted.rowcount == 0:
        raise not_found("Webhook")


def rotate_secret(company_id: int, endpoint_id: int) -> dict:
    """A new salt, so a new secret; the old one stops signing at once."""
    endpoint = get_endpoint(company_id, endpoint_id, lock="update")
    endpoint.secret_salt = signing.new_salt()
    db.session.flush()
    return _with_secret(endpoint)


def _enabled(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    if not endpoint.enabled:
        raise conflict(
            "webhook-disabled",
            f"Webhook {endpoint.id} is disabled ({endpoint.disabled_reason or 'no reason given'}); "
            "enable it first (PATCH enabled: true).",
        )
    return endpoint


def send_test(company_id: int, endpoint_id: int) -> dict:
    """Queue a ``ping`` event for this endpoint only (subscribed to it or not)."""
    endpoint = _enabled(get_endpoint(company_id, endpoint_id, lock="share"))
    uid = outbox.emit("ping", {"webhook_id": endpoint.id}, endpoint_id=endpoint.id)
    # written now rather than at the commit, so the answer can name its delivery
    outbox.write_pending(company_id)
    delivery_id = db.session.scalar(
        queries.deliveries_of(company_id, endpoint.id)
        .with_only_columns(WebhookDelivery.id)
        .where(Event.uid == uid)
    )
    return {"event_id": uid, "event_type": "ping", "delivery_id": delivery_id}


def redeliver(company_id: int, endpoint_id: int, delivery_id: int) -> dict:
    """A new delivery of a delivery's event to its endpoint, due now; the old one and
    its attempts stay as they were.

    It has no ordering key: a replay of history neither waits behind the row's live
    events nor holds them back (receivers deduplicate by the event id)."""
    _enabled(get_endpoint(company_id, endpoint_id, lock="share"))
    original = db.session.scalar(
        sa.select(WebhookDelivery).where(
            WebhookDelivery.company_id == company_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.id == delivery_id,
        )
    )
    if original is None:
        raise not_found("Delivery")
    again = WebhookDelivery(
        company_id=company_id,
        endpoint_id=endpoint_id,
        event_id=original.event_id,
        ordering_key=None,
        status="pending",
        attempts=0,
        next_attempt_at=_now(),
    )
    db.session.add(again)
    db.session.flush()
    return queries.delivery(company_id, endpoint_id, again.id)


def _with_secret(endpoint: WebhookEndpoint) -> dict:
    secret = signing.derive(endpoint.company_id, endpoint.id, endpoint.secret_salt)
    return {**queries.endpoint_dict(endpoint), "secret": secret}
