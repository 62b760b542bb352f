// Replies and reactions on the messages of the list (CONTRACT.md §9): the quote of a reply's
// parent, the reaction chips, the reply count that opens the replies panel, and the buttons
// that start a reply or a reaction.
import { el } from "../ui.js";
import { openPicker } from "./emoji-picker.js";
import { messages, rendered } from "./list-state.js";
import { conn, me, socket } from "./page.js";
import { openReplies } from "./replies-panel.js";

// Frames from two processes may cross on the way: a reactions list is kept only if its version
// is newer, and a reply count only ever grows (replies are never uncounted).
const latest = new Map(); // message id -> {version, reactions}
const counts = new Map(); // message id -> the highest reply count seen

export function messageById(id) {
  for (const message of messages.values()) if (message.id === id) return message;
  return null;
}

/** A short plain-text quote of a message (no Markdown: a quote is a hint, not the message). */
export function quoteText(message) {
  if (!message) return "an earlier message";
  if (message.deleted) return `${message.author.username}: (deleted)`;
  const flat = message.body
    .replace(/[*_`~]+/g, "")
    .replace(/\s+/g, " ")
    .trim(); // Markdown marks off
  return `${message.author.username}: ${flat.length > 120 ? `${flat.slice(0, 119)}…` : flat}`;
}

function replyQuote(parentId) {
  const quote = el("div", "reply-quote");
  quote.append(
    el("span", "visually-hidden", "Reply to "),
    el("span", "reply-quote-text", quoteText(messageById(parentId))),
  );
  quote.dataset.parent = parentId;
  return quote;
}

function chipLabel({ emoji, count, users }) {
  return `${emoji} ${count}: ${users.join(", ")}`;
}

function toggle(message, emoji) {
  if (conn.ended) return;
  const mine = reactionsOf(message).some((r) => r.emoji === emoji && r.users.includes(me));
  socket.send({ type: mine ? "reaction.remove" : "reaction.add", id: message.id, emoji });
}

function reactionsOf(message) {
  return latest.get(message.id)?.reactions ?? message.reactions ?? [];
}

function actionButton(className, label, text) {
  const button = el("button", `ghost small-button ${className}`, text);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.title = label;
  return button;
}

function conversationBar(message) {
  const bar = el("div", "conversation-bar");
  bar.dataset.id = message.id;
  const chips = el("div", "reactions");
  chips.setAttribute("role", "group");
  chips.setAttribute("aria-label", "Reactions");
  for (const reaction of reactionsOf(message)) {
    const chip = el("button", "reaction-chip", `${reaction.emoji} ${reaction.count}`);
    chip.type = "button";
    chip.dataset.emoji = reaction.emoji;
    chip.setAttribute("aria-pressed", String(reaction.users.includes(me)));
    chip.setAttribute("aria-label", chipLabel(reaction));
    chip.title = chipLabel(reaction);
    chip.disabled = conn.ended;
    chip.addEventListener("click", () => toggle(message, reaction.emoji));
    chips.append(chip);
  }
  const react = actionButton("add-reaction", "Add reaction", "☺+");
  react.setAttribute("aria-haspopup", "dialog");
  react.disabled = conn.ended;
  react.addEventListener("click", () => openPicker(react, (emoji) => toggle(message, emoji)));
  if (chips.children.length) bar.append(chips);
  const count = Math.max(message.reply_count ?? 0, counts.get(message.id) ?? 0);
  counts.set(message.id, count);
  const replies = el(
    "button",
    "ghost small-button reply-count",
    count ? `${count} repl${count === 1 ? "y" : "ies"}` : "Reply",
  );
  replies.type = "button";
  replies.setAttribute("aria-haspopup", "dialog");
  if (!count) replies.setAttribute("aria-label", `Reply to ${message.author.username}`);
  replies.addEventListener("click", () => openReplies(message, replies));
  bar.append(replies, react); // the one that may be hidden last, so nothing shifts
  // Nothing to show but the buttons that start a reaction or a reply: they float on hover.
  bar.classList.toggle("empty", !count && !reactionsOf(message).length);
  return bar;
}

/** The parts of a message item that belong to conversations: {quote, after: [nodes]}. */
export function conversationParts(message, { sending = false } = {}) {
  const quote = message.reply_to ? replyQuote(message.reply_to) : null;
  if (sending || message.deleted || !message.id) return { quote, after: [] };
  return { quote, after: [conversationBar(message)] };
}

/** A `reactions` frame: redraw that message's bar in place, keeping the focus on its chip. */
export function onReactions(frame) {
  const known = latest.get(frame.id);
  if (known && known.version >= frame.version) return;
  latest.set(frame.id, { version: frame.version, reactions: frame.reactions });
  const message = messages.get(frame.seq);
  if (!message || message.id !== frame.id) return;
  message.reactions = frame.reactions;
  const bar = rendered.get(frame.seq)?.querySelector(".conversation-bar");
  if (!bar) return;
  const focused = bar.contains(document.activeElement) ? document.activeElement : null;
  const next = conversationBar(message);
  bar.replaceWith(next);
  if (focused?.dataset.emoji) {
    const same = next.querySelector(`[data-emoji="${CSS.escape(focused.dataset.emoji)}"]`);
    (same ?? next.querySelector(".add-reaction")).focus();
  } else if (focused) {
    next.querySelector(`.${[...focused.classList].at(-1)}`)?.focus();
  }
}

/** After a reconnect the history is fresh: stored frame lists must not hide it. */
export function forgetReactions() {
  latest.clear();
}
