"""In-process benchmark of the decision core over the vignettes.

Prints latency p50/p99 of one evaluation (schema -> facts -> engine -> result -> JSON), rule
firings per evaluation, and resident memory before and after 100,000 evaluations.
Targets on the reference machine (2 cores): p50 <= 1 ms, p99 <= 3 ms, memory growth <= 5 MB.

    .venv/bin/python benchmarks/engine.py [--evaluations 100000]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds.triage import load_encounter, load_rulebase, triage_for  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--latency-rounds", type=int, default=300, help="passes over the vignettes for latency")
    args = parser.parse_args()

    rb = load_rulebase(ROOT / "rules")
    triage = triage_for(rb)
    decider = triage.decider
    vignettes = [json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "vignettes").glob("*.json"))]
    bodies = [json.dumps(v["encounter"]) for v in vignettes]

    def one(body: str) -> str:
        return json.dumps(triage.evaluate_document(json.loads(body)), separators=(",", ":"))

    for body in bodies * 20:  # warm up
        one(body)

    timings: list[float] = []
    perf = time.perf_counter
    for _ in range(args.latency_rounds):
        for body in bodies:
            start = perf()
            one(body)
            timings.append(perf() - start)
    timings.sort()

    firings = []
    actions = []
    for v in vignettes:
        before = decider.engine.actions
        decision = decider.decide(load_encounter(v["encounter"]))
        firings.append(len(decision.fired))
        actions.append(decider.engine.actions - before)

    gc.collect()
    rss_before = rss_mb()
    start = perf()
    for i in range(args.evaluations):
        one(bodies[i % len(bodies)])
    elapsed = perf() - start
    gc.collect()
    rss_after = rss_mb()

    compiled = decider.engine.durable_rule_count
    print(f"rule base {rb.version} ({len(rb.rules)} rules compiled into {compiled} durable-rules rules)")
    print(f"vignettes: {len(bodies)}; latency samples: {len(timings)}")
    print(f"latency p50: {percentile(timings, 0.50) * 1e3:.3f} ms   (target <= 1 ms)")
    print(f"latency p99: {percentile(timings, 0.99) * 1e3:.3f} ms   (target <= 3 ms)")
    print(f"latency max: {timings[-1] * 1e3:.3f} ms")
    print(
        f"rule firings per evaluation: mean {statistics.mean(firings):.1f}, "
        f"median {statistics.median(firings):.0f}, max {max(firings)}"
    )
    print(
        f"durable actions per evaluation (start rule and repeated branches included): "
        f"mean {statistics.mean(actions):.1f}, max {max(actions)}"
    )
    print(f"{args.evaluations} evaluations in {elapsed:.1f} s ({args.evaluations / elapsed:.0f}/s on one core)")
    growth = rss_after - rss_before
    print(f"resident memory: {rss_before:.1f} MB before, {rss_after:.1f} MB after")
    print(f"memory growth over {args.evaluations} evaluations: {growth:+.1f} MB (target <= 5 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
