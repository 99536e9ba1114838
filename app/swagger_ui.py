"""Swagger UI's assets, served by the app itself at a pinned version.

They come from the ``flask-swagger-ui`` package (pinned in requirements.txt), which
ships swagger-ui's ``dist`` folder; only its files are used, not its blueprint. The
docs page then needs no CDN: it works offline, and no third-party script runs on
the API's origin.
"""

import importlib.metadata
import pathlib

import flask_swagger_ui
from flask import Blueprint, abort, send_from_directory

VERSION = importlib.metadata.version("flask-swagger-ui")
DIST = pathlib.Path(flask_swagger_ui.__file__).resolve().parent / "dist"
# the version is in the URL, so a browser may keep the files for good
URL = f"/swagger-ui/{VERSION}/"
FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}

bp = Blueprint("swagger-ui", __name__)


@bp.get(f"{URL}<name>")
def asset(name: str):
    """One of the files the docs page loads (nothing else from the package)."""
    if name not in FILES:
        abort(404)
    response = send_from_directory(DIST, name, max_age=365 * 24 * 3600)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response
