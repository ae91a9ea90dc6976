"""RFC 9457 problem documents: the only shape an error leaves this service in.

A problem names the fields at fault but never echoes what was submitted, so a clinical value or
an identifier cannot leak into an error response, a log line or a proxy's cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://cds.invalid/problems/"


@dataclass
class Problem(Exception):
    status: int
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    slug: str | None = None
    title: str | None = None

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


def validation_problem(errors: list[dict[str, str]]) -> Problem:
    count = len(errors)
    return Problem(
        422,
        f"The encounter failed validation: {count} problem{'s' if count != 1 else ''}.",
        errors=errors,
        slug="validation",
    )
