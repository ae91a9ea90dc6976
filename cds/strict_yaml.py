"""A strict YAML reader for files people edit by hand: duplicate keys and YAML 1.1's surprising
booleans (yes/no/on/off, which PyYAML turns into true/false) are errors, not silent rewrites."""

from __future__ import annotations

from typing import Any

import yaml


class StrictYAMLError(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in result:
            raise StrictYAMLError(f"line {key_node.start_mark.line + 1}: duplicate key '{key}'")
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


def _boolean(loader: _StrictLoader, node: yaml.ScalarNode) -> bool:
    text = loader.construct_scalar(node)
    if str(text).lower() not in ("true", "false"):
        raise StrictYAMLError(
            f"line {node.start_mark.line + 1}: '{text}' would be read as a boolean; "
            "write true or false, or quote it if it is text"
        )
    return str(text).lower() == "true"


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _boolean)


def load_strict(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise StrictYAMLError(str(err).replace("\n", " ")) from None
