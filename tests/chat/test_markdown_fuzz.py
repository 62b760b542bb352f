"""Fuzzing the page's Markdown renderer (static/js/markdown.js), run by node as the page runs it:
no input, however crafted, puts a script, an event handler or a javascript: URL on the page.

The output is parsed with html.parser, as a browser tokenizes it (entities decoded in attribute
values), and checked element by element; it is never regexed.
"""

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
RENDERER = ROOT / "tests" / "js" / "markdown-render.js"

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster"}
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span",
}  # fmt: skip
# What browsers strip from a URL before reading its scheme: controls, whitespace.
IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")


class Renderer:
    """One node process, rendering one JSON line at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", str(RENDERER)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, encoding="utf-8",
        )  # fmt: skip

    def render(self, source: str, me: str = "alice") -> str:
        self.process.stdin.write(json.dumps({"source": source, "me": me}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the renderer died"
        return json.loads(line)["html"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def renderer():
    running = Renderer()
    yield running
    running.close()


class Elements(HTMLParser):
    """Every start tag and its attributes, entities decoded as a browser decodes them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_safe(html: str) -> None:
    parser = Elements()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert not name.startswith("on"), (name, html)
            assert name not in {"style", "srcdoc"}, (name, html)
            if name in URL_ATTRIBUTES:
                scheme = IGNORED_IN_SCHEME.sub("", value or "").lower()
                assert not scheme.startswith(("javascript:", "vbscript:", "data:")), (value, html)
        if tag == "a":
            assert dict(attrs).get("rel") == "noopener nofollow", html


# Pieces an attacker would combine: tags, handlers, schemes spelled every way, Markdown syntax.
PIECES = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>", "javascript:alert(1)", "JaVaScRiPt:", "java\tscript:",
    "java\nscript:", "&#106;avascript:", "&#x6A;avascript:", "javascript&colon;", "&#0000106",
    "vbscript:", "data:text/html,<script>", " ", "\n", "\t", "\x00", "[", "]", "(", ")", "<", ">",
    "](", "![", "`", "```", "*", "_", "**", "~~", "#", "> ", "- ", "1. ", "|", "---", "\\", "\"",
    "'", "&", "&amp;", "&lt;", "@", "@bob", "onclick=", "onerror=\"x\"", "style=", "http://",
    "https://example.com/", "<", "%6A%61vascript:", "\u200b", "\ufeff", "<!--", "-->", "<![CDATA[",
    "<http://x>", "<javascript:alert(1)>", "[a]: javascript:alert(1)\n\n[a]", "[x][a]",
]  # fmt: skip

sources = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=24).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=16).map("".join),
    st.text(max_size=200),
)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=sources)
def test_no_input_puts_script_handlers_or_script_urls_on_the_page(renderer, source):
    assert_safe(renderer.render(source))


def test_the_checks_catch_what_they_look_for():
    """The oracle itself: each unsafe shape fails it (else the fuzz proves nothing)."""
    for unsafe in (
        "<script>alert(1)</script>",
        '<p onclick="x">a</p>',
        '<a href="java&#x0A;script:alert(1)" rel="noopener nofollow">x</a>',
        '<a href=" JAVASCRIPT:alert(1)" rel="noopener nofollow">x</a>',
        '<a href="https://example.com">no rel</a>',
        '<img src="x">',
    ):
        with pytest.raises(AssertionError):
            assert_safe(unsafe)


def test_known_attacks_render_as_text_and_links_stay_links(renderer):
    assert renderer.render("<script>alert(1)</script>") == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )
    assert "<a" not in renderer.render("[x](javascript:alert(1))")
    link = renderer.render("[docs](https://example.com)")
    assert link == (
        '<p><a href="https://example.com" rel="noopener nofollow" target="_blank">docs</a></p>\n'
    )
