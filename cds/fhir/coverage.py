"""The clinical data-coverage report: for each contract field, how many patients' records filled
it, how many left it unknown, and the readings that were ignored and why (wrong unit, outside the
episode, a narrower code...). `cds fhir coverage BUNDLE...` prints it; the figures tell a site
which questions its EHR data can answer and which the service will still have to ask.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds.fhir.mapping import MAPPED_TYPES, MappingResult, map_resources
from cds.fhir.resources import UNDATED, condition_time, observation_time, response_time
from cds.triage.fields import FIELDS
from cds.triage.thresholds import Cut


def latest_time(resources: Iterable[dict[str, Any]]) -> datetime:
    """The time of the newest record: "as of the last visit" for data written in the past."""
    readers = {"Observation": observation_time, "Condition": condition_time, "QuestionnaireResponse": response_time}
    times = [readers[r["resourceType"]](r) for r in resources if r.get("resourceType") in MAPPED_TYPES]
    newest = max(times, default=UNDATED)
    if newest == UNDATED:
        raise ValueError("no dated Observation, Condition or QuestionnaireResponse to take the time from")
    return newest


@dataclass
class FieldCoverage:
    filled: int = 0
    unknown: int = 0
    ignored: Counter[str] = field(default_factory=Counter)


@dataclass
class Coverage:
    patients: int = 0
    fields: dict[str, FieldCoverage] = field(
        default_factory=lambda: {f.path: FieldCoverage() for f in FIELDS if f.clinical}
    )
    errors: int = 0
    unattributed: Counter[str] = field(default_factory=Counter)  # ignored before a field was known

    def add(self, result: MappingResult) -> None:
        self.patients += 1
        self.errors += len(result.errors)
        attributed: Counter[str] = Counter()
        for reasons in result.coverage.values():
            attributed.update(reasons)
        self.unattributed.update(Counter(result.ignored) - attributed)
        unknown = set(result.unknown)
        for path, counts in self.fields.items():
            if path in unknown:
                counts.unknown += 1
            else:
                counts.filled += 1
            counts.ignored.update(result.coverage.get(path, {}))

    def text(self, title: str) -> str:
        lines = [
            f"# {title}",
            "",
            f"{self.patients} patient record{'s' if self.patients != 1 else ''}; {self.errors} data problem"
            f"{'s' if self.errors != 1 else ''} reported.",
            "",
            "| field | filled | unknown | readings ignored (why) |",
            "|---|---:|---:|---|",
        ]
        for path, c in self.fields.items():
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(c.ignored.items())) or ""
            lines.append(f"| `{path}` | {c.filled} | {c.unknown} | {why} |")
        filled = sum(1 for c in self.fields.values() if c.filled)
        lines += ["", f"{filled} of {len(self.fields)} fields filled for at least one patient."]
        if self.unattributed:
            why = ", ".join(f"{reason} {n}" for reason, n in sorted(self.unattributed.items()))
            lines += ["", f"Records that name no field of the contract: {why}."]
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "errors": self.errors,
            "unattributed": dict(sorted(self.unattributed.items())),
            "fields": {
                p: {"filled": c.filled, "unknown": c.unknown, "ignored": dict(sorted(c.ignored.items()))}
                for p, c in self.fields.items()
            },
        }


def coverage(
    bundles: Iterable[list[dict[str, Any]]],
    as_of: datetime | None,
    measured_hours: int,
    current_hours: int,
    cuts: Mapping[str, tuple[Cut, ...]] | None = None,
) -> Coverage:
    """The coverage of the given patients' resources, each evaluated at `as_of`, or, when None,
    as of its own newest record, with the service's windows and its rule base's thresholds
    (map_resources)."""
    report = Coverage()
    for resources in bundles:
        now = as_of or latest_time(resources)
        report.add(
            map_resources(
                resources, now.date(), now=now, measured_hours=measured_hours, current_hours=current_hours, cuts=cuts
            )
        )
    return report
