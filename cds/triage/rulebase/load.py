"""Loading a rule base from its directory: strict YAML, the JSON Schemas, the content digest,
then assembly (assemble.py) and the checks a schema cannot make. Every problem is reported with
its file, rule id and path; the service refuses to start on an invalid rule base."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from cds.strict_yaml import StrictYAMLError, load_strict
from cds.triage.rulebase.assemble import assemble
from cds.triage.rulebase.model import MANIFEST, RuleBase, RuleBaseError, RuleError

QUESTIONS = "questions.yaml"


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    text = resources.files("cds.triage.rulebase.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _json_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_errors(name: str, doc: Any, file: str) -> list[RuleError]:
    errors = []
    for err in sorted(_validator(name).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([err])
        parts = list(best.absolute_path)
        rule = None
        if len(parts) >= 2 and parts[0] == "rules" and isinstance(doc, dict):
            try:
                rule = doc["rules"][parts[1]].get("id")
            except (AttributeError, IndexError, KeyError, TypeError):
                rule = None
        errors.append(RuleError(file, rule, _json_path(parts), best.message))
    return errors


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _read(directory: Path, name: str, errors: list[RuleError]) -> Any:
    try:
        return load_strict((directory / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        errors.append(RuleError(name, None, "", "file not found"))
    except (StrictYAMLError, UnicodeDecodeError) as err:
        errors.append(RuleError(name, None, "", f"not valid YAML: {err}"))
    return None


def _documents(directory: Path, manifest: dict[str, Any], errors: list[RuleError]) -> dict[str, Any]:
    """Every rule file the manifest lists, each valid against the rule-file schema; a YAML file
    the manifest does not list would be ignored, so it is an error. The question catalogue
    (questions.py) lives beside the rules and is loaded on its own."""
    listed = list(manifest["files"])
    for name in sorted(p.name for p in directory.glob("*.yaml") if p.name not in (MANIFEST, QUESTIONS)):
        if name not in listed:
            errors.append(RuleError(name, None, "", f"not listed in {MANIFEST}: it would be ignored"))
    docs: dict[str, Any] = {}
    for name in listed:
        doc = _read(directory, name, errors)
        if doc is None:
            continue
        file_errors = _schema_errors("rulefile.schema.json", doc, name)
        errors += file_errors
        if not file_errors:
            docs[name] = doc
    return docs


def load_rulebase(directory: Path | str) -> RuleBase:
    directory = Path(directory)
    errors: list[RuleError] = []
    manifest = _read(directory, MANIFEST, errors)
    if manifest is None:
        raise RuleBaseError(errors)
    errors += _schema_errors("rulebase.schema.json", manifest, MANIFEST)
    if errors:
        raise RuleBaseError(errors)
    docs = _documents(directory, manifest, errors)
    if errors:
        raise RuleBaseError(errors)
    digest = hashlib.sha256(_canonical({"manifest": manifest, "files": docs})).hexdigest()
    return assemble(manifest, docs, digest)
