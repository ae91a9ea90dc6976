"""A measurement recorded as a bound is read as the number it names only when that number
answers every threshold as every value the bound allows does (cds.fhir.bounds)."""

import operator
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.fhir.bounds import COMPARATORS, _whole, reads_as
from cds.triage.conditions import All, Any_, AtLeast, FieldAtom, NotEstablished
from cds.triage.thresholds import number_cuts

TEST = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}
OPS = tuple(TEST)
# numbers on a coarse grid, so that a bound and a threshold often coincide
GRID = st.integers(-8, 8).map(lambda n: n / 2)


def allowed(comparator, bound):
    """Values the bound allows: at and near it, and far from it, on its side."""
    steps = (1e-9, 1e-6, 0.25, 0.5, 1, 3, 1e6)
    if comparator in (">", ">="):
        out = [bound + s for s in steps]
    else:
        out = [bound - s for s in steps]
    return out + ([bound] if comparator in (">=", "<=") else [])


@given(st.sampled_from(COMPARATORS), GRID, st.sampled_from(OPS), GRID)
def test_the_answer_over_a_bound_is_every_allowed_value_s_answer_or_none_when_they_differ(comparator, bound, op, t):
    answers = {TEST[op](x, t) for x in allowed(comparator, bound)}
    whole = _whole(comparator, bound, op, t)
    if whole is None:
        assert len(answers) == 2
    else:
        assert answers == {whole}


@given(st.sampled_from(COMPARATORS), GRID, st.lists(st.tuples(st.sampled_from(OPS), GRID), max_size=4))
def test_a_bound_read_as_its_number_answers_every_threshold_as_every_value_it_allows(comparator, bound, cuts):
    if reads_as(comparator, bound, bound, cuts):
        for x in allowed(comparator, bound):
            assert all(TEST[op](x, t) is TEST[op](bound, t) for op, t in cuts)


@pytest.mark.parametrize(
    ("comparator", "bound", "read"),
    [
        (">", 8, True),  # above both lactate thresholds
        (">=", 4, True),
        (">", 4, True),  # above 4: at least 4
        (">", 3.9, False),  # may or may not reach 4
        (">=", 3.9, False),
        ("<", 2, False),  # below 2, but 2 itself is not
        ("<", 1.5, True),
        ("<=", 2, False),
        ("ad", 8, False),  # "sufficient to achieve": not a bound on the value
        ("~", 8, False),
    ],
)
def test_lactate_bounds_against_the_rule_base(rulebase, comparator, bound, read):
    assert reads_as(comparator, bound, bound, number_cuts(rulebase)["labs.lactate_mmol_l"]) is read


def test_the_fields_weighed_are_those_only_comparisons_read(rulebase):
    cuts = number_cuts(rulebase)
    assert cuts["labs.crp_mg_l"] == (("gt", 100.0),)
    assert set(cuts["labs.lactate_mmol_l"]) == {("gte", 2.0), ("gte", 4.0), ("lt", 4.0)}
    # NEWS2 reads the vital signs in bands, and a difference reads the systolic: not weighed
    assert not {"vitals.temperature_c", "vitals.heart_rate", "vitals.systolic_bp", "vitals.usual_systolic_bp"} & set(
        cuts
    )


def fake_rulebase(rules=(), qsofa=(), news2_fields=(), differences=(), implied=()):
    """Just what number_cuts reads of a rule base."""
    return SimpleNamespace(
        rules=[SimpleNamespace(when=w) for w in rules],
        qsofa_criteria={f"c{i}": c for i, c in enumerate(qsofa)},
        news2={"parameters": {f"p{i}": {"field": f} for i, f in enumerate(news2_fields)}},
        quantities={f"q{i}": SimpleNamespace(inputs=pair) for i, pair in enumerate(differences)},
        implications=[SimpleNamespace(when=SimpleNamespace(path=a), target=b) for a, b in implied],
    )


LACTATE, CRP, SEVERITY = "labs.lactate_mmol_l", "labs.crp_mg_l", "pain.severity"


def test_comparisons_inside_every_kind_of_condition_are_gathered():
    rules = [
        All((FieldAtom(LACTATE, bounds=(("gte", 2), ("lt", 4))),)),
        NotEstablished(Any_((FieldAtom(CRP, bounds=(("gt", 100),)),))),
    ]
    cuts = number_cuts(fake_rulebase(rules, qsofa=[AtLeast(1, (FieldAtom(SEVERITY, bounds=(("gte", 7),)),))]))
    assert cuts == {
        CRP: (("gt", 100.0),),
        LACTATE: (("gte", 2.0), ("lt", 4.0)),
        SEVERITY: (("gte", 7.0),),
    }


@pytest.mark.parametrize(
    "other",
    [
        {"rules": [FieldAtom(LACTATE, absent=True)]},
        {"rules": [FieldAtom(LACTATE, is_=2.0)]},
        {"rules": [FieldAtom(LACTATE, in_=(2.0, 4.0))]},
        {"news2_fields": [LACTATE]},
        {"differences": [(CRP, LACTATE)]},
        {"implied": [(LACTATE, CRP)]},
        {"implied": [(CRP, LACTATE)]},
    ],
)
def test_a_field_read_other_than_by_comparison_is_not_weighed(other):
    rules = [FieldAtom(LACTATE, bounds=(("gte", 4),)), *other.pop("rules", [])]
    assert LACTATE not in number_cuts(fake_rulebase(rules, **other))


def test_a_field_no_rule_compares_is_not_weighed():
    assert number_cuts(fake_rulebase([FieldAtom(LACTATE, bounds=(("gte", 4),))])).keys() == {LACTATE}
