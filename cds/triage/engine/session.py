"""The forward-chaining engine on durable-rules: one reused session per process (docs/decisions/0001, 0003).

It drives durable-rules' C core (`durable_rules_engine`, shipped by the durable-rules
package) directly rather than through `durable.lang`'s host, for reasons measured here:
  * the host starts background timer threads that dispatch pending actions of any session,
    racing an evaluation in progress; nothing here needs timers, so no host is created;
  * the host swallows exceptions raised in actions into the session state; here an action is
    our code and its exception fails the evaluation;
  * the host round-trips the session state through JSON on every action (about 20 µs); here an
    action costs a few microseconds, which is what lets a request evaluate the full rule base.

Rules of the road, from ../shared/reference/durable-rules.md and our own measurements:
  * one `assert_facts` per evaluation, then every action run until none is ready;
  * an evaluation leaves its session empty: it retracts every fact it asserted and checks that
    durable holds none. Creating a durable session costs about 20 µs (it allocates and clears
    index tables for every pattern of the rule base, ~0.7 MB), so a session is reused, one
    evaluation at a time, instead of being created and deleted for each. Any failure, and
    every SESSION_RUNS evaluations, deletes the session; the next evaluation starts a new one;
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
import re
import threading
from typing import Any

import durable_rules_engine as _core
import orjson

from cds.triage.conditions import ScoreAtom
from cds.triage.context import Context
from cds.triage.engine.encoder import FactEncoder
from cds.triage.engine.ruleset import compile_rulebase
from cds.triage.rulebase import RuleBase

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SESSIONS = itertools.count(1)
_FACTS = itertools.count(1)
_RULESETS = itertools.count(1)
_OK = 0
_NO_FACTS = "[]"
# orjson writes 0.000009 as 9e-6 and 1e16 as 1e+16: an exponent on a mantissa without a point.
# durable's C parser fails on that form (a segmentation fault, or no action for the fact) and
# reads 9.0e-6 right. Keys and strings are quoted, so a number is the only thing after a colon.
_BARE_EXPONENT = re.compile(rb":(-?[0-9]+)(e[-+][0-9]+)")
SESSION_RUNS = 10_000


def _durable_json(fact: dict[str, Any]) -> str:
    """The fact as JSON durable parses: an exponent always follows a decimal point."""
    text = orjson.dumps([fact])
    if b"e-" in text or b"e+" in text:  # rare: a number below 0.00001 (or a string with "e-")
        text = _BARE_EXPONENT.sub(rb":\1.0\2", text)
    return text.decode()


class EngineError(RuntimeError):
    """The evaluation could not be completed; no partial result may be used."""


class Engine:
    """A compiled rule base. Build once at start-up; `run` is safe from any thread."""

    def __init__(self, rb: RuleBase) -> None:
        self.rulebase = rb
        self.compiled = compile_rulebase(rb)
        self.name = f"cds_{rb.digest[:12]}_{next(_RULESETS)}"
        self.actions = 0  # durable actions run, start rule and repeated branches included
        tested = dict.fromkeys(n.score for r in rb.rules for n in r.when.walk() if isinstance(n, ScoreAtom))
        self.encoder = FactEncoder(
            self.compiled.keys,
            self.compiled.dense,
            self.compiled.falsy,
            self.compiled.groups,
            scores=tuple(tested),
            quantities=tuple(rb.quantities),
        )
        self._handle = _core.create_ruleset(self.name, json.dumps(self.compiled.definitions))
        self._sid: str | None = None  # the session evaluations reuse; None: start a new one
        self._sid_runs = 0
        self._sid_started = False  # an action has started in it, so it may be deleted

    @property
    def durable_rule_count(self) -> int:
        return len(self.compiled.definitions)

    def fire(self, ctx: Context) -> list[str]:
        """Fire the rule base on one encounter; the ids of the rules that fired, in order."""
        return self.run(self.encoder.encode(ctx))

    def run(self, fact: dict[str, Any]) -> list[str]:
        """Assert the encounter fact in an empty session, fire rules until none is ready, and
        leave the session empty again. Returns the ids of the rules that fired, in firing order, each once."""
        with _LOCK:
            return self._run_locked(fact)

    def _run_locked(self, fact: dict[str, Any]) -> list[str]:
        handle = self._handle
        if self._sid is None:
            self._sid, self._sid_runs, self._sid_started = str(next(_SESSIONS)), 0, False
        sid = self._sid
        fact["sid"] = sid
        fact["id"] = fact_id = str(next(_FACTS))
        # what to retract: a fact is named by its session and id alone
        asserted = [f'{{"sid": "{sid}", "id": "{fact_id}"}}']
        chain_suffix = ', "sid": "' + sid + '"}'
        fired: list[str] = []
        seen: set[str] = set()
        in_action = clean = False
        state = 0
        try:
            code, state = _core.assert_facts(handle, _durable_json(fact))
            if code != _OK:
                raise EngineError(f"the engine did not accept the encounter (code {code})")
            first = _core.start_action_for_state(handle, state)
            if first is None:
                raise EngineError("no action started for the encounter")
            self._sid_started = in_action = True
            rule_of, chains, complete = self.compiled.rule_of, self.compiled.chains, _core.complete_and_start_action
            actions = 0
            message: str | None = first[1]
            while message is not None:
                actions += 1
                # A message is {"<rule name>": {...}}; names are validated ids, so no JSON
                # decoding is needed to read which rule fired.
                name = message[2 : message.index('"', 2)]
                rule_id = rule_of.get(name)
                if rule_id is not None and rule_id not in seen:
                    seen.add(rule_id)
                    fired.append(rule_id)
                    prefix = chains.get(rule_id)
                    if prefix is not None:
                        self._chain(handle, rule_id, prefix + chain_suffix)
                        asserted.append(f'{{"sid": "{sid}", "id": "{rule_id}"}}')
                message = complete(handle, state)
            self.actions += actions
            in_action = False
            self._empty(handle, sid, asserted)
            clean = True
        except EngineError:
            raise
        except Exception as err:
            log.exception("rule action failed")
            raise EngineError(f"a rule action failed: {type(err).__name__}") from err
        finally:
            if in_action:
                _core.abandon_action(handle, state)
            self._sid_runs += 1
            if not clean or self._sid_runs >= SESSION_RUNS:
                self._end_session()
        return fired

    def _empty(self, handle: int, sid: str, asserted: list[str]) -> None:
        """Retract what this evaluation asserted (by id: durable reads nothing else of a fact
        it retracts); the next evaluation must find the session empty."""
        code, _ = _core.retract_facts(handle, "[" + ",".join(asserted) + "]")
        if code != _OK:
            raise EngineError(f"the engine did not retract the evaluation's facts (code {code})")
        if _core.get_facts(handle, sid) != _NO_FACTS:
            raise EngineError("the engine kept facts after retraction")

    def _end_session(self) -> None:
        sid, self._sid = self._sid, None
        if sid is not None and self._sid_started:
            _core.delete_state(self._handle, sid)

    def held_facts(self) -> list[dict[str, Any]]:
        """The facts durable holds between evaluations: none, ever."""
        with _LOCK:
            if self._sid is None:
                return []
            facts: list[dict[str, Any]] = json.loads(_core.get_facts(self._handle, self._sid))
            return facts

    @property
    def session(self) -> str | None:
        """The session the next evaluation will reuse, if there is one."""
        return self._sid

    def session_exists(self, sid: str) -> bool:
        """Whether durable holds the session `sid`."""
        with _LOCK:
            try:
                _core.get_state(self._handle, sid)
            except _core.error:
                return False
            return True

    def _chain(self, handle: int, rule_id: str, fact: str) -> None:
        """Assert the fact a rule concludes (its id is the rule's), which another rule joins on."""
        code, _ = _core.assert_fact(handle, fact)
        if code != _OK:
            raise EngineError(f"chained fact of {rule_id} was not accepted (code {code})")
