"""A decision as text a clinician can read in a terminal: the answer first, then the why."""

from __future__ import annotations

import textwrap

from cds.triage.labels import LEVEL_LABEL, pairs_text
from cds.triage.result_types import Result


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


def render(result: Result) -> str:
    lines: list[str] = []
    rb = result["rulebase"]
    head = f"Encounter {result['encounter_id']}" if "encounter_id" in result else "Encounter"
    lines.append(f"{head}  (rule base {rb['version']}, sha256 {rb['digest'][:12]})")
    lines.append("")
    lines.append(f"RISK LEVEL: {LEVEL_LABEL[result['risk_level']]}    primary: {result['primary']}")
    lines += _wrap(result["disposition"], "")
    lines.append("")
    lines.append("Flags raised")
    if not result["flags"]:
        lines.append("  none")
    for flag in result["flags"]:
        lines += _wrap(
            f"[{LEVEL_LABEL[flag['risk_level']]}] {flag['id']}: {flag['summary']} (rules {', '.join(flag['rules'])})",
            "  ",
        )
    lines.append("")
    lines.append("Screen")
    for condition, state in result["screen"].items():
        lines.append(f"  {condition:<18} {state.replace('_', ' ')}")
    lines.append("")
    lines.append("Ask next (unknown, and could still raise a flag)")
    if not result["missing"]:
        lines.append("  nothing")
    for i, item in enumerate(result["missing"], start=1):
        lines.append(f"  {i:>2}. {item['field']:<34} for {', '.join(item['needed_for']) or 'the red-flag screen'}")
    lines.append("")
    news2, qsofa = result["scores"]["news2"], result["scores"]["qsofa"]
    bound = "" if news2["complete"] else " at least (incomplete)"
    lines.append(f"NEWS2 {news2['total']}{bound}, band {news2['band']}: " + pairs_text(news2["components"]))
    qbound = "" if qsofa["complete"] else " at least (incomplete)"
    lines.append(f"qSOFA {qsofa['score']}{qbound}: " + (", ".join(qsofa["criteria"]) or "no criterion met"))
    lines.append("")
    lines.append("Why: every rule that fired, in order")
    for entry in result["trace"]:
        lines.append(f"  {entry['seq']:>2}. {entry['rule']}: {entry['title']}")
        lines += _wrap("matched:   " + pairs_text(entry["matched"]), "        ")
        lines += _wrap("concluded: " + pairs_text(entry["concluded"]), "        ")
        lines += _wrap("source:    " + entry["source"], "        ")
    lines.append("")
    lines.append("Advice")
    for advice in result["advice"]:
        lines += _wrap("- " + advice, "  ")
    return "\n".join(lines) + "\n"
