"""What the HTTP contract (openapi.yaml) names, read from it: the flag ids and the screened flags.
The tests hold the rule base to these, so neither can drift from the other."""

import yaml

from tests.common.paths import ROOT

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
_SCHEMAS = SPEC["components"]["schemas"]
FLAG_IDS: tuple[str, ...] = tuple(_SCHEMAS["FlagId"]["enum"])
SCREENED: tuple[str, ...] = tuple(_SCHEMAS["Result"]["properties"]["screen"]["required"])
