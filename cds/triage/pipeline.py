"""The decision core in one call: a validated encounter -> decision -> result. One Triage per
rule base and process: compiling allocates durable rulesets, which are never freed, so app
factories (tests create many) reuse the one compiled for a digest."""

from __future__ import annotations

from typing import Any

from cds.triage.decide import Decider
from cds.triage.encounter import load_encounter
from cds.triage.result import ResultBuilder
from cds.triage.result_types import Result
from cds.triage.rulebase import RuleBase
from cds.triage.thresholds import number_cuts


class Triage:
    def __init__(self, rb: RuleBase) -> None:
        self.rulebase = rb
        self.decider = Decider(rb)
        self.results = ResultBuilder(rb)
        self.cuts = number_cuts(rb)  # what a FHIR measurement recorded as a bound is weighed against

    def evaluate(self, encounter: dict[str, Any]) -> Result:
        """The result for an encounter that load_encounter has validated."""
        return self.results.build(self.decider.decide(encounter))

    def evaluate_document(self, document: Any) -> Result:
        """The result for a decoded JSON document; a 422 problem if it is not a valid encounter."""
        return self.evaluate(load_encounter(document))


_TRIAGES: dict[str, Triage] = {}


def triage_for(rb: RuleBase) -> Triage:
    triage = _TRIAGES.get(rb.digest)
    if triage is None:
        triage = _TRIAGES[rb.digest] = Triage(rb)
    return triage
