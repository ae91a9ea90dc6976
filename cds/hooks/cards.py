"""From an evaluation to CDS Hooks cards a clinician can act on in seconds.

One card per raised flag (critical for an emergency, warning for urgent, info for routine) with
our override reasons (overrides.py), an "ask next" card while the screen is incomplete (the
questions as read aloud, and a link to the prefilled triage form: triage_form.py), the self-care
advice for systemic myalgia, and a card for FHIR data that could not be used. Card ids are
stable: the same hook instance gets the same ids, so feedback and retries line up. CDS Hooks
forbids null or empty fields, so optional fields are left out rather than sent empty.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from cds.hooks.overrides import override_reasons
from cds.hooks.triage_form import TriageForm
from cds.triage import Result, RuleBase
from cds.triage.labels import LEVEL_WORD, field_label, pairs_text
from cds.triage.questions import Question
from cds.triage.result_types import Flag, MissingItem

INDICATOR = {"emergency": "critical", "urgent": "warning", "routine": "info", "self_care": "info"}
ASK_NEXT_COUNT = 5
_NAMESPACE = uuid.UUID("6f1f5b6e-2f0c-4f61-9d3c-0c6f0e9a6b10")


def card_uuid(hook_instance: str, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"back-pain-triage/{hook_instance}/{kind}"))


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_JOINER = "\u200d"
_SPACES = re.compile(r" {2,}")


def markdown_text(text: str) -> str:
    """Text from the request or its FHIR data (resource ids, units, an EHR's display), shown as
    itself in a card's markdown: every character markdown or HTML could read as syntax is
    escaped, line breaks and control characters become a space, and invisible format characters
    (a right-to-left override) are dropped, so it cannot add a link, an image or a line, nor
    reorder what it shows. Escaping ":" stops GitHub-flavoured autolinks (https\\://...); an "@"
    takes a zero-width joiner before it, since no escape stops an e-mail autolink. A run of spaces
    becomes one (HTML shows one anyway): four at the start of a list item make a code block."""
    shown = "".join(ch for ch in _CONTROL.sub(" ", text) if unicodedata.category(ch) != "Cf")
    shown = _SPACES.sub(" ", shown)
    return _MARKDOWN.sub(r"\\\1", shown).replace("@", _JOINER + "@")


def _summary(text: str) -> str:
    return text if len(text) < 140 else text[:136].rstrip() + "..."


def _footer(result: Result) -> str:
    news2, qsofa = result["scores"]["news2"], result["scores"]["qsofa"]
    news2_text = f"NEWS2 {news2['total']} ({news2['band']}{'' if news2['complete'] else ', at least: incomplete'})"
    qsofa_text = f"qSOFA {qsofa['score']}{'' if qsofa['complete'] else ' (at least: incomplete)'}"
    rb = result["rulebase"]
    return f"{news2_text} · {qsofa_text} · rule base {rb['version']} ({rb['digest'][:12]})"


def flag_card(
    result: Result, flag: Flag, hook_instance: str, rb: RuleBase, bounds: dict[str, str] | None = None
) -> dict[str, Any]:
    """`bounds`: the fields read from a measurement recorded as a bound, and how it was recorded
    (">8 mmol/L"): the card says so beside the number the rules were given."""
    trace = {entry["rule"]: entry for entry in result["trace"]}
    lines = [f"**{LEVEL_WORD[flag['risk_level']]}.** {flag['disposition']}", "", "**Why**"]
    for rule_id in flag["rules"]:
        entry = trace[rule_id]
        recorded = [
            f"{field_label(path)} recorded as {markdown_text(text)}, read as its bound"
            for path, text in (bounds or {}).items()
            if path in entry["matched"]
        ]
        lines.append(
            f"- {entry['title']} ({rule_id}): {pairs_text(entry['matched'], labelled=True)}"
            + "".join(f" ({note})" for note in recorded)
            + f". *{entry['source']}*"
        )
    missing = [m["field"] for m in result["missing"] if flag["id"] in m["needed_for"]][:ASK_NEXT_COUNT]
    if missing:
        lines += ["", "**Still unknown, could raise it further:** " + ", ".join(field_label(p) for p in missing)]
    lines += ["", _footer(result)]
    first = rb.by_id[flag["rules"][0]]
    return {
        "uuid": card_uuid(hook_instance, f"flag/{flag['id']}"),
        "summary": _summary(flag["summary"]),
        "detail": "\n".join(lines),
        "indicator": INDICATOR[flag["risk_level"]],
        "source": rb.citation(first.sources[0]),
        "overrideReasons": override_reasons(),
    }


def ask_next_card(result: Result, hook_instance: str, rb: RuleBase, form: TriageForm) -> dict[str, Any] | None:
    """The questions still worth asking, in the words a nurse reads aloud, most dangerous first
    (the order of `missing`), and one link to the triage form prefilled with what the EHR gave."""
    incomplete = [c for c, state in result["screen"].items() if state == "not_excluded"]
    # every field `missing` can name has a question (checked at start-up); a follow-up the form
    # would not show (its parent's known answer makes it meaningless) is not listed either
    askable: list[tuple[Question, MissingItem]] = []
    for item in result["missing"]:
        q = form.question(item["field"])
        # a follow-up whose parent is not known is asked through the parent, once
        q = q if q is None else form.catalogue.asked_as(q, form.answers)
        if q is not None and all(q is not listed for listed, _ in askable):
            askable.append((q, item))
    if not incomplete or not askable:
        return None
    top = askable[:ASK_NEXT_COUNT]
    lines = ["The screen is incomplete. Asking these, in this order, can still change the triage:", ""]
    for i, (question, item) in enumerate(top, start=1):
        reasons = ", ".join(rb.flags[f].name for f in item["needed_for"]) or "the self-care screen"
        lines.append(f"{i}. {question.text} *(for {reasons})*")
    remaining = len(askable) - len(top)
    if remaining > 0:
        lines += ["", f"{remaining} more unknown input{'s' if remaining != 1 else ''} could matter."]
    lines += ["", "Not yet excluded: " + ", ".join(rb.flags[c].name for c in incomplete) + "."]
    return {
        "uuid": card_uuid(hook_instance, "ask-next"),
        "summary": _summary(
            f"Ask next: {len(top)} question{'s' if len(top) != 1 else ''} could still change this triage"
        ),
        "detail": "\n".join(lines),
        "indicator": "info",
        "source": rb.citation("SPEC-V2"),
        "links": [form.link()],
    }


def self_care_card(result: Result, hook_instance: str, rb: RuleBase) -> dict[str, Any] | None:
    if result["primary"] != "systemic_myalgia":
        return None
    lines = [f"**{LEVEL_WORD[result['risk_level']]}.** {result['disposition']}", ""]
    lines += [f"- {advice}" for advice in result["advice"]]
    lines += ["", _footer(result)]
    summary = (
        "Likely systemic myalgia from the acute illness: self-care advice with safety net"
        if result["risk_level"] == "self_care"
        else "Likely systemic myalgia, but the screen is incomplete"
    )
    return {
        "uuid": card_uuid(hook_instance, "self-care"),
        "summary": summary,
        "detail": "\n".join(lines),
        "indicator": "info",
        "source": rb.citation("SPEC-V2"),
    }


def data_problem_card(
    errors: list[dict[str, str]], hook_instance: str, withholds_self_care: bool = False
) -> dict[str, Any] | None:
    if not errors:
        return None
    lines = ["These FHIR values were not used (the fields are treated as unknown):", ""]
    lines += [f"- {field_label(e['field'])}: {markdown_text(e['message'])}" for e in errors]
    if withholds_self_care:
        lines += [
            "",
            "Self-care advice is withheld until these are checked: an unread record may be the one that matters.",
        ]
    count = len(errors)
    return {
        "uuid": card_uuid(hook_instance, "data-problems"),
        "summary": _summary(f"{count} FHIR value{'s' if count != 1 else ''} could not be used: check units and codes"),
        "detail": "\n".join(lines),
        "indicator": "warning",
        "source": {"label": "cds FHIR R4 mapping"},
    }


def diagnosis_card(recorded: list[dict[str, Any]], hook_instance: str, rb: RuleBase) -> dict[str, Any] | None:
    """The active diagnoses the EHR records of the conditions this triage screens for
    (cds/fhir/diagnoses.py). The triage reads findings, not diagnoses: the card says so, and
    at the level of the most serious one recorded within this illness."""
    if not recorded:
        return None
    lines = ["The record holds an active diagnosis of a condition this triage screens for:", ""]
    for d in recorded:
        when = f"onset or recorded {d['onset']}" if d["onset"] else "undated"
        status = "unconfirmed, " if d["unconfirmed"] else ""
        earlier = "" if d["current"] else " (before this illness)"
        lines.append(
            f"- **{markdown_text(d['display'])}** ({markdown_text(d['code'])}, Condition/{markdown_text(d['id'])}): "
            f"{status}{when}{earlier}. Screened for as {rb.flags[d['flag']].name}."
        )
    lines += [
        "",
        "The triage decides from findings, not from a recorded diagnosis: act on the diagnosis as recorded. "
        "Self-care advice is withheld while it stands.",
    ]
    current = [d for d in recorded if d["current"]]
    first = (current or recorded)[0]
    more = f" and {len(recorded) - 1} more" if len(recorded) > 1 else ""
    top = "emergency" if any(d["level"] == "emergency" for d in current) else "urgent" if current else None
    return {
        "uuid": card_uuid(hook_instance, "recorded-diagnoses"),
        "summary": _summary(f"Recorded diagnosis: {first['name']}{more}: act on it (the triage reads findings only)"),
        "detail": "\n".join(lines),
        "indicator": INDICATOR[top] if top else "info",
        "source": {"label": "cds recorded diagnoses (FHIR Condition)"},
    }


def build_cards(
    result: Result,
    mapping_errors: list[dict[str, str]],
    hook_instance: str,
    rb: RuleBase,
    form: TriageForm,
    bounds: dict[str, str] | None = None,
    diagnoses: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """`diagnoses`: the active diagnoses the mapping found (MappingResult.diagnoses); while one
    stands, self-care advice is not given, nor while a record could not be read."""
    cards = [flag_card(result, flag, hook_instance, rb, bounds) for flag in result["flags"]]
    # self-care from the records that could be read, beside one that could not (a lactate of
    # ">3", an answer in words the reader does not know, a malformed Observation), would advise
    # on half the data
    withheld = result["risk_level"] == "self_care" and bool(mapping_errors)
    for extra in (
        diagnosis_card(diagnoses or [], hook_instance, rb),
        ask_next_card(result, hook_instance, rb, form),
        None if diagnoses or withheld else self_care_card(result, hook_instance, rb),
        data_problem_card(mapping_errors, hook_instance, withheld),
    ):
        if extra is not None:
            cards.append(extra)
    return cards


def age_unknown_card(hook_instance: str, rb: RuleBase, unreadable: bool = False) -> dict[str, Any]:
    """`unreadable`: the record holds a Patient or a birth date that could not be used (named on
    the data-problem card beside this one), which is not the same as none recorded."""
    summary = "could not be read from the record" if unreadable else "(birth date) is not recorded"
    detail = "The triage is for adults (16 and over); without a birth date it cannot tell whether it applies."
    if unreadable:
        detail += " The data-problem card says what could not be read."
    return {
        "uuid": card_uuid(hook_instance, "age-unknown"),
        "summary": f"Back-pain triage not run: the patient's age {summary}",
        "detail": detail,
        "indicator": "info",
        "source": rb.citation("SPEC-V2"),
    }
