"""OperationOutcomes in a payload: how a CDS client reports a prefetch it could not complete
(CDS Hooks 2.0.1: "CDS Services SHOULD check any prefetched data for the existence of
OperationOutcomes"). One in place of a whole key is the hooks' affair (cds.hooks.prefetch); one
inside a search's Bundle says the search was not finished, so what it would have found is
unknown, not absent, and the data-problem card says so."""

from __future__ import annotations

from typing import Any

FAILED = ("error", "fatal")


def search_errors(bundle: str, resource: Any) -> list[str]:
    """`bundle` named with the issue codes of `resource`, if it is an OperationOutcome that
    reports an error; its text is the server's, and is not repeated."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
        return []
    issues = [i for i in resource.get("issue") or [] if isinstance(i, dict) and i.get("severity") in FAILED]
    codes = ", ".join(dict.fromkeys(str(i.get("code", "error")) for i in issues))
    return [f"{bundle} (OperationOutcome, {codes})"] if issues else []
