"""Placeholder: filled in by the suppliers work."""

from app.api import Blueprint

bp = Blueprint("suppliers", __name__, url_prefix="/api", description="suppliers")
