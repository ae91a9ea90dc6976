"""The `cds` command line: evaluate, explain, rules check."""

import io
import json
import subprocess
import sys

from cds.cli import main
from tests.conftest import ROOT, VIGNETTE_DIR, VIGNETTES


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
