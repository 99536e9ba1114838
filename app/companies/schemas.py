"""Companies and their API keys, as the API shows them."""

import marshmallow as ma

from app.schemas import Secret, Text


class CompanyCreateSchema(ma.Schema):
    """Body of POST /api/companies."""

    name = Text(required=True)


class CompanySchema(ma.Schema):
    """A company."""

    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    created_at = ma.fields.DateTime(dump_only=True)


class CompanyCreatedSchema(CompanySchema):
    """A new company with its first API key, shown only this once."""

    api_key = Secret(metadata={"description": "The plaintext key"})


class ApiKeyCreateSchema(ma.Schema):
    """Body of POST /api/api-keys."""

    name = Text(required=True, max_length=100)


class ApiKeySchema(ma.Schema):
    """An API key, without its secret."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "The non-secret part that names the key"})
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    """A new API key, with its plaintext shown only this once."""

    api_key = Secret(metadata={"description": "The plaintext key"})
