"""The triage note for the record, as plain text a nurse copies into the EHR: when, the level
and what to do, the flags and the rules that fired with their guideline sources, every answer
(and the questions asked and not known), and the rule-base and catalogue versions."""

from __future__ import annotations

from datetime import UTC, datetime

from cds.triage.interview import InterviewResult
from cds.triage.labels import LEVEL_LABEL
from cds.triage.questions import Catalogue
from cds.web.triage_form import Answers, words


def triage_note(out: InterviewResult, answers: Answers, catalogue: Catalogue, now: datetime | None = None) -> str:
    result = out["result"]
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Back pain during an acute illness: triage note ({when})",
        f"Risk level: {LEVEL_LABEL[result['risk_level']]}. {result['disposition']}",
    ]
    if result["flags"]:
        lines.append(
            "Flags: "
            + "; ".join(f"{f['id'].replace('_', ' ')} ({LEVEL_LABEL[f['risk_level']]})" for f in result["flags"])
        )
    lines += ["", "Rules that fired:"]
    lines += [f"- {t['rule']}: {t['title']} [{t['source']}]" for t in result["trace"]]
    lines += ["", "Answers:"]
    for q in catalogue.questions:
        if q.path in answers.values:
            lines.append(f"- {q.short}: {words(q, answers.values[q.path])}")
    if answers.unknown:
        lines += ["", "Asked, not known: " + "; ".join(catalogue.by_path[p].short for p in answers.unknown)]
    stop = out["stop"]
    lines += [
        "",
        f"Interview: {stop['reason'].replace('_', ' ')}; highest level still possible: "
        f"{LEVEL_LABEL[stop['risk_upper_bound']]}.",
        f"Rule base {result['rulebase']['version']} ({result['rulebase']['digest'][:12]}); "
        f"questions {catalogue.version} ({catalogue.digest[:12]}).",
    ]
    return "\n".join(lines)
