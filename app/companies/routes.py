"""Companies (created by the operator) and a company's API keys."""

import logging

from flask.views import MethodView

from app import auth
from app.api import Blueprint, transactional
from app.companies import service
from app.companies.schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeySchema,
    CompanyCreatedSchema,
    CompanyCreateSchema,
    CompanySchema,
)

# the audit trail of who holds access: one JSON log line per company or key event
log = logging.getLogger(__name__)

bp = Blueprint("companies", __name__, url_prefix="/api", description="Companies and API keys")


@bp.route("/companies")
class Companies(MethodView):
    @auth.admin_only
    @transactional
    @bp.doc(security=[{"adminToken": []}])
    @bp.arguments(CompanyCreateSchema)
    @bp.response(201, CompanyCreatedSchema)
    def post(self, data):
        """Create a company and its first API key (operator only)"""
        company, plaintext = service.create_company(data["name"])
        log.info("company created", extra={"event": "company_created", "company_id": company.id})
        return {
            "id": company.id,
            "name": company.name,
            "created_at": company.created_at,
            "api_key": plaintext,
        }


@bp.route("/companies/<id:company_id>")
class CompanyItem(MethodView):
    @bp.response(200, CompanySchema)
    def get(self, company_id):
        """Get the caller's company"""
        return service.get_company(company_id, auth.current_company_id())


@bp.get("/me")
@bp.response(200, CompanySchema)
def me():
    """Get the company of the API key in use

    A client that holds only a key (a dashboard) learns its company id here.
    """
    company_id = auth.current_company_id()
    return service.get_company(company_id, company_id)


@bp.route("/api-keys")
class ApiKeys(MethodView):
    @bp.response(200, ApiKeySchema(many=True))
    def get(self):
        """List the company's API keys (without secrets)"""
        return service.list_api_keys(auth.current_company_id())

    @transactional
    @bp.arguments(ApiKeyCreateSchema)
    @bp.response(201, ApiKeyCreatedSchema)
    def post(self, data):
        """Create an API key; the plaintext is shown only in this response"""
        created = service.create_api_key(auth.current_company_id(), data["name"])
        log.info(
            "api key created",
            extra={
                "event": "api_key_created",
                "company_id": auth.current_company_id(),
                "key_id": created["id"],
            },
        )
        return created


@bp.route("/api-keys/<id:key_id>")
class ApiKeyItem(MethodView):
    @transactional
    @bp.response(204)
    def delete(self, key_id):
        """Revoke an API key, with immediate effect"""
        service.revoke_api_key(auth.current_company_id(), key_id)
        log.info(
            "api key revoked",
            extra={
                "event": "api_key_revoked",
                "company_id": auth.current_company_id(),
                "key_id": key_id,
            },
        )
