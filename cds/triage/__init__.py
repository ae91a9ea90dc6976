"""The decision core: no Flask, no HTTP, no environment (ruff banned-api enforces it).

The flow, one module a step (docs/architecture.md):
  encounter.py   the request body validated against the contract (fields.py, the catalogue)
  answers.py     its answers as one evaluation knows them (context.py), implied answers added
  scores.py      NEWS2 and qSOFA from their tables (lower bounds when inputs are unknown)
  kleene.py      every rule in three-valued logic (conditions.py, the reference)
  engine/        durable-rules: which rules fire, in what order
  decide.py      both evaluators cross-checked, and the self-care screen: a Decision
  result.py      the response (missing.py, trace.py; result_types.py the shape)
  pipeline.py    all of it in one call: Triage
The rule base (rulebase/) is loaded once at start-up; explain.py and changes.py are tools of the
command line.
"""

from cds.triage.encounter import load_encounter
from cds.triage.engine import EngineError
from cds.triage.pipeline import Triage, triage_for
from cds.triage.result_types import Result
from cds.triage.rulebase import RuleBase, RuleBaseError, load_rulebase, require_servable

__all__ = [
    "EngineError",
    "Result",
    "RuleBase",
    "RuleBaseError",
    "Triage",
    "load_encounter",
    "load_rulebase",
    "require_servable",
    "triage_for",
]
