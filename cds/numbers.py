"""What counts as a number in data a caller or an EHR sends."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

# past this, a JSON integer is no reading of anything, and float() of it overflows
_LARGEST = 1e300


def finite_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number that is finite as a float: not a boolean, not NaN or infinite, and not an
    integer too large for a float (math.isfinite(10**400) raises OverflowError, a 500)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return -_LARGEST < value < _LARGEST
    return math.isfinite(value)
