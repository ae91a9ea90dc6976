"""The `cds` command line: evaluate, explain, rules check."""

import io
import json
import subprocess
import sys

from cds.cli import main
from tests.common.paths import ROOT, VIGNETTE_DIR
from tests.common.vignettes import VIGNETTES


def run(argv, stdin=None):
    proc = subprocess.run(
        [sys.executable, "-m", "cds.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_evaluate_from_stdin():
    code, out, err = run(["evaluate", "-"], stdin=json.dumps(VIGNETTES["D07"]["encounter"]))
    assert code == 0, err
    result = json.loads(out)
    assert result["risk_level"] == "emergency"
    assert result["primary"] == "cord_compression"


def test_evaluate_a_file(tmp_path):
    path = tmp_path / "encounter.json"
    path.write_text(json.dumps(VIGNETTES["D01"]["encounter"]))
    out = io.StringIO()
    assert main(["evaluate", str(path)], out=out) == 0
    assert json.loads(out.getvalue())["risk_level"] == "self_care"


def test_invalid_input_exits_2_with_the_problem_on_stderr():
    code, out, err = run(["evaluate"], stdin='{"patient": {"age_years": 9}}')
    assert code == 2
    assert out == ""
    problem = json.loads(err)
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == "patient.age_years"
    code, _, err = run(["evaluate"], stdin="not json")
    assert code == 2
    assert json.loads(err)["status"] == 400


def test_explain_reads_like_a_clinical_note():
    code, out, err = run(["explain", "--vignette", str(VIGNETTE_DIR / "D05.json")])
    assert code == 0, err
    assert "RISK LEVEL: EMERGENCY" in out
    assert "SEP-SBP-LOW: Systolic blood pressure 90 mmHg or less" in out
    assert "matched:   vitals.systolic_bp = 88" in out
    assert "NICE NG51" in out


def test_explain_lists_the_questions_to_ask():
    code, out, _ = run(["explain", "--vignette", str(VIGNETTE_DIR / "D03.json")])
    assert code == 0
    ask = out.split("Ask next")[1]
    assert ask.index("symptoms.saddle_anaesthesia") < ask.index("labs.lactate_mmol_l")


def test_rules_check_lists_rules_per_condition():
    code, out, err = run(["rules", "check"])
    assert code == 0, err
    assert "is valid" in out
    for condition in ("derived", "sepsis", "meningitis", "cord_compression", "spinal_infection", "pyelonephritis"):
        assert f"\n{condition} (" in out
    assert "SEP-HR-HIGH" in out


def test_rules_check_fails_on_an_invalid_rule_base(tmp_path):
    import shutil

    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / "sepsis.yaml"
    path.write_text(path.read_text().replace("vitals.heart_rate, gte: 130", "vitals.heart_rat, gte: 130"))
    code, _out, err = run(["--rules", str(tmp_path / "rules"), "rules", "check"])
    assert code == 3
    assert "sepsis.yaml [SEP-HR-HIGH]" in err
    assert "unknown field 'vitals.heart_rat'" in err


# --- the rule-base change report ---------------------------------------------------------------


def _copy_rules(tmp_path, old, new):
    import shutil

    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    path = target / "sepsis.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return target


def test_rules_diff_reports_each_changed_case_before_and_after(tmp_path):
    # a stricter heart-rate threshold: D35 (heart rate 125) is urgent before, emergency after
    changed = _copy_rules(tmp_path, "vitals.heart_rate, gte: 130", "vitals.heart_rate, gte: 120")
    out = io.StringIO()
    assert main(["rules", "diff", str(ROOT / "rules"), str(changed), str(VIGNETTE_DIR)], out=out) == 0
    text = out.getvalue()
    assert "## D35: Flu with T 39.5 and heart rate 125: one moderate-to-high criterion (raised)" in text
    assert "| risk level | **urgent** | **emergency** |" in text
    assert "| flags | sepsis (urgent) | sepsis (emergency) |" in text
    assert "## D01" not in text  # unchanged cases are only counted
    assert text.rstrip().endswith("unchanged.")
    assert f"cases: {len(VIGNETTES)} from" in text


def test_rules_diff_of_a_rule_base_with_itself_changes_nothing():
    out = io.StringIO()
    assert main(["rules", "diff", str(ROOT / "rules"), str(ROOT / "rules"), str(VIGNETTE_DIR)], out=out) == 0
    assert f"{len(VIGNETTES)} cases, 0 changed" in out.getvalue()


def test_rules_diff_refuses_an_invalid_rule_base(tmp_path):
    broken = _copy_rules(tmp_path, "vitals.heart_rate, gte: 130", "vitals.heart_rat, gte: 130")
    code, _out, err = run(["rules", "diff", str(ROOT / "rules"), str(broken), str(VIGNETTE_DIR)])
    assert code == 3
    assert "unknown field 'vitals.heart_rat'" in err


def _rules_at(rev, tmp_path):
    """The rules directory of an earlier commit, or None outside a git checkout."""
    import shutil

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    archive = subprocess.run(["git", "archive", rev, "rules"], cwd=ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    return tmp_path / "rules"


def test_the_committed_change_report_is_the_one_for_the_rules_in_the_tree(tmp_path, rulebase, monkeypatch):
    """rules/CHANGES-<version>.md is what `cds rules diff` says of the rule base in the tree
    against the last commit of 1.0.0 (the report a reviewer signs)."""
    import pytest

    committed = (ROOT / "rules" / f"CHANGES-{rulebase.version}.md").read_text()
    assert f"after: rule base {rulebase.version} (sha256 {rulebase.digest})" in committed
    old = _rules_at("d1f78ad", tmp_path)
    if old is None:
        pytest.skip("no git history here to take rule base 1.0.0 from")
    monkeypatch.chdir(ROOT)  # the report names the cases directory as given: tests/vignettes
    out = io.StringIO()
    assert main(["rules", "diff", str(old), "rules", "tests/vignettes"], out=out) == 0
    assert out.getvalue() == committed


def test_a_format_1_rule_base_is_compared_but_never_served(tmp_path):
    import pytest

    from cds.settings import Settings
    from cds.triage.rulebase import RuleBaseError, load_rulebase
    from cds.web.app import create_app

    old = _rules_at("d1f78ad", tmp_path)
    if old is None:
        pytest.skip("no git history here to take rule base 1.0.0 from")
    rb = load_rulebase(old)
    assert (rb.format, rb.version, rb.screen.open_criteria) == (1, "1.0.0", False)
    with pytest.raises(RuleBaseError, match="format 1 can be compared, not served"):
        create_app(Settings(rules_dir=old))


# --- cds fhir coverage ----------------------------------------------------------------------------


def test_fhir_coverage_counts_each_field_for_each_patient(tmp_path):
    out = io.StringIO()
    synthea = sorted(str(p) for p in (ROOT / "tests" / "fixtures" / "fhir" / "synthea").glob("*.json"))
    assert main(["fhir", "coverage", "--json", *synthea], out) == 0
    report = json.loads(out.getvalue())
    assert report["patients"] == 2
    assert report["fields"]["patient.sex"] == {"filled": 2, "unknown": 0, "ignored": {}}
    # older blood pressures of earlier visits: outside the episode, so counted and not used
    assert report["fields"]["vitals.systolic_bp"]["ignored"]["outside_episode"] > 0
    assert report["unattributed"]["unsupported_resource_type"] > 0


def test_fhir_coverage_as_of_a_date_leaves_old_records_unknown(tmp_path):
    out = io.StringIO()
    synthea = sorted(str(p) for p in (ROOT / "tests" / "fixtures" / "fhir" / "synthea").glob("*.json"))
    assert main(["fhir", "coverage", "--json", "--as-of", "2030-01-01", *synthea], out) == 0
    report = json.loads(out.getvalue())
    assert report["fields"]["vitals.systolic_bp"]["filled"] == 0


def test_fhir_coverage_reads_with_the_windows_the_service_is_configured_with(tmp_path, monkeypatch, capsys):
    def observation(rid, code, value, unit, when):
        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/p"},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        }

    resources = [
        {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1970-01-01"},
        observation("hr", "8867-4", 120, "/min", "2026-01-13T10:00:00Z"),  # 48 hours before the newest record
        observation("t", "8310-5", 38.5, "Cel", "2026-01-15T10:00:00Z"),
    ]
    patient = tmp_path / "p.json"
    patient.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]})
    )

    def heart_rate() -> dict:
        out = io.StringIO()
        assert main(["fhir", "coverage", "--json", str(patient)], out) == 0
        return json.loads(out.getvalue())["fields"]["vitals.heart_rate"]

    assert heart_rate()["filled"] == 0  # the default window: 24 hours
    monkeypatch.setenv("CDS_FHIR_OBSERVATION_WINDOW_HOURS", "72")
    assert heart_rate()["filled"] == 1
    monkeypatch.setenv("CDS_FHIR_OBSERVATION_WINDOW_HOURS", "0")
    assert main(["fhir", "coverage", str(patient)], io.StringIO()) == 2
    assert "CDS_FHIR_OBSERVATION_WINDOW_HOURS" in capsys.readouterr().err


def test_fhir_coverage_refuses_what_it_cannot_read(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["fhir", "coverage", str(bad)], io.StringIO()) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_committed_coverage_report_is_current():
    fresh = subprocess.run(
        [str(ROOT / "scripts" / "fhir-coverage")], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert (ROOT / "docs" / "fhir-coverage.md").read_text() == fresh, "run make fhir-coverage"
