"""Recorded diagnoses of the conditions this triage screens for: named on a card, never an input.

The contract has no diagnosis field. The rules decide from findings, and a recorded "cauda
equina syndrome" says nothing of which findings the patient has now (reading it as saddle
numbness would invent a finding). But an EHR that records an active sepsis or cauda equina
syndrome while the triage, from the findings it could read, says "self-care" must not be left
to contradict it in silence. diagnoses.yaml lists, per flag of the rule base, the codes of its
diagnoses (SNOMED CT exact, ICD-10 and ICD-10-CM ranges) with their sources; conditions.py
reads an active, unrefuted Condition of one into the mapping's `diagnoses`, and the CDS Hooks
cards name it (and withhold self-care advice while it stands).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cds.fhir.data_files import packaged, parse
from cds.fhir.valuesets import ICD10, ICD10_CM, ICD_SYSTEMS, CodeRange

Key = tuple[str, str]
SNOMED = "http://snomed.info/sct"


NAMES = {SNOMED: "SNOMED CT", ICD10: "ICD-10", ICD10_CM: "ICD-10-CM"}


def code_label(key: Key) -> str:
    return f"{NAMES.get(key[0], key[0])} {key[1]}"


class DiagnosesError(ValueError):
    """The diagnoses file is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class Diagnosis:
    """One condition the triage screens for, as a diagnosis: the flag it corresponds to, and the
    level its card is shown at (the highest the flag reaches)."""

    flag: str
    name: str
    level: str
    snomed: frozenset[str]
    ranges: dict[str, tuple[CodeRange, ...]]  # ICD system URI -> ranges

    def holds(self, key: Key) -> bool:
        system, code = key
        if system == SNOMED:
            return code in self.snomed
        return any(r.holds(code) for r in self.ranges.get(system, ()))


@dataclass(frozen=True)
class Diagnoses:
    groups: tuple[Diagnosis, ...]

    def naming(self, keys: Iterable[Key]) -> list[tuple[Diagnosis, Key]]:
        """Each diagnosis a code of `keys` names, with the first code that names it."""
        found: dict[str, tuple[Diagnosis, Key]] = {}
        for key in keys:
            for group in self.groups:
                if group.holds(key):
                    found.setdefault(group.name, (group, key))
        return list(found.values())


@functools.cache
def diagnoses() -> Diagnoses:
    """The packaged diagnoses, loaded and validated once."""
    return load_diagnoses(packaged("diagnoses.yaml"))


def load_diagnoses(text: str) -> Diagnoses:
    data, problems = parse(text, "diagnoses.schema.json", "diagnoses", DiagnosesError)
    groups = [] if problems else [_group(raw) for raw in data["diagnoses"]]
    seen: dict[str, str] = {}
    for group in groups:
        for code in sorted(group.snomed):
            if seen.setdefault(code, group.name) != group.name:
                problems.append(f"SNOMED CT {code} is listed under both {seen[code]} and {group.name}")
    if problems:
        raise DiagnosesError("diagnoses file is invalid:\n  " + "\n  ".join(problems))
    return Diagnoses(tuple(groups))


def require_known_flags(known: Diagnoses, flags: Iterable[str]) -> None:
    """Start-up check: every diagnosis names a flag of the rule base being served."""
    ids = set(flags)
    unknown = sorted({g.flag for g in known.groups} - ids)
    if unknown:
        raise DiagnosesError(f"diagnoses file names flags the rule base does not have: {', '.join(unknown)}")


def _group(raw: dict[str, Any]) -> Diagnosis:
    ranges: dict[str, list[CodeRange]] = {}
    for block in raw.get("icd10", []):
        ranges.setdefault(ICD_SYSTEMS[block["system"]], []).extend(CodeRange.parse(r) for r in block["ranges"])
    return Diagnosis(
        flag=raw["flag"],
        name=raw["name"],
        level=raw["level"],
        snomed=frozenset(c["code"] for c in raw.get("snomed", [])),
        ranges={system: tuple(rs) for system, rs in ranges.items()},
    )
