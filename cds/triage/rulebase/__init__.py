"""The rule base: rules/*.yaml loaded, validated and put in evaluation order, once at start-up.

model.py     what a loaded rule base is (rules with typed conclusions, flags, screen, ...)
load.py      files, strict YAML, JSON Schemas (schemas/), digest
assemble.py  the parts gathered from each file, then checked and ordered
parse.py     conditions as written to the condition tree; checks against the field catalogue
checks.py    what a schema cannot check; order.py: evaluation order and cycles
screen.py    the self-care screen; implied.py: implied answers
"""

from cds.triage.rulebase.load import load_rulebase
from cds.triage.rulebase.model import (
    LEVEL_RANK,
    LEVELS,
    MANIFEST,
    Conclude,
    Conclusion,
    FlagDef,
    GiveAdvice,
    Implication,
    Outcome,
    Raise,
    Rule,
    RuleBase,
    RuleBaseError,
    RuleError,
    SelfCareScreen,
    SetDisposition,
    require_servable,
    source_keys,
)

__all__ = [
    "LEVELS",
    "LEVEL_RANK",
    "MANIFEST",
    "Conclude",
    "Conclusion",
    "FlagDef",
    "GiveAdvice",
    "Implication",
    "Outcome",
    "Raise",
    "Rule",
    "RuleBase",
    "RuleBaseError",
    "RuleError",
    "SelfCareScreen",
    "SetDisposition",
    "load_rulebase",
    "require_servable",
    "source_keys",
]
