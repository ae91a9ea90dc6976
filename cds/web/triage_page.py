"""The nurse's page, GET /triage: every question on one server-rendered form (it works with
JavaScript off), in clinical order, most dangerous first; a risk banner with the disposition;
beside each question what it can still raise; the next questions with what each answer would
do; a "check your answers" summary; a copyable triage note. With JavaScript, htmx (vendored,
static/) posts each change to /triage/evaluate and swaps the banner, the badges and the summary
in place, leaving the inputs, and the focus, where they are.

Answers only ever travel in POST bodies: never in a URL, so never in a log. A card's prefill
arrives in the URL fragment, which the browser keeps to itself; static/triage.js posts it to
/triage/resume.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from cds.form_link import LinkError, open_token
from cds.settings import hash_key
from cds.triage import Result
from cds.triage.fields import ADULT_AGE
from cds.triage.interview import Interview, InterviewResult
from cds.triage.labels import LEVEL_LABEL
from cds.triage.missing import Ranked
from cds.triage.rulebase import LEVEL_RANK
from cds.web.body import read_form_strictly
from cds.web.page_access import may_use, same_origin, set_session
from cds.web.triage_form import UNKNOWN, Answers, answers_from, checked, chosen, posted, read_form, words
from cds.web.triage_note import triage_note

bp = Blueprint("triage_page", __name__, url_prefix="/triage", static_folder="static", template_folder="templates")
LEVELS = sorted(LEVEL_RANK, key=LEVEL_RANK.__getitem__)
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def _access() -> Response | None:
    if request.method == "POST":
        refused = read_form_strictly(request, current_app.config["CDS_SETTINGS"].max_body_bytes)
        if refused is not None:
            return _page("triage/message.html", refused[0], message=refused[1])
    if request.endpoint in ("triage_page.static", "triage_page.signin"):
        return None
    if request.method == "POST" and not same_origin(request):
        return _page("triage/message.html", 403, message="This form only accepts answers from its own page.")
    if not may_use(request, current_app.config["CDS_SETTINGS"], current_app.extensions["cds.page_secret"]):
        # a call's answers posted after the sign-in ended come back with the sign-in form, in
        # its body, and return to the page with the new session: a nurse does not ask them again
        carried = _carried(request.form) if request.endpoint == "triage_page.submitted" else []
        return _page("triage/signin.html", 401, carried=carried)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes a form post's Origin "null"
        response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.post("/signin")
def signin() -> WerkzeugResponse:
    settings = current_app.config["CDS_SETTINGS"]
    key = request.form.get("key", "").strip()
    carried = _carried(request.form)
    if not same_origin(request) or not key or hash_key(key) not in settings.api_key_hashes:
        return _page("triage/signin.html", 401, failed=True, carried=carried)
    token = request.form.get("prefill", "")
    response: WerkzeugResponse
    if token:  # a card's link opened before signing in: its prefill came through the sign-in form
        response = _resume(token)
    elif carried:
        response = _form_page(read_form(MultiDict(carried), _interview().catalogue))
    else:
        response = redirect("/triage", code=303)
    set_session(response, request, current_app.extensions["cds.page_secret"], key, settings)
    return response


@bp.get("")
def blank() -> Response:
    return _form_page(Answers())


@bp.post("")
def submitted() -> Response:
    return _form_page(read_form(request.form, _interview().catalogue))


@bp.post("/evaluate")
def live() -> Response:
    """The htmx update: the banner, the badges and the summary, as out-of-band fragments."""
    view = _view(read_form(request.form, _interview().catalogue))
    return _page("triage/live.html", 200, **view)


@bp.post("/resume")
def resume() -> Response:
    return _resume(request.form.get("prefill", ""))


def _resume(token: str) -> Response:
    key = current_app.config["CDS_SETTINGS"].form_link_key
    try:
        if key is None:
            raise LinkError("this service has no form-link key: open the blank form")
        values = open_token(key, token)
    except LinkError as err:
        return _form_page(Answers(), status=400, notice=str(err))
    return _form_page(answers_from(values, _interview().catalogue))


def _carried(form: MultiDict[str, str]) -> list[tuple[str, str]]:
    """The answers a form posted (every field but the sign-in's own), in order, repeats kept."""
    return [(name, value) for name, value in form.items(multi=True) if name not in ("key", "prefill")]


def _interview() -> Interview:
    interview: Interview = current_app.extensions["cds.interview"]
    return interview


def _form_page(answers: Answers, status: int = 200, notice: str | None = None) -> Response:
    view = _view(answers)
    return _page("triage/page.html", 422 if view["errors"] and status == 200 else status, notice=notice, **view)


def _view(answers: Answers) -> dict[str, Any]:
    interview = _interview()
    catalogue = interview.catalogue
    encounter, errors, used = _checked(answers, interview)
    out: InterviewResult | None = None
    ranked: dict[str, Ranked] = {}
    settling: set[str] = set()
    if encounter is not None:
        out, ranks = interview.step(encounter)
        ranked = {r.path: r for r in ranks}
        # the questions asked for a flag already raised at their reach: their answer can only
        # undo or confirm it (the stop waits on them), so "could raise" would mislead
        raised = {f["id"]: LEVEL_RANK[f["risk_level"]] for f in out["result"]["flags"]}
        settling = {r.path for r in ranks if r.flags and all(raised.get(f, -1) >= r.reach for f in r.flags)}
    return {
        "settling": settling,
        "floor": _at_any_age(answers, interview) if encounter is None else None,
        "catalogue": catalogue,
        "sources": interview.triage.rulebase.sources,
        "answers": answers,
        "errors": errors,
        "out": out,
        "ranked": ranked,
        "next": {q["field"]: q for q in out["next"]} if out else {},
        "used": used,
        "note": triage_note(out, answers, catalogue, errors, used) if out else "",
        "levels": LEVELS,
        "label": LEVEL_LABEL,
        "UNKNOWN": UNKNOWN,
        "posted": posted,
        "chosen": chosen,
        "words": words,
        "oob": False,
        "START": "patient.age_years",
    }


def _checked(answers: Answers, interview: Interview) -> tuple[dict[str, Any] | None, dict[str, str], set[str]]:
    """checked(), with each answer given beside its "Not known" read both ways, the reading of
    the higher level kept (on a tie, "Not known": unknown is never an answer). Used as given, a
    SpO2 scale of 2 beside its "Not known" lowered an emergency to ROUTINE, and a pain severity
    beside its "Not known" completed the self-care screen (a review of the page's changes)."""
    check = interview.triage.decider.answers.check
    given = checked(answers, check)
    if not answers.doubted:
        return given
    values = {p: v for p, v in answers.values.items() if p not in answers.doubted}
    unknown = checked(replace(answers, values=values, unknown=[*answers.unknown, *sorted(answers.doubted)]), check)

    def level(reading: tuple[dict[str, Any] | None, dict[str, str], set[str]]) -> int:
        return -1 if reading[0] is None else LEVEL_RANK[interview.triage.evaluate(reading[0])["risk_level"]]

    return given if level(given) > level(unknown) else unknown


def _at_any_age(answers: Answers, interview: Interview) -> Result | None:
    """Without an age (none, "Not known", or one the form cannot read), the result at the
    youngest adult age, when it is urgent or an emergency: the level can only rise with the age
    (principle 4), so the page can say "at least" that. Found by a triage workflow audit:
    saddle numbness and a non-blanching rash, the age not known, showed "No result yet" and
    nothing else. A child's age shows nothing: the service does not triage children."""
    age = "patient.age_years"
    given = answers.values.get(age)
    others = (set(answers.values) | set(answers.unknown)) - {age}
    if (isinstance(given, int | float) and given < ADULT_AGE) or not others:
        return None
    youngest = replace(
        answers,
        values={**answers.values, age: ADULT_AGE},
        unknown=[p for p in answers.unknown if p != age],
        errors={p: e for p, e in answers.errors.items() if p != age},
        doubted=answers.doubted - {age},
    )
    encounter, _, _ = _checked(youngest, interview)
    if encounter is None:
        return None
    result = interview.triage.evaluate(encounter)
    return result if result["risk_level"] in ("urgent", "emergency") else None


def _page(template: str, status: int, **context: Any) -> Response:
    html = render_template(template, **context)
    # RFC 9110 11.6.1: a 401 names its scheme; the page also takes the API's Bearer key
    headers = {"WWW-Authenticate": 'Bearer realm="cds"'} if status == 401 else None
    return Response(html, status=status, mimetype="text/html", headers=headers)
