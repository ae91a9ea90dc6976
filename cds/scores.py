"""NEWS2 and qSOFA from the tables in rules/scores.yaml.

Each parameter yields a (low, high) range of points: equal when its inputs are known, the
table's full range when they are not. Summing the lows gives the lower bound the clinical
rules use; summing the highs tells when a threshold can no longer be reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds.conditions import Condition, Context, ScoreBound

OXYGEN_FIELD = "vitals.on_oxygen"


@dataclass(frozen=True)
class Points:
    low: int
    high: int
    unknown: tuple[str, ...]

    @property
    def known(self) -> bool:
        return self.low == self.high and not self.unknown


def _band_points(bands: list[dict[str, Any]], value: float) -> Any:
    for band in bands:
        if "up_to" in band and value <= band["up_to"]:
            return band["points"]
    return bands[-1]["points"]


def _all_points(bands: list[dict[str, Any]]) -> list[int]:
    out: list[int] = []
    for band in bands:
        p = band["points"]
        out.extend(p.values() if isinstance(p, dict) else [p])
    return out


def _parameter(param: dict[str, Any], values: dict[str, Any]) -> Points:
    path = param["field"]
    value = values.get(path)
    if "values" in param:
        table = {str(k).lower(): v for k, v in param["values"].items()}
        if value is None:
            return Points(min(table.values()), max(table.values()), (path,))
        key = str(value).lower() if isinstance(value, bool) else value
        return Points(table[key], table[key], ())
    if "scales" in param:
        scale = str(values.get(param["scale_field"]) or 1)
        bands = param["scales"][scale]
    else:
        bands = param["bands"]
    if value is None:
        every = _all_points(bands)
        return Points(min(every), max(every), (path,))
    points = _band_points(bands, value)
    if isinstance(points, dict):
        oxygen = values.get(OXYGEN_FIELD)
        if oxygen is None:
            return Points(min(points.values()), max(points.values()), (OXYGEN_FIELD,))
        points = points["on_oxygen" if oxygen else "on_air"]
    return Points(points, points, ())


@dataclass(frozen=True)
class News2:
    components: dict[str, int]
    total: ScoreBound
    max_parameter: ScoreBound
    band: str
    complete: bool
    unknown: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": int(self.total.low),
            "band": self.band,
            "components": dict(self.components),
            "complete": self.complete,
            "unknown_parameters": list(self.unknown),
        }


def news2(table: dict[str, Any], values: dict[str, Any]) -> News2:
    per = {name: _parameter(param, values) for name, param in table["parameters"].items()}
    unknown = tuple(dict.fromkeys(f for p in per.values() for f in p.unknown))
    low = sum(p.low for p in per.values())
    high = sum(p.high for p in per.values())
    max_low = max(p.low for p in per.values())
    max_high = max(p.high for p in per.values())
    band = "low"
    for rule in table["bands"]:
        if "total_at_least" in rule and low >= rule["total_at_least"]:
            band = rule["band"]
            break
        if "any_parameter" in rule and max_low >= rule["any_parameter"]:
            band = rule["band"]
            break
        if len(rule) == 1:
            band = rule["band"]
            break
    return News2(
        components={name: p.low for name, p in per.items() if p.known},
        total=ScoreBound(low, high, unknown),
        max_parameter=ScoreBound(max_low, max_high, unknown),
        band=band,
        complete=all(p.known for p in per.values()),
        unknown=unknown,
    )


@dataclass(frozen=True)
class Qsofa:
    score: ScoreBound
    criteria: list[str]
    complete: bool
    positive: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": int(self.score.low),
            "criteria": list(self.criteria),
            "complete": self.complete,
            "positive": self.positive,
            "unknown_parameters": list(self.score.unknown),
        }


def qsofa(criteria: dict[str, Condition], positive_at: int, ctx: Context) -> Qsofa:
    met: list[str] = []
    undecided = 0
    unknown: set[str] = set()
    for name, cond in criteria.items():
        value = cond.value(ctx)
        if value is True:
            met.append(name)
        elif value is None:
            undecided += 1
            cond.pending(ctx, unknown)
    bound = ScoreBound(len(met), len(met) + undecided, tuple(sorted(unknown)))
    return Qsofa(bound, met, undecided == 0, len(met) >= positive_at)
