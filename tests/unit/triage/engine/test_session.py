"""The durable-rules engine: sessions always cleaned up, failures loud, firings explained once."""

import json
import threading

import pytest

from cds.triage.decide import Decider
from cds.triage.encounter import load_encounter
from cds.triage.engine.session import Engine, EngineError, _durable_json
from cds.triage.fields import FIELDS
from tests.common.vignettes import VIGNETTES, encounter


def test_each_evaluation_leaves_its_session_empty(decider):
    decision = decider.decide(load_encounter(VIGNETTES["D05"]["encounter"]))
    assert len(decision.fired) > 3  # chained facts were asserted, and had to be retracted
    assert decider.engine.held_facts() == []
    fact = decider.engine.encoder.encode(decision.ctx)
    assert decider.engine.run(fact) == decision.fired
    assert decider.engine.held_facts() == []
    assert fact["sid"] == decider.engine.session


def test_results_do_not_depend_on_what_the_session_saw_before(rulebase):
    # every vignette through one engine, in three orders, against a fresh engine for each
    cases = [load_encounter(v["encounter"]) for v in VIGNETTES.values()]
    alone = []
    for case in cases:
        fresh = Decider(rulebase)
        alone.append(fresh.decide(case).fired)
    shared = Decider(rulebase)
    for order in (range(len(cases)), reversed(range(len(cases))), [i * 7 % len(cases) for i in range(len(cases))]):
        for i in order:
            assert shared.decide(cases[i]).fired == alone[i]
            assert shared.engine.held_facts() == []


def test_a_failed_retraction_ends_the_session(decider, monkeypatch):
    import cds.triage.engine.session as engine_module

    case = load_encounter(VIGNETTES["D05"]["encounter"])
    decider.decide(case)
    before = decider.engine.session
    monkeypatch.setattr(engine_module._core, "retract_facts", lambda handle, facts: (0, 0))
    with pytest.raises(EngineError, match="kept facts"):
        decider.decide(case)
    monkeypatch.undo()
    assert decider.engine.session is None
    assert not decider.engine.session_exists(before)
    assert decider.decide(case).fired
    assert decider.engine.session != before
    assert decider.engine.held_facts() == []


def test_a_session_is_replaced_after_session_runs_evaluations(decider, monkeypatch):
    import cds.triage.engine.session as engine_module

    monkeypatch.setattr(engine_module, "SESSION_RUNS", 3)
    case = load_encounter(VIGNETTES["D01"]["encounter"])
    decider.decide(case)
    sessions = set()
    for _ in range(9):
        sessions.add(decider.engine.session)
        decider.decide(case)
    assert len(sessions - {None}) >= 3
    assert sum(decider.engine.session_exists(s) for s in sessions if s is not None) <= 1


def test_no_rule_firing_still_starts_and_ends_cleanly(decider):
    # D24: nothing fires, but the start rule does, so the session can be deleted safely
    decision = decider.decide(load_encounter(VIGNETTES["D24"]["encounter"]))
    assert decision.fired == []


def test_many_more_evaluations_than_durable_allows_live_sessions(evaluate):
    # durable-rules crashes past 1024 live sessions; every evaluation must end its own
    for i in range(1500):
        evaluate(VIGNETTES[f"D{(i % 34) + 1:02d}"]["encounter"])


def test_an_exception_in_an_action_fails_the_evaluation_loudly(decider, monkeypatch, client, caplog):
    original = Engine._chain
    seen = []

    def failing(self, handle, rule_id, suffix):
        seen.append(rule_id)
        if rule_id == "DER-FEVER":
            raise ZeroDivisionError("boom")
        return original(self, handle, rule_id, suffix)

    monkeypatch.setattr(Engine, "_chain", failing)
    with pytest.raises(EngineError, match="a rule action failed"):
        decider.decide(load_encounter(VIGNETTES["D01"]["encounter"]))
    response = client.post("/v1/evaluate", json=VIGNETTES["D01"]["encounter"])
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert "no result" in body["detail"]
    assert "risk_level" not in body
    monkeypatch.setattr(Engine, "_chain", original)
    # the engine is intact afterwards, in a new session
    assert decider.engine.held_facts() == []
    assert client.post("/v1/evaluate", json=VIGNETTES["D01"]["encounter"]).get_json()["risk_level"] == "self_care"


def test_a_disagreement_between_the_evaluators_is_an_error(decider, monkeypatch):
    original = Engine.run

    def forgetful(self, fact):
        return [r for r in original(self, fact) if r != "CC-SADDLE"]

    monkeypatch.setattr(Engine, "run", forgetful)
    with pytest.raises(EngineError, match="disagree"):
        decider.decide(load_encounter(VIGNETTES["D07"]["encounter"]))


def test_a_rule_fires_once_even_when_several_branches_hold(evaluate):
    result = evaluate(encounter("D01", symptoms__sore_throat=True))
    rules = [e["rule"] for e in result["trace"]]
    assert rules.count("DER-VIRAL") == 1
    viral = next(e for e in result["trace"] if e["rule"] == "DER-VIRAL")
    assert viral["matched"] == {
        "symptoms.generalized_myalgia": True,
        "symptoms.cough": True,
        "symptoms.coryza": True,
        "symptoms.sore_throat": True,
    }


def test_forward_chaining_order_findings_before_the_rules_that_use_them(evaluate):
    rules = [e["rule"] for e in evaluate(VIGNETTES["D04"]["encounter"])["trace"]]
    assert rules.index("DER-FEVER") < rules.index("PYE-FLANK-FEVER")
    assert rules.index("DER-FLANK-PAIN") < rules.index("PYE-FLANK-FEVER")
    assert rules.index("DER-URINARY") < rules.index("PYE-URINARY-FEVER")


def test_chained_flag_fact_drives_the_disposition_rule(evaluate):
    rules = [e["rule"] for e in evaluate(VIGNETTES["D06"]["encounter"])["trace"]]
    assert rules.index("PYE-FLANK-FEVER") < rules.index("PYE-HOSPITAL")
    # vomiting without pyelonephritis changes no disposition
    assert "PYE-HOSPITAL" not in [e["rule"] for e in evaluate(VIGNETTES["D30"]["encounter"])["trace"]]


def test_trace_is_the_same_every_time(evaluate):
    first = json.dumps(evaluate(VIGNETTES["D14"]["encounter"]))
    for _ in range(20):
        assert json.dumps(evaluate(VIGNETTES["D14"]["encounter"])) == first


def test_concurrent_callers_share_one_engine_safely(triage):
    errors = []
    results = {}

    def worker(n):
        try:
            for i in range(50):
                vid = f"D{((n * 7 + i) % len(VIGNETTES)) + 1:02d}"
                results.setdefault(vid, set()).add(json.dumps(triage.evaluate_document(VIGNETTES[vid]["encounter"])))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert all(len(v) == 1 for v in results.values())


def _everything(value_of_bool, headache, weakness):
    from cds.triage.fields import FIELDS

    enc = {"patient": {"age_years": 80}}
    for f in FIELDS:
        if f.clinical and f.kind == "bool":
            enc.setdefault(f.section, {})[f.name] = value_of_bool
    enc["symptoms"].update(headache=headache, leg_weakness=weakness)
    enc["pain"].update(sites=["lower_back", "upper_back", "thoracic", "flank", "neck"], severity=10, onset="sudden")
    return enc


@pytest.mark.parametrize("answer", [True, False])
def test_an_encounter_answered_yes_or_no_throughout_is_evaluated(decider, answer):
    # durable walks a fact's matching tests with a stack of 64 pending nodes; "yes" to every
    # question once overflowed it (error 303) before the encounter's tests were grouped
    decision = decider.decide(load_encounter(_everything(answer, "severe", "bilateral")))
    assert decision.fired


def test_the_compiled_rule_base_fits_durables_alpha_stack(decider):
    from cds.triage.engine.alpha import ALPHA_STACK_BUDGET, alpha_stack_bound

    assert alpha_stack_bound(decider.engine.compiled.definitions.values()) <= ALPHA_STACK_BUDGET
    assert decider.engine.compiled.groups > 1


def test_a_rule_base_that_cannot_fit_durables_alpha_stack_is_refused(rulebase, monkeypatch):
    import cds.triage.engine.alpha as forms
    from cds.triage.engine.session import compile_rulebase
    from cds.triage.rulebase import RuleBaseError

    monkeypatch.setattr(forms, "ALPHA_STACK_BUDGET", 4)
    with pytest.raises(RuleBaseError, match="too complex for the engine: durable would need"):
        compile_rulebase(rulebase)


def test_the_stack_bound_counts_siblings_left_waiting():
    from cds.triage.engine.alpha import alpha_stack_bound

    chain = {"all": [{"e": {"$and": [{"t": "e"}, {"a": 1}, {"b": 1}]}}]}
    assert alpha_stack_bound([chain]) == 1
    fan = {"all": [{"e": {"$and": [{"t": "e"}, {"$or": [{"a": 1}, {"b": 1}, {"c": 1}]}]}}]}
    assert alpha_stack_bound([fan]) == 3
    deeper = {
        "all": [
            {
                "e": {
                    "$and": [
                        {"t": "e"},
                        {
                            "$or": [
                                {
                                    "$and": [
                                        {"a": 1},
                                        {"x": 1},
                                    ]
                                },
                                {"b": 1},
                            ]
                        },
                    ]
                }
            }
        ]
    }
    assert alpha_stack_bound([deeper, fan]) == 3


TINY = (5e-324, 1e-300, 1e-7, 9e-6, 0.00001, 1.5e-7)


@pytest.mark.parametrize("value", TINY)
def test_a_number_too_small_for_plain_decimals_reaches_durable_intact(decider, value):
    """orjson writes 9e-6 for 0.000009, a form durable's parser failed on (the process died).
    Every number field takes it, and both evaluators still agree (decide checks)."""
    numbers = [f for f in FIELDS if f.kind == "number" and f.low <= value <= f.high]
    assert {"labs.crp_mg_l", "labs.lactate_mmol_l", "pain.duration_days"} <= {f.path for f in numbers}
    for field in numbers:
        section, name = field.path.split(".")
        enc = encounter("D01")
        enc.setdefault(section, {})[name] = value
        d = decider.decide(load_encounter(enc))
        assert d.ctx.values[field.path] == value


def test_a_bare_exponent_is_given_a_decimal_point_and_nothing_else_changes():
    fact = {"labs__wbc_10e9_l": 9e-6, "x": 1e16, "y": -1e-7, "z": 1.5e-7, "s": "be-e+", "n": 12}
    text = _durable_json(fact)
    assert text == '[{"labs__wbc_10e9_l":9.0e-6,"x":1.0e+16,"y":-1.0e-7,"z":1.5e-7,"s":"be-e+","n":12}]'
    assert json.loads(text) == [fact]
