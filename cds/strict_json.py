"""Strict decoding of a JSON request body.

Stricter than json.loads on purpose: a repeated key would silently drop the first value (a
red flag could vanish), NaN and Infinity are not JSON, and depth and array limits keep a
hostile body from costing more than a real one. Every failure is a 400 problem that names the
place, never the submitted text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from cds.problems import MALFORMED_JSON, Problem
from cds.text import safe_dotted_key, unpaired_surrogate_at


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _malformed(detail: str, errors: list[dict[str, str]] | None = None) -> Problem:
    return MALFORMED_JSON(detail, errors)


def decode(raw: bytes, max_depth: int, max_items: int) -> Any:
    """The document in `raw`, or a 400 problem naming what is wrong with it."""
    # orjson parses in a fifth of the time, but it keeps the last of repeated keys silently
    # and reads integers beyond 64 bits as floats. Its answer is used only for an object in
    # which neither can have happened (see _keys); every other body, valid or not, takes
    # the strict path, which alone decides what is refused and why.
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _decode_strict(raw, max_depth, max_items)
    if type(data) is dict and _keys(data, 1, max_depth, max_items, wide_floats=False) == raw.count(b":"):
        return data
    return _decode_strict(raw, max_depth, max_items)


_WIDE = float(2**63)  # orjson reads an integer outside [-2**63, 2**64) as a float at least this


def _keys(node: Any, depth: int, max_depth: int, max_items: int, wide_floats: bool) -> int:
    """The number of keys of all objects in `node` (a dict or a list); -1 when it breaks a
    limit, or holds a float that may have been a wide integer unless `wide_floats` allows it.

    Why the count proves that no key was repeated: every member of an object is written with
    exactly one colon outside strings, and colons occur nowhere else but inside strings. So
    the body's colons are at least its members, which are at least the distinct keys parsed;
    when the colons equal the keys parsed, no member was dropped."""
    if depth > max_depth:
        return -1
    values: Iterable[Any]
    if type(node) is dict:
        count = len(node)
        values = node.values()
    else:
        if len(node) > max_items:
            return -1
        count = 0
        values = node
    for value in values:
        kind = type(value)
        if kind is dict or kind is list:
            inner = _keys(value, depth + 1, max_depth, max_items, wide_floats)
            if inner < 0:
                return -1
            count += inner
        elif kind is float and not wide_floats and not -_WIDE < value < _WIDE:
            return -1
    return count


def _decode_strict(raw: bytes, max_depth: int, max_items: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The body is not valid UTF-8.") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Duplicate as dup:
        raise _malformed(
            "The body repeats a key; a repeated key would silently replace a value.",
            [{"field": safe_dotted_key(dup.key), "message": "duplicate key"}],
        ) from None
    except json.JSONDecodeError as err:
        raise _malformed(f"The body is not valid JSON (line {err.lineno}, column {err.colno}).") from None
    except RecursionError:
        raise _malformed(f"The body is nested deeper than {max_depth} levels.") from None
    except ValueError as err:
        if "digits" in str(err):  # Python's limit on the digits of an integer it will convert
            raise _malformed("The body holds a number with more digits than any value here can have.") from None
        raise _malformed("The body is not valid JSON (NaN and Infinity are not numbers in JSON).") from None
    if (type(data) is dict or type(data) is list) and _keys(data, 1, max_depth, max_items, wide_floats=True) < 0:
        _explain_shape(data, max_depth, max_items)
    # orjson refuses an unpaired surrogate escape and json.loads does not: refused here, by
    # name, before it can reach an answer that cannot be encoded
    where = unpaired_surrogate_at(data)
    if where is not None:
        raise _malformed(
            "The body holds an unpaired surrogate escape (such as \\ud800), which is not a character.",
            [{"field": _safe_path(where), "message": "unpaired surrogate"}],
        )
    return data


def _safe_path(path: str) -> str:
    return ".".join(safe_dotted_key(part) for part in path.split(".")) if path != "$" else "$"


def _explain_shape(data: Any, max_depth: int, max_items: int) -> None:
    stack: list[tuple[Any, int, str]] = [(data, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        children: Iterable[tuple[str, Any]]
        if isinstance(node, dict):
            children = node.items()
        elif isinstance(node, list):
            if len(node) > max_items:
                raise _malformed(
                    f"An array holds more than {max_items} items.",
                    [{"field": path, "message": f"more than {max_items} items"}],
                )
            children = ((str(i), v) for i, v in enumerate(node))
        else:
            continue
        if depth > max_depth:
            raise _malformed(
                f"The body is nested deeper than {max_depth} levels.", [{"field": path, "message": "nested too deeply"}]
            )
        for key, value in children:
            if isinstance(value, (dict, list)):
                child = safe_dotted_key(key)
                stack.append((value, depth + 1, child if path == "$" else f"{path}.{child}"))
