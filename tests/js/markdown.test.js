// The Markdown renderer of message bodies (static/js/markdown.js): CommonMark, and safe.
import assert from "node:assert/strict";
import { test } from "node:test";

import MarkdownIt from "markdown-it";

import { LINK_REL, markdownRenderer } from "../../static/js/markdown.js";

const { render } = markdownRenderer(MarkdownIt);
const html = (source, options) => render(source, options).html;

test("CommonMark emphasis, inline code and code blocks render as such", () => {
  assert.equal(html("**bold** and _it_"), "<p><strong>bold</strong> and <em>it</em></p>\n");
  assert.equal(html("use `x < y`"), "<p>use <code>x &lt; y</code></p>\n");
  assert.equal(
    html("```js\nlet a = '<b>';\n```"),
    "<pre><code class=\"language-js\">let a = '&lt;b&gt;';\n</code></pre>\n",
  );
});

test("raw HTML is shown as text, never as markup", () => {
  assert.equal(html("<script>alert(1)</script>"), "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
  assert.equal(html('<img src=x onerror="alert(1)">'), "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>\n");
  assert.equal(html("<b>hi</b>"), "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n");
});

test("links open apart with rel noopener nofollow; bare http(s) URLs are links", () => {
  assert.equal(
    html("[docs](https://example.com/a?b=1&c=2)"),
    `<p><a href="https://example.com/a?b=1&amp;c=2" rel="${LINK_REL}" target="_blank">docs</a></p>\n`,
  );
  assert.match(html("see https://example.com/x"), /<a href="https:\/\/example.com\/x" rel="noopener nofollow"/);
  assert.doesNotMatch(html("mail bob@example.com or example.com"), /<a /);
});

test("javascript:, vbscript: and data: links are dropped, however they are spelled", () => {
  for (const url of [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript&colon;alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    " javascript:alert(1)",
  ]) {
    const out = html(`[click](${url}) <${url}>`);
    assert.doesNotMatch(out, /href=/, url);
  }
});

test("images are not loaded: the syntax stays a plain link", () => {
  assert.doesNotMatch(html("![pixel](https://tracker.example/p.gif)"), /<img/);
});

test("mentions highlight, the viewer's own marked, none inside code or words", () => {
  const { html: out, mentions } = render("hi @bob and @Alice, `@carol` mail a@b.c", { me: "alice" });
  assert.equal(
    out,
    '<p>hi <span class="mention">@bob</span> and <span class="mention me">@Alice</span>, <code>@carol</code> mail a@b.c</p>\n',
  );
  assert.deepEqual(mentions, ["bob", "Alice"]);
  assert.equal(html("**@bob**"), '<p><strong><span class="mention">@bob</span></strong></p>\n');
  assert.equal(html("@<b>"), "<p>@&lt;b&gt;</p>\n");
});

test("a new line is a line break, as people type in chat", () => {
  assert.equal(html("one\ntwo"), "<p>one<br>\ntwo</p>\n");
});

test("a link to a page of this site opens in the same tab", () => {
  const { html } = render("[join the game](/games/12/)");
  assert.equal(html, `<p><a href="/games/12/" rel="${LINK_REL}">join the game</a></p>\n`);
});
