"""HL7 CDS Hooks 2.0: discovery, the back-pain-triage service and its feedback endpoint.

Every call, discovery included, carries a JWT bearer from a trusted EHR (cds.hooks_auth); a
failure is a bare 401 and nothing is read or evaluated. Browser-based clients get CORS
headers for the origins configured in CDS_CORS_ORIGINS and for no other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, current_app, g, request

from cds.auth import unauthorized
from cds.cards import age_unknown_card, build_cards
from cds.fhir.mapping import map_resources, resources_from
from cds.hooks_auth import AuthError, HooksAuthConfig, JwtVerifier
from cds.hooks_schema import FEEDBACK_REQUEST, HOOK_REQUEST, load
from cds.metrics import CDS_FEEDBACK, count_evaluation
from cds.prefetch import TEMPLATES, gather
from cds.problems import Problem
from cds.schema import ADULT_AGE, load_encounter
from cds.settings import Settings, SettingsError
from cds.web import json_body, json_response

SERVICE_ID = "back-pain-triage"
bp = Blueprint("hooks", __name__, url_prefix="/cds-services")
log = structlog.get_logger("cds.hooks")

_DESCRIPTION = (
    "Triage of back pain during an acute illness (flu, a cold, COVID or another infection): tells systemic "
    "myalgia from sepsis, bacterial meningitis, cord or cauda equina compression, spinal infection and acute "
    "pyelonephritis, with the reasons, the guideline behind each and the questions still worth asking."
)


def _discovery_document() -> dict[str, Any]:
    service = {
        "title": "Back pain during an acute illness: triage",
        "description": _DESCRIPTION,
        "id": SERVICE_ID,
        "prefetch": dict(TEMPLATES),
        "usageRequirements": "Adults (16 and over) with back pain. Reads Patient, vital signs, Conditions, "
        "findings (Observations) and urinalysis, lactate and white cell count results.",
    }
    return {"services": [{"hook": hook, **service} for hook in ("patient-view", "encounter-start")]}


DISCOVERY = _discovery_document()


def init_hooks(app: Flask, settings: Settings) -> None:
    try:
        config = HooksAuthConfig.from_env(settings.hooks_env)
        verifier = JwtVerifier(config)
    except ValueError as err:
        raise SettingsError(str(err)) from None
    app.extensions["cds.hooks"] = (config, verifier)
    if not config.enabled:
        app.logger.warning("CDS Hooks JWT authentication is off (CDS_AUTH=off): for local work only")
    elif not config.trusted_issuers:
        app.logger.warning("CDS Hooks: no CDS_TRUSTED_ISSUERS configured; every CDS Hooks call will get 401")
    app.register_blueprint(bp)

    @app.after_request
    def _cors(response: Response) -> Response:
        if request.path.startswith(bp.url_prefix or ""):
            origin = request.headers.get("Origin")
            if origin and origin.rstrip("/") in settings.cors_origins:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
                response.headers["Access-Control-Max-Age"] = "600"
            response.headers.add("Vary", "Origin")
        return response


def _authenticate() -> None:
    config, verifier = current_app.extensions["cds.hooks"]
    audience = config.public_base_url + request.path
    try:
        verifier.verify(request.headers.get("Authorization"), audience)
    except AuthError as err:
        log.warning("cds_hooks_unauthorized", reason=err.reason, route=request.path)
        raise unauthorized() from None


@bp.route("", methods=["OPTIONS"])
@bp.route(f"/{SERVICE_ID}", methods=["OPTIONS"])
@bp.route(f"/{SERVICE_ID}/feedback", methods=["OPTIONS"])
def preflight() -> Response:
    return Response(status=204)


@bp.get("")
def discovery() -> Response:
    _authenticate()
    return json_response(DISCOVERY)


@bp.post(f"/{SERVICE_ID}")
def service() -> Response:
    _authenticate()
    settings: Settings = current_app.config["CDS_SETTINGS"]
    call = load(HOOK_REQUEST, json_body(request, settings.hooks_limits))
    decider = current_app.extensions["cds.decider"]
    gathered = gather(call, settings.fhir_timeout_seconds, settings.fhir_max_bytes)
    patient = gathered.documents.get("patient")
    if isinstance(patient, dict) and patient.get("id") not in (None, call["context"]["patientId"]):
        # data about another patient must never be triaged as this one's
        raise Problem(
            400,
            "The prefetched Patient is not the patient of the context.",
            [{"field": "prefetch.patient", "message": "id differs from context.patientId"}],
            slug="invalid-cds-hooks-request",
        )
    now = datetime.now(UTC)
    mapping = map_resources(
        resources_from(list(gathered.documents.values())),
        today=now.date(),
        not_before=now - timedelta(hours=settings.fhir_observation_window_hours),
    )
    log.info(
        "cds_hooks_call",
        hook=call["hook"],
        prefetched=gathered.prefetched,
        fetched=gathered.fetched,
        empty=gathered.empty,
        mapped=len(mapping.used),
        ignored=mapping.ignored,
        mapping_errors=len(mapping.errors),
    )
    age = mapping.encounter.get("patient", {}).get("age_years")
    if age is None:
        return json_response({"cards": [age_unknown_card(call["hookInstance"], decider.rulebase)]})
    if age < ADULT_AGE:
        return json_response({"cards": []})  # out of scope: an adult service says nothing about children
    result = decider.evaluate(load_encounter(mapping.encounter))
    g.risk_level = result["risk_level"]
    count_evaluation(result, "cds-hooks")
    return json_response({"cards": build_cards(result, mapping.errors, call["hookInstance"], decider.rulebase)})


@bp.post(f"/{SERVICE_ID}/feedback")
def feedback() -> Response:
    _authenticate()
    items = load(FEEDBACK_REQUEST, json_body(request, current_app.config["CDS_SETTINGS"].evaluate_limits))["feedback"]
    for item in items:
        reason = (item.get("overrideReason") or {}).get("reason") or {}
        CDS_FEEDBACK.labels(outcome=item["outcome"]).inc()
        # the card id and a coded reason only: a free-text comment may hold patient details
        log.info("cds_hooks_feedback", card=item["card"], outcome=item["outcome"], reason_code=reason.get("code"))
    return json_response({"received": len(items)})
