"""A rule base from its validated files: each file's flags, rules, quantities, score tables,
implied answers, screen, outcomes and advice gathered, then checked (checks.py) and put in
evaluation order (order.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.triage.conditions import Condition
from cds.triage.rulebase.checks import check_rules, check_scores
from cds.triage.rulebase.implied import check_implications, implication
from cds.triage.rulebase.model import (
    MANIFEST,
    FlagDef,
    Implication,
    Quantity,
    Rule,
    RuleBase,
    RuleBaseError,
    SelfCareScreen,
    conclusion_of,
    source_keys,
)
from cds.triage.rulebase.order import order
from cds.triage.rulebase.parse import parse
from cds.triage.rulebase.problems import Problems
from cds.triage.rulebase.screen import self_care_screen

# Rule-file format 1 (rule base 1.x) did not list its flags: it reported the screen of these.
FORMAT_1_SCREENED = ("sepsis", "meningitis", "cord_compression", "spinal_infection", "pyelonephritis")
# ... nor a self-test: the one the service embedded while it served format 1.
FORMAT_1_SELF_TEST = {
    "title": "saddle anaesthesia with new urinary retention in an afebrile adult",
    "encounter": {"patient": {"age_years": 50}, "symptoms": {"saddle_anaesthesia": True, "urinary_retention": True}},
    "expect": {"risk_level": "emergency", "primary": "cord_compression"},
}


@dataclass
class _Gathered:
    rules: list[Rule] = field(default_factory=list)
    flags: dict[str, FlagDef] = field(default_factory=dict)
    quantities: dict[str, Quantity] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    scores: dict[str, Any] | None = None
    scores_file: str = ""
    screen: SelfCareScreen | None = None
    implications: list[Implication] = field(default_factory=list)
    outcomes: dict[str, Any] | None = None
    advice: dict[str, str] = field(default_factory=dict)
    advice_sets: list[dict[str, Any]] = field(default_factory=list)
    rule_files: dict[str, str] = field(default_factory=dict)  # rule id -> file


def _flags(name: str, doc: dict[str, Any], fmt: int, got: _Gathered, problems: Problems) -> None:
    for fdef in ([doc["flag"]] if "flag" in doc else []) + list(doc.get("flags", [])):
        if fdef["id"] in got.flags:
            problems.add(name, None, "flag", f"flag '{fdef['id']}' is defined twice")
        if "name" not in fdef and fmt >= 2:
            problems.add(name, None, f"flag {fdef['id']}", "a flag needs a name (format 2)")
        label = fdef.get("name", fdef["id"].replace("_", " "))
        got.flags[fdef["id"]] = FlagDef(fdef["id"], label, name, dict(fdef["summary"]), dict(fdef["disposition"]))


def _quantities(name: str, doc: dict[str, Any], got: _Gathered, problems: Problems) -> None:
    for i, q in enumerate(doc.get("quantities", [])):
        for j, path in enumerate(q["difference"]):
            problems.need_field(path, name, None, f"quantities[{i}].difference[{j}]", numeric=True)
        problems.need_sources(source_keys(q["source"]), name, None, f"quantities[{i}].source")
        got.quantities[q["id"]] = Quantity(q["id"], q["difference"][0], q["difference"][1])


def _screen(name: str, doc: dict[str, Any], fmt: int, got: _Gathered, problems: Problems) -> None:
    for key in ("self_care_screen", "red_flag_screen"):
        if key not in doc:
            continue
        if got.screen is not None:
            problems.add(name, None, key, "the self-care screen is defined twice")
        if key == "self_care_screen":
            got.screen = self_care_screen(doc[key], name, problems)
        elif fmt >= 2:
            problems.add(name, None, key, "format 2 defines a self_care_screen")
        else:
            got.screen = SelfCareScreen(tuple(doc[key]), {}, (), open_criteria=False)
            for i, path in enumerate(got.screen.items):
                problems.need_field(path, name, None, f"{key}[{i}]")


def _rules(name: str, doc: dict[str, Any], got: _Gathered, problems: Problems) -> None:
    for i, r in enumerate(doc.get("rules", [])):
        rid = r["id"]
        if rid in got.rule_files:
            problems.add(name, rid, f"rules[{i}].id", f"duplicate rule id (also in {got.rule_files[rid]})")
        got.rule_files[rid] = name
        sources = source_keys(r["source"])
        problems.need_sources(sources, name, rid, f"rules[{i}].source")
        got.rules.append(
            Rule(rid, r["title"], name, doc["condition"], parse(r["when"]), conclusion_of(r["then"]), sources)
        )


def _gather(name: str, doc: dict[str, Any], fmt: int, got: _Gathered, problems: Problems) -> None:
    got.files[name] = doc["condition"]
    _flags(name, doc, fmt, got, problems)
    _quantities(name, doc, got, problems)
    if "scores" in doc:
        if got.scores is not None:
            problems.add(name, None, "scores", "scores are defined twice")
        got.scores, got.scores_file = doc["scores"], name
    _screen(name, doc, fmt, got, problems)
    for i, imp in enumerate(doc.get("implied", [])):
        got.implications.append(implication(imp, name, i, problems))
    if "outcomes" in doc:
        got.outcomes = doc["outcomes"]
        for key, o in doc["outcomes"].items():
            problems.need_sources(source_keys(o["source"]), name, None, f"outcomes.{key}.source")
    got.advice.update(doc.get("advice", {}))
    for i, s in enumerate(doc.get("sets", [])):
        problems.need_sources(source_keys(s["source"]), name, None, f"sets[{i}].source")
        got.advice_sets.append(dict(s))
    _rules(name, doc, got, problems)


def _flag_order(manifest: dict[str, Any], fmt: int, got: _Gathered, problems: Problems) -> tuple[list[str], list[str]]:
    """The flags in the manifest's order of danger, and those whose screen the result reports.
    Format 2 lists them, and every flag listed is defined by one file; format 1 did not."""
    if fmt < 2:
        return list(got.flags), [f for f in FORMAT_1_SCREENED if f in got.flags]
    listed, screened = list(manifest.get("flags", [])), list(manifest.get("screened", []))
    if not listed:
        problems.add(MANIFEST, None, "flags", "format 2 lists its flags, most dangerous first")
    if "self_test" not in manifest:
        problems.add(MANIFEST, None, "self_test", "format 2 states the self-test /readyz evaluates")
    for flag_id in listed:
        if flag_id not in got.flags:
            problems.add(MANIFEST, None, "flags", f"flag '{flag_id}' is not defined by any file")
    for flag_id in got.flags:
        if flag_id not in listed:
            problems.add(got.flags[flag_id].file, None, "flag", f"flag '{flag_id}' is not listed in {MANIFEST}")
    for flag_id in screened:
        if flag_id not in listed:
            problems.add(MANIFEST, None, "screened", f"'{flag_id}' is not a listed flag")
    return listed, screened


def _missing_parts(got: _Gathered, problems: Problems) -> None:
    if got.scores is None:
        problems.add(MANIFEST, None, "files", "no file defines the scores (NEWS2, qSOFA)")
    if got.outcomes is None:
        problems.add(MANIFEST, None, "files", "no file defines the outcomes")
    if got.screen is None:
        problems.add(MANIFEST, None, "files", "no file defines the self-care screen")


def assemble(manifest: dict[str, Any], docs: dict[str, Any], digest: str) -> RuleBase:
    fmt: int = manifest.get("format", 1)
    problems = Problems(manifest["sources"])
    got = _Gathered()
    for name, doc in docs.items():
        _gather(name, doc, fmt, got, problems)
    _missing_parts(got, problems)
    listed, screened = _flag_order(manifest, fmt, got, problems)
    if problems:
        raise RuleBaseError(problems.errors)
    assert got.scores is not None and got.outcomes is not None and got.screen is not None
    check_implications(got.implications, got.rule_files, problems)
    qsofa_criteria: dict[str, Condition] = {k: parse(v) for k, v in got.scores["qsofa"]["criteria"].items()}
    check_scores(got.scores, got.scores_file, problems)
    check_rules(got.rules, got.flags, got.quantities, got.advice, got.advice_sets, qsofa_criteria, fmt, problems)
    ordered = [] if problems else order(got.rules, qsofa_criteria, problems)
    if problems:
        raise RuleBaseError(problems.errors)
    return RuleBase(
        format=fmt,
        version=manifest["version"],
        title=manifest["title"],
        digest=digest,
        sources=manifest["sources"],
        rules=tuple(ordered),
        files=got.files,
        flags={flag_id: got.flags[flag_id] for flag_id in listed},
        screened=tuple(screened),
        quantities=got.quantities,
        news2=got.scores["news2"],
        qsofa=got.scores["qsofa"],
        qsofa_criteria=qsofa_criteria,
        screen=got.screen,
        implications=tuple(got.implications),
        outcomes=got.outcomes,
        advice=got.advice,
        advice_sets=tuple(got.advice_sets),
        self_test=manifest.get("self_test", FORMAT_1_SELF_TEST),
    )
