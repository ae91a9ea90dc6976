"""History fields matched by value set: a shipped SNOMED CT expansion and ICD-10 code ranges.

"Malignant neoplasm of breast" is a cancer and "Type 2 diabetes mellitus" is diabetes, but no
code list names every descendant. terminology.yaml declares, per history field, a CSV of the
expansion (valuesets/*.csv: code,display), the list and edition it was taken from, the date, the
count and the SHA-256 of the file, and ICD-10 / ICD-10-CM ranges. The loader refuses a file whose
count or digest differs: the shipped expansion is exactly the reviewed one.

Membership says "present"; the absence of a narrower concept says nothing about the field, so
a member recorded absent leaves it unknown (only a finding entry for the field's own concept,
such as "Malignant neoplastic disease" refuted, says absent).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from importlib import resources as importlib_resources

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD_SYSTEMS = {"icd-10": ICD10, "icd-10-cm": ICD10_CM}
ICD_URIS = frozenset(ICD_SYSTEMS.values())
_SCTID = re.compile(r"[1-9][0-9]{5,17}")
_ICD = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")  # without its dot


@dataclass(frozen=True)
class CodeRange:
    """An ICD-10 range, first and last code inclusive, compared on the codes without their dot:
    C00-C26 holds C50? no; C18.7 yes (C187 starts within C00..C26)."""

    first: str
    last: str

    @classmethod
    def parse(cls, text: str) -> CodeRange:
        first, _, last = text.partition("-")
        return cls(_plain(first), _plain(last or first))

    def holds(self, code: str) -> bool:
        plain = _plain(code)
        if not _ICD.fullmatch(plain):
            return False  # "A41.9 https://..." is no code, and no member of A40-A41
        return self.first <= plain[: len(self.first)] and plain[: len(self.last)] <= self.last


def _plain(code: str) -> str:
    return code.replace(".", "").strip().upper()


def icd_code(code: str) -> str:
    """An ICD-10 code in its dotted form, however it was sent: the dot always follows the
    three-character category (R4182 is R41.82). Text that is no ICD-10 code is left as it
    came, and matches nothing."""
    plain = _plain(code)
    if not _ICD.fullmatch(plain):
        return code
    return f"{plain[:3]}.{plain[3:]}" if len(plain) > 3 else plain


@dataclass(frozen=True)
class ValueSet:
    field: str
    snomed: frozenset[str]
    ranges: dict[str, tuple[CodeRange, ...]]  # system URI -> ranges

    def holds(self, key: tuple[str, str]) -> bool:
        system, code = key
        if system == "http://snomed.info/sct":
            return code in self.snomed
        return any(r.holds(code) for r in self.ranges.get(system, ()))


def read_expansion(file: str, count: int, sha256: str) -> tuple[frozenset[str], list[str]]:
    """The codes of a shipped expansion, and the problems found (digest, count, malformed rows)."""
    raw = importlib_resources.files("cds.fhir").joinpath(file).read_bytes()
    problems = []
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        problems.append(f"{file}: SHA-256 is {digest}, the terminology file says {sha256}")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    codes = [row.get("code", "") for row in rows]
    bad = [c for c in codes if not _SCTID.fullmatch(c)]
    if bad:
        problems.append(f"{file}: {len(bad)} rows are not SNOMED CT ids (first: {bad[0]!r})")
    if len(set(codes)) != len(codes):
        problems.append(f"{file}: a code is listed more than once")
    if len(codes) != count:
        problems.append(f"{file}: holds {len(codes)} codes, the terminology file says {count}")
    return frozenset(codes), problems
