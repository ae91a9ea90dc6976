"""The FHIR package's reviewed data files (terminology.yaml, diagnoses.yaml): read from the
package, parsed strictly (cds/strict_yaml.py) and checked against their JSON Schema, every
problem named at once. What each file means is checked by its own loader after this."""

from __future__ import annotations

import functools
import json
from importlib import resources as importlib_resources
from typing import Any

import jsonschema

from cds.strict_yaml import StrictYAMLError, load_strict


def packaged(name: str) -> str:
    return importlib_resources.files("cds.fhir").joinpath(name).read_text("utf-8")


@functools.cache
def validator(schema: str) -> jsonschema.Draft202012Validator:
    loaded: dict[str, Any] = json.loads(packaged(schema))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(loaded)


def parse(text: str, schema: str, what: str, error: type[ValueError]) -> tuple[Any, list[str]]:
    """The file's data, and where it breaks its schema; `error` when it is not YAML at all."""
    try:
        data = load_strict(text)
    except StrictYAMLError as err:
        raise error(f"{what} file is not valid YAML: {err}") from None
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}" for e in validator(schema).iter_errors(data)
    ]
    return data, problems
