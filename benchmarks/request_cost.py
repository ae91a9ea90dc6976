"""In-process cost of one request through the whole Flask app (WSGI call, no server, no
network): POST /v1/evaluate over every vignette in turn against GET /healthz, alternating in
rounds. What the load benchmark's ratio is made of, without the noise of a server.

    .venv/bin/python benchmarks/request_cost.py [--rounds 7] [--requests 1700]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environ(method: str, path: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # as gunicorn sets it on every request
    }


class InProcess:
    """The app called as a WSGI server would call it, with every vignette's encounter as a body:
    what both in-process request benchmarks send (this one and stages.py)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies = [
            json.dumps(json.loads(p.read_text())["encounter"]).encode()
            for p in sorted((ROOT / "tests" / "vignettes").glob("*.json"))
        ]
        self.statuses: list[str] = []

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.statuses.append(status)
        return lambda data: None

    def call(self, method: str, path: str, body: bytes) -> None:
        response = self.app(environ(method, path, body), self._start_response)
        b"".join(response)
        response.close()

    def evaluate(self, i: int) -> None:
        """POST /v1/evaluate with the i-th body, every vignette in turn."""
        self.call("POST", "/v1/evaluate", self.bodies[i % len(self.bodies)])

    def healthz(self, i: int) -> None:
        self.call("GET", "/healthz", b"")

    def all_ok(self) -> bool:
        if any(not s.startswith("200") for s in self.statuses):
            print("some requests did not answer 200", file=sys.stderr)
            return False
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1700, help="requests per endpoint and round")
    args = parser.parse_args()

    from cds.web.app import create_app

    server = InProcess(create_app())
    evaluate, healthz = server.evaluate, server.healthz
    # each request still writes its log line, as under gunicorn, but not to the terminal
    terminal, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115

    def per_request(fn: Callable[[int], None]) -> float:
        started = time.perf_counter()
        for i in range(args.requests):
            fn(i)
        return float((time.perf_counter() - started) / args.requests * 1e6)

    for i in range(300):  # warm-up
        evaluate(i)
        healthz(i)
    timings: dict[str, list[float]] = {"evaluate": [], "healthz": []}
    for _ in range(args.rounds):
        timings["evaluate"].append(per_request(evaluate))
        timings["healthz"].append(per_request(healthz))
    sys.stdout.close()
    sys.stdout = terminal
    if not server.all_ok():
        return 1
    for name, label in (("evaluate", "POST /v1/evaluate (mix)"), ("healthz", "GET /healthz")):
        values = timings[name]
        print(f"{label:<24} median {statistics.median(values):6.1f} µs   min {min(values):6.1f} µs per request")
    ratio = statistics.median(timings["healthz"]) / statistics.median(timings["evaluate"])
    print(f"healthz / evaluate cost in process: {ratio:.0%} (a server adds the same fixed cost to both)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
