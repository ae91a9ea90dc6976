"""The condition tree in Kleene's three-valued logic: what is established, what is still
pending, and what supported a conclusion."""

import pytest

from cds.triage.context import Context
from cds.triage.rulebase.parse import parse


def ctx(**values):
    return Context(values={k.replace("__", "."): v for k, v in values.items()})


COUGH, FEVER = {"field": "symptoms.cough", "is": True}, {"field": "symptoms.reported_fever", "is": True}
HR = {"field": "vitals.heart_rate", "gte": 130}


@pytest.mark.parametrize(
    ("a", "b", "all_", "any_"),
    [
        (True, True, True, True),
        (True, False, False, True),
        (False, False, False, False),
        (True, None, None, True),
        (False, None, False, None),
        (None, None, None, None),
    ],
)
def test_kleene_and_or(a, b, all_, any_):
    values = {k: v for k, v in (("symptoms__cough", a), ("symptoms__reported_fever", b)) if v is not None}
    assert parse({"all": [COUGH, FEVER]}).evaluate(ctx(**values)) is all_
    assert parse({"any": [COUGH, FEVER]}).evaluate(ctx(**values)) is any_


def test_an_unknown_field_is_neither_true_nor_false():
    assert parse(HR).evaluate(ctx()) is None
    assert parse(HR).evaluate(ctx(vitals__heart_rate=129)) is False
    assert parse(HR).evaluate(ctx(vitals__heart_rate=130)) is True


def test_at_least_counts_what_is_known_and_what_could_still_be():
    two = parse({"at_least": 2, "of": [COUGH, FEVER, HR]})
    assert two.evaluate(ctx(symptoms__cough=True)) is None
    assert two.evaluate(ctx(symptoms__cough=True, symptoms__reported_fever=True)) is True
    assert two.evaluate(ctx(symptoms__cough=True, symptoms__reported_fever=False, vitals__heart_rate=90)) is False


def test_not_established_is_true_while_unknown():
    cond = parse({"not_established": COUGH})
    assert cond.evaluate(ctx()) is True
    assert cond.evaluate(ctx(symptoms__cough=False)) is True
    assert cond.evaluate(ctx(symptoms__cough=True)) is False


def test_pending_names_only_the_unknown_inputs_that_could_still_make_it_true():
    cond = parse({"all": [COUGH, {"any": [FEVER, HR]}]})
    out: set[str] = set()
    cond.pending(ctx(vitals__heart_rate=80), out)
    assert out == {"symptoms.cough", "symptoms.reported_fever"}
    out.clear()
    cond.pending(ctx(symptoms__cough=False), out)
    assert out == set()  # already false: nothing can make it true


def test_support_names_the_known_inputs_that_made_it_true():
    cond = parse({"any": [COUGH, FEVER]})
    matched: dict = {}
    cond.support(ctx(symptoms__cough=True, symptoms__reported_fever=False), matched)
    assert matched == {"symptoms.cough": True}


def _alone(cond, context):
    out: set[str] = set()
    cond.alone(context, out)
    return out


def test_alone_names_the_inputs_one_answer_to_which_could_make_it_true():
    # any of: each unknown part by itself; all of: only an input every undecided part can take
    assert _alone(parse({"any": [COUGH, FEVER]}), ctx()) == {"symptoms.cough", "symptoms.reported_fever"}
    assert _alone(parse({"all": [COUGH, FEVER]}), ctx()) == set()
    assert _alone(parse({"all": [COUGH, FEVER]}), ctx(symptoms__cough=True)) == {"symptoms.reported_fever"}
    both = parse({"all": [{"any": [COUGH, FEVER]}, COUGH]})  # a wound is infection and the wound
    assert _alone(both, ctx()) == {"symptoms.cough"}
    # at least two: only a count one short can be completed by one answer
    two = parse({"at_least": 2, "of": [COUGH, FEVER, HR]})
    assert _alone(two, ctx()) == set()
    assert _alone(two, ctx(symptoms__cough=True)) == {"symptoms.reported_fever", "vitals.heart_rate"}


def test_alone_weighs_what_one_parameter_can_add_to_a_score():
    from cds.triage.context import ScoreBound

    seven = parse({"score": "news2.total", "gte": 7})
    parts = (("vitals.on_oxygen", 0, 2), ("vitals.temperature_c", 0, 3), ("vitals.spo2", 0, 3))
    context = ctx()
    context.scores["news2.total"] = ScoreBound(
        5, 13, ("vitals.on_oxygen", "vitals.temperature_c", "vitals.spo2"), parts
    )
    assert _alone(seven, context) == {"vitals.on_oxygen", "vitals.temperature_c", "vitals.spo2"}
    context.scores["news2.total"] = ScoreBound(
        4, 12, ("vitals.on_oxygen", "vitals.temperature_c", "vitals.spo2"), parts
    )
    assert _alone(seven, context) == {"vitals.temperature_c", "vitals.spo2"}  # oxygen adds 2: 6
    # scale 2 above 92 % scores only on oxygen: the oxygen answer counts in both parameters
    parts = (("vitals.on_oxygen", 0, 2), ("vitals.on_oxygen", 0, 3))
    context.scores["news2.total"] = ScoreBound(2, 7, ("vitals.on_oxygen",), parts)
    assert _alone(seven, context) == {"vitals.on_oxygen"}
    single = parse({"score": "news2.max_parameter", "gte": 3})
    context.scores["news2.max_parameter"] = ScoreBound(
        2, 3, ("vitals.on_oxygen", "vitals.spo2"), (("vitals.on_oxygen", 0, 2), ("vitals.spo2", 0, 3))
    )
    assert _alone(single, context) == {"vitals.spo2"}


def test_alone_keeps_a_difference_within_its_inputs_ranges():
    """A usual systolic of at most 250 cannot be more than 40 above a systolic of 292."""
    drop = parse({"quantity": "systolic_drop", "gt": 40})
    inputs = {"systolic_drop": ("vitals.usual_systolic_bp", "vitals.systolic_bp")}
    high = ctx(vitals__systolic_bp=292)
    high.quantity_inputs, high.quantities = inputs, {"systolic_drop": None}
    assert _alone(drop, high) == set()
    low = ctx(vitals__systolic_bp=120)
    low.quantity_inputs, low.quantities = inputs, {"systolic_drop": None}
    assert _alone(drop, low) == {"vitals.usual_systolic_bp"}
