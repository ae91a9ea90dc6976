"""The nurse's page in a real browser: Debian's Chromium driven by Playwright against the real
server (gunicorn, started here on loopback and stopped by PID). A keyboard-only walk through a
cauda equina case, a benign flu case to self-care, "Don't know" keeping a condition open, the
page without JavaScript, and an axe scan (WCAG 2.0/2.1/2.2 A and AA). A screenshot of each end
state goes to build/test-output/browser/."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from cds.form_link import seal
from tests.common.paths import ROOT
from tests.common.servers import gunicorn
from tests.common.vignettes import VIGNETTES

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "test-output" / "browser"
AXE = Path(__file__).with_name("axe-4.14.1.min.js")
# what Chromium needs to start as root in a container with no network (docs/testing.md)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run", "--disable-quic"]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("Debian's chromium is missing: scripts/system-deps installs it")
    pytest.skip("Debian's chromium is not installed (scripts/system-deps installs it)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

pytestmark = pytest.mark.slow


LINK_KEY = secrets.token_bytes(32)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    env = {"CDS_FORM_LINK_KEY": base64.urlsafe_b64encode(LINK_KEY).rstrip(b"=").decode()}
    with gunicorn(tmp_path_factory.mktemp("browser"), workers=2, env=env) as (_, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, base_url):
    """A page under the service's Content-Security-Policy, as a nurse's browser enforces it:
    the vendored scripts run, nothing inline does."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not refused, refused


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def banner(page: Page):
    return page.locator("#banner-region")


def group(page: Page, path: str):
    return page.locator(f"#q-{path.replace('.', '-')}")


def answer(page: Page, path: str, value) -> None:
    """Give one answer with the mouse-free Playwright actions (check, fill) on the labelled control."""
    q = group(page, path)
    if isinstance(value, bool):
        q.get_by_role("radio", name="Yes" if value else "No", exact=True).check()
    elif isinstance(value, list):
        for item in value:
            q.locator(f"input[type=checkbox][value='{item}']").check()
    elif isinstance(value, str):
        q.locator(f"input[type=radio][value='{value}']").check()
    else:
        q.get_by_role("textbox").fill(f"{value:g}")
        q.get_by_role("textbox").dispatch_event("change")


def answer_all(page: Page, encounter: dict) -> None:
    """Give every answer of an encounter (pain.sites_partial has no question: the form's list is whole)."""
    for section, members in encounter.items():
        if isinstance(members, dict):
            for name, value in members.items():
                if value is not None and f"{section}.{name}" != "pain.sites_partial":
                    answer(page, f"{section}.{name}", value)


def contradiction_then_emergency(page: Page) -> None:
    """A call with two answers that contradict each other (no new weakness, getting worse), then
    saddle numbness with retention: a problem shown and an emergency."""
    page.goto("/triage")
    answer(page, "patient.age_years", 45)
    answer(page, "symptoms.leg_weakness", "none")
    answer(page, "symptoms.leg_weakness_progressive", True)
    expect(page.locator("#errors")).to_contain_text("contradict each other")
    answer(page, "symptoms.saddle_anaesthesia", True)
    answer(page, "symptoms.urinary_retention", True)
    expect(banner(page)).to_contain_text("EMERGENCY")


def tab_to(page: Page, locator, limit: int = 500) -> None:
    """Press Tab until `locator` has the focus: the keyboard's way to a control."""
    for _ in range(limit):
        if locator.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError("Tab never reached the control")


def test_a_keyboard_only_walk_through_cauda_equina_reaches_emergency(page):
    page.goto("/triage")
    tab_to(page, page.locator("#in-patient-age_years"))
    page.keyboard.type("44")
    page.keyboard.press("Tab")  # leaving the field commits it (change)
    expect(banner(page)).to_contain_text("ROUTINE")
    # the saddle numbness group: Tab lands on its chosen radio ("Not asked"); the arrow keys
    # move round the group and choose, from the last to the first: Yes
    saddle = group(page, "symptoms.saddle_anaesthesia")
    tab_to(page, saddle.get_by_role("radio", name="Not asked", exact=True))
    page.keyboard.press("ArrowRight")
    expect(saddle.get_by_role("radio", name="Yes", exact=True)).to_be_checked()
    expect(banner(page)).to_contain_text("EMERGENCY")
    expect(banner(page)).to_contain_text("Cord compression: raised")
    # focus stayed where the nurse was: the update swapped the banner, not the form
    assert saddle.get_by_role("radio", name="Yes", exact=True).evaluate("e => e === document.activeElement")
    expect(page.locator("#note")).to_contain_text("Risk level: EMERGENCY")
    expect(page.locator("#note")).to_contain_text("CC-")
    shot(page, "cauda-equina-emergency")


def test_a_benign_flu_case_reaches_self_care_once_the_screen_is_complete(page):
    page.goto("/triage")
    answer_all(page, VIGNETTES["D01"]["encounter"])
    expect(banner(page)).to_contain_text("SELF-CARE")
    expect(banner(page)).to_contain_text("The self-care screen is complete")
    expect(page.locator("#summary")).to_contain_text("Saddle numbness")
    shot(page, "flu-self-care")


def test_dont_know_keeps_a_condition_not_excluded(page):
    page.goto("/triage")
    answer_all(page, VIGNETTES["D01"]["encounter"])
    expect(banner(page)).to_contain_text("SELF-CARE")
    saddle = group(page, "symptoms.saddle_anaesthesia")
    saddle.get_by_role("radio", name="Don't know", exact=True).check()
    expect(banner(page)).not_to_contain_text("SELF-CARE")
    expect(banner(page)).to_contain_text("Cord compression: not excluded")
    expect(saddle.locator(".reach")).to_contain_text("Not known, so not excluded")
    expect(page.locator("#note")).to_contain_text("Asked, not known: Saddle numbness")
    shot(page, "dont-know-not-excluded")


def test_the_page_works_without_javascript(browser, base_url):
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/triage")
    page.locator("#in-patient-age_years").fill("61")
    group(page, "symptoms.urinary_retention").get_by_role("radio", name="Yes", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Update the triage", exact=True).click()
    expect(banner(page)).to_contain_text("EMERGENCY")
    assert "?" not in page.url  # answers travel in the body, never in the address
    shot(page, "no-javascript-emergency")
    context.close()


def test_axe_finds_no_wcag_violation(browser, base_url):
    context = browser.new_context(base_url=base_url, bypass_csp=True)  # to inject axe itself
    page = context.new_page()
    page.goto("/triage")
    answer(page, "patient.age_years", 44)
    answer(page, "symptoms.reported_fever", True)
    expect(banner(page)).to_contain_text("Risk:")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})).violations"
        ".map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    assert found == [], found
    shot(page, "axe-scanned")
    context.close()


def test_a_cards_link_opens_the_form_prefilled_and_leaves_no_answers_in_the_address(page):
    token = seal(LINK_KEY, {"patient.age_years": 67, "symptoms.reported_fever": True}, 900)
    page.goto(f"/triage#prefill={token}")
    expect(page.locator("#q-symptoms-reported_fever .prefilled")).to_be_visible()
    expect(banner(page)).to_contain_text("Risk:")
    assert "prefill" not in page.url and "#" not in page.url
    assert page.evaluate("() => window.history.length") <= 2  # the token is not kept in the history
    # Enter on an EHR answer left as it was does not make it the caller's (a review)
    group(page, "patient.age_years").get_by_role("textbox").press("Enter")
    expect(page.locator("input[name=_prefilled]")).to_have_value("patient.age_years symptoms.reported_fever")
    # an answer from the EHR the nurse changes is no longer marked as the EHR's
    group(page, "symptoms.reported_fever").get_by_role("radio", name="No", exact=True).check()
    expect(page.locator("#q-symptoms-reported_fever .prefilled")).to_have_count(0)
    expect(page.locator("input[name=_prefilled]")).to_have_value("patient.age_years")


def test_the_note_copied_has_the_answer_typed_just_before(browser, base_url):
    """Found by a triage workflow audit: a heart rate typed and "Copy the note" clicked at once
    copied the note of before, ROUTINE and no heart rate; the page then turned EMERGENCY."""
    context = browser.new_context(base_url=base_url, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto("/triage")
        answer(page, "patient.age_years", 40)
        answer(page, "symptoms.reported_fever", True)
        expect(banner(page)).to_contain_text("ROUTINE")
        group(page, "vitals.heart_rate").get_by_role("textbox").fill("135")  # no change event yet
        page.get_by_role("button", name="Copy the note", exact=True).click()
        expect(page.locator("#copy-status")).to_have_text("Copied.")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert "Heart rate: 135 beats per minute" in copied
        level = banner(page).inner_text()
        assert "EMERGENCY" in level and "EMERGENCY" in copied
        # an update that fails: the note copied says it leaves out the answer (a review: it
        # said "Copied." of the note of before)
        page.route("**/triage/evaluate", lambda route: route.abort())
        group(page, "vitals.heart_rate").get_by_role("textbox").fill("72")
        page.get_by_role("button", name="Copy the note", exact=True).click()
        expect(page.locator("#copy-status")).to_have_text(
            "Copied, but the note leaves out your latest answers: the last update failed."
        )
    finally:
        context.close()


def test_enter_in_an_answer_updates_the_triage_and_keeps_the_focus(page):
    """A triage workflow audit: Enter in a box submitted the whole page, which came back with
    the focus at its top."""
    page.goto("/triage")
    answer(page, "patient.age_years", 40)
    box = group(page, "vitals.heart_rate").get_by_role("textbox")
    box.fill("135")
    page.evaluate("window.samePage = true")  # gone if the page is posted and loaded again
    box.press("Enter")
    expect(banner(page)).to_contain_text("EMERGENCY")
    assert page.evaluate("window.samePage === true")
    assert box.evaluate("e => e === document.activeElement")


def test_a_contradiction_is_shown_and_the_other_answers_still_update_the_banner(page):
    """Found driving the page: "no new weakness" beside "getting worse" made every update a 422
    that htmx did not swap, and saddle numbness with retention left the banner on ROUTINE."""
    contradiction_then_emergency(page)
    expect(page).to_have_title("EMERGENCY: Back pain triage")
    shot(page, "contradiction-shown")


PAGE_KEY = "browser-page-key-1234567890"


@pytest.fixture(scope="module")
def locked_url(tmp_path_factory):
    with gunicorn(tmp_path_factory.mktemp("locked"), workers=1, env={"CDS_API_KEYS": PAGE_KEY}) as (_, port):
        yield f"http://127.0.0.1:{port}"


def test_a_sign_in_that_ends_mid_call_says_the_level_is_out_of_date_and_keeps_the_answers(browser, locked_url):
    """Found driving the page: once the session ended, each update got a 401 that htmx did not
    show, the banner stayed on ROUTINE through an emergency's answers, and signing in again
    opened a blank form."""
    context = browser.new_context(base_url=locked_url)
    page = context.new_page()
    page.goto("/triage")
    page.locator("#key").fill(PAGE_KEY)
    page.get_by_role("button", name="Sign in", exact=True).click()
    answer(page, "patient.age_years", 45)
    expect(banner(page)).to_contain_text("ROUTINE")
    context.clear_cookies()  # the session ends: eight hours, a removed key, a restarted server
    answer(page, "symptoms.saddle_anaesthesia", True)
    answer(page, "symptoms.urinary_retention", True)
    expect(page.locator("#stale")).to_contain_text("Your sign-in has ended")
    expect(page).to_have_title("Out of date: Back pain triage")
    page.get_by_role("button", name="Update the triage", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("the answers you gave are kept")
    page.locator("#key").fill(PAGE_KEY)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(banner(page)).to_contain_text("EMERGENCY")
    expect(group(page, "patient.age_years").get_by_role("textbox")).to_have_value("45")
    expect(page.locator("#stale")).to_be_hidden()
    shot(page, "signed-in-again-answers-kept")
    context.close()


def test_leaving_a_call_with_answers_asks_first_and_errors_show_beside_their_question(page):
    """Found driving the page: a reload lost every answer without a word, and with JavaScript on
    an out-of-range number's error showed only in the summary at the top."""
    page.goto("/triage")
    answer(page, "patient.age_years", 45)
    answer(page, "vitals.heart_rate", 400)
    expect(page.locator("#err-vitals-heart_rate")).to_contain_text("between 20 and 250")
    answer(page, "vitals.heart_rate", 90)
    expect(page.locator("#err-vitals-heart_rate")).to_have_count(0)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    with pytest.raises(PlaywrightTimeout):  # the nurse said stay: no reload happens
        page.reload(timeout=3000)
    assert asked == ["beforeunload"]
    expect(group(page, "patient.age_years").get_by_role("textbox")).to_have_value("45")  # stayed


def test_back_to_the_blank_form_does_not_bring_back_the_last_calls_answers(page):
    """Found in a second audit: after "Update the triage", Back showed "No result yet" with the
    last call's radios still ticked (Chromium puts back form state), and the next caller's age
    would have been evaluated with them."""
    page.goto("/triage")
    answer(page, "patient.age_years", 50)
    answer(page, "symptoms.urinary_retention", True)
    expect(banner(page)).to_contain_text("EMERGENCY")
    page.get_by_role("button", name="Update the triage", exact=True).click()
    expect(banner(page)).to_contain_text("EMERGENCY")
    page.on("dialog", lambda dialog: dialog.accept())
    page.go_back()
    expect(banner(page)).to_contain_text("No result yet")
    retention = group(page, "symptoms.urinary_retention")
    expect(retention.get_by_role("radio", name="Yes", exact=True)).not_to_be_checked()


def test_an_alert_that_comes_back_unchanged_is_not_put_in_the_page_again(page):
    """A triage workflow audit: every update put the error summary and the emergency banner back,
    and a screen reader announces an alert each time one is put in the page, so an emergency or
    a problem was announced again at every answer. An alert is announced when it appears or its
    words change."""
    contradiction_then_emergency(page)
    alerts = page.get_by_role("alert")
    expect(alerts).to_have_count(2)  # the problem and the emergency, each announced once
    page.evaluate("window.shown = Array.from(document.querySelectorAll('[role=alert]:not([hidden])'))")
    # an answer that changes neither: both stay in place, not announced again
    answer(page, "symptoms.cough", True)
    expect(page.locator("#note")).to_contain_text("Cough: Yes")
    same = "Array.from(document.querySelectorAll('[role=alert]:not([hidden])')).every((e, i) => e === window.shown[i])"
    assert page.evaluate(f"document.querySelectorAll('[role=alert]:not([hidden])').length === 2 && {same}")
    # an answer that changes the banner's other lines but not the level or what to do: the banner
    # is new, its level line is no longer an alert (the live region still reads the change)
    level = page.locator("#banner .level").text_content()
    answer(page, "symptoms.breathlessness", True)  # another serious cause: urgent, below the emergency
    expect(banner(page)).to_contain_text("Other serious cause: raised")
    expect(page.locator("#banner .level")).to_have_text(level)
    expect(page.locator("#banner .level")).not_to_have_attribute("role", "alert")
    expect(page.locator("#errors .error-summary")).to_have_attribute("role", "alert")
    # and an answer that changes neither again: the banner without its alert role stays in place
    page.evaluate("window.shown = [document.getElementById('banner'), document.getElementById('errors')]")
    answer(page, "symptoms.sore_throat", True)
    expect(page.locator("#note")).to_contain_text("Sore throat: Yes")
    kept = (
        "document.getElementById('banner') === window.shown[0] && document.getElementById('errors') === window.shown[1]"
    )
    assert page.evaluate(kept)
    # the problem resolved and a new one: the new one is announced
    answer(page, "symptoms.leg_weakness", "unilateral")
    answer(page, "vitals.heart_rate", 400)
    expect(page.locator("#errors")).to_contain_text("between 20 and 250")
    expect(page.locator("#errors .error-summary")).to_have_attribute("role", "alert")


def test_without_javascript_a_page_with_a_problem_opens_on_the_problem(browser, base_url):
    """A triage workflow audit: without JavaScript, "Update the triage" brought the page back
    with the focus at its top, past the banner, whatever was wrong. A problem now takes the
    focus, as it does where the page loads whole with JavaScript; an update in place never
    moves it (the focus stays in the answer being given)."""
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/triage")
    page.locator("#in-patient-age_years").fill("45")
    group(page, "vitals.heart_rate").get_by_role("textbox").fill("400")
    with page.expect_navigation():
        page.get_by_role("button", name="Update the triage", exact=True).click()
    summary = page.locator("#errors .error-summary")
    expect(summary).to_contain_text("between 20 and 250")
    assert summary.evaluate("e => e === document.activeElement")
    context.close()
