"""How levels, flags and values are worded for people: one place for the CLI's explanation and
for CDS Hooks cards."""

from __future__ import annotations

from typing import Any

from cds.triage.fields import BY_PATH

LEVEL_LABEL = {"emergency": "EMERGENCY", "urgent": "URGENT", "routine": "ROUTINE", "self_care": "SELF-CARE"}
LEVEL_WORD = {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine", "self_care": "Self-care"}


def value_text(value: Any) -> str:
    if value is None:
        return "not known"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(str(v).replace("_", " ") for v in value)
    return str(value).replace("_", " ")


def field_label(key: str) -> str:
    """A field's label from the catalogue; a finding, flag, quantity or score key in words."""
    spec = BY_PATH.get(key)
    if spec is not None:
        return spec.label
    for prefix in ("finding.", "flag.", "quantity."):
        if key.startswith(prefix):
            return key[len(prefix) :].replace("_", " ")
    if key.startswith("scores."):
        return key[len("scores.") :].replace("_", " ").replace("news2", "NEWS2").replace("qsofa", "qSOFA")
    return key


def pairs_text(mapping: dict[str, Any], labelled: bool = False) -> str:
    """`key = value; ...`, or with `labelled` `label: value; ...`."""
    if labelled:
        return "; ".join(f"{field_label(k)}: {value_text(v)}" for k, v in mapping.items())
    return "; ".join(f"{k} = {value_text(v)}" for k, v in mapping.items()) or "(nothing)"
