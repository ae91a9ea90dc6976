"""Validation of request/response pairs against openapi.yaml with openapi-core.

The app fixture's test client validates every response it receives against the operation and
status it belongs to, and the request too whenever the service accepted it (2xx): the suite
as a whole is then a conformance run of the hand-written contract.
"""

from __future__ import annotations

import json
from collections import Counter

from flask.testing import EnvironBuilder, FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from tests.common.paths import ROOT

SPEC = OpenAPI.from_file_path(
    str(ROOT / "openapi.yaml"),
    config=Config(
        extra_media_type_deserializers={
            "application/problem+json": json.loads,
            "application/fhir+json": json.loads,
            "application/yaml": lambda body: body.decode() if isinstance(body, bytes) else body,
        }
    ),
)
VALIDATED: Counter[str] = Counter()


def validate_pair(request, response) -> bool:
    """Validate one test-client response (and its request when accepted). Returns whether the
    operation is in the contract at all (undocumented paths and methods are skipped)."""
    request = WerkzeugOpenAPIRequest(request)
    try:
        SPEC.validate_response(request, WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        return False
    if 200 <= response.status_code < 300:
        SPEC.validate_request(request)
    VALIDATED[f"{response.request.method} {response.request.path} {response.status_code}"] += 1
    return True


class ValidatingClient(FlaskClient):
    def open(self, *args, **kwargs):  # type: ignore[override]
        response = super().open(*args, **kwargs)
        if (
            args
            and isinstance(args[0], str)
            and not kwargs.get("buffered")
            and not isinstance(kwargs.get("data"), dict)
        ):
            # the app consumed the body: rebuild the request as it was sent, to validate it
            replay = EnvironBuilder(self.application, *args, **kwargs).get_request()
            validate_pair(replay, response)
        return response
