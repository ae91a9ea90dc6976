"""Where one POST /v1/evaluate spends its time in process: each stage of the request timed
inside the Flask app (every vignette in turn, after a warm-up), beside GET /healthz, which is
the cost every request shares. The stages are the pipeline's own objects, each wrapped in a
timer for this run only; the nested rows (indented) are part of the row above them.

    .venv/bin/python benchmarks/stages.py [--requests 10000] [--warmup 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from request_cost import InProcess  # noqa: E402

SPENT: defaultdict[str, int] = defaultdict(int)


def timed(owner: Any, name: str, label: str) -> None:
    """Replace owner.name by the same callable, timed into SPENT[label]."""
    inner: Callable[..., Any] = getattr(owner, name)
    clock = time.perf_counter_ns

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[label] += clock() - started

    setattr(owner, name, wrapper)


# (label, depth): the order and nesting of the report
ROWS = (
    ("body: media type, read, strict decode", 0),
    ("evaluation", 0),
    ("validation", 1),
    ("answers and implied answers (context)", 1),
    ("three-valued evaluation and scores", 1),
    ("Engine.fire (durable-rules)", 1),
    ("self-care screen, beyond its evaluation", 1),
    ("result", 1),
    ("missing", 2),
    ("trace", 2),
    ("JSON response", 0),
    ("evaluation metrics", 0),
)


def instrument(app: Any) -> None:
    import cds.triage.pipeline as pipeline
    import cds.web.evaluate as view

    triage = app.extensions["cds.triage"]
    labels = iter(label for label, _ in ROWS)
    timed(view, "json_body", next(labels))
    timed(triage, "evaluate_document", next(labels))
    timed(pipeline, "load_encounter", next(labels))
    timed(triage.decider.answers, "context", next(labels))
    timed(triage.decider, "evaluate_rules", next(labels))
    timed(triage.decider.engine, "fire", next(labels))
    timed(triage.decider, "_screen", next(labels))
    timed(triage.results, "build", next(labels))
    timed(triage.results.missing, "build", next(labels))
    timed(triage.results.trace, "build", next(labels))
    timed(view, "json_response", next(labels))
    timed(view, "count_evaluation", next(labels))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000, help="requests per endpoint")
    parser.add_argument("--warmup", type=int, default=2000, help="requests per endpoint before timing")
    args = parser.parse_args()

    from cds.web.app import create_app

    app = create_app()
    instrument(app)
    server = InProcess(app)

    def per_request(send: Callable[[int], None], count: int) -> float:
        started = time.perf_counter_ns()
        for i in range(count):
            send(i)
        return (time.perf_counter_ns() - started) / count / 1000

    # each request still writes its log line, as under gunicorn, but not to the terminal
    terminal, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
    per_request(server.evaluate, args.warmup)
    per_request(server.healthz, args.warmup)
    SPENT.clear()
    evaluate = per_request(server.evaluate, args.requests)
    healthz = per_request(server.healthz, args.requests)
    sys.stdout.close()
    sys.stdout = terminal
    if not server.all_ok():
        return 1
    if not all(SPENT[label] for label, _ in ROWS):  # a stage renamed: its timer never ran
        print("stages never timed: " + ", ".join(label for label, _ in ROWS if not SPENT[label]), file=sys.stderr)
        return 1
    print(f"POST /v1/evaluate (mix) {evaluate:7.1f} µs per request; GET /healthz {healthz:7.1f} µs")
    for label, depth in ROWS:
        print(f"  {'  ' * depth}{label:<{44 - 2 * depth}} {SPENT[label] / args.requests / 1000:7.1f} µs")
    staged = sum(SPENT[label] for label, depth in ROWS if depth == 0) / args.requests / 1000
    print(f"  {'the rest: Flask, the log line, request metrics':<44} {evaluate - staged:7.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
