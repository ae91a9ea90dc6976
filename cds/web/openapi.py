"""GET /openapi.yaml: the hand-written HTTP contract (the repository's openapi.yaml), served
as it is. The wheel carries a copy inside the package; a source checkout reads the original."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)


def spec_path() -> Path:
    package = Path(__file__).resolve().parent.parent  # cds/
    packaged = package / "openapi.yaml"  # the wheel's copy (pyproject.toml, force-include)
    return packaged if packaged.is_file() else package.parent / "openapi.yaml"


_SPEC = spec_path().read_bytes()


@bp.get("/openapi.yaml")
def openapi() -> Response:
    return Response(_SPEC, mimetype="application/yaml")
