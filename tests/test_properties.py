"""Properties over encounters hypothesis generates: safety (monotonicity, nothing unknown
silently treated as "no"), determinism, robustness and explainability."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.conditions import FieldAtom, FindingRef, NotEstablished
from cds.fields import BY_PATH
from cds.rulebase import LEVEL_RANK
from tests.strategies import RED_FLAG_ESCALATIONS, encounters, near_vignettes, value_of

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def red_flag_booleans(rb):
    """Boolean inputs that some flag-raising rule reads as `true`, directly or through a finding."""
    out = set()

    def visit(node, negated):
        if isinstance(node, NotEstablished):
            return
        if isinstance(node, FieldAtom) and node.is_ is True:
            out.add(node.path)
        if isinstance(node, FindingRef):
            visit(rb.finding_rule[node.finding].when, negated)
        for child in node.children():
            visit(child, negated)

    for rule in rb.rules:
        if rule.kind == "raise":
            visit(rule.when, False)
    return sorted(out)


@pytest.fixture(scope="module")
def api(rulebase):
    from cds.app import create_app
    from cds.settings import Settings
    from tests.conftest import ROOT

    # the test client keeps no state between requests, so one serves every generated input
    return create_app(Settings(rules_dir=ROOT / "rules")).test_client()


@pytest.fixture(scope="module")
def screen(rulebase):
    return tuple(rulebase.screen)


@pytest.fixture(scope="module")
def rule_sources(rulebase):
    """Every rule id that may appear in a trace, with the source text it must carry."""
    sources = {r.id: rulebase.source_label(r.sources) for r in rulebase.rules}
    for score in (rulebase.news2, rulebase.qsofa):
        keys = (score["source"],) if isinstance(score["source"], str) else tuple(score["source"])
        sources[score["id"]] = rulebase.source_label(keys)
    assert all(text.strip() for text in sources.values())
    return sources


@pytest.fixture(scope="module")
def red_flags(rulebase):
    flags = red_flag_booleans(rulebase)
    assert "symptoms.saddle_anaesthesia" in flags and "symptoms.generalized_myalgia" not in flags
    return flags


def flag_levels(result):
    return {f["id"]: LEVEL_RANK[f["risk_level"]] for f in result["flags"]}


def with_value(enc, path, value):
    section, name = path.split(".")
    out = json.loads(json.dumps(enc))
    out.setdefault(section, {})[name] = value
    return out


@SETTINGS
@given(enc=encounters(), data=st.data())
def test_a_red_flag_switched_on_never_lowers_the_risk(evaluate, red_flags, enc, data):
    before = evaluate(enc)
    choice = data.draw(st.sampled_from(red_flags + [f"{s}.{n}={v}" for s, n, v in RED_FLAG_ESCALATIONS]))
    if "=" in choice:
        path, value = choice.split("=")
    else:
        path, value = choice, True
    section, name = path.split(".")
    current = (enc.get(section) or {}).get(name)
    if current not in (None, False, "none", "alert", "stable", "improving", "diffuse", "mild", "moderate", "worsening"):
        return
    after = evaluate(with_value(enc, path, value))
    assert LEVEL_RANK[after["risk_level"]] >= LEVEL_RANK[before["risk_level"]], (path, value)


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
    assert LEVEL_RANK[result["risk_level"]] == max(
        [LEVEL_RANK[f["risk_level"]] for f in result["flags"]] or [LEVEL_RANK[result["risk_level"]]]
    )


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


@SETTINGS
@given(enc=encounters(), data=st.data())
def test_excluded_stays_excluded_whatever_the_unknowns_turn_out_to_be(evaluate, enc, data):
    result = evaluate(enc)
    excluded = [c for c, state in result["screen"].items() if state == "excluded"]
    completed = json.loads(json.dumps(enc))
    for path, spec in BY_PATH.items():
        if not spec.clinical:
            continue
        section, name = path.split(".")
        if (completed.get(section) or {}).get(name) is None:
            completed = with_value(completed, path, data.draw(value_of(spec), label=path))
    raised = {f["id"] for f in evaluate(completed)["flags"]}
    assert not (set(excluded) & raised)


def probe_values(rb, path):
    """Values worth trying for a field: every legal value of a boolean or enum; for a number
    the ends of its range and both sides of every threshold a rule or score table uses."""
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
def test_an_unknown_input_missing_does_not_list_cannot_raise_a_flag(evaluate, probes, enc):
    """`missing` must name every unknown input that alone could raise a flag or raise it higher:
    try every unlisted unknown input at every value that matters."""
    result = evaluate(enc)
    listed = {m["field"] for m in result["missing"]}
    before = flag_levels(result)
    for path, values in probes.items():
        section, name = path.split(".")
        if path in listed or (enc.get(section) or {}).get(name) is not None:
            continue
        for value in values:
            for flag, level in flag_levels(evaluate(with_value(enc, path, value))).items():
                assert level <= before.get(flag, -1), (path, value, flag)


@SETTINGS
@given(enc=encounters())
def test_screen_is_complete_exactly_when_self_care_is_possible(evaluate, screen, enc):
    result = evaluate(enc)
    if result["risk_level"] == "self_care":
        assert result["primary"] == "systemic_myalgia"
        assert not result["flags"]
        for path in screen:
            section, name = path.split(".")
            assert (enc.get(section) or {}).get(name) is not None
