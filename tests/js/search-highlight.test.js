import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSize, highlightParts, hitUrl, unescapeHtml } from "../../static/js/search-highlight.js";

test("a highlight splits into marked and plain text parts", () => {
  assert.deepEqual(highlightParts("we <mark>deploy</mark> at <mark>noon</mark>"), [
    { text: "we ", mark: false },
    { text: "deploy", mark: true },
    { text: " at ", mark: false },
    { text: "noon", mark: true },
  ]);
});

test("escaped markup stays text and is unescaped once", () => {
  const parts = highlightParts("&lt;script&gt;<mark>alert</mark>(&quot;x&quot;) &amp;amp; &#x27;");
  assert.deepEqual(parts, [
    { text: "<script>", mark: false },
    { text: "alert", mark: true },
    { text: '("x") &amp; \'', mark: false },
  ]);
  assert.equal(unescapeHtml("&amp;lt;"), "&lt;");
});

test("a hit opens its room at its seq", () => {
  assert.equal(hitUrl({ room: { slug: "ops team" }, message: { seq: 42 } }), "/rooms/ops%20team/#seq-42");
});

test("sizes read as people write them", () => {
  assert.equal(formatSize(512), "512 B");
  assert.equal(formatSize(2560), "2.5 KB");
  assert.equal(formatSize(10 * 1024 * 1024), "10 MB");
});
