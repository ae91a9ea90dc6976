"""GET /openapi.yaml: the hand-written HTTP contract (the repository's openapi.yaml), served
as it is. The wheel carries a copy inside the package; a source checkout reads the original."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("docs", __name__)


def spec_path() -> Path:
    packaged = Path(__file__).with_name("openapi.yaml")
    return packaged if packaged.is_file() else Path(__file__).resolve().parent.parent / "openapi.yaml"


_SPEC = spec_path().read_bytes()


@bp.get("/openapi.yaml")
def openapi() -> Response:
    return Response(_SPEC, mimetype="application/yaml")
