"""The request schema of POST /v1/evaluate, built with marshmallow from the field catalogue.

Unknown is a first-class value: an absent or null clinical field loads as "not given" and is
never defaulted. Types are strict: JSON `true` is a boolean and nothing else is, a number must
be a JSON number (not a string, not a boolean), an integer field takes no fraction.
"""

from __future__ import annotations

import math
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from cds.fields import FIELDS, SECTIONS, Field
from cds.problems import Problem, validation_problem

ADULT_AGE = 16


def _range_message(f: Field) -> str:
    assert f.low is not None and f.high is not None
    if f.kind == "int":
        return f"must be between {int(f.low)} and {int(f.high)}"
    return f"must be between {f.low} and {f.high}"


class _Typed(fields.Field):  # type: ignore[type-arg]
    """One contract field: strict type check, then range or choices, messages without values."""

    def __init__(self, spec: Field) -> None:
        super().__init__(allow_none=not spec.required, required=spec.required)
        self.spec = spec
        self.error_messages["required"] = "is required"
        self.error_messages["null"] = "must not be null"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        spec = self.spec
        kind = spec.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValidationError("must be true or false (or null when unknown)")
            return value
        if kind in ("int", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError("must be a number" if kind == "number" else "must be an integer")
            if kind == "int" and not isinstance(value, int):
                raise ValidationError("must be an integer")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValidationError("must be a finite number")
            if spec.path == "patient.age_years" and value < ADULT_AGE:
                raise ValidationError("out of scope: adult service (age 16 and over)")
            assert spec.low is not None and spec.high is not None
            if not spec.low <= value <= spec.high:
                raise ValidationError(_range_message(spec))
            return value
        if kind == "string":
            if not isinstance(value, str):
                raise ValidationError("must be a string")
            assert spec.low is not None and spec.high is not None
            if not spec.low <= len(value) <= spec.high:
                raise ValidationError(f"must be {int(spec.low)} to {int(spec.high)} characters long")
            return value
        if kind == "enum":
            if not isinstance(value, str) or value not in spec.choices:
                raise ValidationError("must be one of: " + ", ".join(spec.choices))
            return value
        # enum_list
        if not isinstance(value, list):
            raise ValidationError("must be an array")
        if not value:
            raise ValidationError("must name at least one item; omit the field when unknown")
        errors = {
            i: ["must be one of: " + ", ".join(spec.choices)]
            for i, item in enumerate(value)
            if not isinstance(item, str) or item not in spec.choices
        }
        if errors:
            raise ValidationError(errors)
        if len(set(value)) != len(value):
            raise ValidationError("must not repeat an item")
        return list(value)


class _Section(fields.Nested):
    def __init__(self, schema: type[Schema], required: bool) -> None:
        super().__init__(schema, allow_none=not required, required=required, unknown=RAISE)
        self.error_messages["required"] = "is required"
        self.error_messages["null"] = "must not be null"
        self.error_messages["type"] = "must be an object"


def _build_schema() -> type[Schema]:
    top: dict[str, fields.Field[Any]] = {}
    for section in SECTIONS:
        members: dict[str, fields.Field[Any]] = {f.name: _Typed(f) for f in FIELDS if f.section == section}
        required = any(f.required for f in FIELDS if f.section == section)
        section_schema = Schema.from_dict(members, name=f"{section.title()}Schema")
        top[section] = _Section(section_schema, required)
    for f in FIELDS:
        if not f.section:
            top[f.path] = _Typed(f)
    return Schema.from_dict(top, name="EncounterSchema")


EncounterSchema = _build_schema()
_SCHEMA = EncounterSchema(unknown=RAISE)


def _flatten(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = str(key)
            if key == "_schema":
                path = prefix or "$"
            else:
                path = f"{prefix}.{key}" if prefix else key
            out.extend(_flatten(value, path))
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                out.extend(_flatten(message, prefix))
            else:
                out.append({"field": prefix or "$", "message": _normalise(str(message))})
    else:
        out.append({"field": prefix or "$", "message": _normalise(str(messages))})
    return out


def _normalise(message: str) -> str:
    if message == "Unknown field.":
        return "unknown field (misspelt? unknown fields are rejected, never ignored)"
    if message == "Invalid input type.":
        return "must be an object"
    return message


def load_encounter(data: Any) -> dict[str, Any]:
    """Validate a decoded JSON body; raise a 422 Problem listing every invalid field."""
    if not isinstance(data, dict):
        raise validation_problem([{"field": "$", "message": "the encounter must be a JSON object"}])
    try:
        loaded: dict[str, Any] = _SCHEMA.load(data)
    except ValidationError as err:
        errors = sorted(_flatten(err.messages), key=lambda e: (e["field"], e["message"]))
        raise validation_problem(errors) from None
    return loaded


__all__ = ["EncounterSchema", "Problem", "load_encounter"]
