"""Properties of the FHIR mapping over every vignette encoded as FHIR, with records of several
times mixed in: the order of the resources never matters, and resources that say nothing about
this patient now (entered in error, cancelled, another patient's) never change the encounter."""

import copy

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cds.fhir import map_resources, resources_from
from tests.common.fhir_builders import TODAY, encounter_to_resources
from tests.common.vignettes import VIGNETTES

ENCODED = {
    vid: encounter_to_resources(v["encounter"], findings_as=kind)
    for vid, v in sorted(VIGNETTES.items())
    for kind in ("observation",)
}
TIMES = ["2025-01-15T06:00:00Z", "2025-01-15T08:00:00Z", "2025-01-14T20:00:00Z"]


def with_older_copies(resources, rng):
    """The vignette's records, plus copies of some of them at other times with other values: a
    history the newest-wins rule has to see through."""
    out = list(resources)
    for r in resources:
        if r["resourceType"] != "Observation" or rng.random() < 0.6:
            continue
        older = copy.deepcopy(r)
        older["id"] = f"{r.get('id', 'x')}-older-{rng.randrange(10**6)}"
        older["effectiveDateTime"] = rng.choice(TIMES)
        if "valueQuantity" in older:
            older["valueQuantity"]["value"] = round(older["valueQuantity"]["value"] * rng.uniform(0.8, 1.2), 1)
        elif "valueBoolean" in older:
            older["valueBoolean"] = not older["valueBoolean"]
        out.append(older)
    return out


def mapped(resources):
    result = map_resources(resources_from(resources), TODAY)
    return result.encounter, sorted(result.unknown), sorted((e["field"], e["message"]) for e in result.errors)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(ENCODED)), st.randoms(use_true_random=False))
def test_the_order_of_the_resources_never_matters(vid, rng):
    resources = with_older_copies(ENCODED[vid], rng)
    shuffled = list(resources)
    rng.shuffle(shuffled)
    assert mapped(shuffled) == mapped(resources)


def noise(resource, kind, rng):
    r = copy.deepcopy(resource)
    r["id"] = f"noise-{rng.randrange(10**6)}"
    if kind == "other_patient":
        r["subject"] = {"reference": "Patient/someone-else"}
    elif r["resourceType"] == "Observation":
        r["status"] = "entered-in-error" if kind == "error" else "cancelled"
    else:
        r["verificationStatus"] = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "entered-in-error"}
            ]
        }
    for key in ("valueQuantity",):
        if key in r:
            r[key]["value"] = r[key]["value"] * 2  # a different value, which must not count
    if "valueBoolean" in r:
        r["valueBoolean"] = not r["valueBoolean"]
    r["effectiveDateTime"] = "2025-01-15T12:30:00Z"  # newer than the vignette's: it would win if it counted
    return r


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(ENCODED)),
    st.randoms(use_true_random=False),
    st.sampled_from(["error", "cancelled", "other_patient"]),
)
def test_records_that_say_nothing_of_this_patient_now_change_nothing(vid, rng, kind):
    resources = ENCODED[vid]
    clinical = [r for r in resources if r["resourceType"] != "Patient"]
    assume(clinical)
    extra = [noise(rng.choice(clinical), kind, rng) for _ in range(rng.randint(1, 4))]
    base = mapped(resources)
    assert mapped(resources + extra)[:2] == base[:2]
