"""NEWS2 and qSOFA from the tables in rules/scores.yaml.

Each parameter yields a (low, high) range of points: equal when its inputs are known, the
table's full range when they are not. Summing the lows gives the lower bound the clinical
rules use; summing the highs tells when a threshold can no longer be reached.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, NamedTuple

from cds.triage.context import ScoreBound
from cds.triage.result_types import News2Score, QsofaScore

OXYGEN_FIELD = "vitals.on_oxygen"


class Points(NamedTuple):
    """A parameter's points: equal bounds when its inputs are known, the table's range when not."""

    low: int
    high: int
    unknown: str | None  # the input still unknown, if any


Scorer = Callable[[dict[str, Any]], Points]


def _table(bands: list[dict[str, Any]]) -> tuple[tuple[float, Any], ...]:
    """Bands as (inclusive upper bound, points), the last bound infinite."""
    return tuple((band.get("up_to", math.inf), band["points"]) for band in bands)


def _every(table: tuple[tuple[float, Any], ...]) -> list[int]:
    out: list[int] = []
    for _, points in table:
        out.extend(points.values() if isinstance(points, dict) else [points])
    return out


def points_by_answer(param: dict[str, Any]) -> dict[Any, int]:
    """A NEWS2 parameter scored by answer (`values`), keyed by the answers themselves: the YAML
    keys "true" and "false" are the booleans."""
    return {(k == "true") if k in ("true", "false") else k: v for k, v in param["values"].items()}


def _scorer(param: dict[str, Any]) -> Scorer:
    """One NEWS2 parameter compiled from its table, once, at start-up."""
    path = param["field"]
    if "values" in param:
        by_value = points_by_answer(param)
        unknown = Points(min(by_value.values()), max(by_value.values()), path)

        def by_lookup(values: dict[str, Any]) -> Points:
            value = values.get(path)
            if value is None:
                return unknown
            points = by_value[value]
            return Points(points, points, None)

        return by_lookup

    if "scales" in param:
        scale_field = param["scale_field"]
        tables = {int(k): _table(v) for k, v in param["scales"].items()}
    else:
        scale_field = None
        tables = {1: _table(param["bands"])}
    unknowns = {k: Points(min(_every(t)), max(_every(t)), path) for k, t in tables.items()}
    # per scale: the bands' inclusive upper bounds, ascending, and their points; the band of a
    # value is the first whose bound is at least the value (bisect_left)
    bounds = {k: [bound for bound, _ in t] for k, t in tables.items()}
    points_of = {k: [points for _, points in t] for k, t in tables.items()}

    def by_band(values: dict[str, Any]) -> Points:
        scale = values.get(scale_field, 1) if scale_field else 1
        value = values.get(path)
        if value is None:
            return unknowns[scale]
        points = points_of[scale][bisect_left(bounds[scale], value)]
        if type(points) is dict:  # NEWS2 SpO2 scale 2 above 92 %: scored only on oxygen
            oxygen = values.get(OXYGEN_FIELD)
            if oxygen is None:
                return Points(min(points.values()), max(points.values()), OXYGEN_FIELD)
            points = points["on_oxygen" if oxygen else "on_air"]
        return Points(points, points, None)

    return by_band


class News2(NamedTuple):
    """NEWS2 of one evaluation (a named tuple: made once or twice per evaluation)."""

    components: dict[str, int]
    total: ScoreBound
    max_parameter: ScoreBound
    band: str
    complete: bool
    unknown: tuple[str, ...]

    def to_dict(self) -> News2Score:
        return {
            "total": int(self.total.low),
            "band": self.band,
            "components": dict(self.components),
            "complete": self.complete,
            "unknown_parameters": list(self.unknown),
        }


class News2Table:
    """NEWS2 compiled from rules/scores.yaml: parameters in table order, then the bands."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.parameters = tuple((name, _scorer(param)) for name, param in spec["parameters"].items())
        self.bands = tuple(
            (rule.get("total_at_least"), rule.get("any_parameter"), rule["band"]) for rule in spec["bands"]
        )

    def score(self, values: dict[str, Any]) -> News2:
        components: dict[str, int] = {}
        unknown: list[str] = []
        parts: list[tuple[str, int, int]] = []
        low = high = max_low = max_high = 0
        for name, scorer in self.parameters:
            p_low, p_high, missing = scorer(values)
            low += p_low
            high += p_high
            if p_low > max_low:
                max_low = p_low
            if p_high > max_high:
                max_high = p_high
            if missing is None:
                components[name] = p_low
            else:
                parts.append((missing, p_low, p_high))
                if missing not in unknown:
                    unknown.append(missing)
        band = "low"
        for total_at_least, any_parameter, name in self.bands:
            if total_at_least is not None:
                if low >= total_at_least:
                    band = name
                    break
            elif any_parameter is not None:
                if max_low >= any_parameter:
                    band = name
                    break
            else:
                band = name
                break
        missing_inputs, spreads = tuple(unknown), tuple(parts)
        return News2(
            components=components,
            total=ScoreBound(low, high, missing_inputs, spreads),
            max_parameter=ScoreBound(max_low, max_high, missing_inputs, spreads),
            band=band,
            complete=not unknown,
            unknown=missing_inputs,
        )


class Qsofa(NamedTuple):
    """qSOFA of one evaluation."""

    score: ScoreBound
    criteria: list[str]
    complete: bool
    positive: bool

    def to_dict(self) -> QsofaScore:
        return {
            "score": int(self.score.low),
            "criteria": list(self.criteria),
            "complete": self.complete,
            "positive": self.positive,
            "unknown_parameters": list(self.score.unknown),
        }
