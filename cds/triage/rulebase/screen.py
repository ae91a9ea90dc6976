"""The self-care screen of a rule file (section 11 of the specification): the items that must
be known, and the normal value of each input a caller cannot give."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from cds.triage.encounter import check
from cds.triage.fields import BY_PATH, FIELDS, Field
from cds.triage.rulebase.model import ByValue, Normal, SameAs, SelfCareScreen, source_keys
from cds.triage.rulebase.problems import Problems

# section 11: every examination finding and laboratory value is one a caller cannot give
_UNASKABLE_SECTIONS = ("exam", "labs")


def self_care_screen(doc: dict[str, Any], file: str, problems: Problems) -> SelfCareScreen:
    items = tuple(doc["items"])
    for i, path in enumerate(items):
        problems.need_field(path, file, None, f"self_care_screen.items[{i}]")
    sources = source_keys(doc["source"])
    problems.need_sources(sources, file, None, "self_care_screen.source")
    normal: dict[str, Normal] = {}
    for path, value in doc["assumed_normal"].items():
        where = f"self_care_screen.assumed_normal.{path}"
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            problems.add(file, None, where, f"unknown field '{path}'")
            continue
        if path in items:
            problems.add(file, None, where, "a screen item is asked, never assumed normal")
        normal[path] = _normal(spec, value, doc["assumed_normal"], file, where, problems)
    for spec in FIELDS:
        if spec.section in _UNASKABLE_SECTIONS and spec.path not in normal:
            problems.add(file, None, "self_care_screen.assumed_normal", f"'{spec.path}' needs a normal value")
    return SelfCareScreen(items, normal, sources)


def _choices(spec: Field) -> set[str]:
    if spec.choices:
        return set(spec.choices)
    if spec.low is not None and spec.high is not None:
        return {str(v) for v in range(int(spec.low), int(spec.high) + 1)}
    return set()


def _normal(spec: Field, value: Any, table: dict[str, Any], file: str, where: str, problems: Problems) -> Normal:
    """One assumed-normal value, checked against its field: plain, `same_as` another field
    (with `otherwise`), or `by` another assumed field's value."""

    def valid(v: Any, at: str) -> Any:
        try:
            return check(spec, v)
        except ValidationError as err:
            problems.add(file, None, at, f"not a value of the field: {err.messages}")
            return v

    if not isinstance(value, dict):
        return valid(value, where)
    other: str = value["same_as"] if "same_as" in value else value["by"]
    other_spec = BY_PATH.get(other)
    if other_spec is None or ("same_as" in value and other_spec.kind != spec.kind):
        problems.add(file, None, where, f"'{other}' is not a field of the same kind")
    if "same_as" in value:
        return SameAs(other, valid(value["otherwise"], where + ".otherwise"))
    if not isinstance(table.get(other), (bool, int, float, str)) or other_spec is None:
        problems.add(file, None, where, f"'{other}' needs a plain assumed-normal value")
        return ByValue(other, {})
    values = {str(k): valid(v, f"{where}.values.{k}") for k, v in value["values"].items()}
    wanted = _choices(other_spec)
    if set(values) != wanted:
        problems.add(file, None, where, f"needs a value for each of: {', '.join(sorted(wanted))}")
    return ByValue(other, values)
