"""The rule base as the service holds it: rules with typed conclusions, flags, implied answers,
the self-care screen, quantities, and the rule base that gathers them. Built by load.py from
rules/*.yaml; read by every step of an evaluation, never changed after loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.triage.conditions import Condition, FieldAtom
from cds.triage.context import PartialList

LEVELS = ("self_care", "routine", "urgent", "emergency")
LEVEL_RANK = {level: i for i, level in enumerate(LEVELS)}
MANIFEST = "rulebase.yaml"


@dataclass(frozen=True)
class RuleError:
    file: str
    rule: str | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f" [{self.rule}]" if self.rule else "") + (f" at {self.path}" if self.path else "")
        return f"{where}: {self.message}"


class RuleBaseError(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        super().__init__(f"invalid rule base: {len(errors)} error(s)\n" + "\n".join(f"  {e}" for e in errors))


# --- what a rule concludes -------------------------------------------------------------------


@dataclass(frozen=True)
class Raise:
    flag: str
    level: str


@dataclass(frozen=True)
class Conclude:
    """A derived finding; `report` shows it in the trace although no rule reads it."""

    finding: str
    report: bool = False


@dataclass(frozen=True)
class SetDisposition:
    """Replace a raised flag's disposition with another of its dispositions, when the flag is
    raised at `level` (None, rule-file format 1: at any level)."""

    flag: str
    use: str
    level: str | None


@dataclass(frozen=True)
class Outcome:
    outcome: str


@dataclass(frozen=True)
class GiveAdvice:
    advice: str


Conclusion = Raise | Conclude | SetDisposition | Outcome | GiveAdvice


def conclusion_of(then: dict[str, Any]) -> Conclusion:
    """A rule file's `then`, already checked against the rule-file schema."""
    if "raise" in then:
        return Raise(then["raise"], then["level"])
    if "finding" in then:
        return Conclude(then["finding"], bool(then.get("report")))
    if "disposition" in then:
        return SetDisposition(then["disposition"], then["use"], then.get("level"))
    if "outcome" in then:
        return Outcome(then["outcome"])
    return GiveAdvice(then["advice"])


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    file: str
    condition_name: str
    when: Condition
    then: Conclusion
    sources: tuple[str, ...]

    def concluded(self) -> dict[str, Any]:
        """The trace's `concluded` for this rule."""
        then = self.then
        if isinstance(then, Raise):
            return {"flag": then.flag, "risk_level": then.level}
        if isinstance(then, Conclude):
            return {f"finding.{then.finding}": True}
        if isinstance(then, SetDisposition):
            return {"flag": then.flag, "disposition": then.use}
        if isinstance(then, Outcome):
            return {"outcome": then.outcome}
        return {"advice": then.advice}


# --- flags, implied answers, the screen, quantities --------------------------------------------


@dataclass(frozen=True)
class FlagDef:
    id: str
    name: str
    file: str
    summary: dict[str, str]
    disposition: dict[str, str]


@dataclass(frozen=True)
class Implication:
    """An implied answer (principle 8): when `when` holds on an explicit answer and `target` is
    unknown, `target` takes `value`. With `refuse`, explicit answers that contradict it are refused."""

    id: str
    title: str
    when: FieldAtom
    target: str
    value: Any
    refuse: bool
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SameAs:
    """Normal is the patient's own value of another field when it is known (the usual systolic
    for the systolic), else a fixed value."""

    field: str
    otherwise: Any


@dataclass(frozen=True)
class ByValue:
    """Normal depends on another field's value, known or itself assumed (SpO2 by its scale)."""

    field: str
    values: dict[str, Any]


Normal = Any  # a value, SameAs or ByValue


@dataclass(frozen=True)
class SelfCareScreen:
    """Section 11: the items that must be known for self-care, and the inputs a caller cannot
    give, with the normal value each takes when deciding whether any criterion is still open."""

    items: tuple[str, ...]
    assumed_normal: dict[str, Normal]
    sources: tuple[str, ...]
    # format 1 (rule base 1.x) needed the items known and nothing else
    open_criteria: bool = True

    def unanswered(self, known: dict[str, Any]) -> list[str]:
        """The items not yet known: a partial list (pain sites the caller has not finished
        naming) is not known either, as `missing` keeps asking for it."""
        return [p for p in self.items if p not in known or known[p].__class__ is PartialList]

    def fill(self, known: dict[str, Any]) -> dict[str, Any]:
        """The known values, and the normal value of every unknown input a caller cannot give."""
        filled = dict(known)
        later = []
        for path, normal in self.assumed_normal.items():
            if path in known:
                continue
            if isinstance(normal, (SameAs, ByValue)):
                later.append((path, normal))
            else:
                filled[path] = normal
        for path, normal in later:
            if isinstance(normal, SameAs):
                filled[path] = known.get(normal.field, normal.otherwise)
            else:
                filled[path] = normal.values[str(filled[normal.field])]
        return filled


@dataclass(frozen=True)
class Quantity:
    """A derived number: the difference of two fields (the fall of systolic pressure)."""

    id: str
    minuend: str
    subtrahend: str

    @property
    def inputs(self) -> tuple[str, str]:
        return (self.minuend, self.subtrahend)


# --- the rule base ---------------------------------------------------------------------------


@dataclass
class RuleBase:
    format: int
    version: str
    title: str
    digest: str
    sources: dict[str, dict[str, str]]
    rules: tuple[Rule, ...]  # in evaluation order: everything a rule reads is decided before it
    files: dict[str, str]
    flags: dict[str, FlagDef]  # in the order of danger: it breaks ties between flags at one level
    screened: tuple[str, ...]  # the flags whose screen state a result reports
    quantities: dict[str, Quantity]
    news2: dict[str, Any]
    qsofa: dict[str, Any]
    qsofa_criteria: dict[str, Condition]
    screen: SelfCareScreen
    implications: tuple[Implication, ...]
    outcomes: dict[str, Any]
    advice: dict[str, str]
    advice_sets: tuple[dict[str, Any], ...]
    self_test: dict[str, Any]  # {title, encounter, expect}: what /readyz evaluates
    by_id: dict[str, Rule] = field(default_factory=dict)
    finding_rule: dict[str, Rule] = field(default_factory=dict)
    flag_rules: dict[str, list[Rule]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {r.id: r for r in self.rules}
        self.finding_rule = {r.then.finding: r for r in self.rules if isinstance(r.then, Conclude)}
        self.flag_rules = {}
        for r in self.rules:
            if isinstance(r.then, Raise):
                self.flag_rules.setdefault(r.then.flag, []).append(r)

    def __repr__(self) -> str:
        return f"RuleBase(version={self.version!r}, digest={self.digest[:12]!r}, rules={len(self.rules)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # pretty printers (Hypothesis, IPython) print a dataclass field by field: 190 kB for the
        # rule base, so long that Hypothesis withheld a failing example behind a warning
        printer.text(repr(self))

    def source_label(self, keys: tuple[str, ...]) -> str:
        return "; ".join(self.sources[k]["label"] for k in keys)

    def source_urls(self, keys: tuple[str, ...]) -> list[str]:
        return [self.sources[k]["url"] for k in keys if "url" in self.sources[k]]

    def source(self, keys: tuple[str, ...]) -> dict[str, str]:
        """A trace entry's `source` (the short citations) and `source_url` (the first link)."""
        out = {"source": self.source_label(keys)}
        urls = self.source_urls(keys)
        if urls:
            out["source_url"] = urls[0]
        return out

    def citation(self, key: str) -> dict[str, str]:
        """A CDS Hooks card's `source`: the label of one source, and its link when it has one."""
        source = self.sources[key]
        return {"label": source["label"], **({"url": source["url"]} if "url" in source else {})}

    def summary(self) -> dict[str, str]:
        return {"version": self.version, "digest": self.digest}

    @property
    def flag_ids(self) -> tuple[str, ...]:
        return tuple(self.flags)


def source_keys(value: Any) -> tuple[str, ...]:
    """A `source` as written in a rule file (one key, or a list of keys) as a tuple of keys."""
    return (value,) if isinstance(value, str) else tuple(value)


def require_servable(rb: RuleBase) -> None:
    """Only the current format is served: an older rule base loads for comparison (cds rules
    diff) but lacks what the service relies on (flags of the contract, the open-criteria check)."""
    if rb.format < 2:
        raise RuleBaseError([RuleError(MANIFEST, None, "format", f"format {rb.format} can be compared, not served")])
