"""From a checked decision to the response of the contract: risk level, primary, disposition,
flags, screen, missing, scores, advice, trace and the rule base that decided."""

from __future__ import annotations

from dataclasses import dataclass, field

from cds.triage.decide import Decision
from cds.triage.missing import MissingList
from cds.triage.result_types import Flag, Result
from cds.triage.rulebase import LEVEL_RANK, GiveAdvice, Outcome, Raise, Rule, RuleBase, SetDisposition
from cds.triage.trace import TraceBuilder

MYALGIA = "systemic_myalgia"
NONSPECIFIC = "nonspecific_back_pain"
_SCREEN_STATE = {True: "raised", False: "excluded", None: "not_excluded"}


@dataclass
class _Fired:
    """What the fired rules concluded, gathered in firing order."""

    raised: dict[str, Flag] = field(default_factory=dict)
    modifiers: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # flag -> (use, at level)
    pattern: bool = False
    advice: list[str] = field(default_factory=list)


class ResultBuilder:
    def __init__(self, rb: RuleBase) -> None:
        self.rb = rb
        self.flag_order = {f: i for i, f in enumerate(rb.flags)}
        self.missing = MissingList(rb)
        self.trace = TraceBuilder(rb)

    def _gather(self, fired_rules: list[Rule]) -> _Fired:
        got = _Fired()
        for rule in fired_rules:
            then = rule.then
            if isinstance(then, Raise):
                entry = got.raised.get(then.flag)
                if entry is None:
                    entry = got.raised[then.flag] = {
                        "id": then.flag,
                        "risk_level": then.level,
                        "summary": "",
                        "rules": [],
                        "disposition": "",
                    }
                elif LEVEL_RANK[then.level] > LEVEL_RANK[entry["risk_level"]]:
                    entry["risk_level"] = then.level
                entry["rules"].append(rule.id)
            elif isinstance(then, SetDisposition):
                got.modifiers[then.flag] = (then.use, then.level)
            elif isinstance(then, Outcome):
                got.pattern = True
            elif isinstance(then, GiveAdvice):
                got.advice.append(then.advice)
        return got

    def _flags(self, got: _Fired) -> list[Flag]:
        """The raised flags, the highest level first, then in the rule base's order of danger,
        each with its summary and disposition at its level."""
        flags = sorted(got.raised.values(), key=lambda f: (-LEVEL_RANK[f["risk_level"]], self.flag_order[f["id"]]))
        for f in flags:
            fdef = self.rb.flags[f["id"]]
            f["summary"] = fdef.summary[f["risk_level"]]
            use, at = got.modifiers.get(f["id"], (f["risk_level"], None))
            f["disposition"] = fdef.disposition[use if at in (None, f["risk_level"]) else f["risk_level"]]
        return flags

    def _outcome(self, d: Decision, flags: list[Flag], got: _Fired, screen_unknown: list[str]) -> tuple[str, str, str]:
        """(risk level, primary, disposition)."""
        if flags:
            risk_level, primary = flags[0]["risk_level"], flags[0]["id"]
            # flags tied at the top level each say what to do (the antibiotics of meningitis, the
            # hospital of spinal infection): the disposition keeps every one of them
            tied = [f["disposition"] for f in flags if f["risk_level"] == risk_level]
            return risk_level, primary, " ".join(dict.fromkeys(tied))
        if got.pattern:
            complete = not screen_unknown and not d.screen_open
            myalgia = self.rb.outcomes[MYALGIA]["screen_complete" if complete else "screen_incomplete"]
            return myalgia["risk_level"], MYALGIA, myalgia["disposition"]
        other = self.rb.outcomes[NONSPECIFIC]
        return other["risk_level"], NONSPECIFIC, other["disposition"]

    def _advice(self, primary: str, raised: dict[str, Flag], risk_level: str, contributors: list[str]) -> list[str]:
        keys: list[str] = []
        sets = self.rb.advice_sets
        keys += [k for s in sets if s.get("when_outcome") == primary for k in s["advice"]]
        keys += contributors
        keys += [k for s in sets if s.get("when_flag") in raised for k in s["advice"]]
        keys += [k for s in sets if risk_level in s.get("when_risk_level", ()) for k in s["advice"]]
        return [self.rb.advice[k] for k in dict.fromkeys(keys)]

    def outcome(self, d: Decision) -> tuple[str, list[Flag]]:
        """The risk level and the raised flags alone (an interview's what-if)."""
        got = self._gather([self.rb.by_id[rid] for rid in d.fired])
        flags = self._flags(got)
        screen_unknown = self.rb.screen.unanswered(d.ctx.values)
        return self._outcome(d, flags, got, screen_unknown)[0], flags

    def build(self, d: Decision) -> Result:
        rb = self.rb
        fired_rules = [rb.by_id[rid] for rid in d.fired]
        got = self._gather(fired_rules)
        flags = self._flags(got)
        screen_unknown = rb.screen.unanswered(d.ctx.values)
        risk_level, primary, disposition = self._outcome(d, flags, got, screen_unknown)
        # a flag's value in three-valued logic is the OR of its rules: false only when every
        # one of them is false (excluded); a flag no rule can raise is excluded
        screen = {flag: _SCREEN_STATE[d.ctx.flags.get(flag, False)] for flag in rb.screened}
        result: Result = {
            "risk_level": risk_level,
            "primary": primary,
            "disposition": disposition,
            "flags": flags,
            "screen": screen,
            "missing": self.missing.build(d, got.raised, screen_unknown),
            "scores": {"news2": d.news2.to_dict(), "qsofa": d.qsofa.to_dict()},
            "advice": self._advice(primary, got.raised, risk_level, got.advice),
            "trace": self.trace.build(d, fired_rules),
            "rulebase": {"version": rb.version, "digest": rb.digest},
        }
        asked = d.encounter.get("asked_unknown")
        if asked is not None:
            result["asked_unknown"] = asked
        encounter_id = d.encounter.get("encounter_id")
        return {"encounter_id": encounter_id, **result} if encounter_id is not None else result
