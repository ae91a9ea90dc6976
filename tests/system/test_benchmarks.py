"""The in-process benchmarks run and report every stage: they reach into the pipeline by name,
so a renamed stage must fail here rather than print a figure that no longer measures it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.common.paths import ROOT


def test_stages_times_every_stage_of_an_evaluation():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stages.py"), "--requests", "72", "--warmup", "10"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^ {2,}(\S.*?)\s+(-?[\d.]+) µs$", done.stdout, re.M)
    labels = [label for label, _ in rows]
    for stage in ("Engine.fire (durable-rules)", "missing", "trace", "validation", "JSON response"):
        assert stage in labels, done.stdout
    assert all(float(value) > 0 for _, value in rows), done.stdout
