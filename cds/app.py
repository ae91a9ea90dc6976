"""The application factory: `cds.app:create_app` is the WSGI entry point.

Start-up does all the expensive work once (load and validate the rule base, compile it into
durable-rules), so a request only evaluates. An invalid rule base stops the start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from cds.decide import Decider
from cds.errors import register_error_handlers
from cds.rulebase import RuleBase, load_rulebase
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
    logging.basicConfig(level=settings.log_level)
    app = Flask(__name__)
    app.config.update(
        CDS_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    if config:
        app.config.update(config)
    rb = load_rulebase(settings.rules_dir)
    app.extensions["cds.decider"] = decider_for(rb)

    from cds import api, health

    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    register_error_handlers(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app
