"""The result of an evaluation as a type: the Result schema of openapi.yaml, field for field
(tests/unit/triage/test_result_types.py holds the two together)."""

from typing import Any, NotRequired, TypedDict


class Flag(TypedDict):
    id: str
    risk_level: str
    summary: str
    rules: list[str]
    disposition: str


class MissingItem(TypedDict):
    field: str
    needed_for: list[str]
    asked_unknown: NotRequired[bool]


class News2Score(TypedDict):
    total: int
    band: str
    components: dict[str, int]
    complete: bool
    unknown_parameters: list[str]


class QsofaScore(TypedDict):
    score: int
    criteria: list[str]
    complete: bool
    positive: bool
    unknown_parameters: list[str]


class Scores(TypedDict):
    news2: News2Score
    qsofa: QsofaScore


class TraceEntry(TypedDict):
    seq: int
    rule: str
    title: str
    matched: dict[str, Any]
    concluded: dict[str, Any]
    source: str
    source_url: NotRequired[str]


class RulebaseRef(TypedDict):
    version: str
    digest: str


class Result(TypedDict):
    encounter_id: NotRequired[str]
    risk_level: str
    primary: str
    disposition: str
    flags: list[Flag]
    screen: dict[str, str]
    missing: list[MissingItem]
    scores: Scores
    advice: list[str]
    trace: list[TraceEntry]
    rulebase: RulebaseRef
    asked_unknown: NotRequired[list[str]]
