import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cds.app import create_app, decider_for
from cds.rulebase import load_rulebase
from cds.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
VIGNETTE_DIR = Path(__file__).resolve().parent / "vignettes"
VIGNETTES = {p.stem: json.loads(p.read_text()) for p in sorted(VIGNETTE_DIR.glob("*.json"))}


def encounter(vid: str = "D01", **changes: Any) -> dict[str, Any]:
    """A vignette's encounter with changes given as section__field=value (None removes it)."""
    enc = copy.deepcopy(VIGNETTES[vid]["encounter"])
    for key, value in changes.items():
        section, name = key.split("__", 1)
        target = enc.setdefault(section, {})
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return enc


@pytest.fixture(scope="session")
def rulebase():
    return load_rulebase(ROOT / "rules")


@pytest.fixture(scope="session")
def decider(rulebase):
    return decider_for(rulebase)


@pytest.fixture(scope="session")
def evaluate(decider):
    from cds.schema import load_encounter

    def run(enc: dict[str, Any]) -> dict[str, Any]:
        return decider.evaluate(load_encounter(enc))

    return run


@pytest.fixture
def app():
    from tests.openapi_check import ValidatingClient

    app = create_app(Settings(rules_dir=ROOT / "rules"), {"TESTING": True})
    app.test_client_class = ValidatingClient
    yield app


@pytest.fixture
def client(app):
    return app.test_client()
