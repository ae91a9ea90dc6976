"""Hypothesis strategies for encounters the schema accepts (any mix of known and unknown)."""

import copy

from hypothesis import strategies as st

from cds.fields import BY_PATH, FIELDS, SECTIONS
from tests.conftest import VIGNETTES

CLINICAL_PATHS = [f.path for f in FIELDS if f.clinical and not f.required]


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
        )
    if spec.kind == "enum_list":
        return st.lists(st.sampled_from(spec.choices), min_size=1, max_size=len(spec.choices), unique=True)
    return st.text(min_size=1, max_size=20)


def _section(section):
    specs = [f for f in FIELDS if f.section == section]
    required = {f.name: value_of(f) for f in specs if f.required}
    optional = {f.name: st.one_of(st.none(), value_of(f)) for f in specs if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def random_encounters():
    sections = {s: _section(s) for s in SECTIONS if s != "patient"}
    return st.fixed_dictionaries({"patient": _section("patient")}, optional=sections)


def _complete(vid):
    """A vignette with every optional input answered, normal where the vignette is silent."""
    enc = copy.deepcopy(VIGNETTES[vid]["encounter"])
    enc.setdefault("vitals", {}).update(usual_systolic_bp=125, hours_since_urine=3, spo2_scale=1)
    enc["labs"] = {"urine_nitrite": False, "urine_leukocytes": False, "lactate_mmol_l": 1.1, "wbc_10e9_l": 7.5}
    return enc


BASES = {vid: v["encounter"] for vid, v in VIGNETTES.items()}
BASES.update({f"{vid}-complete": _complete(vid) for vid in ("D01", "D04", "D21", "D23")})


@st.composite
def near_vignettes(draw):
    """A vignette with a few answers forgotten and a few changed: realistic encounters, where
    screens are often complete and thresholds are close."""
    enc = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for path in draw(st.lists(st.sampled_from(CLINICAL_PATHS), max_size=6, unique=True)):
        section, name = path.split(".")
        (enc.get(section) or {}).pop(name, None)
    for path in draw(st.lists(st.sampled_from(CLINICAL_PATHS), max_size=2, unique=True)):
        section, name = path.split(".")
        enc.setdefault(section, {})[name] = draw(value_of(BY_PATH[path]))
    return enc


def encounters():
    return st.one_of(random_encounters(), near_vignettes())


RED_FLAG_ESCALATIONS = [
    ("vitals", "consciousness", "new_confusion"),
    ("symptoms", "headache", "severe"),
    ("symptoms", "leg_weakness", "unilateral"),
    ("symptoms", "leg_weakness", "bilateral"),
    ("pain", "trend", "rapidly_worsening"),
    ("pain", "distribution", "localized"),
]
