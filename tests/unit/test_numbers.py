"""cds.numbers: a number in sent data is finite as a float, or it is no number."""

import pytest

from cds.numbers import finite_number


@pytest.mark.parametrize("value", [0, -3, 2.5, 10**299, -(10**299), 1e300 - 1e290])
def test_finite_numbers(value):
    assert finite_number(value)


@pytest.mark.parametrize("value", [True, False, None, "1", float("nan"), float("inf"), 10**400, -(10**400), [1]])
def test_what_is_no_number_and_never_raises(value):
    assert not finite_number(value)
