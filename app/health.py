"""Liveness and readiness probes for the orchestrator."""

import marshmallow as ma
import sqlalchemy as sa

from app.api import Blueprint
from app.errors import Problem, problem_type_uri
from app.extensions import db

bp = Blueprint("health", __name__, description="Liveness and readiness probes")


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


@bp.get("/health")
@bp.doc(security=[])
@bp.response(200, StatusSchema)
def health():
    """The process is up."""
    return {"status": "ok"}


@bp.get("/ready")
@bp.doc(security=[])
@bp.response(200, StatusSchema)
@bp.alt_response(503, description="The database is unreachable")
def ready():
    """The database answers."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        raise Problem(
            503,
            "The database is unreachable.",
            type_=problem_type_uri("database-unavailable"),
            headers={"Retry-After": "1"},
        ) from error
    return {"status": "ready"}
