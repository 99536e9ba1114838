"""Creating companies and managing their keys. Functions flush, never commit."""

import datetime as dt

import sqlalchemy as sa

from app import auth
from app.errors import conflict, not_found
from app.extensions import db
from app.models import AlertState, ApiKey, Company


def create_company(name: str, key_name: str = "initial") -> tuple[Company, str]:
    """A new company with its first API key; returns the plaintext key."""
    company = Company(name=name)
    db.session.add(company)
    db.session.flush()
    # nothing sold yet: the alert state is current today (app.alerts.state)
    db.session.add(AlertState(company_id=company.id, as_of=dt.datetime.now(dt.UTC).date()))
    _, plaintext = auth.new_api_key(company.id, key_name)
    return company, plaintext


def get_company(company_id: int, caller_company_id: int) -> Company:
    """The caller's own company; any other id is a 404."""
    company = db.session.get(Company, company_id)
    if company is None or company.id != caller_company_id:
        raise not_found("Company")
    return company


def list_api_keys(company_id: int) -> list[ApiKey]:
    """Every key of the company, newest first, revoked ones included."""
    return list(
        db.session.scalars(
            sa.select(ApiKey).where(ApiKey.company_id == company_id).order_by(ApiKey.id.desc())
        )
    )


def create_api_key(company_id: int, name: str) -> dict:
    """A new key for the company, with its plaintext."""
    key, plaintext = auth.new_api_key(company_id, name)
    db.session.refresh(key)
    return {**_as_dict(key), "api_key": plaintext}


def revoke_api_key(company_id: int, key_id: int) -> None:
    """Revoke a key with immediate effect; the company's last active key stays,
    also when keys are revoked concurrently."""
    key = db.session.scalar(
        sa.select(ApiKey).where(ApiKey.company_id == company_id, ApiKey.id == key_id)
    )
    if key is None:
        raise not_found("API key")
    if key.revoked_at is not None:
        return
    # lock the company's active keys in id order: a concurrent revocation waits for
    # this one and then finds one key fewer, so two cannot together revoke the last
    active = list(
        db.session.scalars(
            sa.select(ApiKey.id)
            .where(ApiKey.company_id == company_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
            .with_for_update(key_share=True)
        )
    )
    if key_id not in active:
        return  # revoked meanwhile
    if len(active) <= 1:
        raise conflict(
            "last-api-key",
            "This is the company's last active API key; create another before revoking it.",
        )
    key.revoked_at = dt.datetime.now(dt.UTC)
    db.session.flush()


def _as_dict(key: ApiKey) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }
