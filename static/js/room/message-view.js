// One message as a list item. Bodies go in as text, never as HTML: every piece of a message is
// built with createElement and textContent.
import { fullDate } from "../time.js";
import { el, hueFor } from "../ui.js";
import { attachmentList } from "./attachment-view.js";
import { me } from "./page.js";

export function avatar(username) {
  const node = el("span", "avatar");
  node.setAttribute("aria-hidden", "true");
  node.dataset.initial = username.slice(0, 1).toUpperCase();
  node.style.setProperty("--hue", hueFor(username));
  return node;
}

// Links (http and https only) and @mentions become elements whose text is set with textContent;
// everything else is a text node. Nothing in a body is ever parsed as HTML.
const TOKEN = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}])|(?<![\w@])(@[\w.+-]*[\w+-])/g;

function bodyNodes(body) {
  const nodes = [];
  let last = 0;
  for (const match of body.matchAll(TOKEN)) {
    if (match.index > last) nodes.push(document.createTextNode(body.slice(last, match.index)));
    const [text, url, mention] = match;
    if (url) {
      let href = null;
      try {
        const parsed = new URL(url);
        if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
      } catch {
        href = null;
      }
      if (href) {
        const link = el("a", "link", text);
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
        nodes.push(link);
      } else {
        nodes.push(document.createTextNode(text));
      }
    } else {
      const tag = el("span", "mention", mention);
      if (mention.slice(1).toLowerCase() === me.toLowerCase()) tag.classList.add("me");
      nodes.push(tag);
    }
    last = match.index + text.length;
  }
  if (last < body.length) nodes.push(document.createTextNode(body.slice(last)));
  return nodes;
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

  const body = el("p", "body");
  if (message.deleted) {
    item.classList.add("deleted");
    body.textContent = "This message was deleted.";
  } else {
    const nodes = bodyNodes(message.body);
    body.append(...nodes);
    if (username !== me && nodes.some((node) => node.classList?.contains("me"))) {
      item.classList.add("mentions-me");
    }
  }
  row.append(avatar(username), head, body);
  const files = attachmentList(message);
  if (files) row.append(files);
  item.append(row);
  return item;
}
