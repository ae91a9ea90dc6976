"""The strict JSON decoder: its fast path (orjson plus a proof that no key was repeated) must
answer exactly as the strict path does, for every body, valid or not."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.problems import Problem
from cds.strict_json import _decode_strict, decode

DEPTH, ITEMS = 8, 16


class Obj(list):
    """An object as written, pairs in order, so a key can be repeated."""


KEYS = st.sampled_from(["a", "b", "a:b", ":", "é", '"', "\\", "x" * 3]) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab:"\\é\u2028{}[],\ud800'), max_size=8)
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(KEYS, inner), max_size=4).map(Obj),
    max_leaves=20,
)
SPACES = st.sampled_from(["", " ", "\n", "\t "])


def write(doc, space):
    if isinstance(doc, Obj):
        return "{" + ",".join(f"{json.dumps(k)}{space}:{space}{write(v, space)}" for k, v in doc) + "}"
    if isinstance(doc, list):
        return "[" + f",{space}".join(write(v, space) for v in doc) + "]"
    return json.dumps(doc)


def outcome(fn, raw):
    try:
        return "ok", fn(raw, DEPTH, ITEMS)
    except Problem as problem:
        return "problem", problem.to_dict()


def same(a, b):
    """Equal, and of the same types all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)


@settings(max_examples=500, deadline=None)
@given(DOCS, SPACES)
def test_fast_path_answers_as_the_strict_path(doc, space):
    raw = write(doc, space).encode("utf-8", "surrogatepass")
    fast, strict = outcome(decode, raw), outcome(_decode_strict, raw)
    assert fast[0] == strict[0]
    assert same(fast[1], strict[1])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": {"b": 1, "b": 1}}',
        b'[{"x": 1}, {"y": 2, "y": 3}]',
        b'{"note": "a:b", "a": 1, "a": 2}',  # a colon in a string must not hide a repeated key
        b'{"a:": 1, "a:": 2}',
    ],
)
def test_repeated_keys_are_refused(raw):
    kind, problem = outcome(decode, raw)
    assert kind == "problem"
    assert problem["status"] == 400
    assert problem["errors"][0]["message"] == "duplicate key"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": "a:b:c", "n": 1}', {"id": "a:b:c", "n": 1}),
        ('\ufeff{"a": 1}'.encode(), {"a": 1}),
        (b'{"big": 100000000000000000000000}', {"big": 10**23}),
        (b'"::"', "::"),
    ],
)
def test_bodies_only_the_strict_path_reads_are_still_accepted(raw, expected):
    assert decode(raw, DEPTH, ITEMS) == expected


@pytest.mark.parametrize(
    "raw",
    [b"[" * 9 + b"]" * 9, b"[" + b"1," * 16 + b"1]", b'{"a": NaN}', b"\xff", b'{"a": 1'],
)
def test_refusals_are_the_strict_paths(raw):
    assert outcome(decode, raw) == outcome(_decode_strict, raw)
    assert outcome(decode, raw)[0] == "problem"


def test_a_number_with_more_digits_than_python_converts_is_named_for_what_it_is():
    with pytest.raises(Problem) as refused:
        decode(b'{"age": ' + b"9" * 5000 + b"}", DEPTH, ITEMS)
    assert "digits" in refused.value.detail and "NaN" not in refused.value.detail
