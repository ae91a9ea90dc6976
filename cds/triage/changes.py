"""The rule-base change report (`cds rules diff OLD NEW CASES...`): every case evaluated with
both rule bases, and for each case whose outcome changed, its risk level, primary and flags
before and after. A clinical reviewer reads it, with rules/CHANGELOG.md, before signing a rule
base off. Markdown, so that it can be committed next to the rules (rules/CHANGES-x.y.z.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.problems import Problem
from cds.triage.pipeline import Triage
from cds.triage.result_types import Result
from cds.triage.rulebase import LEVEL_RANK, RuleBase


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    encounter: Any


@dataclass(frozen=True)
class CaseOutcome:
    risk_level: str
    primary: str
    flags: tuple[str, ...]  # "id (level)", in the result's order

    @classmethod
    def of(cls, result: Result) -> CaseOutcome:
        flags = tuple(f"{f['id']} ({f['risk_level']})" for f in result["flags"])
        return cls(result["risk_level"], result["primary"], flags)


def read_cases(directories: Iterable[Path]) -> list[Case]:
    """Every *.json file of the directories, in name order: a vignette ({"encounter": ...,
    "title": ...}) or a bare encounter."""
    cases = []
    for directory in directories:
        for path in sorted(Path(directory).glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and isinstance(doc.get("encounter"), dict):
                cases.append(Case(path.stem, str(doc.get("title", "")), doc["encounter"]))
            else:
                cases.append(Case(path.stem, "", doc))
    return cases


def _outcome(triage: Triage, case: Case) -> CaseOutcome | str:
    try:
        return CaseOutcome.of(triage.evaluate_document(case.encounter))
    except Problem as problem:
        fields = ", ".join(e["field"] for e in problem.errors)
        return f"refused ({problem.status}{': ' + fields if fields else ''})"


def _cell(outcome: CaseOutcome | str, part: str) -> str:
    if isinstance(outcome, str):
        return outcome if part == "risk level" else ""
    if part == "risk level":
        return f"**{outcome.risk_level}**"
    if part == "primary":
        return outcome.primary
    return ", ".join(outcome.flags) or "none"


def _direction(before: CaseOutcome | str, after: CaseOutcome | str) -> str:
    if isinstance(before, str) or isinstance(after, str):
        return "refused"
    change = LEVEL_RANK[after.risk_level] - LEVEL_RANK[before.risk_level]
    return "raised" if change > 0 else ("lowered" if change < 0 else "same level")


def report(old: RuleBase, new: RuleBase, cases: list[Case], sources: list[str]) -> str:
    before_triage, after_triage = Triage(old), Triage(new)
    lines = [
        f"# Rule-base change report: {old.version} → {new.version}",
        "",
        f"- before: rule base {old.version} (sha256 {old.digest})",
        f"- after: rule base {new.version} (sha256 {new.digest})",
        f"- cases: {len(cases)} from {', '.join(sources)}",
        "",
        "Each case below changed its outcome (risk level, primary or flags); unchanged cases are counted",
        "in the summary only.",
        "",
    ]
    counts = {"raised": 0, "lowered": 0, "same level": 0, "refused": 0}
    for case in cases:
        before, after = _outcome(before_triage, case), _outcome(after_triage, case)
        if before == after:
            continue
        direction = _direction(before, after)
        counts[direction] += 1
        heading = f"## {case.id}" + (f": {case.title}" if case.title else "") + f" ({direction})"
        lines += [heading, "", f"| | before ({old.version}) | after ({new.version}) |", "|---|---|---|"]
        for part in ("risk level", "primary", "flags"):
            lines.append(f"| {part} | {_cell(before, part)} | {_cell(after, part)} |")
        lines.append("")
    changed = sum(counts.values())
    lines.append(
        f"**Summary:** {len(cases)} cases, {changed} changed: risk level raised in {counts['raised']}, "
        f"lowered in {counts['lowered']}, same level with other flags or primary in {counts['same level']}, "
        f"refused by one rule base in {counts['refused']}; {len(cases) - changed} unchanged."
    )
    return "\n".join(lines) + "\n"
