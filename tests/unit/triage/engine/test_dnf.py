"""Conditions in disjunctive normal form, as durable tests: the branches under which a
condition is established, and those under which it is not."""

from cds.triage.engine.dnf import UNKNOWN, field_key, negative, positive
from cds.triage.rulebase.parse import parse


def no_findings(_):
    raise AssertionError("no finding here")


def no_flags(_):
    raise AssertionError("no flag here")


def branches(node, fn=positive):
    return sorted(sorted(b.tests) for b in fn(parse(node), no_findings, no_flags))


COUGH = {"field": "symptoms.cough", "is": True}
FEVER = {"field": "symptoms.reported_fever", "is": True}


def test_any_is_one_branch_per_alternative_and_all_one_conjunction():
    cough, fever = field_key("symptoms.cough"), field_key("symptoms.reported_fever")
    assert branches({"any": [COUGH, FEVER]}) == [[(cough, "eq", True)], [(fever, "eq", True)]]
    assert branches({"all": [COUGH, FEVER]}) == [[(cough, "eq", True), (fever, "eq", True)]]


def test_not_established_is_rewritten_as_not_equal_so_unknown_counts():
    cough = field_key("symptoms.cough")
    assert branches({"not_established": COUGH}) == [[(cough, "neq", True)]]
    assert UNKNOWN != True  # noqa: E712 - an unknown boolean is written "?" so that neq true holds


def test_a_contradiction_has_no_branch():
    hr = {"field": "vitals.heart_rate", "gte": 130}
    low = {"field": "vitals.heart_rate", "lt": 100}
    assert branches({"all": [hr, low]}) == []


def test_the_negation_of_a_threshold_includes_not_measured():
    key = field_key("vitals.heart_rate")
    assert branches({"field": "vitals.heart_rate", "gte": 130}, negative) == [[(key, "lt", 130)], [(key, "nex", 1)]]
