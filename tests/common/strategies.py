"""Hypothesis strategies for encounters the schema accepts (any mix of known and unknown), and
the danger direction of every input (principle 4 of the clinical specification)."""

import copy
import math

from hypothesis import strategies as st

from cds.triage.fields import BY_PATH, FIELDS, SECTIONS
from cds.triage.rulebase import load_rulebase
from tests.common.paths import ROOT
from tests.common.vignettes import NORMAL_LABS, VIGNETTES

CLINICAL_PATHS = [f.path for f in FIELDS if f.clinical and not f.required]
RULEBASE = load_rulebase(ROOT / "rules")
# answers that contradict each other are refused (422): generated encounters avoid them
REFUSED = [(imp.when.path, imp.when.is_, imp.target, imp.value) for imp in RULEBASE.implications if imp.refuse]


def value_of(spec):
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "enum":
        return st.sampled_from(spec.choices)
    if spec.kind == "int":
        return st.integers(int(spec.low), int(spec.high))
    if spec.kind == "number":
        return st.one_of(
            st.integers(int(spec.low), int(spec.high)),
            st.floats(spec.low, spec.high, allow_nan=False)
            .map(lambda x: round(x, 1))
            .filter(lambda x, s=spec: s.low <= x <= s.high),
            # unrounded too: 0.000009 is written 9e-6, which durable's parser once crashed on
            st.floats(spec.low, spec.high, allow_nan=False),
        )
    if spec.kind == "enum_list":
        return st.lists(st.sampled_from(spec.choices), min_size=1, max_size=len(spec.choices), unique=True)
    return st.text(min_size=1, max_size=20)


def get(enc, path):
    section, name = path.split(".")
    return (enc.get(section) or {}).get(name)


def put(enc, path, value):
    section, name = path.split(".")
    if value is None:
        (enc.get(section) or {}).pop(name, None)
    else:
        if enc.get(section) is None:
            enc[section] = {}
        enc[section][name] = value


def consistent(enc):
    """The encounter without the answers the specification refuses as contradictory: where two
    explicit answers contradict an implication, the implied one is forgotten (made unknown)."""
    for when_path, when_value, target, value in REFUSED:
        given, stated = get(enc, when_path), get(enc, target)
        if given is not None and given == when_value and stated is not None and stated != value:
            put(enc, target, None)
    return enc


def _section(section):
    specs = [f for f in FIELDS if f.section == section]
    required = {f.name: value_of(f) for f in specs if f.required}
    optional = {f.name: st.one_of(st.none(), value_of(f)) for f in specs if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def random_encounters():
    sections = {s: _section(s) for s in SECTIONS if s != "patient"}
    return st.fixed_dictionaries({"patient": _section("patient")}, optional=sections).map(consistent)


def _complete(vid):
    """A vignette with every optional input answered, normal where the vignette is silent."""
    enc = copy.deepcopy(VIGNETTES[vid]["encounter"])
    enc.setdefault("vitals", {}).update(usual_systolic_bp=125, hours_since_urine=3, spo2_scale=1)
    enc["labs"] = dict(NORMAL_LABS)
    return enc


BASES = {vid: v["encounter"] for vid, v in VIGNETTES.items()}
BASES.update({f"{vid}-complete": _complete(vid) for vid in ("D01", "D02", "D04", "D21", "D23", "D72")})
SELF_CARE_BASES = sorted(vid for vid in BASES if vid.split("-")[0] in ("D01", "D02", "D30", "D72"))


@st.composite
def near_vignettes(draw, bases=None):
    """A vignette with a few answers forgotten and a few changed: realistic encounters, where
    screens are often complete and thresholds are close."""
    enc = copy.deepcopy(BASES[draw(st.sampled_from(bases or sorted(BASES)))])
    for path in draw(st.lists(st.sampled_from(CLINICAL_PATHS), max_size=6, unique=True)):
        put(enc, path, None)
    for path in draw(st.lists(st.sampled_from(CLINICAL_PATHS), max_size=2, unique=True)):
        put(enc, path, draw(value_of(BY_PATH[path])))
    return consistent(enc)


def encounters():
    return st.one_of(random_encounters(), near_vignettes())


# --- danger directions (principle 4) ---------------------------------------------------------

# The reassuring inputs the specification names: they explain a fever, or make the myalgia
# pattern. Moving them may lower the risk level; nothing else may.
REASSURING = {
    "symptoms.generalized_myalgia",
    "symptoms.cough",
    "symptoms.coryza",
    "symptoms.sore_throat",
}
# The reassuring values the specification names (principle 4: "the myalgia pattern"): making an
# unknown distribution or laterality known as one of these may lower the risk level.
REASSURING_VALUES = {
    "pain.distribution": {"diffuse"},
    "pain.laterality": {"bilateral", "central"},
}
# Enums: each value with its danger rank; a move to a higher rank is towards danger. Values of
# equal rank are not ordered against each other. `pain.distribution` = diffuse and
# `pain.laterality` bilateral or central are the reassuring values (rank 0).
ENUM_DANGER = {
    "patient.sex": {"female": 0, "unknown": 0, "other": 1, "male": 1},
    "vitals.consciousness": {"alert": 0, "new_confusion": 1, "voice": 1, "pain": 1, "unresponsive": 1},
    "pain.distribution": {"diffuse": 0, "localized": 1},
    "pain.laterality": {"bilateral": 0, "central": 0, "left": 1, "right": 1},
    "pain.trend": {"improving": 0, "stable": 1, "worsening": 2, "rapidly_worsening": 3},
    "pain.onset": {"gradual": 0, "sudden": 1},
    "symptoms.headache": {"none": 0, "mild": 1, "moderate": 2, "severe": 3},
    "symptoms.leg_weakness": {"none": 0, "unilateral": 1, "bilateral": 2},
}
# Numbers: the normal band; a move away from it (or out of it), on one side, is towards danger.
NUMBER_NORMAL = {
    "patient.age_years": (-math.inf, 16),
    "vitals.temperature_c": (36.1, 37.9),
    "vitals.heart_rate": (51, 90),
    "vitals.respiratory_rate": (12, 20),
    "vitals.systolic_bp": (111, 219),
    "vitals.usual_systolic_bp": (-math.inf, 60),
    "vitals.spo2": (96, math.inf),  # scale 1; scale 2 in number_normal()
    "vitals.hours_since_urine": (-math.inf, 0),
    "pain.severity": (-math.inf, 0),
    "pain.duration_days": (-math.inf, 0),
    "labs.lactate_mmol_l": (-math.inf, 0),
    "labs.wbc_10e9_l": (4.0, 12.0),
    "labs.crp_mg_l": (-math.inf, 0),
}
# No danger direction: the NEWS2 SpO2 scale is a prescription, not a finding (scale 2 scores
# lower on air and higher on oxygen); the identifier is not clinical.
NO_DIRECTION = {"vitals.spo2_scale", "encounter_id"}


def number_normal(enc, path):
    if path == "vitals.spo2" and get(enc, "vitals.spo2_scale") == 2:
        return (88, 92)
    return NUMBER_NORMAL[path]


def _distance(value, band):
    low, high = band
    return (low - value, -1) if value < low else ((value - high, 1) if value > high else (0, 0))


def towards_danger(enc, path, before, after):
    """Whether changing a known input from `before` to `after` moves it towards danger."""
    spec = BY_PATH[path]
    if spec.kind == "bool":
        return before is False and after is True
    if spec.kind == "enum":
        ranks = ENUM_DANGER[path]
        return ranks[after] > ranks[before]
    if spec.kind == "enum_list":
        return set(before) < set(after)
    band = number_normal(enc, path)
    (d1, side1), (d2, side2) = _distance(before, band), _distance(after, band)
    return d2 > d1 and (side1 == 0 or side1 == side2)


def danger_inputs():
    """Every clinical input that has a danger direction, the reassuring ones excepted."""
    return [
        f.path
        for f in FIELDS
        if f.clinical and f.path not in NO_DIRECTION and f.path not in REASSURING and f.kind != "string"
    ]
