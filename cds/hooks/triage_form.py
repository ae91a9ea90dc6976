"""What the "ask next" card needs from outside the triage: the questions as a nurse reads them
aloud (the question catalogue) and a link to the triage form (GET /triage), prefilled with the
clinical values the EHR gave.

The prefill travels sealed in the URL's fragment (`/triage#prefill=TOKEN`, cds/form_link.py): a
browser never sends a fragment to a server, so the values reach no access log, proxy or Referer.
The token holds the known clinical fields of the mapped encounter only (no patient id, no name,
no encounter id, no hookInstance) and expires after CDS_FORM_LINK_TTL_SECONDS. Without a
form-link key the card links to the blank form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.form_link import seal
from cds.triage.answers import known_values
from cds.triage.context import PartialList
from cds.triage.questions import Catalogue, Question

FORM_PATH = "/triage"
LINK_LABEL = "Open the triage form"


def form_answers(encounter: dict[str, Any]) -> dict[str, Any]:
    """The known clinical values of a mapped encounter, by field path, a list answer as a plain
    JSON list. Pain sites known only in part (a record of one site) are left out: the form reads
    a list as every site, so it would turn the sites not recorded into a "no"; the nurse asks."""
    return {
        path: list(value) if isinstance(value, tuple | list) else value
        for path, value in known_values(encounter).items()
        if not isinstance(value, PartialList)
    }


@dataclass(frozen=True)
class TriageForm:
    catalogue: Catalogue
    base_url: str  # the service's public address, without a trailing slash
    key: bytes | None = field(repr=False)  # None: no prefill, the link opens the blank form
    ttl_seconds: int
    answers: dict[str, Any] = field(repr=False)  # form_answers() of the mapped encounter

    def question(self, path: str) -> Question | None:
        """The question for a missing field, if the form would show it now: a follow-up whose
        parent's known answer makes it meaningless (enable_when) is not asked."""
        q = self.catalogue.by_path.get(path)
        return q if q is not None and q.applies(self.answers) else None

    def link(self, now: float | None = None) -> dict[str, str]:
        """The card's CDS Hooks Link: sealed only when asked for, so a call with no "ask next"
        card seals nothing; `now` (seconds since the epoch) is for tests."""
        url = self.base_url + FORM_PATH
        if self.key is not None:
            url += "#prefill=" + seal(self.key, self.answers, self.ttl_seconds, now)
        return {"label": LINK_LABEL, "type": "absolute", "url": url}
