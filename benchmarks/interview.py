"""In-process benchmark of one interview step (POST /v1/interview without HTTP): the evaluation,
then the next five questions, each with the what-if of every answer, and the stopping rule.

Prints p50/p99 over the vignettes (each as it is, and with the answers a nurse has not asked
yet removed, where the interview has most to do), and the number of what-ifs per step.
Target on the reference machine (2 cores): an interview step with its what-ifs for 5 questions
under 5 ms (p99).

    .venv/bin/python benchmarks/interview.py [--rounds 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds.triage import load_encounter, load_rulebase, triage_for  # noqa: E402
from cds.triage.interview import Interview  # noqa: E402
from cds.triage.questions import load_questions  # noqa: E402

EARLY = ("patient", "symptoms")  # a call's first minutes: the age, sex and the complaint


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="passes over the encounters")
    args = parser.parse_args()

    rb = load_rulebase(ROOT / "rules")
    interview = Interview(triage_for(rb), load_questions(ROOT / "rules", rb))
    vignettes = [json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "vignettes").glob("*.json"))]
    encounters = [v["encounter"] for v in vignettes]
    encounters += [{k: v for k, v in e.items() if k in EARLY} for e in encounters]
    bodies = [json.dumps(e) for e in encounters]

    def one(body: str) -> dict:
        return interview.run(load_encounter(json.loads(body)))

    for body in bodies * 3:  # warm up
        one(body)
    what_ifs = [sum(len(q["what_if"]) for q in one(b)["next"]) for b in bodies]
    timings: list[float] = []
    perf = time.perf_counter
    for _ in range(args.rounds):
        for body in bodies:
            start = perf()
            one(body)
            timings.append(perf() - start)
    timings.sort()
    p50, p99 = percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000
    print(f"interview step ({len(bodies)} encounters x {args.rounds}): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"what-ifs per step: mean {sum(what_ifs) / len(what_ifs):.1f}, max {max(what_ifs)}")
    print(f"target: p99 < 5 ms with the what-ifs of 5 questions: {'met' if p99 < 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
