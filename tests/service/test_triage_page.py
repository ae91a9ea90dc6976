"""The nurse's page over HTTP (the browser tests drive it in Chromium): the same access control
as the API, answers only in POST bodies and never in a log, the EHR's prefill opened from a
card's link, the live update's fragments, and the headers that keep the page to itself."""

import copy
import json
import re
import secrets
import time

import pytest

from cds.form_link import seal
from cds.settings import Settings
from cds.triage.labels import LEVEL_LABEL
from cds.triage.rulebase.model import LEVELS
from cds.web.app import create_app
from tests.common.paths import ROOT, RULES_DIR

KEY = "page-key-for-tests-1234567890"
LINK_KEY = secrets.token_urlsafe(32)


def _app(**env):
    settings = Settings.from_env({"CDS_RULES_DIR": str(RULES_DIR), **env})
    return create_app(settings, {"TESTING": True})


@pytest.fixture
def locked():
    return _app(CDS_API_KEYS=KEY).test_client()


@pytest.fixture
def linked():
    return _app(CDS_FORM_LINK_KEY=LINK_KEY)


def test_the_blank_form_lists_every_question_in_clinical_order(client, catalogue):
    response = client.get("/triage")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    positions = [html.index(f'id="q-{q.path.replace(".", "-")}"') for q in catalogue.questions]
    age = positions.pop([q.path for q in catalogue.questions].index("patient.age_years"))
    assert age < min(positions) and positions == sorted(positions)  # the age first: it is required
    assert '<form method="post" action="/triage"' in html
    assert "Enter the age to start" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_an_answer_posted_gives_the_level_the_note_and_the_summary(client):
    form = {"patient.age_years": "58", "symptoms.urinary_retention": "yes", "symptoms.rigors": "unknown"}
    html = client.post("/triage", data=form).get_data(as_text=True)
    assert "Risk: EMERGENCY." in html
    assert "Asked, not known: " in html and "Rule base 2.0.0" in html
    assert re.search(r'value="unknown" checked', html)


def test_the_live_update_swaps_fragments_out_of_band(client, catalogue):
    response = client.post("/triage/evaluate", data={"patient.age_years": "40", "symptoms.reported_fever": "yes"})
    html = response.get_data(as_text=True)
    for region in ("banner", "errors", "next", "summary", "note-section"):
        assert re.search(rf'id="{region}"[^>]*hx-swap-oob="true"', html), region
    assert html.count('class="reach"') == len(catalogue.questions)
    assert "<form" not in html  # the inputs, and the focus on one, are left alone


def test_a_bad_number_is_shown_beside_its_question_and_the_rest_still_decides(client):
    form = {"patient.age_years": "40", "vitals.heart_rate": "fast", "symptoms.saddle_anaesthesia": "yes"}
    response = client.post("/triage", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="err-vitals-heart_rate"' in html and "Risk: EMERGENCY." in html


def test_the_note_and_the_summary_say_which_answers_the_level_does_not_stand_on(linked):
    """Found driving the page: a heart rate of 400, refused beside its question and left out of
    the level, went into the note as "Heart rate: 400 beats per minute"; and an EHR answer the
    nurse never confirmed went in as the caller's."""
    token = seal(linked.config["CDS_SETTINGS"].form_link_key, {"patient.age_years": 66, "symptoms.rigors": True}, 900)
    client = linked.test_client()
    form = client.post("/triage/resume", data={"prefill": token}).get_data(as_text=True)
    assert 'name="_prefilled" value="patient.age_years symptoms.rigors"' in form
    posted = {
        "_prefilled": "patient.age_years symptoms.rigors",
        "patient.age_years": "66",
        "symptoms.rigors": "yes",
        "vitals.heart_rate": "400",
    }
    html = client.post("/triage", data=posted).get_data(as_text=True)
    note = re.search(r'<textarea[^>]*id="note"[^>]*>(.*?)</textarea>', html, re.S)[1]
    assert "Heart rate: 400 beats per minute (not used: " in note
    assert "Rigors (shaking chills): Yes (from the EHR, not yet confirmed with the caller)" in note
    summary = html[html.index('id="summary"') :]
    assert "(not used: " in summary and "(from the EHR: check with the caller)" in summary


@pytest.mark.parametrize(
    ("pair", "route"),
    [
        ({"symptoms.leg_weakness": "none", "symptoms.leg_weakness_progressive": "yes"}, "/triage"),
        ({"symptoms.leg_numbness": "no", "symptoms.numbness_both_legs": "yes"}, "/triage"),
        ({"symptoms.leg_numbness": "no", "symptoms.numbness_both_legs": "yes"}, "/triage/evaluate"),
    ],
)
def test_two_answers_that_contradict_each_other_are_shown_and_the_rest_still_decides(client, pair, route):
    """Found driving the page: "no new weakness" beside "the weakness is getting worse" made
    every update a problem+json 422 that htmx does not swap, so the banner stayed on ROUTINE
    while saddle numbness and retention were answered yes (and a full submit lost the answers)."""
    form = {"patient.age_years": "45", "symptoms.saddle_anaesthesia": "yes", "symptoms.urinary_retention": "yes"}
    response = client.post(route, data={**form, **pair})
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html" and "Risk: EMERGENCY." in html
    for path in pair:
        assert "contradict each other" in html and f'href="#q-{path.replace(".", "-")}"' in html
    if route == "/triage":
        assert response.status_code == 422
        for path in pair:
            assert f'id="err-{path.replace(".", "-")}"' in html


@pytest.mark.parametrize(
    ("pair", "alone"),
    [
        ({"symptoms.leg_numbness": "no", "symptoms.numbness_both_legs": "yes"}, {"numbness_both_legs": True}),
        (
            {"symptoms.leg_weakness": "none", "symptoms.leg_weakness_progressive": "yes"},
            {"leg_weakness_progressive": True},
        ),
    ],
)
def test_of_two_answers_that_contradict_each_other_the_yes_is_used(client, catalogue, pair, alone):
    """Found by a triage workflow audit: both answers were left out, and the banner showed
    ROUTINE where the "yes" alone is an emergency. The "no" is left out, the "yes" used (as of
    EHR records on a CDS Hooks card), and both are shown in error."""
    expected = client.post("/v1/evaluate", json={"patient": {"age_years": 40}, "symptoms": alone}).get_json()
    html = client.post("/triage", data={"patient.age_years": "40", **pair}).get_data(as_text=True)
    assert f"Risk: {expected['risk_level'].upper()}." in html
    assert expected["risk_level"] == "emergency"
    note = re.search(r'<textarea[^>]*id="note"[^>]*>(.*?)</textarea>', html, re.S)[1]
    yes, no = sorted(pair, key=lambda path: pair[path] != "yes")
    assert re.search(rf"{re.escape(catalogue.by_path[yes].short)}: Yes \(used, to be checked: [^)]*contradict", note)
    assert re.search(rf"{re.escape(catalogue.by_path[no].short)}: [^\n]*\(not used: [^)]*contradict", note)


@pytest.mark.parametrize(
    ("path", "posted"),
    [
        ("vitals.heart_rate", ["140", "unknown"]),
        ("vitals.heart_rate", ["80", "140"]),
        ("symptoms.saddle_anaesthesia", ["no", "yes"]),
        ("pain.sites", ["flank", "unknown"]),
    ],
)
def test_two_answers_to_one_question_are_shown_as_an_error_not_one_dropped(client, path, posted):
    """A value and its "Not known" both ticked, or two values: neither is taken for the other
    (heart rate 140 read as not known hid an emergency)."""
    from werkzeug.datastructures import MultiDict

    form = MultiDict([("patient.age_years", "52"), ("symptoms.reported_fever", "yes")] + [(path, v) for v in posted])
    response = client.post("/triage", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="err-{path.replace(".", "-")}"' in html
    if "unknown" in posted:
        # until the nurse chooses, the answer beside "Don't know" and "Don't know" are both read
        # and the higher level shown (a triage workflow audit: 135 with "Not known" ticked showed
        # ROUTINE, 135 alone is an emergency)
        assert f"Risk: {_higher(client, path, posted, {'symptoms': {'reported_fever': True}}).upper()}." in html
        assert "until then the page takes whichever gives the higher level" in html


def _higher(client, path, posted, rest, age=52):
    """The higher level of an answer given beside its "Don't know", read either way."""
    section, name = path.split(".")
    value = [v for v in posted if v != "unknown"]
    value = value if path == "pain.sites" else float(value[0])
    given = {"patient": {"age_years": age}, **copy.deepcopy(rest)}
    given.setdefault(section, {})[name] = int(value) if isinstance(value, float) and value.is_integer() else value
    unknown = {"patient": {"age_years": age}, **copy.deepcopy(rest), "asked_unknown": [path]}
    levels = [client.post("/v1/evaluate", json=e).get_json()["risk_level"] for e in (given, unknown)]
    return max(levels, key=LEVELS.index)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        # a review of the page's changes: a SpO2 scale of 2 beside its "Not known" lowered an
        # emergency (SpO2 90 %, scale 1 by default) to ROUTINE
        ({"vitals.spo2": "90", "vitals.spo2_scale": ["2", "unknown"]}, "EMERGENCY"),
    ],
)
def test_an_answer_beside_its_dont_know_never_lowers_the_level(client, form, expected):
    from werkzeug.datastructures import MultiDict

    pairs = [("patient.age_years", "50")] + [
        (k, v) for k, vs in form.items() for v in ([vs] if isinstance(vs, str) else vs)
    ]
    html = client.post("/triage/evaluate", data=MultiDict(pairs)).get_data(as_text=True)
    assert f"Risk: {expected}." in html and "page takes whichever gives the higher level" in html


@pytest.mark.parametrize("path", ["pain.severity", "pain.duration_days", "vitals.hours_since_urine", "pain.sites"])
def test_an_answer_beside_its_dont_know_never_completes_the_self_care_screen(client, catalogue, path):
    """A review of the page's changes: vignette D01 answered on the page is SELF-CARE; with one
    of its screen answers also marked "Don't know" it became SELF-CARE, screen complete, where
    the API with that field asked and not known gives ROUTINE."""
    from werkzeug.datastructures import MultiDict

    from tests.common.vignettes import encounter

    enc = encounter("D01")
    assert client.post("/v1/evaluate", json=enc).get_json()["risk_level"] == "self_care"
    pairs = []
    for section, members in enc.items():
        for name, value in members.items() if isinstance(members, dict) else ():
            for v in value if isinstance(value, list) else [value]:
                if v is not None and f"{section}.{name}" in catalogue.by_path:
                    pairs.append(
                        (
                            f"{section}.{name}",
                            {True: "yes", False: "no"}.get(v, str(v)) if isinstance(v, bool) else str(v),
                        )
                    )
    pairs.append((path, "unknown"))
    html = client.post("/triage/evaluate", data=MultiDict(pairs)).get_data(as_text=True)
    unknown = copy.deepcopy(enc)
    unknown[path.split(".")[0]].pop(path.split(".")[1], None)
    unknown["asked_unknown"] = [path]
    expected = client.post("/v1/evaluate", json=unknown).get_json()["risk_level"]
    assert expected != "self_care"
    assert f"Risk: {LEVEL_LABEL[expected]}." in html


@pytest.mark.parametrize(
    ("path", "typed", "message"),
    [
        ("labs.crp_mg_l", "1,200", "without a thousands comma"),  # read as 1.2 mg/L before
        ("vitals.spo2", "88.5", "Enter a whole number"),
        ("labs.crp_mg_l", "12,5", None),  # a decimal comma is still a decimal comma
    ],
)
def test_a_number_that_could_be_read_two_ways_is_asked_again(client, path, typed, message):
    response = client.post("/triage", data={"patient.age_years": "40", path: typed})
    html = response.get_data(as_text=True)
    if message is None:
        assert response.status_code == 200 and 'value="12.5"' in html
    else:
        assert response.status_code == 422 and message in html
        # kept as typed, in its box, the summary and the note (found in a second audit: it was
        # emptied on the next update, and no trace of it stayed)
        assert f'value="{typed}"' in html
        note = re.search(r'<textarea[^>]*id="note"[^>]*>(.*?)</textarea>', html, re.S)[1]
        assert f": {typed} (not used: " in note
        assert f"{typed} <strong" in html[html.index('id="summary"') :]


@pytest.mark.parametrize("reading", ["1_40", "1e2", "nan", "infinity", "0x8C", "140.", "٣٠"])
def test_a_number_is_digits_with_one_decimal_mark_nothing_python_also_reads(client, reading):
    form = {"patient.age_years": "40", "vitals.heart_rate": reading}
    response = client.post("/triage", data=form)
    assert response.status_code == 422 and 'id="err-vitals-heart_rate"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"patient.age_years=52&symptoms.saddle_anaesthesia=yes", "text/plain", 415),
        (b"patient.age_years=52&symptoms.saddle_anaesthesia=yes", "multipart/form-data; boundary=x", 415),
        (b"patient.age_years=52&symptoms.saddle_anaesthesia=yes&x=\xff", "application/x-www-form-urlencoded", 400),
        (b"patient.age_years=52&symptoms.saddle_anaesthesia=yes&x=%FF", "application/x-www-form-urlencoded", 400),
        (b"patient.age_years=52&n=" + b"x" * 70_000, "application/x-www-form-urlencoded", 413),
    ],
)
def test_a_form_that_cannot_be_read_whole_is_refused_not_triaged_as_unanswered(client, body, content_type, status):
    """Finding: werkzeug reads each of these as an empty (or cut) form, so the page answered 200
    with no result, as if the nurse had answered nothing."""
    for path in ("/triage", "/triage/evaluate"):
        response = client.post(path, data=body, content_type=content_type)
        assert response.status_code == status, path


def test_a_chunked_form_past_the_limit_is_refused_not_cut(client):
    import io

    body = b"patient.age_years=52&n=" + b"x" * 70_000 + b"&symptoms.saddle_anaesthesia=yes"
    response = client.post(
        "/triage/evaluate",
        input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("origin", ["http://[::1", "http://a]b/", "null"])
def test_an_origin_that_is_no_url_is_refused_not_a_500(client, origin):
    response = client.post("/triage/evaluate", data={"patient.age_years": "52"}, headers={"Origin": origin})
    assert response.status_code == 403


def test_the_page_keeps_answers_out_of_the_log(client, capsys):
    client.post("/triage", data={"patient.age_years": "73", "symptoms.saddle_anaesthesia": "yes"})
    logged = capsys.readouterr()
    lines = [json.loads(ln) for ln in (logged.out + logged.err).splitlines() if '"route":"/triage"' in ln]
    assert len(lines) == 1 and "saddle" not in json.dumps(lines[0])
    # the request's own fields only: no answer among them
    assert set(lines[0]) <= {"request_id", "method", "route", "status", "latency_ms", "rulebase_version", "pid"} | {
        "risk_level",
        "event",
        "level",
        "timestamp",
        "logger",
    }


def test_with_api_keys_the_page_needs_one(locked):
    assert locked.get("/triage").status_code == 401
    assert locked.get("/triage").headers["WWW-Authenticate"] == 'Bearer realm="cds"'  # RFC 9110 11.6.1
    assert "Access key" in locked.get("/triage").get_data(as_text=True)
    assert locked.post("/triage", data={"patient.age_years": "40"}).status_code == 401
    assert locked.get("/triage", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert locked.post("/triage/signin", data={"key": "wrong-key-wrong-key-123"}).status_code == 401
    signed = locked.post("/triage/signin", data={"key": KEY})
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/triage" in cookie
    assert locked.get("/triage").status_code == 200  # the session cookie


@pytest.mark.parametrize("value", ["\u00c3\u00a9", "a.1.\u00e9", "\u00ff", "a.9999999999.\u00e9\u00e9"])
def test_a_session_cookie_that_is_not_ascii_is_no_session_not_a_500(value):
    """Found over the real server: raw bytes in the cookie reached hmac, which raised. (Without
    its cookie jar, the test client sends the Cookie header as given.)"""
    client = _app(CDS_API_KEYS=KEY).test_client(use_cookies=False)
    cookie = {"Cookie": f"cds_triage={value}"}
    assert client.get("/triage", headers=cookie).status_code == 401
    assert client.post("/triage/evaluate", data={"patient.age_years": "40"}, headers=cookie).status_code == 401


def test_a_name_that_is_no_question_is_named_not_dropped(client):
    """Found over the real server: a misspelt field posted by a script gave a 200 page with a
    level that had never seen it."""
    form = {"patient.age_years": "40", "symptoms.saddle_anesthesia": "yes"}
    response = client.post("/triage", data=form)
    assert response.status_code == 422
    assert "symptoms.saddle_anesthesia: is not a question of this form; not used" in response.get_data(as_text=True)
    live = client.post("/triage/evaluate", data=form).get_data(as_text=True)
    assert "symptoms.saddle_anesthesia: is not a question of this form" in live


def test_a_session_ends_when_its_key_is_removed():
    # one server secret (the form-link key) before and after the key list changes
    locked = _app(CDS_API_KEYS=KEY, CDS_FORM_LINK_KEY=LINK_KEY).test_client()
    locked.post("/triage/signin", data={"key": KEY})
    cookie = locked.get_cookie("cds_triage", path="/triage")
    assert locked.get("/triage").status_code == 200
    same = _app(CDS_API_KEYS=KEY, CDS_FORM_LINK_KEY=LINK_KEY).test_client()
    same.set_cookie("cds_triage", cookie.value, path="/triage")
    assert same.get("/triage").status_code == 200  # the session holds on another worker
    other = _app(CDS_API_KEYS="another-key-for-tests-0987654", CDS_FORM_LINK_KEY=LINK_KEY).test_client()
    other.set_cookie("cds_triage", cookie.value, path="/triage")
    assert other.get("/triage").status_code == 401


def test_a_post_from_another_origin_is_refused(client):
    response = client.post("/triage", data={"patient.age_years": "40"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_a_sealed_prefill_of_the_wrong_type_is_left_out_not_a_500(linked):
    """Defence in depth (found over the real server, with the key): a sealed number that is text."""
    key = linked.config["CDS_SETTINGS"].form_link_key
    token = seal(key, {"patient.age_years": 66, "vitals.heart_rate": "fast", "symptoms.rigors": "yes"}, 900)
    response = linked.test_client().post("/triage/resume", data={"prefill": token})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="_prefilled" value="patient.age_years"' in html and "fast" not in html


def test_a_cards_prefill_opens_marked_from_the_ehr(linked):
    token = seal(linked.config["CDS_SETTINGS"].form_link_key, {"patient.age_years": 66, "symptoms.rigors": True}, 900)
    html = linked.test_client().post("/triage/resume", data={"prefill": token}).get_data(as_text=True)
    assert html.count("From the EHR: check with the caller.") == 2
    assert 'name="_prefilled" value="patient.age_years symptoms.rigors"' in html
    assert 'value="66"' in html


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (lambda key: seal(key, {"patient.age_years": 66}, 900, now=time.time() - 3600), "expired"),
        (lambda key: seal(secrets.token_bytes(32), {"patient.age_years": 66}, 900), "not a form link"),
        (lambda key: "garbage", "not a form link"),
    ],
)
def test_a_bad_or_old_prefill_opens_the_blank_form_and_says_why(linked, token, message):
    key = linked.config["CDS_SETTINGS"].form_link_key
    response = linked.test_client().post("/triage/resume", data={"prefill": token(key)})
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_the_vendored_scripts_are_served_from_here(client):
    for name in ("htmx-2.0.11.min.js", "triage.js", "triage.css"):
        with client.get(f"/triage/static/{name}") as response:
            assert response.status_code == 200


def test_a_cross_site_post_is_refused_and_a_proxy_changing_the_port_is_not():
    client = _app().test_client()
    form = {"patient.age_years": "40"}
    assert client.post("/triage", data=form, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/triage", data=form, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    behind_proxy = {"Origin": "https://localhost:8080"}  # the service sees http://localhost/
    assert client.post("/triage", data=form, headers=behind_proxy).status_code == 200


def test_signing_in_from_a_cards_link_keeps_its_prefill():
    app = _app(CDS_API_KEYS=KEY, CDS_FORM_LINK_KEY=LINK_KEY)
    token = seal(app.config["CDS_SETTINGS"].form_link_key, {"patient.age_years": 66}, 900)
    response = app.test_client().post("/triage/signin", data={"key": KEY, "prefill": token})
    assert response.status_code == 200 and "Set-Cookie" in response.headers
    assert "From the EHR: check with the caller." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "shown"),
    [
        ({"patient.age_years": "unknown", "symptoms.saddle_anaesthesia": "yes"}, "at least EMERGENCY"),
        ({"symptoms.saddle_anaesthesia": "yes", "symptoms.non_blanching_rash": "yes"}, "at least EMERGENCY"),
        ({"patient.age_years": "unknown", "symptoms.reported_fever": "yes"}, "No result yet"),
        ({"patient.age_years": "12", "symptoms.saddle_anaesthesia": "yes"}, "No result yet"),  # out of scope
        # an age the form cannot read, or out of range, is no age (a review: "4O" hid the floor)
        ({"patient.age_years": "4O", "symptoms.saddle_anaesthesia": "yes"}, "at least EMERGENCY"),
        ({"patient.age_years": "200", "symptoms.saddle_anaesthesia": "yes"}, "at least EMERGENCY"),
        ({"patient.age_years": ""}, "No result yet"),
    ],
)
def test_without_an_age_the_page_says_the_level_it_is_at_least(client, form, shown):
    """Found by a triage workflow audit: saddle numbness and a rash with the age not known
    showed "No result yet" and nothing else. The level can only rise with the age (principle 4):
    at the youngest adult age it is a floor, said when it is urgent or an emergency."""
    html = client.post("/triage/evaluate", data=form).get_data(as_text=True)
    banner = html[html.index('id="banner"') : html.index("</div>", html.index('id="banner"'))]
    assert shown in banner
    if "EMERGENCY" in shown:
        assert 'role="alert"' in banner and "an estimate will do" in banner
        floor = client.post(
            "/v1/evaluate", json={"patient": {"age_years": 16}, "symptoms": {"saddle_anaesthesia": True}}
        )
        assert floor.get_json()["disposition"] in banner.replace("&#39;", "'").replace("&amp;", "&")


def test_an_emergency_banner_is_an_alert(client):
    html = client.post("/triage/evaluate", data={"patient.age_years": "40", "symptoms.saddle_anaesthesia": "yes"})
    banner = html.get_data(as_text=True)
    assert re.search(r'<p class="level" role="alert"><strong>Risk: EMERGENCY\.', banner)
    routine = client.post("/triage/evaluate", data={"patient.age_years": "40", "symptoms.reported_fever": "yes"})
    assert 'role="alert"><strong>Risk' not in routine.get_data(as_text=True)


def test_each_not_known_box_is_named_with_its_question(client, catalogue):
    """A triage workflow audit: fourteen boxes a screen reader read as "Not known, checkbox",
    none saying of which question."""
    html = client.get("/triage").get_data(as_text=True)
    named = re.findall(r'> Not known<span class="visually-hidden"> \((.*?)\)</span></label>', html)
    numbers = [q.short for q in catalogue.questions if not q.answers]
    assert sorted(named) == sorted(numbers) and html.count("> Not known<") == len(numbers)


def test_each_question_names_its_guideline(client, catalogue, rulebase):
    """A triage workflow audit: the page showed no source for any question (design 5.2)."""
    html = client.get("/triage").get_data(as_text=True)
    for q in catalogue.questions:
        block = html[html.index(f'id="help-{q.path.replace(".", "-")}"') :]
        label = rulebase.sources[q.source]["label"]
        assert block[: block.index("</p>")].endswith(f"Source: {label}.</span>".replace("&", "&amp;")), q.path


def test_a_question_the_stop_waits_on_says_so_not_could_raise(client):
    """A review: the pain sites, asked because an answer could undo the urinary infection
    raised now, read "Could raise: urinary infection (up to URGENT)"."""
    enc = json.loads((ROOT / "tests/fixtures/interview/dysuria-all-but-sites.json").read_text())
    form = [
        (f"{s}.{n}", {True: "yes", False: "no"}.get(v, str(v)) if isinstance(v, bool) else str(v))
        for s, members in enc.items()
        for n, v in members.items()
    ]
    from werkzeug.datastructures import MultiDict

    html = client.post("/triage/evaluate", data=MultiDict(form)).get_data(as_text=True)
    reach = re.search(r'id="reach-pain-sites"[^>]*>(.*?)</p>', html, re.S)[1]
    assert reach == "Could change what is raised now: urinary infection; needed before the call can stop."
