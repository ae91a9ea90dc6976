"""HTTP plumbing shared by the blueprints: JSON and problem responses, strict JSON bodies."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import orjson
from flask import Request, Response
from werkzeug.datastructures import ImmutableMultiDict

from cds.problems import MALFORMED_JSON, PROBLEM_MEDIA_TYPE, UNSUPPORTED_MEDIA_TYPE, Problem, payload_too_large
from cds.settings import BodyLimits
from cds.strict_json import decode

JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson: a result with its trace is 3-8 KB, which the standard library encodes in ~30 µs
    return Response(orjson.dumps(body), status=status, mimetype=JSON_MEDIA_TYPE, headers=headers)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(problem.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=problem.status, mimetype=PROBLEM_MEDIA_TYPE, headers=headers)


def _encoding_problem(request: Request) -> str | None:
    """Why the body's encoding cannot be read as UTF-8 text as sent, or None. A compressed body
    (Content-Encoding) would be read as its bytes; a Content-Type naming two charsets is read by
    its last one ("charset=latin1; charset=utf-8"), which the sender may not have meant."""
    coding = request.environ.get("HTTP_CONTENT_ENCODING")
    if coding is not None and coding.strip().lower() not in ("", "identity"):
        return "Send the body without a Content-Encoding (uncompressed)."
    if request.mimetype_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return "Send the body encoded as UTF-8."
    if request.environ.get("CONTENT_TYPE", "").lower().count("charset") > 1:
        return "Name one charset, UTF-8."
    return None


def json_body(request: Request, limits: BodyLimits, media_types: tuple[str, ...] = (JSON_MEDIA_TYPE,)) -> Any:
    """The request's JSON document, or a 413/415/400 problem. Never reads past the limit."""
    if request.mimetype not in media_types:
        raise UNSUPPORTED_MEDIA_TYPE(f"Send the body as {' or '.join(media_types)}.")
    if (problem := _encoding_problem(request)) is not None:
        raise UNSUPPORTED_MEDIA_TYPE(problem)
    length = request.content_length
    if length is not None and length > limits.max_bytes:
        raise payload_too_large(limits.max_bytes)
    if length is not None:
        # a declared length within the limit: read exactly that much from the server, which is
        # all WSGI allows, and not through werkzeug's stream wrapper (17 of the 25 µs a 2 KB body
        # took to read in a gunicorn worker). gunicorn marks every input terminated, so that
        # mark cannot tell this path from a chunked body's, which has no declared length.
        raw = request.environ["wsgi.input"].read(length)
    else:
        raw = request.stream.read(limits.max_bytes + 1)
    if len(raw) > limits.max_bytes:
        raise payload_too_large(limits.max_bytes)
    if not raw.strip():
        raise MALFORMED_JSON("The body is empty; send a JSON document.")
    return decode(raw, limits.max_depth, limits.max_items)


def read_form_strictly(request: Request, max_bytes: int) -> tuple[int, str] | None:
    """Read a posted form into `request.form`, or say why it cannot be read: (status, message).

    werkzeug's own reading is lenient where a triage form must not be: a body in another media
    type, or with one byte that is not UTF-8, reads as an empty form, and a chunked body is cut
    at the size limit; each would be triaged as if the nurse had answered nothing, or less."""
    if request.mimetype != FORM_MEDIA_TYPE:
        return 415, "The answers must be sent as a form (application/x-www-form-urlencoded)."
    if (problem := _encoding_problem(request)) is not None:
        return 415, f"The answers could not be read: {problem}"
    length = request.content_length
    if length is not None and length > max_bytes:
        return 413, f"The form is larger than {max_bytes} bytes."
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        return 413, f"The form is larger than {max_bytes} bytes."
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return 400, "The form could not be read: it is not valid UTF-8."
    request.form = ImmutableMultiDict(pairs)
    return None
