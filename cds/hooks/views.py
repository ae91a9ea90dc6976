"""The CDS Hooks endpoints: discovery, the service and its feedback, and CORS preflights. Each
view authenticates the call (a bare 401 before anything is read) and hands over to service.py."""

from __future__ import annotations

import structlog
from flask import Blueprint, Response, current_app, g, request

from cds.hooks.client_auth import AuthError, ReplayQuotaFull, ReplayStoreUnavailable
from cds.hooks.requests import HOOK_REQUEST, load, load_feedback
from cds.hooks.service import DISCOVERY, SERVICE_ID, answer
from cds.problems import REPLAY_STORE_UNAVAILABLE, TOKEN_QUOTA_EXCEEDED, unauthorized
from cds.settings import Settings
from cds.web.body import json_body, json_response
from cds.web.metrics import CDS_FEEDBACK, child, count_evaluation

bp = Blueprint("hooks", __name__, url_prefix="/cds-services")
log = structlog.get_logger("cds.hooks")


def _authenticate() -> str | None:
    """The verified issuer of the call (None when a test's settings switched JWTs off)."""
    config, verifier = current_app.extensions["cds.hooks"]
    audience = config.public_base_url + request.path
    try:
        claims = verifier.verify(request.headers.get("Authorization"), audience)
    except AuthError as err:
        log.warning("cds_hooks_unauthorized", reason=err.reason, route=request.path)
        raise unauthorized() from None
    except ReplayQuotaFull:
        log.warning("cds_hooks_replay_quota_full", route=request.path)
        raise TOKEN_QUOTA_EXCEEDED(
            "This client has too many live tokens; retry when some expire.", retry_after=60
        ) from None
    except ReplayStoreUnavailable as err:
        log.error("cds_hooks_replay_store_unavailable", reason=err.reason, route=request.path)
        raise REPLAY_STORE_UNAVAILABLE("The call cannot be authenticated now; retry later.", retry_after=5) from None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


@bp.route("", methods=["OPTIONS"])
@bp.route(f"/{SERVICE_ID}", methods=["OPTIONS"])
@bp.route(f"/{SERVICE_ID}/feedback", methods=["OPTIONS"])
def preflight() -> Response:
    response = Response(status=204)
    del response.headers["Content-Type"]  # no content, so no type (werkzeug's default is HTML)
    return response


@bp.get("")
def discovery() -> Response:
    _authenticate()
    return json_response(DISCOVERY)


@bp.post(f"/{SERVICE_ID}")
def service() -> Response:
    issuer = _authenticate()
    settings: Settings = current_app.config["CDS_SETTINGS"]
    call = load(HOOK_REQUEST, json_body(request, settings.hooks_limits))
    # the form's address for the "ask next" card: the configured public address (required with
    # trusted issuers), else (a test's settings only) the address this request came to
    base_url = settings.public_base_url or request.url_root.rstrip("/")
    catalogue = current_app.extensions["cds.interview"].catalogue
    answered = answer(call, settings, current_app.extensions["cds.triage"], issuer, catalogue, base_url)
    if answered.result is not None:
        g.risk_level = answered.result["risk_level"]
        count_evaluation(answered.result, "cds-hooks")
    return json_response({"cards": answered.cards})


@bp.post(f"/{SERVICE_ID}/feedback")
def feedback() -> Response:
    _authenticate()
    items = load_feedback(json_body(request, current_app.config["CDS_SETTINGS"].evaluate_limits))
    for item in items:
        child(CDS_FEEDBACK, item.outcome).inc()
        # the card id and one of our reason codes only: a free-text comment may hold patient
        # details, so load_feedback dropped it; the line says that it did
        log.info(
            "cds_hooks_feedback",
            card=item.card,
            outcome=item.outcome,
            reason_code=item.reason_code,
            comment_dropped=item.comment_dropped,
        )
    return json_response({"received": len(items)})
