"""RFC 9457 problem documents: the only shape an error leaves this service in, and the one
catalogue of the problem types this service defines (openapi.yaml documents each).

A problem names the fields at fault but never echoes what was submitted, so a clinical value or
an identifier cannot leak into an error response, a log line or a proxy's cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from cds.text import safe_dotted_key

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://cds.invalid/problems/"
UNKNOWN_FIELD = "unknown field (misspelt? unknown fields are rejected, never ignored)"


@dataclass
class Problem(Exception):
    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    slug: str | None = None
    title: str | None = None
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        phrase = HTTPStatus(self.status).phrase
        body: dict[str, Any] = {
            "type": TYPE_BASE + (self.slug or phrase.lower().replace(" ", "-").replace("'", "")),
            "title": self.title or phrase,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its type URI's slug, its status and title."""

    slug: str
    status: int
    title: str | None = None  # None: the status phrase

    def __call__(
        self, detail: str = "", errors: list[dict[str, str]] | None = None, retry_after: int | None = None
    ) -> Problem:
        return Problem(self.status, detail, errors or [], slug=self.slug, title=self.title, retry_after=retry_after)


MALFORMED_JSON = ProblemType("malformed-json", 400, "Malformed JSON body")
UNREADABLE_INPUT = ProblemType("unreadable-input", 400)
MALFORMED_REQUEST = ProblemType("malformed-request", 400, "Malformed HTTP request")
INVALID_CDS_HOOKS_REQUEST = ProblemType("invalid-cds-hooks-request", 400)
UNAUTHORIZED = ProblemType("unauthorized", 401)
PREFETCH_MISSING = ProblemType("prefetch-missing", 412)
FHIR_FETCH_FAILED = ProblemType("fhir-fetch-failed", 412)
FHIR_SERVER_NOT_ALLOWED = ProblemType("fhir-server-not-allowed", 412)
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", 413)
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", 415)
VALIDATION = ProblemType("validation", 422)
EVALUATION_FAILED = ProblemType("evaluation-failed", 500)
INTERNAL_ERROR = ProblemType("internal-error", 500)
NOT_READY = ProblemType("not-ready", 503)
TOKEN_QUOTA_EXCEEDED = ProblemType("token-quota-exceeded", 429)
REPLAY_STORE_UNAVAILABLE = ProblemType("replay-store-unavailable", 503)

CATALOGUE: dict[str, ProblemType] = {
    t.slug: t
    for t in (
        MALFORMED_JSON,
        UNREADABLE_INPUT,
        MALFORMED_REQUEST,
        INVALID_CDS_HOOKS_REQUEST,
        UNAUTHORIZED,
        PREFETCH_MISSING,
        FHIR_FETCH_FAILED,
        FHIR_SERVER_NOT_ALLOWED,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        VALIDATION,
        EVALUATION_FAILED,
        INTERNAL_ERROR,
        NOT_READY,
        TOKEN_QUOTA_EXCEEDED,
        REPLAY_STORE_UNAVAILABLE,
    )
}


def unauthorized() -> Problem:
    """A 401 that says nothing about why: a caller probing credentials learns nothing."""
    return UNAUTHORIZED()


def payload_too_large(limit: int) -> Problem:
    return PAYLOAD_TOO_LARGE(f"The body is larger than {limit} bytes.")


def validation_problem(errors: list[dict[str, str]]) -> Problem:
    count = len(errors)
    return VALIDATION(f"The encounter failed validation: {count} problem{'s' if count != 1 else ''}.", errors)


def flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """marshmallow's nested messages as a problem's `errors`: one {field, message} each, the
    field a dotted path ($ for the document)."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            # a key the caller sent (an unknown field) is named, but short and plain
            key = str(key) if isinstance(key, int) or key == "_schema" else safe_dotted_key(str(key))
            if key == "_schema":
                path = prefix or "$"
            else:
                path = f"{prefix}.{key}" if prefix else key
            out.extend(flatten_messages(value, path))
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                out.extend(flatten_messages(message, prefix))
            else:
                out.append({"field": prefix or "$", "message": _normalise(str(message))})
    else:
        out.append({"field": prefix or "$", "message": _normalise(str(messages))})
    return out


def _normalise(message: str) -> str:
    return UNKNOWN_FIELD if message == "Unknown field." else message
