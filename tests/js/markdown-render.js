// A long-lived renderer for tests/chat/test_markdown_fuzz.py: reads one JSON object per line
// ({"source", "me"}) on stdin and writes {"html"} per line on stdout, rendered by the page's
// own static/js/markdown.js (no test double of it).
import process from "node:process";
import { createInterface } from "node:readline";

import MarkdownIt from "markdown-it";

import { markdownRenderer } from "../../static/js/markdown.js";

const { render } = markdownRenderer(MarkdownIt);
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  const { source, me } = JSON.parse(line);
  process.stdout.write(`${JSON.stringify({ html: render(source, { me }).html })}\n`);
}
