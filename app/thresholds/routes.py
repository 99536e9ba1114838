"""Placeholder: filled in by the thresholds work."""

from app.api import Blueprint

bp = Blueprint("thresholds", __name__, url_prefix="/api", description="thresholds")
