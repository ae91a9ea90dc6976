"""Levels, fields and values worded for people, one way for the CLI and for cards."""

from cds.triage.labels import field_label, pairs_text, value_text


def test_values_in_words():
    assert [value_text(v) for v in (None, True, False, ["lower_back", "flank"], "new_confusion", 38.2)] == [
        "not known",
        "yes",
        "no",
        "lower back, flank",
        "new confusion",
        "38.2",
    ]


def test_keys_in_words():
    assert field_label("symptoms.cough") == "cough"
    assert field_label("finding.fever") == "fever"
    assert field_label("scores.news2.total") == "NEWS2.total"


def test_pairs():
    assert pairs_text({"symptoms.cough": True}) == "symptoms.cough = yes"
    assert pairs_text({"symptoms.cough": True}, labelled=True) == "cough: yes"
    assert pairs_text({}) == "(nothing)"
