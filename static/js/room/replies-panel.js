// The replies panel: one message's replies (GET .../messages/<id>/replies/), live as they
// come, with a box to reply from. A non-modal dialog beside the list: it takes the focus when
// opened, Escape or "Close replies" closes it and gives the focus back to what opened it.
import { api } from "../api.js";
import { newClientId } from "../outbox.js";
import { fullDate } from "../time.js";
import { el } from "../ui.js";
import { messageById, quoteText } from "./conversation.js";
import { renderBody } from "./message-view.js";
import { apiBase, conn, socket } from "./page.js";

const panel = document.getElementById("replies-panel");
const parentBox = document.getElementById("replies-parent");
const list = document.getElementById("replies-list");
const form = document.getElementById("replies-form");
const input = document.getElementById("reply-input");
const status = document.getElementById("replies-status");

let open = null; // {id, opener}

function replyItem(message) {
  const item = el("li", "reply");
  item.dataset.seq = message.seq;
  const head = el("div", "message-head");
  head.append(el("span", "author", message.author.username));
  const when = el("time", "when", fullDate(new Date(message.created_at)));
  when.dateTime = message.created_at;
  head.append(when);
  const body = el("div", "body markdown");
  if (message.deleted) body.textContent = "This message was deleted.";
  else renderBody(body, message.body);
  item.append(head, body);
  return item;
}

function showReply(message) {
  const item = replyItem(message);
  const previous = list.querySelector(`[data-seq="${message.seq}"]`);
  if (previous) return previous.replaceWith(item);
  const after = [...list.children].find((node) => Number(node.dataset.seq) > message.seq);
  list.insertBefore(item, after ?? null);
  status.textContent = `${list.children.length} repl${list.children.length === 1 ? "y" : "ies"}`;
}

/** Open the panel on `message`'s replies; `opener` gets the focus back on close. */
export async function openReplies(message, opener) {
  open = { id: message.id, opener };
  panel.hidden = false;
  parentBox.textContent = quoteText(messageById(message.id) ?? message);
  list.replaceChildren();
  status.textContent = "Loading replies…";
  input.disabled = conn.ended;
  input.focus();
  const result = await api("GET", `${apiBase}/messages/${message.id}/replies/`);
  if (open?.id !== message.id) return;
  if (!result.ok) {
    status.textContent = result.error;
    return;
  }
  for (const reply of result.data) showReply(reply);
  if (!result.data.length) status.textContent = "No replies yet.";
}

export function closeReplies() {
  if (!open) return;
  const { opener } = open;
  open = null;
  panel.hidden = true;
  list.replaceChildren();
  const target = opener?.isConnected ? opener : document.getElementById("message-input");
  target?.focus();
}

/** A message or message.updated from the room: shown here if it replies to the open one. */
export function replyFrame(message) {
  if (open && message?.reply_to === open.id) showReply(message);
}

/** The room ended for this page. */
export function closeRepliesComposer() {
  input.disabled = true;
}

function sendReply() {
  const body = input.value;
  if (!open || !body.trim() || input.disabled) return;
  // Through the outbox like the main composer: it survives a reconnect, stored once.
  socket.sendOutbox({ type: "message.send", body, client_id: newClientId(), reply_to: open.id });
  input.value = "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  sendReply();
  input.focus();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendReply();
  }
});
panel.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.defaultPrevented) {
    event.preventDefault();
    closeReplies();
  }
});
document.getElementById("replies-close").addEventListener("click", closeReplies);
