"""Validation of CDS Hooks 2.0 requests (service call and feedback) with marshmallow.

A malformed CDS Hooks request is a 400 problem naming each field (the specification's own
status for a bad request); unknown members are allowed, as the specification lets clients
and hooks extend these objects. Feedback is well-formed and then read: an override reason that
is not one of ours is recorded as "other", never refused, and a free-text comment is dropped
(load_feedback).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from cds.hooks.overrides import is_ours
from cds.problems import INVALID_CDS_HOOKS_REQUEST, flatten_messages
from cds.text import NOT_PRINTABLE, PRINTABLE

HOOKS = ("patient-view", "encounter-start")


def _printable(value: str) -> None:
    if not PRINTABLE.fullmatch(value):
        raise ValidationError(NOT_PRINTABLE)


_ID: list[Callable[[Any], Any]] = [validate.Length(min=1, max=256), _printable]
# a FHIR id (R4 "id" datatype); \Z, not $, which would let a trailing newline through
_FHIR_ID = validate.Regexp(r"[A-Za-z0-9\-.]{1,64}\Z")


def _fhir_server(value: str) -> None:
    """A URL, http or https: plain http to another machine is never read (the allowlist cannot
    hold one, cds.net.normal_base_url), but a call whose prefetch is whole reads nothing, and
    refusing it lost every card (the specification's own example request names an http server)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValidationError("must be an http(s) URL")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValidationError("must be a FHIR base URL without query or fragment")


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class FhirAuthorization(_Open):
    access_token = fields.String(required=True, validate=validate.Length(min=1, max=8192))
    token_type = fields.String(required=True, validate=validate.Equal("Bearer"))
    expires_in = fields.Integer(required=True, strict=True)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String()


class Context(_Open):
    userId = fields.String(required=True, validate=_ID)
    patientId = fields.String(required=True, validate=_FHIR_ID)
    encounterId = fields.String(validate=_ID, allow_none=True)


class HookRequest(_Open):
    hook = fields.String(required=True, validate=validate.OneOf(HOOKS))
    hookInstance = fields.String(required=True, validate=[validate.Length(min=1, max=128), _printable])
    # CDS Hooks forbids null, yet speaks of "a non-null fhirAuthorization": an optional member
    # sent as null is taken as left out rather than refused with every card
    fhirServer = fields.String(validate=_fhir_server, allow_none=True)
    fhirAuthorization = fields.Nested(FhirAuthorization, allow_none=True)
    context = fields.Nested(Context, required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))

    @validates_schema
    def _server_with_token(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("fhirAuthorization") is not None and data.get("fhirServer") is None:
            raise ValidationError("is required when fhirAuthorization is given", "fhirServer")
        for key, value in (data.get("prefetch") or {}).items():
            if value is not None and not isinstance(value, dict):
                raise ValidationError("must be a FHIR resource or null", f"prefetch.{key}")


def _timestamp(value: str) -> None:
    try:
        # RFC 3339 section 5.6 allows a lower-case "t" and "z"; Python reads neither
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("must be an ISO 8601 date-time") from None


class Coding(_Open):
    code = fields.String(required=True)
    system = fields.String(required=True)
    display = fields.String()


class OverrideReason(_Open):
    reason = fields.Nested(Coding)
    userComment = fields.String()


class AcceptedSuggestion(_Open):
    id = fields.String(required=True)


class FeedbackItem(_Open):
    card = fields.String(required=True, validate=[validate.Length(min=1, max=128), _printable])
    outcome = fields.String(required=True, validate=validate.OneOf(("accepted", "overridden")))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestion))
    overrideReason = fields.Nested(OverrideReason)
    outcomeTimestamp = fields.String(required=True, validate=_timestamp)

    @validates_schema
    def _accepted_names_suggestions(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError("is required for an accepted outcome", "acceptedSuggestions")


class FeedbackRequest(_Open):
    feedback = fields.List(fields.Nested(FeedbackItem), required=True, validate=validate.Length(min=1, max=64))


def load(schema: Schema, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise INVALID_CDS_HOOKS_REQUEST(
            "The request must be a JSON object.", [{"field": "$", "message": "must be an object"}]
        )
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as err:
        errors = sorted(flatten_messages(err.messages), key=lambda e: (e["field"], e["message"]))
        raise INVALID_CDS_HOOKS_REQUEST("The CDS Hooks request is malformed.", errors) from None
    return loaded


HOOK_REQUEST = HookRequest()
FEEDBACK_REQUEST = FeedbackRequest()
OTHER_REASON = "other"  # what is recorded for a reason the EHR added: never its code or display


class Feedback(NamedTuple):
    """One feedback item as it may be recorded: nothing the clinician typed."""

    card: str
    outcome: str
    reason_code: str | None  # one of overrides.REASONS, "other" (the EHR's own), or None (no reason)
    comment_dropped: bool  # the item carried an overrideReason.userComment, not kept


def load_feedback(data: Any) -> list[Feedback]:
    """The items of a feedback request (400 when malformed). A reason our cards offer is recorded
    by its code; any other is recorded as "other": CDS Hooks lets an EHR add reasons of its own
    (refusing them would lose the whole batch), and only a code from our small fixed list can be
    recorded without risking free text in the logs.

    `overrideReason.userComment` is accepted and dropped here, before anything can record it.
    CDS Hooks 2.0 lets a client send it, so refusing it (422) would make a conformant EHR lose
    the whole batch, the coded reasons with it, for an action its user took; dropping it keeps
    the free text (which may name the patient) out of every log and metric just as surely, since
    nothing past this function ever sees it."""
    items = load(FEEDBACK_REQUEST, data)["feedback"]
    return [
        Feedback(
            item["card"],
            item["outcome"],
            _recorded(item.get("overrideReason", {}).get("reason")),
            "userComment" in item.get("overrideReason", {}),
        )
        for item in items
    ]


def _recorded(reason: dict[str, Any] | None) -> str | None:
    if reason is None:
        return None
    return str(reason["code"]) if is_ours(reason) else OTHER_REASON
