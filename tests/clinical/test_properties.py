"""Properties over encounters hypothesis generates: safety (monotonicity as specification v2
states it, nothing unknown silently treated as "no", a self-care screen that is complete),
agreement of the two evaluators, determinism, robustness and explainability."""

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cds.triage.encounter import load_encounter
from cds.triage.fields import BY_PATH
from cds.triage.rulebase import LEVEL_RANK
from tests.common.strategies import (
    ENUM_DANGER,
    NO_DIRECTION,
    REASSURING,
    REASSURING_VALUES,
    REFUSED,
    SELF_CARE_BASES,
    consistent,
    danger_inputs,
    encounters,
    get,
    near_vignettes,
    number_normal,
    put,
    towards_danger,
    value_of,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def api(rulebase):
    from cds.settings import Settings
    from cds.web.app import create_app
    from tests.common.paths import ROOT

    # the test client keeps no state between requests, so one serves every generated input
    return create_app(Settings(rules_dir=ROOT / "rules")).test_client()


@pytest.fixture(scope="module")
def known(decider):
    """The inputs an encounter makes known: its answers and the answers they imply."""

    def run(enc):
        return set(decider.answers.context(load_encounter(enc)).values)

    return run


@pytest.fixture(scope="module")
def rule_sources(rulebase):
    """Every rule id that may appear in a trace, with the source text it must carry."""
    sources = {r.id: rulebase.source_label(r.sources) for r in rulebase.rules}
    sources.update({imp.id: rulebase.source_label(imp.sources) for imp in rulebase.implications})
    for score in (rulebase.news2, rulebase.qsofa):
        keys = (score["source"],) if isinstance(score["source"], str) else tuple(score["source"])
        sources[score["id"]] = rulebase.source_label(keys)
    assert all(text.strip() for text in sources.values())
    return sources


def level(result):
    return LEVEL_RANK[result["risk_level"]]


def flag_levels(result):
    return {f["id"]: LEVEL_RANK[f["risk_level"]] for f in result["flags"]}


def with_value(enc, path, value):
    out = copy.deepcopy(enc)
    put(out, path, value)
    return out


def completes_the_screen(before, after, known_before, known_after):
    """Principle 4's one exception besides the reassuring inputs: an answer that completes the
    self-care screen (it makes an input known) may turn routine myalgia into self-care."""
    return (
        before["primary"] == "systemic_myalgia"
        and before["risk_level"] == "routine"
        and after["risk_level"] == "self_care"
        and known_after > known_before
    )


# --- monotonicity (principle 4) ----------------------------------------------------------------


def test_every_input_has_a_danger_direction_or_is_named(rulebase):
    """The property below covers every clinical input: each has a danger direction, or is one
    of the reassuring inputs the specification names, or has no direction (with a reason)."""
    from cds.triage.fields import FIELDS
    from tests.common.strategies import NUMBER_NORMAL

    for f in FIELDS:
        if f.path in NO_DIRECTION or f.path in REASSURING:
            continue
        if f.kind == "enum":
            assert set(ENUM_DANGER[f.path]) == set(f.choices), f.path
        elif f.kind in ("int", "number"):
            assert f.path in NUMBER_NORMAL, f.path
        else:
            assert f.kind in ("bool", "enum_list"), f.path


@st.composite
def danger_moves(draw, enc):
    """A known input of `enc` and a value further towards danger, or None."""
    candidates = [p for p in danger_inputs() if get(enc, p) is not None]
    if not candidates:
        return None
    path = draw(st.sampled_from(candidates))
    before = get(enc, path)
    spec = BY_PATH[path]
    if spec.kind == "bool":
        return (path, True) if before is False else None
    if spec.kind == "enum":
        ranks = ENUM_DANGER[path]
        higher = [v for v in spec.choices if ranks[v] > ranks[before]]
        return (path, draw(st.sampled_from(higher))) if higher else None
    if spec.kind == "enum_list":
        more = [c for c in spec.choices if c not in before]
        return (path, [*before, draw(st.sampled_from(more))]) if more else None
    low, high = number_normal(enc, path)
    ups = [v for v in (max(before, high), spec.high) if not math.isinf(v)]
    downs = [v for v in (spec.low, min(before, low)) if not math.isinf(v)]
    options = []
    if before >= low and high < spec.high and len(ups) == 2:
        options.append(("up", ups))
    if before <= high and low > spec.low and len(downs) == 2:
        options.append(("down", downs))
    if not options:
        return None
    _, (a, b) = draw(st.sampled_from(options))
    value = draw(
        st.integers(math.ceil(a), math.floor(b)) if spec.kind == "int" else st.floats(a, b).map(lambda x: round(x, 1))
    )
    return (path, value) if towards_danger(enc, path, before, value) else None


@SETTINGS
@given(enc=encounters(), data=st.data())
def test_a_move_towards_danger_never_lowers_the_risk(evaluate, known, enc, data):
    move = data.draw(danger_moves(enc))
    assume(move is not None)
    path, value = move
    after_enc = consistent(with_value(enc, path, value))
    assume(get(after_enc, path) == value)
    before, after = evaluate(enc), evaluate(after_enc)
    if completes_the_screen(before, after, known(enc), known(after_enc)):
        return
    assert level(after) >= level(before), (path, get(enc, path), value)


@SETTINGS
@given(enc=encounters(), data=st.data())
def test_making_an_unknown_input_known_never_lowers_the_risk(evaluate, known, enc, data):
    # the SpO2 scale is never unknown: absent, it is scale 1 (section 2 of the specification)
    unknown = sorted(
        p
        for p in BY_PATH
        if BY_PATH[p].clinical and p not in known(enc) and p not in REASSURING and p not in NO_DIRECTION
    )
    assume(unknown)
    path = data.draw(st.sampled_from(unknown))
    value = data.draw(value_of(BY_PATH[path]))
    after_enc = with_value(enc, path, value)
    assume(consistent(copy.deepcopy(after_enc)) == after_enc)  # no contradiction introduced
    before, after = evaluate(enc), evaluate(after_enc)
    if completes_the_screen(before, after, known(enc), known(after_enc)):
        return
    if value in REASSURING_VALUES.get(path, ()):  # the myalgia pattern, completed
        return
    assert level(after) >= level(before), (path, get(after_enc, path))


def test_the_reassuring_inputs_really_can_lower_the_risk(evaluate):
    """The exceptions are real: a cough explains a fever that is otherwise unexplained."""
    from tests.common.vignettes import encounter

    unexplained = encounter("D56")
    assert evaluate(unexplained)["risk_level"] == "urgent"
    assert evaluate(with_value(unexplained, "symptoms.cough", True))["risk_level"] == "self_care"


# --- the two evaluators, and the self-care screen ------------------------------------------------


@SETTINGS
@given(enc=encounters())
def test_the_two_evaluators_agree_on_every_encounter(decider, enc):
    decision = decider.decide(load_encounter(enc))
    held = {rule_id for rule_id, value in decision.values.items() if value is True}
    assert set(decision.fired) == held
    assert len(decision.fired) == len(set(decision.fired))


@SETTINGS
@given(enc=encounters())
def test_the_generated_evaluator_is_the_condition_trees_node_for_node(decider, rulebase, enc):
    """cds.triage.kleene writes the rule base as one function for speed; it must give every rule,
    finding, flag and score exactly what the condition trees' closures give, on the encounter
    and on its self-care screen with the unknowable inputs taken as normal."""
    ctx = decider.answers.context(load_encounter(enc))
    for values in (ctx.values, rulebase.screen.fill(ctx.values)):
        fast, slow = decider.answers.context_of(dict(values)), decider.answers.context_of(dict(values))
        generated, reference = decider.evaluate_rules(fast), decider.evaluate_by_closures(slow)
        assert generated[0] == reference[0]
        assert generated[2] == reference[2]
        assert fast.findings == slow.findings
        assert fast.flags == slow.flags


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enc=st.one_of(near_vignettes(SELF_CARE_BASES), encounters()), data=st.data())
def test_self_care_is_complete_whatever_the_answerable_unknowns_turn_out_to_be(evaluate, known, rulebase, enc, data):
    """Whenever the outcome is self-care, no completion of the unknown inputs other than the
    vital signs a caller cannot give, examination findings and laboratory values raises a flag."""
    result = evaluate(enc)
    if result["risk_level"] != "self_care":
        return
    completed = copy.deepcopy(enc)
    answerable = [
        p for p in BY_PATH if BY_PATH[p].clinical and p not in known(enc) and p not in rulebase.screen.assumed_normal
    ]
    for path in answerable:
        put(completed, path, data.draw(value_of(BY_PATH[path]), label=path))
    completed = consistent(completed)
    assert evaluate(completed)["flags"] == [], answerable


@SETTINGS
@given(enc=encounters())
def test_self_care_only_with_the_myalgia_pattern_a_complete_screen_and_no_flag(evaluate, rulebase, known, enc):
    result = evaluate(enc)
    if result["risk_level"] == "self_care":
        assert result["primary"] == "systemic_myalgia"
        assert not result["flags"]
        assert set(rulebase.screen.items) <= known(enc)
        assert not {m["field"] for m in result["missing"]} & set(rulebase.screen.items)


# --- unknown is never "no" -----------------------------------------------------------------------


@SETTINGS
@given(enc=encounters(), data=st.data())
def test_excluded_stays_excluded_whatever_the_unknowns_turn_out_to_be(evaluate, known, enc, data):
    result = evaluate(enc)
    excluded = [c for c, state in result["screen"].items() if state == "excluded"]
    completed = copy.deepcopy(enc)
    for path, spec in BY_PATH.items():
        if spec.clinical and path not in known(enc):
            put(completed, path, data.draw(value_of(spec), label=path))
    raised = {f["id"] for f in evaluate(consistent(completed))["flags"]}
    assert not (set(excluded) & raised)


def probe_values(rb, path):
    """Values worth trying for a field: every legal value of a boolean or enum; for a number
    the ends of its range and both sides of every threshold a rule or score table uses."""
    from cds.triage.conditions import FieldAtom

    spec = BY_PATH[path]
    if spec.kind == "bool":
        return [True, False]
    if spec.kind == "enum":
        return list(spec.choices)
    if spec.kind == "enum_list":
        return [[c] for c in spec.choices] + [list(spec.choices)]
    bounds = {spec.low, spec.high}
    for rule in rb.rules:
        for node in rule.when.walk():
            if isinstance(node, FieldAtom) and node.path == path:
                bounds.update(b for _, b in node.bounds)
    for param in rb.news2["parameters"].values():
        if param["field"] == path:
            for band in param.get("bands", []) + [b for bands in param.get("scales", {}).values() for b in bands]:
                bounds.update(v for k, v in band.items() if k in ("up_to", "above"))
    step = 1 if spec.kind == "int" else 0.1
    values = set()
    for b in bounds:
        for v in (b - step, b, b + step):
            v = round(v) if spec.kind == "int" else round(v, 1)
            if spec.low <= v <= spec.high:
                values.add(v)
    return sorted(values)


@pytest.fixture(scope="module")
def probes(rulebase):
    # vitals.spo2_scale is not unknown when absent: the specification defaults it to scale 1
    return {
        path: probe_values(rulebase, path)
        for path, spec in BY_PATH.items()
        if spec.clinical and path != "vitals.spo2_scale"
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enc=near_vignettes())
def test_an_unknown_input_missing_does_not_list_cannot_raise_a_flag(evaluate, known, probes, enc):
    """`missing` must name every unknown input that alone could raise a flag or raise it higher:
    try every unlisted unknown input at every value that matters."""
    result = evaluate(enc)
    listed = {m["field"] for m in result["missing"]}
    before = flag_levels(result)
    knowns = known(enc)
    for path, values in probes.items():
        if path in listed or path in knowns:
            continue
        for value in values:
            changed = with_value(enc, path, value)
            if consistent(copy.deepcopy(changed)) != changed:
                continue
            for flag, rank in flag_levels(evaluate(changed)).items():
                assert rank <= before.get(flag, -1), (path, value, flag)


# --- determinism, robustness, explanation ------------------------------------------------------


@SETTINGS
@given(enc=encounters())
def test_same_input_same_output(evaluate, enc):
    assert json.dumps(evaluate(enc)) == json.dumps(evaluate(json.loads(json.dumps(enc))))


@SETTINGS
@given(enc=encounters())
def test_every_accepted_encounter_gets_a_200_with_an_explained_trace(api, rule_sources, enc):
    response = api.post("/v1/evaluate", json=enc)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    for entry in result["trace"]:
        assert entry["rule"] in rule_sources
        assert entry["source"] == rule_sources[entry["rule"]]
    assert level(result) == max([LEVEL_RANK[f["risk_level"]] for f in result["flags"]] or [level(result)])


@SETTINGS
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
        max_leaves=20,
    )
)
def test_any_json_gets_a_documented_answer_never_a_5xx(api, body):
    response = api.post("/v1/evaluate", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 422)
    assert response.mimetype in ("application/json", "application/problem+json")


def test_contradictory_answers_are_refused_naming_both_fields(api):
    for when_path, when_value, target, value in REFUSED:
        enc = {"patient": {"age_years": 40}}
        put(enc, when_path, when_value)
        put(enc, target, not value if isinstance(value, bool) else value)
        response = api.post("/v1/evaluate", json=enc)
        assert response.status_code == 422, (when_path, target)
        fields = {e["field"] for e in response.get_json()["errors"]}
        assert fields == {when_path, target}
