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
