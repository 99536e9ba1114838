"""Webhook endpoints, their deliveries and the event feed, as the API shows them."""

import marshmallow as ma
from marshmallow import validate

from app.models import DELIVERY_STATUSES, EVENT_TYPES
from app.schemas import PatchSchema, QueryInteger, QueryText, Secret, StrictBoolean, Text

# what an endpoint may subscribe to: every event but ``ping``, which goes only to the
# endpoint it tests (POST /api/webhooks/<id>/test)
SUBSCRIBABLE_EVENTS = tuple(t for t in EVENT_TYPES if t != "ping")
URL_MAX_LENGTH = 2048
# what the document says of a URL: http(s), visible ASCII (percent-encoding and
# punycode for the rest), a host part without "user@"; app.events.urls decides the
# rest (a port in range, and in production https and public addresses) and says why
# (around it, the white space Text trims and does not refuse)
_TRIMMED = r"[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]*"
URL_PATTERN = rf'^{_TRIMMED}[Hh][Tt][Tt][Pp][Ss]?://[!-"$-.0->A-~]+([/?#][!-~]*)?{_TRIMMED}$'
URL_MESSAGE = (
    "Must be an http or https URL of visible ASCII characters (percent-encode the rest), "
    "without a user name or password."
)


class EventTypes(ma.fields.List):
    """A non-empty list of distinct event types one may subscribe to."""

    def __init__(self, **kwargs):
        super().__init__(
            Text(
                max_length=40,
                validate=validate.OneOf(
                    SUBSCRIBABLE_EVENTS,
                    error="Not an event type one can subscribe to: one of {choices}.",
                ),
            ),
            validate=validate.Length(min=1, max=len(SUBSCRIBABLE_EVENTS)),
            metadata={"uniqueItems": True},
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        types = super()._deserialize(value, attr, data, **kwargs)
        seen = set()
        for index, type_ in enumerate(types):
            if type_ in seen:
                raise ma.ValidationError({index: ["Listed twice."]})
            seen.add(type_)
        return types


class WebhookCreateSchema(ma.Schema):
    """Body of POST /api/webhooks."""

    url = Text(
        required=True,
        max_length=URL_MAX_LENGTH,
        validate=validate.Regexp(URL_PATTERN, error=URL_MESSAGE),
        metadata={
            "pattern": URL_PATTERN,
            "description": "Where events are POSTed. With STOCKFLOW_ENV=production: https, "
            "and a host that resolves to public addresses only (or is listed in "
            "STOCKFLOW_WEBHOOK_ALLOWED_HOSTS).",
        },
    )
    events = EventTypes(required=True)
    description = Text(max_length=500, allow_none=True)


class WebhookUpdateSchema(PatchSchema, WebhookCreateSchema):
    """Body of PATCH /api/webhooks/<id>: any of url, events, description, enabled."""

    enabled = StrictBoolean(
        metadata={"description": "true re-enables an endpoint (clearing disabled_reason)"}
    )


class WebhookSchema(ma.Schema):
    """A webhook endpoint, without its secret."""

    id = ma.fields.Integer()
    url = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    events = ma.fields.List(ma.fields.String())
    enabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(
        allow_none=True,
        metadata={"description": "Why it is disabled (the worker's, or a PATCH)"},
    )
    disabled_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    """A new endpoint (or one whose secret was rotated), with its signing secret."""

    secret = Secret(
        metadata={
            "description": "The signing secret (whsec_...): verify StockFlow-Signature with it"
        }
    )


class WebhookQuerySchema(ma.Schema):
    """Filters of GET /api/webhooks."""

    enabled = ma.fields.Boolean()


class AttemptSchema(ma.Schema):
    """One HTTP attempt of a delivery."""

    attempted_at = ma.fields.DateTime()
    status_code = ma.fields.Integer(allow_none=True)
    duration_ms = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    next_retry_at = ma.fields.DateTime(allow_none=True)


class DeliverySchema(ma.Schema):
    """One event owed to an endpoint, and what became of it."""

    id = ma.fields.Integer()
    event_id = ma.fields.String(metadata={"description": "The event's id (its payload's id)"})
    event_type = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempt_count = ma.fields.Integer(metadata={"description": "How many attempts were made"})
    next_attempt_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "When it is (re)tried next; null once done"}
    )
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    delivered_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    attempts = ma.fields.List(
        ma.fields.Nested(AttemptSchema),
        metadata={"description": "Its latest attempts, newest first (at most 20)"},
    )


class DeliveryQuerySchema(ma.Schema):
    """Parameters of GET /api/webhooks/<id>/deliveries."""

    status = ma.fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    cursor = QueryText(validate=validate.Length(max=200))
    limit = QueryInteger(minimum=1, maximum=100, load_default=25)


class DeliveryPageSchema(ma.Schema):
    """A page of an endpoint's deliveries, newest first."""

    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as ?cursor= for the next page"}
    )


class PingQueuedSchema(ma.Schema):
    """The ping a test queued."""

    event_id = ma.fields.String()
    event_type = ma.fields.String()
    delivery_id = ma.fields.Integer()


class EventQuerySchema(ma.Schema):
    """Parameters of GET /api/events."""

    type = ma.fields.String(validate=validate.OneOf(EVENT_TYPES))
    cursor = QueryText(validate=validate.Length(max=200))
    limit = QueryInteger(minimum=1, maximum=200, load_default=50)


class EventPageSchema(ma.Schema):
    """A page of the company's events, newest first, each exactly as delivered."""

    events = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Event payloads: id, type, occurred_at, company_id, data"},
    )
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as ?cursor= for the next page"}
    )
