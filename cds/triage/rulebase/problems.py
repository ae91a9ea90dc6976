"""The problems found while loading a rule base, collected so that one start-up names them all,
each with its file, rule id and path."""

from __future__ import annotations

from typing import Any

from cds.triage.fields import BY_PATH
from cds.triage.rulebase.model import MANIFEST, RuleError


class Problems:
    def __init__(self, sources: dict[str, Any]) -> None:
        self.errors: list[RuleError] = []
        self.sources = sources

    def add(self, file: str, rule: str | None, path: str, message: str) -> None:
        self.errors.append(RuleError(file, rule, path, message))

    def need_sources(self, keys: tuple[str, ...], file: str, rule: str | None, path: str) -> None:
        for key in keys:
            if key not in self.sources:
                self.add(file, rule, path, f"unknown source '{key}' (add it to {MANIFEST})")

    def need_field(self, path: str, file: str, rule: str | None, where: str, numeric: bool = False) -> None:
        spec = BY_PATH.get(path)
        if spec is None or not spec.clinical:
            self.add(file, rule, where, f"unknown field '{path}'")
        elif numeric and not spec.numeric:
            self.add(file, rule, where, f"'{path}' is not numeric")

    def __bool__(self) -> bool:
        return bool(self.errors)
