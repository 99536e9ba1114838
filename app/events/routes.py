"""Webhooks of the caller's company: endpoints, their deliveries, and the event feed."""

from flask import url_for
from flask.views import MethodView

from app import auth
from app.api import Blueprint, paginate, transactional
from app.events import queries, service
from app.events.schemas import (
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    EventPageSchema,
    EventQuerySchema,
    PingQueuedSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookQuerySchema,
    WebhookSchema,
    WebhookUpdateSchema,
)

bp = Blueprint("webhooks", __name__, url_prefix="/api", description="Events and webhooks")


@bp.route("/webhooks")
class Webhooks(MethodView):
    @bp.arguments(WebhookQuerySchema, location="query")
    @bp.response(200, WebhookSchema(many=True))
    @bp.paginate()
    def get(self, filters, pagination_parameters):
        """List the company's webhook endpoints, by id"""
        query = queries.endpoint_list(auth.current_company_id(), filters)
        return [queries.endpoint_dict(e) for e in paginate(query, pagination_parameters)]

    @transactional
    @bp.arguments(WebhookCreateSchema)
    @bp.response(201, WebhookCreatedSchema)
    def post(self, data):
        """Create a webhook endpoint; its signing secret is shown only in this response"""
        created = service.create_endpoint(auth.current_company_id(), data)
        return created, {"Location": url_for("webhooks.WebhookItem", webhook_id=created["id"])}


@bp.route("/webhooks/<id:webhook_id>")
class WebhookItem(MethodView):
    @bp.response(200, WebhookSchema)
    def get(self, webhook_id):
        """Get a webhook endpoint (disabled ones say why)"""
        endpoint = service.get_endpoint(auth.current_company_id(), webhook_id)
        return queries.endpoint_dict(endpoint)

    @transactional
    @bp.arguments(WebhookUpdateSchema(partial=True))
    @bp.response(200, WebhookSchema)
    def patch(self, changes, webhook_id):
        """Change a webhook's url, events or description, or disable or re-enable it"""
        return service.update_endpoint(auth.current_company_id(), webhook_id, changes)

    @transactional
    @bp.response(204)
    def delete(self, webhook_id):
        """Delete a webhook endpoint, its deliveries and their attempts"""
        service.delete_endpoint(auth.current_company_id(), webhook_id)


@bp.route("/webhooks/<id:webhook_id>/rotate-secret", methods=["POST"])
@transactional
@bp.response(200, WebhookCreatedSchema)
def rotate_secret(webhook_id):
    """Give a webhook a new signing secret (shown only in this response); the old one
    stops signing at once"""
    return service.rotate_secret(auth.current_company_id(), webhook_id)


@bp.route("/webhooks/<id:webhook_id>/test", methods=["POST"])
@transactional
@bp.response(202, PingQueuedSchema)
@bp.alt_response(409, description="The webhook is disabled")
def send_test(webhook_id):
    """Queue a `ping` event for this webhook only; the worker delivers it"""
    return service.send_test(auth.current_company_id(), webhook_id)


@bp.route("/webhooks/<id:webhook_id>/deliveries")
class Deliveries(MethodView):
    @bp.arguments(DeliveryQuerySchema, location="query")
    @bp.response(200, DeliveryPageSchema)
    def get(self, args, webhook_id):
        """List a webhook's deliveries, newest first, with their latest attempts

        Filter by `status`; pass the returned `next_cursor` as `cursor` for the next page.
        """
        return queries.delivery_page(auth.current_company_id(), webhook_id, args)


@bp.route("/webhooks/<id:webhook_id>/deliveries/<bigid:delivery_id>/redeliver", methods=["POST"])
@transactional
@bp.response(202, DeliverySchema)
@bp.alt_response(409, description="The webhook is disabled")
def redeliver(webhook_id, delivery_id):
    """Deliver a delivery's event again (a new delivery, due now; the old one is kept)"""
    return service.redeliver(auth.current_company_id(), webhook_id, delivery_id)


@bp.route("/events")
class Events(MethodView):
    @bp.arguments(EventQuerySchema, location="query")
    @bp.response(200, EventPageSchema)
    def get(self, args):
        """List the company's recent events, newest first, exactly as delivered

        For a receiver that missed something. Filter by `type`; pass the returned
        `next_cursor` as `cursor` for the next page.
        """
        return queries.event_page(auth.current_company_id(), args)
