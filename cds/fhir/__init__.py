"""FHIR R4 adapter: Patient, Observation and Condition resources to the encounter contract."""

from cds.fhir.mapping import (
    MappingResult,
    ResourceList,
    Terminology,
    TerminologyError,
    load_terminology,
    map_resources,
    resources_from,
    terminology,
)

__all__ = [
    "MappingResult",
    "ResourceList",
    "Terminology",
    "TerminologyError",
    "load_terminology",
    "map_resources",
    "resources_from",
    "terminology",
]
