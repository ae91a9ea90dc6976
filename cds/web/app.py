"""The application factory: `cds.web.app:create_app` is the WSGI entry point.

Start-up does all the expensive work once (load and validate the rule base and the question
catalogue, compile the rules into durable-rules, run its self-test), so a request only
evaluates. An invalid rule base or catalogue stops the start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from cds.fhir.diagnoses import diagnoses, require_known_flags
from cds.fhir.questionnaire import require_known_codes
from cds.hooks import init_hooks
from cds.settings import Settings
from cds.triage import load_rulebase, require_servable, triage_for
from cds.triage.interview import Interview
from cds.triage.questions import load_questions
from cds.web import evaluate, fhir_form, health, interview, openapi, triage_page
from cds.web.body_input import guard_body_reads
from cds.web.errors import register_error_handlers
from cds.web.observability import configure_logging, register_request_logging
from cds.web.page_access import init_page_secret


class _Flask(Flask):
    def make_default_options_response(self) -> Response:
        """OPTIONS on a route of no preflight of its own: 204 and Allow. Flask's answer was a 200
        typed text/html with no body (werkzeug's default type)."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def create_app(settings: Settings | None = None, config: Mapping[str, Any] | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = _Flask(__name__)
    app.config.update(
        CDS_SETTINGS=settings,
        # a backstop only: each endpoint reads its body against its own limit (cds.web.body.json_body)
        MAX_CONTENT_LENGTH=max(settings.max_body_bytes, settings.hooks_max_body_bytes),
    )
    if config:
        app.config.update(config)
    rb = load_rulebase(settings.rules_dir)
    require_servable(rb)
    triage = app.extensions["cds.triage"] = triage_for(rb)
    health.check_self_test(triage)
    catalogue = load_questions(settings.rules_dir, rb)
    require_known_codes(catalogue)
    require_known_flags(diagnoses(), rb.flags)
    app.extensions["cds.interview"] = Interview(triage, catalogue)
    if not settings.api_keys_required:
        app.logger.warning("access control for /v1/evaluate is off (no CDS_API_KEYS, or CDS_AUTH=off)")

    # "/v1//evaluate" is no route: merging the slashes answered a 308 to a Location built from
    # the Host header, before any access check, asking the client to post patient data again
    app.url_map.merge_slashes = False
    app.register_blueprint(evaluate.bp)
    app.register_blueprint(interview.bp)
    app.register_blueprint(fhir_form.bp)
    init_page_secret(app, settings)
    app.register_blueprint(triage_page.bp)
    init_hooks(app, settings)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    register_error_handlers(app)
    register_request_logging(app, rb.version)
    app.wsgi_app = guard_body_reads(app.wsgi_app)  # type: ignore[method-assign,assignment]

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app
