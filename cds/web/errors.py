"""Every error leaves as an RFC 9457 problem document: no HTML error page anywhere."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds.problems import EVALUATION_FAILED, INTERNAL_ERROR, Problem, payload_too_large
from cds.triage.engine import EngineError
from cds.web.body import problem_response

log = logging.getLogger(__name__)

_DETAILS = {
    404: "There is no resource at this path.",
    405: "This resource does not accept that method.",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="cds"'} if problem.status == 401 else {}
        if problem.retry_after is not None:
            headers["Retry-After"] = str(problem.retry_after)
        return problem_response(problem, headers=headers)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Response:
        return problem_response(payload_too_large(app.config["MAX_CONTENT_LENGTH"]))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        headers = {k: v for k, v in err.get_headers() if k.lower() == "allow"}
        detail = _DETAILS.get(status, err.description or "")
        return problem_response(Problem(status, detail), headers=headers)

    @app.errorhandler(EngineError)
    def _engine(err: EngineError) -> Response:
        log.error("evaluation failed: %s", err)
        return problem_response(EVALUATION_FAILED("The evaluation could not be completed; no result was produced."))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(INTERNAL_ERROR("An internal error occurred; no result was produced."))
