"""From a checked decision to the response of the contract: risk level, primary, disposition,
flags, screen, missing, scores, advice, trace and the rule base that decided."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cds.conditions import Condition, FieldAtom, ScoreAtom
from cds.fields import ORDER
from cds.rulebase import FLAG_IDS, LEVEL_RANK, SCREENED, Rule, RuleBase, source_keys

if TYPE_CHECKING:
    from cds.decide import Decision

MYALGIA = "systemic_myalgia"
NONSPECIFIC = "nonspecific_back_pain"


def _static_reach(rb: RuleBase) -> dict[str, tuple[list[str], str]]:
    """For each field, the flags a rule naming it can raise and the highest level it can reach:
    what a screen question is for even when today's answers make it moot. A score's inputs
    reach what the score's rules reach; an implied answer's source what its target reaches."""
    score_inputs = {
        "news2": [p["field"] for p in rb.news2["parameters"].values()],
        "qsofa": [n.path for c in rb.qsofa_criteria.values() for n in c.walk() if isinstance(n, FieldAtom)],
    }
    flags: dict[str, list[str]] = {}
    level: dict[str, str] = {}

    def reach(path: str, flag: str, at: str) -> None:
        flags.setdefault(path, [])
        if flag not in flags[path]:
            flags[path].append(flag)
        if LEVEL_RANK[at] > LEVEL_RANK.get(level.get(path, "self_care"), 0):
            level[path] = at

    for rule in rb.rules:
        if rule.kind != "raise":
            continue
        for node in rule.when.walk():
            if isinstance(node, FieldAtom):
                reach(node.path, rule.then["raise"], rule.then["level"])
            elif isinstance(node, ScoreAtom):
                for path in score_inputs[node.score.split(".", 1)[0]]:
                    reach(path, rule.then["raise"], rule.then["level"])
    for imp in rb.implications:
        for flag in list(flags.get(imp.target, [])):
            reach(imp.when.path, flag, level[imp.target])
    return {path: (flags[path], level.get(path, "routine")) for path in flags}


class ResultBuilder:
    def __init__(self, rb: RuleBase) -> None:
        self.rb = rb
        self.static = _static_reach(rb)
        self.flag_order = {f: i for i, f in enumerate(FLAG_IDS)}
        # the parts of a trace entry that do not depend on the encounter (never mutated)
        self.entry_head = {r.id: {"rule": r.id, "title": r.title} for r in rb.rules}
        self.entry_tail = {r.id: {"concluded": r.concluded(), **_source(rb, r.sources)} for r in rb.rules}
        self.news2_head = {"rule": rb.news2["id"], "title": rb.news2["title"]}
        self.news2_source = _source(rb, source_keys(rb.news2["source"]))
        self.news2_inputs = tuple(sorted({p["field"] for p in rb.news2["parameters"].values()}, key=ORDER.__getitem__))
        self.qsofa_head = {"rule": rb.qsofa["id"], "title": rb.qsofa["title"]}
        self.qsofa_source = _source(rb, source_keys(rb.qsofa["source"]))
        self.implied_source = {imp.id: _source(rb, imp.sources) for imp in rb.implications}
        self.caller_cannot_give = frozenset(rb.screen.assumed_normal)
        # (rule id, flag, level rank, condition) of the rules that raise a flag, and (rule id,
        # flag, level it applies at, condition) of those that change a raised flag's disposition
        self.raisers = tuple(
            (r.id, r.then["raise"], LEVEL_RANK[r.then["level"]], r.when) for r in rb.rules if r.kind == "raise"
        )
        self.dispositions = tuple(
            (r.id, r.then["disposition"], r.then.get("level"), r.when) for r in rb.rules if r.kind == "disposition"
        )

    def build(self, d: Decision) -> dict[str, Any]:
        rb = self.rb
        by_id = rb.by_id
        fired_rules = [by_id[rid] for rid in d.fired]

        raised: dict[str, dict[str, Any]] = {}
        modifiers: dict[str, tuple[str, str | None]] = {}  # flag -> (disposition, at level; None: any)
        outcome_pattern = False
        advice_keys: list[str] = []
        for rule in fired_rules:
            kind = rule.kind
            if kind == "raise":
                flag, level = rule.then["raise"], rule.then["level"]
                entry = raised.setdefault(flag, {"id": flag, "risk_level": level, "rules": []})
                if LEVEL_RANK[level] > LEVEL_RANK[entry["risk_level"]]:
                    entry["risk_level"] = level
                entry["rules"].append(rule.id)
            elif kind == "disposition":
                modifiers[rule.then["disposition"]] = (rule.then["use"], rule.then.get("level"))
            elif kind == "outcome":
                outcome_pattern = True
            elif kind == "advice":
                advice_keys.append(rule.then["advice"])

        flags = sorted(raised.values(), key=lambda f: (-LEVEL_RANK[f["risk_level"]], self.flag_order[f["id"]]))
        for f in flags:
            fdef = rb.flags[f["id"]]
            f["summary"] = fdef.summary[f["risk_level"]]
            use, at = modifiers.get(f["id"], (f["risk_level"], None))
            f["disposition"] = fdef.disposition[use if at in (None, f["risk_level"]) else f["risk_level"]]

        screen_unknown = [p for p in rb.screen.items if p not in d.ctx.values]
        if flags:
            risk_level, primary = flags[0]["risk_level"], flags[0]["id"]
            # flags tied at the top level each say what to do (the antibiotics of meningitis, the
            # hospital of spinal infection): the disposition keeps every one of them
            tied = [f["disposition"] for f in flags if f["risk_level"] == risk_level]
            disposition = " ".join(dict.fromkeys(tied))
        elif outcome_pattern:
            complete = not screen_unknown and not d.screen_open
            myalgia = rb.outcomes[MYALGIA]["screen_complete" if complete else "screen_incomplete"]
            risk_level, primary, disposition = myalgia["risk_level"], MYALGIA, myalgia["disposition"]
        else:
            other = rb.outcomes[NONSPECIFIC]
            risk_level, primary, disposition = other["risk_level"], NONSPECIFIC, other["disposition"]

        result: dict[str, Any] = {}
        if "encounter_id" in d.encounter and d.encounter["encounter_id"] is not None:
            result["encounter_id"] = d.encounter["encounter_id"]
        result.update(
            risk_level=risk_level,
            primary=primary,
            disposition=disposition,
            flags=[{k: f[k] for k in ("id", "risk_level", "summary", "rules", "disposition")} for f in flags],
            screen=self._screen(d, raised),
            missing=self._missing(d, raised, screen_unknown),
            scores={"news2": d.news2.to_dict(), "qsofa": d.qsofa.to_dict()},
            advice=self._advice(primary, raised, risk_level, advice_keys),
            trace=self._trace(d, fired_rules),
            rulebase=rb.summary(),
        )
        return result

    def _screen(self, d: Decision, raised: dict[str, Any]) -> dict[str, str]:
        # a flag's value in three-valued logic is the OR of its rules: false only when every
        # one of them is false (excluded); a flag no rule can raise is excluded
        state = {True: "raised", False: "excluded", None: "not_excluded"}
        flags = d.ctx.flags
        return {flag: state[flags.get(flag, False)] for flag in SCREENED}

    def _missing(self, d: Decision, raised: dict[str, Any], screen_unknown: list[str]) -> list[dict[str, Any]]:
        needed: dict[str, list[str]] = {}  # field -> the flags it could raise or escalate
        reach: dict[str, int] = {}  # field -> the highest level it could bring about
        values, ctx = d.values, d.ctx
        targets: list[tuple[Condition, str, int]] = []
        for rule_id, flag, rank, when in self.raisers:
            if values[rule_id] is None:
                current = raised.get(flag)
                if current is None or LEVEL_RANK[current["risk_level"]] < rank:
                    targets.append((when, flag, rank))
        for rule_id, flag, at, when in self.dispositions:
            # an undecided disposition matters to a flag raised at the level it applies at
            if values[rule_id] is None and flag in raised and at in (None, raised[flag]["risk_level"]):
                targets.append((when, flag, LEVEL_RANK[raised[flag]["risk_level"]]))
        for when, flag, rank in targets:
            pending: set[str] = set()
            when.pending(ctx, pending)
            for path in pending:
                flags = needed.get(path)
                if flags is None:
                    needed[path] = [flag]
                    reach[path] = rank
                else:
                    if flag not in flags:
                        flags.append(flag)
                    if rank > reach[path]:
                        reach[path] = rank
        # the questions the screen waits on: its unanswered items, and the answerable inputs that
        # keep a criterion open (section 11); then other unknowns, the ones a caller cannot give last
        screen_set = set(screen_unknown) | d.screen_questions
        for path in screen_set:
            if path not in needed:
                flags, level = self.static.get(path, ([], "routine"))
                needed[path] = list(flags)
                reach[path] = LEVEL_RANK[level]
        cannot = self.caller_cannot_give

        def tier(path: str) -> int:
            return 0 if path in screen_set else (2 if path in cannot else 1)

        order = sorted(needed, key=lambda p: (tier(p), -reach[p], ORDER.get(p, 999)))
        flag_order = self.flag_order.__getitem__
        return [{"field": p, "needed_for": sorted(needed[p], key=flag_order)} for p in order]

    def _advice(self, primary: str, raised: dict[str, Any], risk_level: str, contributors: list[str]) -> list[str]:
        keys: list[str] = []
        sets = self.rb.advice_sets
        keys += [k for s in sets if s.get("when_outcome") == primary for k in s["advice"]]
        keys += contributors
        keys += [k for s in sets if s.get("when_flag") in raised for k in s["advice"]]
        keys += [k for s in sets if risk_level in s.get("when_risk_level", ()) for k in s["advice"]]
        return [self.rb.advice[k] for k in dict.fromkeys(keys)]

    def _trace(self, d: Decision, fired_rules: list[Rule]) -> list[dict[str, Any]]:
        values = d.ctx.values
        trace: list[dict[str, Any]] = [
            {
                "seq": seq,
                "rule": imp.id,
                "title": imp.title,
                "matched": {imp.when.path: values[imp.when.path]},
                "concluded": {imp.target: imp.value},
                **self.implied_source[imp.id],
            }
            for seq, imp in enumerate(d.ctx.implied, start=1)
        ]
        first = len(trace) + 1
        trace += [
            {
                "seq": first,
                **self.news2_head,
                "matched": {p: values[p] for p in self.news2_inputs if p in values},
                "concluded": {
                    "scores.news2.total": int(d.news2.total.low),
                    "scores.news2.band": d.news2.band,
                    "scores.news2.complete": d.news2.complete,
                },
                **self.news2_source,
            },
            {
                "seq": first + 1,
                **self.qsofa_head,
                "matched": {f"scores.qsofa.{c}": True for c in d.qsofa.criteria},
                "concluded": {"scores.qsofa.score": int(d.qsofa.score.low), "scores.qsofa.complete": d.qsofa.complete},
                **self.qsofa_source,
            },
        ]
        for seq, rule in enumerate(fired_rules, start=first + 2):
            matched: dict[str, Any] = {}
            rule.when.support(d.ctx, matched)
            trace.append({"seq": seq, **self.entry_head[rule.id], "matched": matched, **self.entry_tail[rule.id]})
        return trace


def _source(rb: RuleBase, keys: tuple[str, ...]) -> dict[str, str]:
    """A trace entry's `source` (short citations) and `source_url` (the first source's link)."""
    out = {"source": rb.source_label(keys)}
    urls = rb.source_urls(keys)
    if urls:
        out["source_url"] = urls[0]
    return out
