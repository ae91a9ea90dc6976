"""Text from an EHR shown on a card (a display, an id, a unit) renders as itself: rendered by a
GitHub-flavoured markdown renderer, it makes no link, image, HTML element or line of its own,
and hides none of its visible characters."""

import html
import re
import unicodedata

import cmarkgfm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.hooks.cards import markdown_text

ATTACKS = [
    "Sepsis see https://3232235777/x",
    "http://localhost:8080/reset",
    "www.evil.com/path",
    "me@evil.com",
    "mailto:a@b.c",
    "xmpp:foo@bar.com",
    "[x](javascript:alert(1))",
    "![i](https://e.vil/p.png)",
    "<img src=x onerror=alert(1)>",
    "<https://evil.com>",
    "Sepsis\u202e moc.live",
    "line\n# heading\n- item",
    "**bold** _it_ `code` ~~s~~ | a | b |",
    "&lt;script&gt; &#64;",
    "    indented as code",  # found by a seed of the property below: four spaces made a code block
]


def rendered(text: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(f"- {markdown_text(text)}")


def visible(text: str) -> str:
    return "".join(ch for ch in re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text) if unicodedata.category(ch) != "Cf")


def check(text: str) -> None:
    out = rendered(text)
    assert out.count("<") == 4, out  # only <ul>, <li> and their ends: no element of its own
    inner = re.fullmatch(r"<ul>\s*<li>(.*)</li>\s*</ul>\s*", out, re.S)
    assert inner is not None, out
    # a run of spaces shows as one in HTML, and is sent as one
    assert html.unescape(inner[1]).replace("\u200d", "") == re.sub(" +", " ", visible(text)).strip(" ")


@pytest.mark.parametrize("text", ATTACKS)
def test_known_attacks_render_as_their_own_text(text):
    check(text)


# characters markdown and autolinks read, mixed with letters and invisible format characters
ALPHABET = st.sampled_from([*"abc:/@.<>[]()!*_`~#+-|&;\\ \n\u202e\u200dwhtps", "www.", "https://", "&#64;"])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_any_text_renders_as_itself(text):
    if visible(text).strip():
        check(text)
