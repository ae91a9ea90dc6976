"""What the rule-file schema cannot check: fields and their kinds, the score tables, references
between rules (findings, flags, quantities, advice), levels with their texts, and findings
concluded but never read."""

from __future__ import annotations

from typing import Any

from cds.triage.conditions import Condition, FieldAtom, FindingRef, FlagRef, NotEstablished, QuantityAtom
from cds.triage.fields import BY_PATH
from cds.triage.rulebase.model import Conclude, FlagDef, GiveAdvice, Quantity, Raise, Rule, SetDisposition, source_keys
from cds.triage.rulebase.parse import check_atom, parse
from cds.triage.rulebase.problems import Problems


def _bands_rise(bands: list[dict[str, Any]]) -> bool:
    """Bands rise by `up_to`, each bound above the last, and end with `above` the last bound."""
    if any("up_to" not in b for b in bands[:-1]) or "above" not in bands[-1]:
        return False
    bounds = [b["up_to"] for b in bands[:-1]]
    return bool(bands[-1]["above"] == bounds[-1] and bounds == sorted(set(bounds)))


def _check_news2_parameter(pname: str, p: dict[str, Any], file: str, problems: Problems) -> None:
    where = f"scores.news2.parameters.{pname}"
    problems.need_field(p["field"], file, "NEWS2", where + ".field", numeric="values" not in p)
    if "scale_field" in p:
        problems.need_field(p["scale_field"], file, "NEWS2", where + ".scale_field", numeric=True)
    tables = [p["bands"]] if "bands" in p else list(p.get("scales", {}).values())
    for bands in tables:
        if not _bands_rise(bands):
            problems.add(file, "NEWS2", where, "bands must rise by `up_to` and end with `above` the last bound")
    spec = BY_PATH.get(p["field"])
    if "values" in p and spec is not None:
        legal = {"true", "false"} if spec.kind == "bool" else set(spec.choices)
        if set(p["values"]) != legal:
            problems.add(file, "NEWS2", where + ".values", f"must give points for exactly: {', '.join(sorted(legal))}")


def check_scores(doc: dict[str, Any], file: str, problems: Problems) -> None:
    news2 = doc["news2"]
    problems.need_sources(source_keys(news2["source"]), file, "NEWS2", "scores.news2.source")
    problems.need_sources(source_keys(doc["qsofa"]["source"]), file, "QSOFA", "scores.qsofa.source")
    for pname, p in news2["parameters"].items():
        _check_news2_parameter(pname, p, file, problems)
    for cname, cond in doc["qsofa"]["criteria"].items():
        for node in parse(cond).walk():
            if isinstance(node, FieldAtom):
                problem = check_atom(node)
                if problem:
                    problems.add(file, "QSOFA", f"scores.qsofa.criteria.{cname}", problem)


def _check_references(
    rule: Rule,
    findings: dict[str, Rule],
    flags: dict[str, FlagDef],
    quantities: dict[str, Quantity],
    problems: Problems,
) -> None:
    where = f"{rule.id}.when"
    for node in rule.when.walk():
        if isinstance(node, FieldAtom):
            problem = check_atom(node)
            if problem:
                problems.add(rule.file, rule.id, where, problem)
        elif isinstance(node, FindingRef) and node.finding not in findings:
            problems.add(rule.file, rule.id, where, f"unknown finding '{node.finding}'")
        elif isinstance(node, FlagRef) and node.flag not in flags:
            problems.add(rule.file, rule.id, where, f"unknown flag '{node.flag}'")
        elif isinstance(node, QuantityAtom) and node.quantity not in quantities:
            problems.add(rule.file, rule.id, where, f"unknown quantity '{node.quantity}'")


def _check_conclusion(
    rule: Rule, rules: list[Rule], flags: dict[str, FlagDef], advice: dict[str, str], fmt: int, problems: Problems
) -> None:
    then = rule.then
    if isinstance(then, Raise):
        fdef = flags.get(then.flag)
        if fdef is None:
            problems.add(rule.file, rule.id, "then.raise", f"unknown flag '{then.flag}'")
            return
        for table in ("summary", "disposition"):
            if then.level not in getattr(fdef, table):
                problems.add(
                    rule.file, rule.id, "then.level", f"flag '{fdef.id}' has no {table} for level '{then.level}'"
                )
    elif isinstance(then, SetDisposition):
        raising = {r.then.level for r in rules if isinstance(r.then, Raise) and r.then.flag == then.flag}
        if then.level is None and fmt >= 2:
            problems.add(rule.file, rule.id, "then", "a disposition names its level (format 2)")
        elif then.level is not None and then.level not in raising:
            problems.add(rule.file, rule.id, "then.level", f"no rule raises '{then.flag}' at '{then.level}'")
        fdef = flags.get(then.flag)
        if fdef is None or then.use not in fdef.disposition:
            problems.add(rule.file, rule.id, "then", f"flag '{then.flag}' has no disposition '{then.use}'")
    elif isinstance(then, GiveAdvice) and then.advice not in advice:
        problems.add(rule.file, rule.id, "then.advice", f"unknown advice '{then.advice}'")


def _positive_findings(cond: Condition) -> set[str]:
    """The findings a condition reads as established (not under `not_established`)."""
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


def _check_findings(rules: list[Rule], qsofa_criteria: dict[str, Condition], problems: Problems) -> dict[str, Rule]:
    concluded = [r for r in rules if isinstance(r.then, Conclude)]
    findings: dict[str, Rule] = {}
    for r in concluded:
        assert isinstance(r.then, Conclude)
        findings.setdefault(r.then.finding, r)
    for fid in findings:
        owners = [r.id for r in concluded if isinstance(r.then, Conclude) and r.then.finding == fid]
        if len(owners) > 1:
            problems.add("", None, "", f"finding '{fid}' is concluded by more than one rule ({', '.join(owners)})")
    used: set[str] = set()
    for cond in [*qsofa_criteria.values(), *(r.when for r in rules)]:
        used |= _positive_findings(cond)
    for fid, owner in findings.items():
        assert isinstance(owner.then, Conclude)
        if fid not in used and not owner.then.report:
            problems.add(owner.file, owner.id, "then.finding", f"finding '{fid}' is never used by another rule")
    return findings


def check_rules(
    rules: list[Rule],
    flags: dict[str, FlagDef],
    quantities: dict[str, Quantity],
    advice: dict[str, str],
    advice_sets: list[dict[str, Any]],
    qsofa_criteria: dict[str, Condition],
    fmt: int,
    problems: Problems,
) -> None:
    findings = _check_findings(rules, qsofa_criteria, problems)
    for rule in rules:
        _check_references(rule, findings, flags, quantities, problems)
        _check_conclusion(rule, rules, flags, advice, fmt, problems)
    for i, s in enumerate(advice_sets):
        for key in s["advice"]:
            if key not in advice:
                problems.add("advice", None, f"sets[{i}].advice", f"unknown advice '{key}'")
        if "when_flag" in s and s["when_flag"] not in flags:
            problems.add("advice", None, f"sets[{i}].when_flag", f"unknown flag '{s['when_flag']}'")
