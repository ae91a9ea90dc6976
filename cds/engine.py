"""The forward-chaining engine on durable-rules. The only module that imports durable.

It drives durable-rules' C core (`durable_rules_engine`, shipped by the durable-rules
package) directly rather than through `durable.lang`'s host, for reasons measured here:
  * the host starts background timer threads that dispatch pending actions of any session,
    racing an evaluation in progress; nothing here needs timers, so no host is created;
  * the host swallows exceptions raised in actions into the session state; here an action is
    our code and its exception fails the evaluation;
  * the host round-trips the session state through JSON on every action (about 20 µs); here an
    action costs a few microseconds, which is what lets a request evaluate the full rule base.

Rules of the road, from ../shared/reference/durable-rules.md and our own measurements:
  * a fresh session (sid) per evaluation, one `assert_facts`, `delete_state` in `finally`;
  * a start rule matches every encounter, so an action always starts: `delete_state` on a
    session where no action ever started crashes the process;
  * one process-wide lock around each whole evaluation: the C core has no locks of its own;
  * every fact asserted matches a pattern (the compiler only chains what some rule joins on),
    so durable never defers half a batch to its timer.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _core
import orjson

from cds.conditions import AtLeast, Condition, Context, FindingRef
from cds.durable_forms import (
    FactEncoder,
    durable_rules,
    group_key,
    negated_keys,
    positive,
    sentinel_rule,
    tested_keys,
)
from cds.rulebase import RuleBase

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SESSIONS = itertools.count(1)
_RULESETS = itertools.count(1)
_START = "_start"
_OK = 0


class EngineError(RuntimeError):
    """The evaluation could not be completed; no partial result may be used."""


@dataclass(frozen=True)
class Compiled:
    definitions: dict[str, Any]
    rule_of: dict[str, str]
    chains: dict[str, str]
    keys: set[str]
    dense: set[str]


def _groups(rb: RuleBase) -> dict[str, dict[str, int]]:
    """For each finding, the "at least n of" groups it belongs to and its rank in each."""
    member_of: dict[str, dict[str, int]] = {}
    for rule in rb.rules:
        for node in rule.when.walk():
            if isinstance(node, AtLeast) and all(isinstance(c, FindingRef) for c in node.items):
                members = sorted(c.finding for c in node.items if isinstance(c, FindingRef))
                key = group_key(members)
                for rank, finding in enumerate(members, start=1):
                    member_of.setdefault(finding, {})[key] = rank
    return member_of


def compile_rulebase(rb: RuleBase) -> Compiled:
    """Each rule's condition in disjunctive normal form, its branches grouped by the facts they
    join, with the rule's position in evaluation order as priority (lower fires first)."""

    def finding(fid: str) -> Condition:
        return rb.finding_rule[fid].when

    def flag(fid: str) -> list[Condition]:
        return [r.when for r in rb.flag_rules.get(fid, [])]

    definitions: dict[str, Any] = {_START: sentinel_rule()}
    rule_of: dict[str, str] = {}
    joined_findings: set[str] = set()
    joined_flags: set[str] = set()
    joined_groups: set[str] = set()
    keys: set[str] = set()
    dense: set[str] = set()
    for priority, rule in enumerate(rb.rules, start=1):
        branches = positive(rule.when, finding, flag)
        for k, definition in enumerate(durable_rules(branches, priority), start=1):
            name = f"{rule.id}#{k}"
            definitions[name] = definition
            rule_of[name] = rule.id
        keys |= tested_keys(branches)
        dense |= negated_keys(branches)
        for branch in branches:
            joined_findings |= branch.findings
            joined_flags |= branch.flags
            joined_groups |= {key for key, _ in branch.groups}
    member_of = _groups(rb)
    chains: dict[str, str] = {}
    for rule in rb.rules:
        if rule.kind == "finding":
            fid = rule.then["finding"]
            ranks = {k: r for k, r in member_of.get(fid, {}).items() if k in joined_groups}
            if fid in joined_findings or ranks:
                chains[rule.id] = json.dumps({"t": "f", "id": fid, **ranks})[:-1]
        elif rule.kind == "raise" and rule.then["raise"] in joined_flags:
            chains[rule.id] = json.dumps({"t": "g", "id": rule.then["raise"]})[:-1]
    return Compiled(definitions, rule_of, chains, keys, dense)


class Engine:
    """A compiled rule base. Build once at start-up; `run` is safe from any thread."""

    def __init__(self, rb: RuleBase) -> None:
        self.rulebase = rb
        self.compiled = compile_rulebase(rb)
        self.name = f"cds_{rb.digest[:12]}_{next(_RULESETS)}"
        self.actions = 0  # durable actions run, start rule and repeated branches included
        self.encoder = FactEncoder(self.compiled.keys, self.compiled.dense)
        self._handle = _core.create_ruleset(self.name, json.dumps(self.compiled.definitions))

    @property
    def durable_rule_count(self) -> int:
        return len(self.compiled.definitions)

    def evaluate(self, ctx: Context) -> list[str]:
        """Fire the rule base on one encounter; the ids of the rules that fired, in order."""
        return self.run(self.encoder.encode(ctx))

    def run(self, fact: dict[str, Any]) -> list[str]:
        """Assert the encounter fact in a fresh session and fire rules until none is ready.
        Returns the ids of the rules that fired, in firing order, each once."""
        with _LOCK:
            return self._run_locked(fact)

    def _run_locked(self, fact: dict[str, Any]) -> list[str]:
        handle = self._handle
        sid = str(next(_SESSIONS))
        fact["sid"] = sid
        chain_suffix = ', "sid": "' + sid + '"}'
        fired: list[str] = []
        seen: set[str] = set()
        started = in_action = False
        state = 0
        try:
            code, state = _core.assert_facts(handle, orjson.dumps([fact]).decode())
            if code != _OK:
                raise EngineError(f"the engine did not accept the encounter (code {code})")
            first = _core.start_action_for_state(handle, state)
            if first is None:
                raise EngineError("no action started for the encounter")
            started = in_action = True
            message: str | None = first[1]
            while message is not None:
                self.actions += 1
                # A message is {"<rule name>": {...}}; names are validated ids, so no JSON
                # decoding is needed to read which rule fired.
                name = message[2 : message.index('"', 2)]
                rule_id = self.compiled.rule_of.get(name)
                if rule_id is not None and rule_id not in seen:
                    seen.add(rule_id)
                    fired.append(rule_id)
                    self._chain(handle, rule_id, chain_suffix)
                message = _core.complete_and_start_action(handle, state)
            in_action = False
        except EngineError:
            raise
        except Exception as err:
            log.exception("rule action failed")
            raise EngineError(f"a rule action failed: {type(err).__name__}") from err
        finally:
            if in_action:
                _core.abandon_action(handle, state)
            if started:
                _core.delete_state(handle, sid)
        return fired

    def session_exists(self, sid: str) -> bool:
        """Whether durable still holds a session (never, after `run` returns or raises)."""
        with _LOCK:
            try:
                _core.get_state(self._handle, sid)
            except _core.error:
                return False
            return True

    def _chain(self, handle: int, rule_id: str, suffix: str) -> None:
        prefix = self.compiled.chains.get(rule_id)
        if prefix is not None:
            code, _ = _core.assert_fact(handle, prefix + suffix)
            if code != _OK:
                raise EngineError(f"chained fact of {rule_id} was not accepted (code {code})")
