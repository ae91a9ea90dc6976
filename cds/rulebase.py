"""Loading the rule base: strict YAML, JSON Schema, then the checks a schema cannot make
(field paths and kinds, references between rules, sources, cycles). Every problem is reported
with its file, rule id and path; the service refuses to start on an invalid rule base.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from marshmallow import ValidationError

from cds.conditions import (
    Condition,
    FieldAtom,
    FindingRef,
    FlagRef,
    NotEstablished,
    QuantityAtom,
    check_atom,
    parse,
)
from cds.durable_forms import TooManyBranches, positive
from cds.fields import BY_PATH, FIELDS, Field
from cds.schema import check
from cds.yamlload import StrictYAMLError, load_strict

LEVELS = ("self_care", "routine", "urgent", "emergency")
LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}
# In order of danger: it breaks ties between flags at the same level (the primary).
FLAG_IDS = (
    "sepsis",
    "meningitis",
    "cord_compression",
    "spinal_infection",
    "other_serious_cause",
    "pyelonephritis",
    "urinary_infection",
    "red_flag_review",
    "persistent_pain",
)
SCREENED = ("sepsis", "meningitis", "cord_compression", "spinal_infection", "pyelonephritis", "other_serious_cause")
MANIFEST = "rulebase.yaml"


@dataclass(frozen=True)
class RuleError:
    file: str
    rule: str | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f" [{self.rule}]" if self.rule else "") + (f" at {self.path}" if self.path else "")
        return f"{where}: {self.message}"


class RuleBaseError(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        super().__init__(f"invalid rule base: {len(errors)} error(s)\n" + "\n".join(f"  {e}" for e in errors))


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    file: str
    condition_name: str
    when: Condition
    then: dict[str, Any]
    sources: tuple[str, ...]
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        kind = next(k for k in ("raise", "finding", "outcome", "advice", "disposition") if k in self.then)
        object.__setattr__(self, "kind", kind)

    def concluded(self) -> dict[str, Any]:
        then = self.then
        kind = self.kind
        if kind == "raise":
            return {"flag": then["raise"], "risk_level": then["level"]}
        if kind == "finding":
            return {f"finding.{then['finding']}": True}
        if kind == "disposition":
            return {"flag": then["disposition"], "disposition": then["use"]}
        return {kind: then[kind]}


@dataclass(frozen=True)
class FlagDef:
    id: str
    name: str
    file: str
    summary: dict[str, str]
    disposition: dict[str, str]


@dataclass(frozen=True)
class Implication:
    """An implied answer (principle 8): when `when` holds on an explicit answer and `target` is
    unknown, `target` takes `value`. With `refuse`, explicit answers that contradict it are refused."""

    id: str
    title: str
    when: FieldAtom
    target: str
    value: Any
    refuse: bool
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SameAs:
    """Normal is the patient's own value of another field when it is known (the usual systolic
    for the systolic), else a fixed value."""

    field: str
    otherwise: Any


@dataclass(frozen=True)
class ByValue:
    """Normal depends on another field's value, known or itself assumed (SpO2 by its scale)."""

    field: str
    values: dict[str, Any]


Normal = Any  # a value, SameAs or ByValue


@dataclass(frozen=True)
class SelfCareScreen:
    """Section 11: the items that must be known for self-care, and the inputs a caller cannot
    give, with the normal value each takes when deciding whether any criterion is still open."""

    items: tuple[str, ...]
    assumed_normal: dict[str, Normal]
    sources: tuple[str, ...]
    # format 1 (rule base 1.x) needed the items known and nothing else
    open_criteria: bool = True

    def fill(self, known: dict[str, Any]) -> dict[str, Any]:
        """The known values, and the normal value of every unknown input a caller cannot give."""
        filled = dict(known)
        later = []
        for path, normal in self.assumed_normal.items():
            if path in known:
                continue
            if isinstance(normal, (SameAs, ByValue)):
                later.append((path, normal))
            else:
                filled[path] = normal
        for path, normal in later:
            if isinstance(normal, SameAs):
                filled[path] = known.get(normal.field, normal.otherwise)
            else:
                filled[path] = normal.values[str(filled[normal.field])]
        return filled


@dataclass(frozen=True)
class Quantity:
    id: str
    title: str
    minuend: str
    subtrahend: str
    unit: str
    sources: tuple[str, ...]

    @property
    def inputs(self) -> tuple[str, str]:
        return (self.minuend, self.subtrahend)


@dataclass
class RuleBase:
    format: int
    version: str
    title: str
    digest: str
    sources: dict[str, dict[str, str]]
    rules: tuple[Rule, ...]
    files: dict[str, str]
    flags: dict[str, FlagDef]
    quantities: dict[str, Quantity]
    news2: dict[str, Any]
    qsofa: dict[str, Any]
    qsofa_criteria: dict[str, Condition]
    screen: SelfCareScreen
    implications: tuple[Implication, ...]
    outcomes: dict[str, Any]
    advice: dict[str, str]
    advice_sets: tuple[dict[str, Any], ...]
    by_id: dict[str, Rule] = field(default_factory=dict)
    finding_rule: dict[str, Rule] = field(default_factory=dict)
    flag_rules: dict[str, list[Rule]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {r.id: r for r in self.rules}
        self.finding_rule = {r.then["finding"]: r for r in self.rules if r.kind == "finding"}
        self.flag_rules = {}
        for r in self.rules:
            if r.kind == "raise":
                self.flag_rules.setdefault(r.then["raise"], []).append(r)

    def __repr__(self) -> str:
        return f"RuleBase(version={self.version!r}, digest={self.digest[:12]!r}, rules={len(self.rules)})"

    def source_label(self, keys: tuple[str, ...]) -> str:
        return "; ".join(self.sources[k]["label"] for k in keys)

    def source_urls(self, keys: tuple[str, ...]) -> list[str]:
        return [self.sources[k]["url"] for k in keys if "url" in self.sources[k]]

    def summary(self) -> dict[str, str]:
        return {"version": self.version, "digest": self.digest}


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("cds.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _json_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_errors(name: str, doc: Any, file: str) -> list[RuleError]:
    errors = []
    for err in sorted(_validator(name).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([err])
        parts = list(best.absolute_path)
        rule = None
        if len(parts) >= 2 and parts[0] == "rules" and isinstance(doc, dict):
            try:
                rule = doc["rules"][parts[1]].get("id")
            except (AttributeError, IndexError, KeyError, TypeError):
                rule = None
        errors.append(RuleError(file, rule, _json_path(parts), best.message))
    return errors


def default_rules_dir() -> Path:
    env = os.environ.get("CDS_RULES_DIR")
    if env:
        return Path(env)
    packaged = Path(__file__).with_name("_rules")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _read(directory: Path, name: str, errors: list[RuleError]) -> Any:
    try:
        return load_strict((directory / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        errors.append(RuleError(name, None, "", "file not found"))
    except (StrictYAMLError, UnicodeDecodeError) as err:
        errors.append(RuleError(name, None, "", f"not valid YAML: {err}"))
    return None


def require_servable(rb: RuleBase) -> None:
    """Only the current format is served: an older rule base loads for comparison (cds rules
    diff) but lacks what the service relies on (flags of the contract, the open-criteria check)."""
    if rb.format < 2:
        raise RuleBaseError([RuleError(MANIFEST, None, "format", f"format {rb.format} can be compared, not served")])


def source_keys(value: Any) -> tuple[str, ...]:
    """A `source` as written in a rule file (one key, or a list of keys) as a tuple of keys."""
    return (value,) if isinstance(value, str) else tuple(value)


def load_rulebase(directory: Path | str | None = None) -> RuleBase:
    directory = Path(directory) if directory is not None else default_rules_dir()
    errors: list[RuleError] = []
    manifest = _read(directory, MANIFEST, errors)
    if manifest is None:
        raise RuleBaseError(errors)
    errors += _schema_errors("rulebase.schema.json", manifest, MANIFEST)
    if errors:
        raise RuleBaseError(errors)

    listed = list(manifest["files"])
    present = sorted(p.name for p in directory.glob("*.yaml") if p.name != MANIFEST)
    for name in present:
        if name not in listed:
            errors.append(RuleError(name, None, "", f"not listed in {MANIFEST}: it would be ignored"))
    docs: dict[str, Any] = {}
    for name in listed:
        doc = _read(directory, name, errors)
        if doc is None:
            continue
        file_errors = _schema_errors("rulefile.schema.json", doc, name)
        errors += file_errors
        if not file_errors:
            docs[name] = doc
    if errors:
        raise RuleBaseError(errors)

    digest = hashlib.sha256(_canonical({"manifest": manifest, "files": docs})).hexdigest()
    rb = _assemble(manifest, docs, digest, errors)
    if errors:
        raise RuleBaseError(errors)
    assert rb is not None
    return rb


def _assemble(manifest: dict[str, Any], docs: dict[str, Any], digest: str, errors: list[RuleError]) -> RuleBase | None:
    sources = manifest["sources"]
    fmt: int = manifest.get("format", 1)

    def need_sources(keys: tuple[str, ...], file: str, rule: str | None, path: str) -> None:
        for key in keys:
            if key not in sources:
                errors.append(RuleError(file, rule, path, f"unknown source '{key}' (add it to {MANIFEST})"))

    def need_field(path: str, file: str, rule: str | None, where: str, numeric: bool = False) -> None:
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            errors.append(RuleError(file, rule, where, f"unknown field '{path}'"))
        elif numeric and not spec.numeric:
            errors.append(RuleError(file, rule, where, f"'{path}' is not numeric"))

    rules: list[Rule] = []
    flags: dict[str, FlagDef] = {}
    quantities: dict[str, Quantity] = {}
    files: dict[str, str] = {}
    scores_doc: dict[str, Any] | None = None
    scores_file = ""
    screen: SelfCareScreen | None = None
    implications: list[Implication] = []
    outcomes: dict[str, Any] | None = None
    advice: dict[str, str] = {}
    advice_sets: list[dict[str, Any]] = []
    seen_ids: dict[str, str] = {}

    for name, doc in docs.items():
        files[name] = doc["condition"]
        for fdef in ([doc["flag"]] if "flag" in doc else []) + list(doc.get("flags", [])):
            if fdef["id"] in flags:
                errors.append(RuleError(name, None, "flag", f"flag '{fdef['id']}' is defined twice"))
            if "name" not in fdef and fmt >= 2:
                errors.append(RuleError(name, None, f"flag {fdef['id']}", "a flag needs a name (format 2)"))
            label = fdef.get("name", fdef["id"].replace("_", " "))
            flags[fdef["id"]] = FlagDef(fdef["id"], label, name, dict(fdef["summary"]), dict(fdef["disposition"]))
        for i, q in enumerate(doc.get("quantities", [])):
            for j, p in enumerate(q["difference"]):
                need_field(p, name, None, f"quantities[{i}].difference[{j}]", numeric=True)
            need_sources(source_keys(q["source"]), name, None, f"quantities[{i}].source")
            quantities[q["id"]] = Quantity(
                q["id"], q["title"], q["difference"][0], q["difference"][1], q["unit"], source_keys(q["source"])
            )
        if "scores" in doc:
            if scores_doc is not None:
                errors.append(RuleError(name, None, "scores", "scores are defined twice"))
            scores_doc = doc["scores"]
            scores_file = name
        for key in ("self_care_screen", "red_flag_screen"):
            if key not in doc:
                continue
            if screen is not None:
                errors.append(RuleError(name, None, key, "the self-care screen is defined twice"))
            if key == "self_care_screen":
                screen = _screen(doc[key], name, need_field, need_sources, errors)
            elif fmt >= 2:
                errors.append(RuleError(name, None, key, "format 2 defines a self_care_screen"))
            else:
                screen = SelfCareScreen(tuple(doc[key]), {}, (), open_criteria=False)
                for i, path in enumerate(screen.items):
                    need_field(path, name, None, f"{key}[{i}]")
        for i, imp in enumerate(doc.get("implied", [])):
            implications.append(_implication(imp, name, i, need_sources, errors))
        if "outcomes" in doc:
            outcomes = doc["outcomes"]
            for key, o in doc["outcomes"].items():
                need_sources(source_keys(o["source"]), name, None, f"outcomes.{key}.source")
        advice.update(doc.get("advice", {}))
        for i, s in enumerate(doc.get("sets", [])):
            need_sources(source_keys(s["source"]), name, None, f"sets[{i}].source")
            advice_sets.append(dict(s))
        for i, r in enumerate(doc.get("rules", [])):
            rid = r["id"]
            if rid in seen_ids:
                errors.append(RuleError(name, rid, f"rules[{i}].id", f"duplicate rule id (also in {seen_ids[rid]})"))
            seen_ids[rid] = name
            need_sources(source_keys(r["source"]), name, rid, f"rules[{i}].source")
            rules.append(
                Rule(
                    rid, r["title"], name, doc["condition"], parse(r["when"]), dict(r["then"]), source_keys(r["source"])
                )
            )

    if scores_doc is None:
        errors.append(RuleError(MANIFEST, None, "files", "no file defines the scores (NEWS2, qSOFA)"))
    if outcomes is None:
        errors.append(RuleError(MANIFEST, None, "files", "no file defines the outcomes"))
    if screen is None:
        errors.append(RuleError(MANIFEST, None, "files", "no file defines the self-care screen"))
    for flag_id in FLAG_IDS:
        if flag_id not in flags and fmt >= 2:
            errors.append(RuleError(MANIFEST, None, "files", f"flag '{flag_id}' is not defined by any file"))
    if errors:
        return None
    assert scores_doc is not None and outcomes is not None and screen is not None
    _check_implications(implications, errors)
    for imp in implications:
        if imp.id in seen_ids:
            errors.append(RuleError("implied", imp.id, "id", f"also a rule id (in {seen_ids[imp.id]})"))

    qsofa_criteria = {k: parse(v) for k, v in scores_doc["qsofa"]["criteria"].items()}
    _check_scores(scores_doc, scores_file, need_field, need_sources, errors)
    _check_rules(rules, flags, quantities, advice, advice_sets, qsofa_criteria, need_field, fmt, errors)
    if errors:
        return None
    ordered = _order(rules, qsofa_criteria, errors)
    if errors:
        return None
    rb = RuleBase(
        format=fmt,
        version=manifest["version"],
        title=manifest["title"],
        digest=digest,
        sources=sources,
        rules=tuple(ordered),
        files=files,
        flags=flags,
        quantities=quantities,
        news2=scores_doc["news2"],
        qsofa=scores_doc["qsofa"],
        qsofa_criteria=qsofa_criteria,
        screen=screen,
        implications=tuple(implications),
        outcomes=outcomes,
        advice=advice,
        advice_sets=tuple(advice_sets),
    )
    _check_durable_forms(rb, errors)
    return rb


def _screen(
    doc: dict[str, Any], file: str, need_field: Any, need_sources: Any, errors: list[RuleError]
) -> SelfCareScreen:
    items = tuple(doc["items"])
    for i, path in enumerate(items):
        need_field(path, file, None, f"self_care_screen.items[{i}]")
    sources = source_keys(doc["source"])
    need_sources(sources, file, None, "self_care_screen.source")
    normal: dict[str, Normal] = {}
    for path, value in doc["assumed_normal"].items():
        where = f"self_care_screen.assumed_normal.{path}"
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            errors.append(RuleError(file, None, where, f"unknown field '{path}'"))
            continue
        if path in items:
            errors.append(RuleError(file, None, where, "a screen item is asked, never assumed normal"))
        normal[path] = _normal(spec, value, doc["assumed_normal"], file, where, errors)
    # section 11: every examination finding and laboratory value is one a caller cannot give
    for spec in FIELDS:
        if spec.section in ("exam", "labs") and spec.path not in normal:
            errors.append(
                RuleError(file, None, "self_care_screen.assumed_normal", f"'{spec.path}' needs a normal value")
            )
    return SelfCareScreen(items, normal, sources)


def _normal(spec: Field, value: Any, table: dict[str, Any], file: str, where: str, errors: list[RuleError]) -> Normal:
    """One assumed-normal value, checked against its field: plain, `same_as` another field
    (with `otherwise`), or `by` another assumed field's value."""

    def valid(v: Any, at: str) -> Any:
        try:
            return check(spec, v)
        except ValidationError as err:
            errors.append(RuleError(file, None, at, f"not a value of the field: {err.messages}"))
            return v

    if not isinstance(value, dict):
        return valid(value, where)
    other: str = value["same_as"] if "same_as" in value else value["by"]
    other_spec = BY_PATH.get(other)
    if other_spec is None or ("same_as" in value and other_spec.kind != spec.kind):
        errors.append(RuleError(file, None, where, f"'{other}' is not a field of the same kind"))
    if "same_as" in value:
        return SameAs(other, valid(value["otherwise"], where + ".otherwise"))
    if not isinstance(table.get(other), (bool, int, float, str)) or other_spec is None:
        errors.append(RuleError(file, None, where, f"'{other}' needs a plain assumed-normal value"))
        return ByValue(other, {})
    values = {str(k): valid(v, f"{where}.values.{k}") for k, v in value["values"].items()}
    lo, hi = other_spec.low, other_spec.high
    wanted = (
        set(other_spec.choices)
        if other_spec.choices
        else ({str(v) for v in range(int(lo), int(hi) + 1)} if lo is not None and hi is not None else set())
    )
    if set(values) != wanted:
        errors.append(RuleError(file, None, where, f"needs a value for each of: {', '.join(sorted(wanted))}"))
    return ByValue(other, values)


def _implication(doc: dict[str, Any], file: str, i: int, need_sources: Any, errors: list[RuleError]) -> Implication:
    where = f"implied[{i}]"
    when = parse(doc["when"])
    assert isinstance(when, FieldAtom)
    problem = check_atom(when)
    if problem:
        errors.append(RuleError(file, doc["id"], where + ".when", problem))
    target = doc["then"]["field"]
    value = doc["then"]["value"]
    spec = BY_PATH.get(target)
    if spec is None or not spec.clinical:
        errors.append(RuleError(file, doc["id"], where + ".then", f"unknown field '{target}'"))
    else:
        try:
            value = check(spec, value)
        except ValidationError as err:
            errors.append(
                RuleError(file, doc["id"], where + ".then.value", f"not a value of the field: {err.messages}")
            )
    sources = source_keys(doc["source"])
    need_sources(sources, file, doc["id"], where + ".source")
    return Implication(doc["id"], doc["title"], when, target, value, bool(doc.get("refuse_contradiction")), sources)


def _check_implications(implications: list[Implication], errors: list[RuleError]) -> None:
    """Implications read explicit answers only, so none may feed another (no chains to order),
    and two may not imply different values for one field."""
    targets: dict[str, Implication] = {}
    for imp in implications:
        other = targets.get(imp.target)
        if other is not None and other.value != imp.value:
            errors.append(RuleError("implied", imp.id, "then", f"contradicts {other.id} on '{imp.target}'"))
        targets[imp.target] = imp
        if imp.target == imp.when.path:
            errors.append(RuleError("implied", imp.id, "then", "implies a value of the field it reads"))
    ids = [imp.id for imp in implications]
    for rid in set(ids):
        if ids.count(rid) > 1:
            errors.append(RuleError("implied", rid, "id", "duplicate id"))


def _check_scores(doc: dict[str, Any], file: str, need_field: Any, need_sources: Any, errors: list[RuleError]) -> None:
    news2 = doc["news2"]
    need_sources(source_keys(news2["source"]), file, "NEWS2", "scores.news2.source")
    need_sources(source_keys(doc["qsofa"]["source"]), file, "QSOFA", "scores.qsofa.source")
    for pname, p in news2["parameters"].items():
        where = f"scores.news2.parameters.{pname}"
        need_field(p["field"], file, "NEWS2", where + ".field", numeric="values" not in p)
        if "scale_field" in p:
            need_field(p["scale_field"], file, "NEWS2", where + ".scale_field", numeric=True)
        tables = [p["bands"]] if "bands" in p else list(p.get("scales", {}).values())
        for bands in tables:
            bounds = [b.get("up_to") for b in bands[:-1]]
            if (
                None in bounds
                or "above" not in bands[-1]
                or bands[-1]["above"] != bounds[-1]
                or bounds != sorted(set(bounds))
            ):
                errors.append(
                    RuleError(file, "NEWS2", where, "bands must rise by `up_to` and end with `above` the last bound")
                )
        if "values" in p:
            spec = BY_PATH.get(p["field"])
            if spec is not None:
                legal = {"true", "false"} if spec.kind == "bool" else set(spec.choices)
                if set(p["values"]) != legal:
                    errors.append(
                        RuleError(
                            file,
                            "NEWS2",
                            where + ".values",
                            f"must give points for exactly: {', '.join(sorted(legal))}",
                        )
                    )
    for cname, cond in doc["qsofa"]["criteria"].items():
        for node in parse(cond).walk():
            if isinstance(node, FieldAtom):
                problem = check_atom(node)
                if problem:
                    errors.append(RuleError(file, "QSOFA", f"scores.qsofa.criteria.{cname}", problem))


def _check_rules(
    rules: list[Rule],
    flags: dict[str, FlagDef],
    quantities: dict[str, Quantity],
    advice: dict[str, str],
    advice_sets: list[dict[str, Any]],
    qsofa_criteria: dict[str, Condition],
    need_field: Any,
    fmt: int,
    errors: list[RuleError],
) -> None:
    findings = {r.then["finding"]: r for r in rules if r.kind == "finding"}
    produced = [r.then["finding"] for r in rules if r.kind == "finding"]
    for fid in set(produced):
        if produced.count(fid) > 1:
            owners = ", ".join(r.id for r in rules if r.then.get("finding") == fid)
            errors.append(RuleError("", None, "", f"finding '{fid}' is concluded by more than one rule ({owners})"))
    used_positively: set[str] = set()
    for cond in qsofa_criteria.values():
        used_positively.update(n.finding for n in cond.walk() if isinstance(n, FindingRef))
    for rule in rules:
        where = f"{rule.id}.when"
        for node in rule.when.walk():
            if isinstance(node, FieldAtom):
                problem = check_atom(node)
                if problem:
                    errors.append(RuleError(rule.file, rule.id, where, problem))
            elif isinstance(node, FindingRef):
                if node.finding not in findings:
                    errors.append(RuleError(rule.file, rule.id, where, f"unknown finding '{node.finding}'"))
            elif isinstance(node, FlagRef):
                if node.flag not in flags:
                    errors.append(RuleError(rule.file, rule.id, where, f"unknown flag '{node.flag}'"))
            elif isinstance(node, QuantityAtom) and node.quantity not in quantities:
                errors.append(RuleError(rule.file, rule.id, where, f"unknown quantity '{node.quantity}'"))
        used_positively.update(_positive_findings(rule.when))
        then = rule.then
        kind = rule.kind
        if kind == "raise":
            fdef = flags.get(then["raise"])
            if fdef is None:
                errors.append(RuleError(rule.file, rule.id, "then.raise", f"unknown flag '{then['raise']}'"))
            else:
                for table in ("summary", "disposition"):
                    if then["level"] not in getattr(fdef, table):
                        errors.append(
                            RuleError(
                                rule.file,
                                rule.id,
                                "then.level",
                                f"flag '{fdef.id}' has no {table} for level '{then['level']}'",
                            )
                        )
        elif kind == "disposition":
            fdef = flags.get(then["disposition"])
            raising = {r.then["level"] for r in rules if r.kind == "raise" and r.then["raise"] == then["disposition"]}
            if "level" not in then and fmt >= 2:
                errors.append(RuleError(rule.file, rule.id, "then", "a disposition names its level (format 2)"))
            elif "level" in then and then["level"] not in raising:
                errors.append(
                    RuleError(
                        rule.file, rule.id, "then.level", f"no rule raises '{then['disposition']}' at '{then['level']}'"
                    )
                )
            if fdef is None or then["use"] not in fdef.disposition:
                errors.append(
                    RuleError(
                        rule.file, rule.id, "then", f"flag '{then['disposition']}' has no disposition '{then['use']}'"
                    )
                )
        elif kind == "advice" and then["advice"] not in advice:
            errors.append(RuleError(rule.file, rule.id, "then.advice", f"unknown advice '{then['advice']}'"))
    for fid in findings:
        if fid not in used_positively and not findings[fid].then.get("report"):
            errors.append(
                RuleError(
                    findings[fid].file,
                    findings[fid].id,
                    "then.finding",
                    f"finding '{fid}' is never used by another rule",
                )
            )
    for i, s in enumerate(advice_sets):
        for key in s["advice"]:
            if key not in advice:
                errors.append(RuleError("advice", None, f"sets[{i}].advice", f"unknown advice '{key}'"))
        if "when_flag" in s and s["when_flag"] not in flags:
            errors.append(RuleError("advice", None, f"sets[{i}].when_flag", f"unknown flag '{s['when_flag']}'"))


def _positive_findings(cond: Condition) -> set[str]:
    out: set[str] = set()

    def visit(node: Condition) -> None:
        if isinstance(node, NotEstablished):
            return
        if isinstance(node, FindingRef):
            out.add(node.finding)
        for child in node.children():
            visit(child)

    visit(cond)
    return out


def _order(rules: list[Rule], qsofa: dict[str, Condition], errors: list[RuleError]) -> list[Rule]:
    """Rules in an order where everything a rule reads is decided before it: the order of
    evaluation, and the durable priority (so firing order is deterministic)."""
    producers: dict[str, list[str]] = {}
    for r in rules:
        if r.kind == "finding":
            producers[f"finding:{r.then['finding']}"] = [r.id]
        elif r.kind == "raise":
            producers.setdefault(f"flag:{r.then['raise']}", []).append(r.id)
    qsofa_deps = {f"finding:{n.finding}" for c in qsofa.values() for n in c.walk() if isinstance(n, FindingRef)}

    def deps(rule: Rule) -> set[str]:
        out: set[str] = set()
        for node in rule.when.walk():
            if isinstance(node, FindingRef):
                out.update(producers.get(f"finding:{node.finding}", []))
            elif isinstance(node, FlagRef):
                out.update(producers.get(f"flag:{node.flag}", []))
            elif getattr(node, "score", "").startswith("qsofa"):
                for key in qsofa_deps:
                    out.update(producers.get(key, []))
        return out

    by_id = {r.id: r for r in rules}
    state: dict[str, int] = {}
    ordered: list[Rule] = []

    def visit(rid: str, chain: list[str]) -> None:
        if state.get(rid) == 2:
            return
        if state.get(rid) == 1:
            errors.append(RuleError(by_id[rid].file, rid, "when", "circular dependency: " + " -> ".join([*chain, rid])))
            return
        state[rid] = 1
        for dep in sorted(deps(by_id[rid]), key=[r.id for r in rules].index):
            visit(dep, [*chain, rid])
        state[rid] = 2
        ordered.append(by_id[rid])

    for r in rules:
        visit(r.id, [])
    return ordered


def _check_durable_forms(rb: RuleBase, errors: list[RuleError]) -> None:
    finding = lambda fid: rb.finding_rule[fid].when  # noqa: E731
    flag = lambda fid: [r.when for r in rb.flag_rules.get(fid, [])]  # noqa: E731
    for rule in rb.rules:
        try:
            branches = positive(rule.when, finding, flag)
        except TooManyBranches as err:
            errors.append(RuleError(rule.file, rule.id, "when", f"too complex for the engine: {err}"))
            continue
        if not branches:
            errors.append(RuleError(rule.file, rule.id, "when", "can never be satisfied"))
