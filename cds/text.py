"""What counts as text in an identifier or a name a caller sends: one answer for the encounter,
CDS Hooks calls and JSON bodies.

An identifier is echoed in results, cards and logs' neighbours: a control character (a newline
above all) could forge a line or a header, and an unpaired surrogate is not a character at all
(it cannot be written as UTF-8, so it would break the answer after the triage was done).
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls, the Unicode line and paragraph separators (line breaks to JavaScript and
# to many log readers), and surrogates
PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]*")
NOT_PRINTABLE = "must not contain control characters, line breaks or unpaired surrogates"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def unpaired_surrogate_at(node: Any, path: str = "$") -> str | None:
    """The dotted path of the first key or string value of a decoded JSON document that holds an
    unpaired surrogate (json.loads lets `"\\ud800"` through), or None."""
    stack = [(node, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return where
        elif isinstance(value, dict):
            for key, item in value.items():
                name = key if isinstance(key, str) and not _SURROGATE.search(key) else None
                if name is None:
                    return where
                stack.append((item, name if where == "$" else f"{where}.{name}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{i}") for i, item in enumerate(value))
    return None


def safe_key(key: str) -> str:
    """A key a caller sent, as an error may name it: a name, not a value, but still caller text,
    so kept short and plain."""
    cleaned = "".join(c for c in key if c.isascii() and (c.isalnum() or c in "_-"))[:64]
    return cleaned or "$"


def safe_dotted_key(key: str) -> str:
    """A caller's key that may itself hold dots, each part kept plain, and the whole kept short
    (a key of a million dots would otherwise make a megabyte of error)."""
    return ".".join(safe_key(part) for part in key.split(".")[:8])[:200]
