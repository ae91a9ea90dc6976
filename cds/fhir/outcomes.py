"""What a search's Bundle says of its own wholeness: more pages, or an error. Either way what the
search would have found is unknown, not absent, and the data-problem card says so.

An OperationOutcome is how a CDS client reports a prefetch it could not complete (CDS Hooks
2.0.1: "CDS Services SHOULD check any prefetched data for the existence of OperationOutcomes").
One in place of a whole key is the hooks' affair (cds.hooks.prefetch); this is one inside a
Bundle."""

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


def has_next_page(bundle: dict[str, Any]) -> bool:
    """Whether a Bundle says more of the search follows (a link with relation "next"): CDS Hooks
    lets a client paginate prefetch results, and a page is not the whole record."""
    links = bundle.get("link")
    return isinstance(links, list) and any(isinstance(x, dict) and x.get("relation") == "next" for x in links)
