"""The triage note for the record, as plain text a nurse copies into the EHR: when, the level
and what to do, the flags and the rules that fired with their guideline sources, every answer
(and the questions asked and not known), and the rule-base and catalogue versions."""

from __future__ import annotations

from datetime import UTC, datetime

from cds.triage.interview import InterviewResult
from cds.triage.labels import LEVEL_LABEL
from cds.triage.questions import Catalogue
from cds.web.triage_form import Answers, words


def triage_note(
    out: InterviewResult,
    answers: Answers,
    catalogue: Catalogue,
    errors: dict[str, str] | None = None,
    used: set[str] | frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> str:
    """`errors`: the answers in error, by path, with why; left out of the evaluation but those
    `used`. The record says which answers the level stands on: a heart rate of 400 refused by
    the form was listed as given."""
    errors = errors or {}
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
        # an answer read, or a number the form could not read, as typed
        shown = words(q, answers.values[q.path]) if q.path in answers.values else answers.raw.get(q.path)
        if shown is not None:
            lines.append(f"- {q.short}: {shown}{_standing(q.path, answers, errors, used)}")
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


def _standing(path: str, answers: Answers, errors: dict[str, str], used: set[str] | frozenset[str]) -> str:
    if path in errors:
        return f" ({'used, to be checked' if path in used else 'not used'}: {errors[path]})"
    if path in answers.prefilled:
        return " (from the EHR, not yet confirmed with the caller)"
    return ""
