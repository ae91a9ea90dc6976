"""The application factory: `cds.app:create_app` is the WSGI entry point.

Start-up does all the expensive work once (load and validate the rule base, compile it into
durable-rules), so a request only evaluates. An invalid rule base stops the start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from cds.decide import Decider
from cds.errors import register_error_handlers
from cds.observability import configure_logging, register_request_logging
from cds.rulebase import RuleBase, load_rulebase, require_servable
from cds.settings import Settings

_DECIDERS: dict[str, Decider] = {}


def decider_for(rb: RuleBase) -> Decider:
    """One compiled engine per rule-base digest and process: compiling allocates durable
    rulesets, which are never freed, so app factories in tests must not compile again."""
    decider = _DECIDERS.get(rb.digest)
    if decider is None:
        decider = _DECIDERS[rb.digest] = Decider(rb)
    return decider


def create_app(settings: Settings | None = None, config: Mapping[str, Any] | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        CDS_SETTINGS=settings,
        # a backstop only: each endpoint reads its body against its own limit (cds.web.json_body)
        MAX_CONTENT_LENGTH=max(settings.max_body_bytes, settings.hooks_max_body_bytes),
    )
    if config:
        app.config.update(config)
    rb = load_rulebase(settings.rules_dir)
    require_servable(rb)
    app.extensions["cds.decider"] = decider_for(rb)
    if not settings.api_keys_required:
        app.logger.warning("access control for /v1/evaluate is off (no CDS_API_KEYS, or CDS_AUTH=off)")

    from cds import api, docs, health, hooks

    app.register_blueprint(api.bp)
    hooks.init_hooks(app, settings)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)
    register_error_handlers(app)
    register_request_logging(app, rb.version)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app
