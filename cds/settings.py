"""Settings, only from environment variables, each with a safe default.

A malformed value stops the service at start-up with a message naming the variable: an
operator typo must not silently become a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cds.rulebase import default_rules_dir


class SettingsError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    rules_dir: Path = field(default_factory=default_rules_dir)
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 8
    max_array_items: int = 64
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("CDS_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"CDS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
        rules = env.get("CDS_RULES_DIR")
        return cls(
            rules_dir=Path(rules) if rules else default_rules_dir(),
            max_body_bytes=_int(env, "CDS_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            max_json_depth=_int(env, "CDS_MAX_JSON_DEPTH", 8, 3, 64),
            max_array_items=_int(env, "CDS_MAX_ARRAY_ITEMS", 64, 8, 10_000),
            log_level=level,
        )

    def replace(self, **changes: Any) -> Settings:
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return Settings(**current)
