"""Companies, API keys and authentication."""

import json

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import ApiKey, Company, IdempotencyKey
from tests.conftest import ADMIN_TOKEN


def admin(token=ADMIN_TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_operator_creates_a_company_and_sees_its_key_once(app, client, count_rows):
    response = client.post("/api/companies", json={"name": " Acme "}, headers=admin())
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Acme"
    assert set(body) == {"id", "name", "created_at", "api_key"}
    assert body["api_key"].startswith("sf_")
    # the key works, and is stored only as a hash
    assert client.get("/api/warehouses", headers=admin(body["api_key"])).status_code == 200
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiKey.key_hash)).all()
    assert body["api_key"] not in stored and len(stored) == 1
    listed = client.get("/api/api-keys", headers=admin(body["api_key"])).json
    assert "api_key" not in listed[0] and body["api_key"] not in str(listed)


@pytest.mark.parametrize("token", [None, "wrong", "sf_x_y"])
def test_company_creation_without_the_admin_token_is_a_401(client, count_rows, token):
    headers = admin(token) if token else {}
    response = client.post("/api/companies", json={"name": "Acme"}, headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert count_rows(Company) == 0


def test_a_company_api_key_cannot_create_companies(client, company, count_rows):
    response = client.post("/api/companies", json={"name": "Evil"}, headers=company.headers)
    assert response.status_code == 401
    assert count_rows(Company) == 1


def test_company_creation_is_disabled_when_no_admin_token_is_configured(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "STOCKFLOW_ADMIN_TOKEN": None})
    response = app.test_client().post("/api/companies", json={"name": "A"}, headers=admin(""))
    assert response.status_code == 403
    assert response.json["type"].endswith("admin-disabled")
    with app.app_context():
        db.engine.dispose()


def test_company_name_is_validated(client, count_rows):
    for body in ({}, {"name": ""}, {"name": "x" * 256}, {"name": "a", "extra": 1}):
        response = client.post("/api/companies", json=body, headers=admin())
        assert response.status_code == 400
        assert response.json["errors"]
    assert count_rows(Company) == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer nonsense", "Bearer sf_abc_def", "sf_a_b"],
)
def test_missing_or_wrong_api_key_is_a_401_problem(client, company, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/api/warehouses", headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 401


def test_a_key_with_the_right_prefix_but_wrong_secret_is_a_401(client, company):
    # sf_<prefix>_<secret>: the secret is token_urlsafe and may itself hold "_"
    prefix = "_".join(company.api_key.split("_", 2)[:2])
    response = client.get("/api/warehouses", headers=admin(prefix + "_wrongsecret"))
    assert response.status_code == 401


def test_company_can_create_list_and_revoke_keys_with_immediate_effect(client, company):
    created = client.post("/api/api-keys", json={"name": "ci"}, headers=company.headers)
    assert created.status_code == 201
    new_key = created.json["api_key"]
    assert client.get("/api/warehouses", headers=admin(new_key)).status_code == 200

    keys = client.get("/api/api-keys", headers=company.headers).json
    assert [k["name"] for k in keys] == ["ci", "initial"]

    revoked = client.delete(f"/api/api-keys/{created.json['id']}", headers=company.headers)
    assert revoked.status_code == 204
    assert client.get("/api/warehouses", headers=admin(new_key)).status_code == 401
    keys = client.get("/api/api-keys", headers=company.headers).json
    assert keys[0]["revoked_at"] is not None


def test_the_last_active_key_cannot_be_revoked(client, company):
    key_id = client.get("/api/api-keys", headers=company.headers).json[0]["id"]
    response = client.delete(f"/api/api-keys/{key_id}", headers=company.headers)
    assert response.status_code == 409
    assert client.get("/api/warehouses", headers=company.headers).status_code == 200


def test_another_companys_key_cannot_be_revoked_or_seen(client, company, other_company):
    foreign_id = client.get("/api/api-keys", headers=other_company.headers).json[0]["id"]
    response = client.delete(f"/api/api-keys/{foreign_id}", headers=company.headers)
    assert response.status_code == 404
    assert client.get("/api/warehouses", headers=other_company.headers).status_code == 200
    own = client.get("/api/api-keys", headers=company.headers).json
    assert foreign_id not in [k["id"] for k in own]


def test_company_reads_itself_but_another_company_is_a_404(client, company, other_company):
    assert client.get(f"/api/companies/{company.id}", headers=company.headers).json["name"] == (
        "Acme"
    )
    response = client.get(f"/api/companies/{other_company.id}", headers=company.headers)
    assert response.status_code == 404


def test_cli_create_company_prints_a_working_key(app, client):
    result = app.test_cli_runner().invoke(args=["create-company", "Initech"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.split())
    response = client.get(f"/api/companies/{lines['company_id']}", headers=admin(lines["api_key"]))
    assert response.status_code == 200
    assert response.json["name"] == "Initech"


def test_cli_create_api_key_for_an_existing_company(app, client, company):
    result = app.test_cli_runner().invoke(args=["create-api-key", str(company.id)])
    assert result.exit_code == 0, result.output
    key = result.output.strip().split("=", 1)[1]
    assert client.get("/api/warehouses", headers=admin(key)).status_code == 200
    missing = app.test_cli_runner().invoke(args=["create-api-key", "999999"])
    assert missing.exit_code != 0


def test_a_replayed_key_creation_answers_without_the_secret_and_never_stores_it(
    app, client, company, count_rows
):
    headers = {**company.headers, "Idempotency-Key": "new-ci-key"}
    first = client.post("/api/api-keys", json={"name": "ci"}, headers=headers)
    assert first.status_code == 201
    plaintext = first.json["api_key"]
    assert plaintext.startswith("sf_") and "Secret-Withheld" not in first.headers
    # sf_<prefix>_<secret>: split at the two fixed separators, since the
    # token_urlsafe secret may itself hold "_" (a short tail could match anywhere)
    secret = plaintext.split("_", 2)[2]
    assert len(secret) >= 40
    with app.app_context():
        stored = db.session.execute(sa.select(IdempotencyKey)).scalars().all()
        assert len(stored) == 1
        row = stored[0]
        assert secret not in (row.response_body or "") + (row.response_headers or "")
        assert json.loads(row.response_body)["api_key"] is None

    replay = client.post("/api/api-keys", json={"name": "ci"}, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Secret-Withheld"] == "api_key"
    assert secret not in replay.get_data(as_text=True)
    assert replay.json == {**first.json, "api_key": None}
    # one key was made, and the secret the first answer showed works
    assert count_rows(ApiKey) == 2
    assert client.get("/api/warehouses", headers=admin(plaintext)).status_code == 200


def test_every_response_field_that_carries_a_secret_is_marked_secret():
    """A Secret field is withheld from stored (replayed) responses; a new secret in a
    response (a webhook signing secret, a token) must be one too."""
    from app.companies.schemas import ApiKeyCreatedSchema, CompanyCreatedSchema
    from app.events.schemas import WebhookCreatedSchema
    from app.schemas import Secret

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    spec = app.test_client().get("/api/openapi.json").json["components"]["schemas"]
    secret_like = {
        (schema, name)
        for schema, body in spec.items()
        for name in body.get("properties", {})
        if any(word in name for word in ("key", "secret", "token", "password"))
    }
    assert secret_like == {
        ("CompanyCreated", "api_key"),
        ("ApiKeyCreated", "api_key"),
        ("WebhookCreated", "secret"),
    }
    for schema in (ApiKeyCreatedSchema, CompanyCreatedSchema):
        assert isinstance(schema().fields["api_key"], Secret)
    assert isinstance(WebhookCreatedSchema().fields["secret"], Secret)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "tab\there", "x" * 256, "zero\u200bwidth"])
def test_cli_refuses_the_company_names_the_api_refuses(app, name, count_rows):
    result = app.test_cli_runner().invoke(args=["create-company", name])
    assert result.exit_code != 0
    assert "name" in result.output and "api_key=" not in result.output
    assert count_rows(Company) == 0


@pytest.mark.parametrize("name", ["", "  ", "bell\x07", "x" * 101])
def test_cli_refuses_the_key_names_the_api_refuses(app, company, name, count_rows):
    result = app.test_cli_runner().invoke(args=["create-api-key", str(company.id), "--name", name])
    assert result.exit_code != 0
    assert "name" in result.output and "api_key=" not in result.output
    assert count_rows(ApiKey) == 1


def test_cli_trims_names_as_the_api_does(app, client):
    result = app.test_cli_runner().invoke(args=["create-company", "  Initech  "])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.split())
    response = client.get(f"/api/companies/{lines['company_id']}", headers=admin(lines["api_key"]))
    assert response.json["name"] == "Initech"
