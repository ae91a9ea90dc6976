"""The vignettes of the clinical specification (copied from ../shared/clinical/vignettes: they
are data), and encounters made from them."""

import copy
import json
from typing import Any

from tests.common.paths import VIGNETTE_DIR

VIGNETTES = {p.stem: json.loads(p.read_text()) for p in sorted(VIGNETTE_DIR.glob("*.json"))}

# laboratory values all within normal limits: what completes a vignette that has no labs
NORMAL_LABS: dict[str, Any] = {
    "urine_nitrite": False,
    "urine_leukocytes": False,
    "lactate_mmol_l": 1.1,
    "wbc_10e9_l": 7.5,
    "crp_mg_l": 4,
}


def encounter(vid: str = "D01", **changes: Any) -> dict[str, Any]:
    """A vignette's encounter with changes given as section__field=value (None removes it)."""
    enc = copy.deepcopy(VIGNETTES[vid]["encounter"])
    for key, value in changes.items():
        section, name = key.split("__", 1)
        target = enc.setdefault(section, {})
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return enc
