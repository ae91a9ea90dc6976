"""The implied answers of a rule file (principle 8 of the specification), and their checks."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from cds.triage.conditions import FieldAtom
from cds.triage.encounter import check
from cds.triage.fields import BY_PATH
from cds.triage.rulebase.model import Implication, source_keys
from cds.triage.rulebase.parse import check_atom, parse
from cds.triage.rulebase.problems import Problems


def implication(doc: dict[str, Any], file: str, i: int, problems: Problems) -> Implication:
    where = f"implied[{i}]"
    when = parse(doc["when"])
    assert isinstance(when, FieldAtom)
    problem = check_atom(when)
    if problem:
        problems.add(file, doc["id"], where + ".when", problem)
    target = doc["then"]["field"]
    value = doc["then"]["value"]
    spec = BY_PATH.get(target)
    if spec is None or not spec.clinical:
        problems.add(file, doc["id"], where + ".then", f"unknown field '{target}'")
    else:
        try:
            value = check(spec, value)
        except ValidationError as err:
            problems.add(file, doc["id"], where + ".then.value", f"not a value of the field: {err.messages}")
    sources = source_keys(doc["source"])
    problems.need_sources(sources, file, doc["id"], where + ".source")
    return Implication(doc["id"], doc["title"], when, target, value, bool(doc.get("refuse_contradiction")), sources)


def check_implications(implications: list[Implication], rule_files: dict[str, str], problems: Problems) -> None:
    """Implications read explicit answers only, so none may feed another (no chains to order),
    and two may not imply different values for one field."""
    targets: dict[str, Implication] = {}
    for imp in implications:
        other = targets.get(imp.target)
        if other is not None and other.value != imp.value:
            problems.add("implied", imp.id, "then", f"contradicts {other.id} on '{imp.target}'")
        targets[imp.target] = imp
        if imp.target == imp.when.path:
            problems.add("implied", imp.id, "then", "implies a value of the field it reads")
        if imp.id in rule_files:
            problems.add("implied", imp.id, "id", f"also a rule id (in {rule_files[imp.id]})")
    ids = [imp.id for imp in implications]
    for rid in sorted(set(ids)):
        if ids.count(rid) > 1:
            problems.add("implied", rid, "id", "duplicate id")
