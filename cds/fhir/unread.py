"""What the data-problem card says of a record the reader cannot use: one whose codings name
different fields, and a measurement recorded with no value."""

from __future__ import annotations

from typing import Any

from cds.fhir.readings import Collector
from cds.fhir.resources import concept_keys, status_code
from cds.fhir.terminology import Key
from cds.triage.labels import field_label

# a dataAbsentReason's code system (a coding with no system is taken as one of it)
DATA_ABSENT = ("http://terminology.hl7.org/CodeSystem/data-absent-reason",)


def ambiguous(c: Collector, concept: Any, source: dict[str, str], whose: str = "its") -> None:
    """A record whose codings name different fields is not read: which one the sender meant
    cannot be known. It is named on the data-problem card, not only counted: a stiff neck coded
    beside Neck pain (a pain site) was dropped with no word, and the meningitis screen read
    routine where the same facts sent directly are urgent."""
    named = {k: e.field.path for k in concept_keys(concept) if (e := c.term.by_code.get(k)) is not None}
    listed = ", ".join(f"{c.term.label(k)} {field_label(path)}" for k, path in named.items())
    c.ignore("ambiguous_code")
    c.error(
        next(iter(named.values())),
        f"{c.ref(source)}: {whose} codings name different fields ({listed}); left unknown",
    )


def no_value(c: Collector, key: Key, holder: dict[str, Any], source: dict[str, str]) -> str:
    """What names a measurement recorded with no value, for the collector to say when it is the
    newest reading of its field: it leaves the field unknown (an older value is not today's), and
    so hides an older one (a systolic of 85 behind a pressure recorded 'not performed' ten
    minutes later went with no card, where a valueQuantity with no number was named). An old
    one hides nothing, and is not named."""
    if "dataAbsentReason" not in holder:
        why = ""
    elif reason := status_code(holder["dataAbsentReason"], DATA_ABSENT):
        why = f" (dataAbsentReason '{reason}')"
    else:
        why = " (a dataAbsentReason)"
    return f"{c.ref(source)}: {c.term.label(key)} recorded with no value{why}; left unknown"
