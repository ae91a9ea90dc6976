"""Reading the CDS client's FHIR server, when a prefetch key is missing and the client gave a
`fhirServer` and `fhirAuthorization` (CDS Hooks 2.0, "FHIR Resource Access").

Only the queries of our own prefetch templates are sent, with the client's bearer token, a
timeout and a response size limit; redirects are not followed (the token must not travel to
another host). The token is never logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class FhirFetchError(Exception):
    """The FHIR server could not give a usable answer; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
FHIR_JSON = ("application/fhir+json", "application/json")


def fetch(base_url: str, query: str, token: str, timeout: float, max_bytes: int) -> Any:
    url = base_url.rstrip("/") + "/" + query.lstrip("/")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked when the request is validated
        url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        method="GET",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise FhirFetchError(f"status {response.status}")
            media = response.headers.get_content_type()
            if media not in FHIR_JSON:
                raise FhirFetchError(f"content type {media}")
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as err:
        raise FhirFetchError(f"status {err.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise FhirFetchError(type(err).__name__) from None
    if len(body) > max_bytes:
        raise FhirFetchError(f"response larger than {max_bytes} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FhirFetchError("response is not JSON") from None
