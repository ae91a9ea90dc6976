"""Where the repository's files are, for the tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RULES_DIR = ROOT / "rules"
VIGNETTE_DIR = ROOT / "tests" / "vignettes"
FIXTURES = ROOT / "tests" / "fixtures"
