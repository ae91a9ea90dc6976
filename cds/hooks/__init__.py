"""HL7 CDS Hooks 2.0, the EHR channel: discovery, the back-pain-triage service and its feedback.

Every call, discovery included, carries a JWT bearer from a trusted EHR (client_auth.py); a
failure is a bare 401 and nothing is read or evaluated. Browser-based clients get CORS headers
for the origins configured in CDS_CORS_ORIGINS and for no other.

views.py         the endpoints, thin            service.py   a call -> FHIR data -> triage -> cards
requests.py      the call and feedback schemas  prefetch.py  templates, prefetch, or fetch
client_auth.py   trusting CDS clients (JWT)     replay.py    the jti store (Redis, SQLite)
fhir_servers.py  which FHIR servers, addresses  outbound.py  every read of another server
fhir_client.py   one call's FHIR reads          cards.py     the answer
"""

from __future__ import annotations

from flask import Flask, Response, request

from cds.hooks.client_auth import HooksAuthConfig, JwtVerifier
from cds.hooks.replay import ReplayStoreUnavailable, replay_store_for
from cds.hooks.views import bp
from cds.settings import Settings, SettingsError


def init_hooks(app: Flask, settings: Settings) -> None:
    try:
        config = HooksAuthConfig.from_settings(settings)
        replays = replay_store_for(settings)
        verifier = JwtVerifier(config, replays=replays)
    except (ValueError, ReplayStoreUnavailable) as err:
        raise SettingsError(str(err)) from None
    app.extensions["cds.hooks"] = (config, verifier)
    app.extensions["cds.replays"] = replays
    if not config.enabled:
        app.logger.warning("CDS Hooks JWT authentication is off (a test's settings): never in a deployment")
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
                # a browser client reads only what is exposed: when to try again after a 429 or 503
                response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
                response.headers["Access-Control-Max-Age"] = "600"
            response.headers.add("Vary", "Origin")
        return response
