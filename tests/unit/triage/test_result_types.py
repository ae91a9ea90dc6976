"""The result's TypedDict and openapi.yaml's Result schema name the same fields."""

from typing import get_type_hints

from cds.triage import result_types
from tests.common.contract import SPEC

SCHEMAS = SPEC["components"]["schemas"]


def _keys(typed):
    hints = get_type_hints(typed)
    required = set(typed.__required_keys__)
    return set(hints), required


def test_the_result_type_is_the_result_schema():
    schema = SCHEMAS["Result"]
    keys, required = _keys(result_types.Result)
    assert keys == set(schema["properties"])
    assert required == set(schema["required"])


def test_the_nested_types_are_the_nested_schemas():
    props = SCHEMAS["Result"]["properties"]
    pairs = [
        (result_types.Flag, props["flags"]["items"]),
        (result_types.MissingItem, props["missing"]["items"]),
        (result_types.TraceEntry, props["trace"]["items"]),
        (result_types.News2Score, props["scores"]["properties"]["news2"]),
        (result_types.QsofaScore, props["scores"]["properties"]["qsofa"]),
        (result_types.RulebaseRef, SCHEMAS["RulebaseRef"]),
    ]
    for typed, schema in pairs:
        keys, required = _keys(typed)
        assert keys == set(schema["properties"]), typed.__name__
        assert required == set(schema["required"]), typed.__name__
