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

from cds.problems import Problem


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
    return Problem(400, detail, errors=errors or [], slug="malformed-json", title="Malformed JSON body")


def decode(raw: bytes, max_depth: int, max_items: int) -> Any:
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
            [{"field": _safe_key(dup.key), "message": "duplicate key"}],
        ) from None
    except json.JSONDecodeError as err:
        raise _malformed(f"The body is not valid JSON (line {err.lineno}, column {err.colno}).") from None
    except RecursionError:
        raise _malformed(f"The body is nested deeper than {max_depth} levels.") from None
    except ValueError:
        raise _malformed("The body is not valid JSON (NaN and Infinity are not numbers in JSON).") from None
    _check_shape(data, max_depth, max_items)
    return data


def _safe_key(key: str) -> str:
    # a key is a name, not a value, but it is still caller text: keep it short and plain
    cleaned = "".join(c for c in key if c.isalnum() or c in "_-.")[:64]
    return cleaned or "$"


def _fits(node: Any, depth: int, max_depth: int, max_items: int) -> bool:
    if type(node) is dict:
        values: Iterable[Any] = node.values()
    elif type(node) is list:
        if len(node) > max_items:
            return False
        values = node
    else:
        return True
    if depth > max_depth:
        return False
    return all(_fits(v, depth + 1, max_depth, max_items) for v in values if type(v) is dict or type(v) is list)


def _check_shape(data: Any, max_depth: int, max_items: int) -> None:
    if _fits(data, 1, max_depth, max_items):
        return
    _explain_shape(data, max_depth, max_items)


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
                child = _safe_key(key)
                stack.append((value, depth + 1, child if path == "$" else f"{path}.{child}"))
