"""Reading the CDS client's FHIR server, when a prefetch key is missing and the client gave a
`fhirServer` and `fhirAuthorization` (CDS Hooks 2.0, "FHIR Resource Access").

Only an allowlisted server is read (fhir_servers.py), through cds.hooks.outbound: the address
checked and pinned, no redirects, a deadline and a byte budget for the whole call as well as a
timeout and a size per read. Only the queries of our own prefetch templates are sent, with the
client's bearer token, which is never logged. A response must be FHIR JSON within the limits
of a CDS Hooks body (depth, array sizes).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cds.hooks import outbound
from cds.hooks.fhir_servers import FhirTarget
from cds.problems import Problem
from cds.settings import Settings
from cds.strict_json import decode

FHIR_JSON = ("application/fhir+json", "application/json")
# RFC 3986 allows no "|" in a query, and strict servers refuse one (Tomcat's default answers
# 400): a search token's system|code is sent percent-encoded, which every FHIR server decodes.
# What a URI allows stays as written, an escape included.
_URI_SAFE = "/?&=,:;@!$'()*+%-._~"


class FhirFetchError(Exception):
    """The FHIR server could not give a usable answer; `reason` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FhirReader:
    """The reads of one CDS Hooks call, sharing one deadline, one byte budget, one address."""

    def __init__(self, target: FhirTarget, token: str, settings: Settings) -> None:
        self._target = target
        self._token = token
        self._settings = settings
        self._budget = outbound.Budget(settings.fhir_call_deadline_seconds, settings.fhir_call_max_bytes)
        self._address: str | None = None

    def read(self, query: str) -> Any:
        endpoint, settings = self._target.endpoint, self._settings
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/fhir+json"}
        try:
            if self._address is None:
                self._address = outbound.resolve(endpoint, self._target.allowed, self._budget)
            answer = outbound.get(
                endpoint,
                self._address,
                quote(f"{endpoint.path}/{query.lstrip('/')}", safe=_URI_SAFE),
                headers,
                self._budget,
                timeout=settings.fhir_timeout_seconds,
                max_bytes=settings.fhir_max_bytes,
            )
        except outbound.OutboundError as err:
            raise FhirFetchError(err.reason) from None
        if answer.media_type not in FHIR_JSON:
            raise FhirFetchError("content_type")
        limits = settings.hooks_limits
        try:
            return decode(answer.body, limits.max_depth, limits.max_items)
        except Problem:
            raise FhirFetchError("not_fhir_json") from None
