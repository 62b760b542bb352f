// One message as a list item: its head built with createElement and textContent, its body the
// Markdown renderer's output, and its conversation parts (reply quote, reactions, replies).
import MarkdownIt from "markdown-it";
import { markdownRenderer } from "../markdown.js";
import { fullDate } from "../time.js";
import { el, hueFor } from "../ui.js";
import { attachmentList } from "./attachment-view.js";
import { conversationParts } from "./conversation.js";
import { me } from "./page.js";

export function avatar(username) {
  const node = el("span", "avatar");
  node.setAttribute("aria-hidden", "true");
  node.dataset.initial = username.slice(0, 1).toUpperCase();
  node.style.setProperty("--hue", hueFor(username));
  return node;
}

// Bodies are Markdown, rendered by static/js/markdown.js (markdown-it with raw HTML off: what
// it writes is escaped text and a few safe elements, tested in tests/js and fuzzed).
const markdown = markdownRenderer(MarkdownIt);

/** Render a Markdown body into `node`; whether it @mentions the viewer. */
export function renderBody(node, text) {
  const { html, mentions } = markdown.render(text, { me });
  node.innerHTML = html.trim(); // markdown-it's output: see the note above
  return mentions.some((name) => name.toLowerCase() === me.toLowerCase());
}

/** The <li> for a message; `sending`: one's own, not yet acknowledged (no seq, no actions). */
export function messageItem(message, { sending = false } = {}) {
  const username = message.author.username;
  const item = el("li", "message");
  if (username === me) item.classList.add("mine");
  if (sending) item.classList.add("sending");
  item.dataset.author = username;
  item.dataset.ts = message.created_at;
  if (message.seq) {
    item.dataset.seq = message.seq;
    item.id = `seq-${message.seq}`;
  }

  const row = el("div", "msg");
  const head = el("div", "message-head");
  head.append(el("span", "author", username));
  const when = el("time", "when", sending ? "sending…" : "");
  if (!sending) {
    when.dateTime = message.created_at;
    when.title = fullDate(new Date(message.created_at));
  }
  head.append(when);
  if (message.edited_at && !message.deleted) {
    const edited = el("span", "edited", "(edited)");
    edited.title = `Edited ${fullDate(new Date(message.edited_at))}`;
    head.append(edited);
  }

  const body = el("div", "body markdown");
  if (message.deleted) {
    item.classList.add("deleted");
    body.textContent = "This message was deleted.";
  } else if (renderBody(body, message.body) && username !== me) {
    item.classList.add("mentions-me");
  }
  const { quote, after } = conversationParts(message, { sending });
  row.append(avatar(username), head);
  if (quote) row.append(quote);
  row.append(body);
  const files = attachmentList(message);
  if (files) row.append(files);
  row.append(...after);
  item.append(row);
  return item;
}
