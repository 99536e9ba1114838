"""StockFlow: the app factory, which reads as the table of contents."""

import logging
import os

from flask import Flask, request
from werkzeug.routing import IntegerConverter, UnicodeConverter

from app.config import check_config, engine_options, load_config


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive id that fits the database's integer columns."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1)


class BigIdConverter(IntegerConverter):
    """``<bigid:name>``: a positive id of a BIGINT column (events, deliveries)."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=2**63 - 1)


class ProductTypeConverter(UnicodeConverter):
    """``<product_type:name>``: any path segment (the view answers a bad one with a
    400 naming it); the OpenAPI document gives the pattern of a good one."""


def create_app(config: dict | None = None) -> Flask:
    """Build the app; ``config`` overrides what the environment says (tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_config(app.instance_path))
    if config:
        app.config.update(config)
    check_config(app.config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        os.makedirs(app.instance_path, exist_ok=True)  # the embedded database lives there
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter
    app.url_map.converters["product_type"] = ProductTypeConverter

    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_metrics(app)
    register_commands(app)
    warm_up(app)
    return app


def warm_up(app: Flask) -> None:
    """Do once, at start, what the first requests of every worker would pay for:
    configuring the ORM's mappers (a few hundred milliseconds per process)."""
    import sqlalchemy.orm

    sqlalchemy.orm.configure_mappers()


def configure_logging(app: Flask) -> None:
    """One log level for the app, from ``LOG_LEVEL``; every line is JSON and names its
    request (a handler someone else installed first, e.g. pytest's, is kept)."""
    from app import request_id
    from app.logging_json import JsonFormatter

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, request_id.LogFilter) for f in handler.filters):
            handler.addFilter(request_id.LogFilter())
    logging.getLogger("app").setLevel(app.config["LOG_LEVEL"])
    app.logger.setLevel(app.config["LOG_LEVEL"])


def register_extensions(app: Flask) -> None:
    """The database and the API (whose init also installs the problem error handlers)."""
    from app.extensions import api, db
    from app.schemas import PRODUCT_TYPE_MAX_LENGTH, PRODUCT_TYPE_PATTERN, Money, money_properties

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from app import distribution, liveness

        with app.app_context():
            # before any other checkout listener (app.metrics counts checkouts)
            liveness.install(db.engine)
            distribution.install(db.engine)
    api.init_app(app)
    api.register_field(Money, "string", "decimal")
    api.ma_plugin.converter.add_attribute_function(money_properties)
    api.register_converter(
        IdConverter, lambda _: {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    )
    api.register_converter(
        BigIdConverter, lambda _: {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    )
    api.register_converter(
        ProductTypeConverter,
        lambda _: {
            "type": "string",
            "pattern": PRODUCT_TYPE_PATTERN,
            "maxLength": PRODUCT_TYPE_MAX_LENGTH,
        },
    )


def register_blueprints(app: Flask) -> None:
    """One blueprint per feature."""
    from app import health, swagger_ui
    from app.alerts.routes import bp as alerts_bp
    from app.bundles.routes import bp as bundles_bp
    from app.companies.routes import bp as companies_bp
    from app.dashboard.routes import bp as dashboard_api_bp
    from app.dashboard.routes import page as dashboard_page
    from app.events.routes import bp as webhooks_bp
    from app.extensions import api
    from app.products.routes import bp as products_bp
    from app.purchasing.routes import bp as purchasing_bp
    from app.stock.routes import bp as stock_bp
    from app.suppliers.routes import bp as suppliers_bp
    from app.thresholds.routes import bp as thresholds_bp
    from app.warehouses.routes import bp as warehouses_bp

    for bp in (
        health.bp,
        companies_bp,
        warehouses_bp,
        products_bp,
        bundles_bp,
        suppliers_bp,
        thresholds_bp,
        stock_bp,
        purchasing_bp,
        alerts_bp,
        webhooks_bp,
        dashboard_api_bp,
    ):
        api.register_blueprint(bp)
    app.register_blueprint(dashboard_page)
    app.register_blueprint(swagger_ui.bp)


def register_request_hooks(app: Flask) -> None:
    """A request id and authentication before every request; headers on every response."""
    from app import api, auth, request_id

    app.before_request(request_id.assign)
    app.before_request(api.check_url_length)
    app.before_request(auth.authenticate)
    app.after_request(request_id.echo)

    @app.after_request
    def security_headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    if app.config["STOCKFLOW_CORS_ORIGINS"]:
        # browsers may call the API only from the origins the operator listed
        from flask_cors import CORS

        CORS(
            app,
            resources={r"/api/*": {"origins": app.config["STOCKFLOW_CORS_ORIGINS"]}},
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                request_id.HEADER,
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "Idempotent-Replayed",
                api.SECRET_WITHHELD_HEADER,
                request_id.HEADER,
            ],
            max_age=600,
        )

        @app.after_request
        def vary_on_origin(response):
            # flask-cors adds Vary only for several origins; with one, a cache
            # could serve an answer with the allow-origin header to another origin
            if request.path.startswith("/api/"):
                response.vary.add("Origin")
            return response


def register_metrics(app: Flask) -> None:
    """Request, pool and business metrics, and ``/metrics`` for the operator's token."""
    from app import metrics
    from app.extensions import db

    with app.app_context():
        metrics.init_app(app, db.engine)


def register_commands(app: Flask) -> None:
    """The ``flask`` commands: create-company, create-api-key, seed-demo, worker, ..."""
    from app import cli

    cli.register(app)
