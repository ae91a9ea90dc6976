"""The reasons a clinician can give for overriding a flag card (CDS Hooks `card.overrideReasons`),
in a small code system of ours. One place for both ends: the cards that offer them (cards.py) and
the feedback endpoint that accepts only them and records the code alone (requests.py, views.py).

Clinical wording: changing a display is a review like a rule's; a code, once sent to an EHR, is
never reused for another meaning (feedback already recorded under it would change meaning).
"""

from __future__ import annotations

from typing import Any

SYSTEM = "https://cds.invalid/fhir/CodeSystem/override-reason"
REASONS: dict[str, str] = {
    "assessed-face-to-face": "Assessed face to face: flag not supported",
    "already-actioned": "Already referred or ambulance called",
    "patient-declined": "Patient declined the advice",
    "information-incorrect": "Information in the record is incorrect",
}


def override_reasons() -> list[dict[str, str]]:
    """A card's `overrideReasons`: each Coding with the `display` CDS Hooks requires (fresh dicts
    per card, so no response shares an object with another)."""
    return [{"system": SYSTEM, "code": code, "display": display} for code, display in REASONS.items()]


def is_ours(coding: dict[str, Any]) -> bool:
    """Whether a Coding from feedback is one of the reasons this service offers."""
    return coding.get("system") == SYSTEM and coding.get("code") in REASONS
