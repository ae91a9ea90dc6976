"""The durable-rules engine, and the only package that imports durable (ruff banned-api).

dnf.py      conditions in disjunctive normal form, written as durable tests
ruleset.py  the rule base as a durable ruleset; alpha.py keeps it within durable's alpha stack
encoder.py  an encounter as durable's encounter fact
session.py  the engine: one reused session, assert, fire, retract
"""

from cds.triage.engine.ruleset import Compiled, compile_rulebase
from cds.triage.engine.session import Engine, EngineError

__all__ = ["Compiled", "Engine", "EngineError", "compile_rulebase"]
