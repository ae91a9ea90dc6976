"""FHIR R4 adapter: Patient, Observation and Condition resources to the encounter contract.

terminology: the codes (terminology.yaml) and their loader; resources: reading a payload's
resources; mapping: the reading rules that turn them into an encounter.
"""

from cds.fhir.mapping import MappingResult, map_resources
from cds.fhir.resources import ResourceList, resources_from
from cds.fhir.terminology import Terminology, TerminologyError, load_terminology, terminology

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
