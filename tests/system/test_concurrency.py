"""Eight threads × 500 evaluations of mixed vignettes return exactly the single-threaded
results (durable-rules has no locks of its own; the engine serialises each evaluation)."""

import json
import sys
import threading

from tests.common.vignettes import VIGNETTES

THREADS = 8
PER_THREAD = 500


def test_eight_threads_match_single_threaded_results(app):
    from flask.testing import FlaskClient

    # the contract is checked elsewhere; 4,000 OpenAPI validations would only slow this down
    app.test_client_class = FlaskClient
    ids = sorted(VIGNETTES)
    client = app.test_client()
    expected = {}
    for vid in ids:
        response = client.post("/v1/evaluate", json=VIGNETTES[vid]["encounter"])
        assert response.status_code == 200
        expected[vid] = response.get_data()

    mismatches = []
    errors = []
    start = threading.Barrier(THREADS)

    def worker(n):
        local = app.test_client()
        try:
            start.wait(timeout=30)
            for i in range(PER_THREAD):
                vid = ids[(n * 5 + i * 3) % len(ids)]
                body = local.post("/v1/evaluate", json=VIGNETTES[vid]["encounter"]).get_data()
                if body != expected[vid]:
                    mismatches.append((n, i, vid))
        except Exception as err:  # pragma: no cover - reported by the assertion below
            errors.append(repr(err))

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-evaluation too
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads), "a worker did not finish in time"
    assert errors == []
    assert mismatches == []
    assert all(json.loads(v)["rulebase"] for v in expected.values())
