// The list labelled "Messages": messages in seq order whatever order frames come in, grouped by
// author and day, with history loaded above on demand.
import { api } from "../api.js";
import { clockTime, dayLabel, relativeTime, sameDay } from "../time.js";
import { el } from "../ui.js";
import {
  atBottom,
  jump,
  list,
  lowestSeq,
  messages,
  outgoing,
  pending,
  rendered,
  scrollToBottom,
  scroller,
} from "./list-state.js";
import { unchangedOrOlder } from "../message-versions.js";
import { editorTakes, setRedraw, syncActions } from "./message-actions.js";
import { messageItem } from "./message-view.js";
import { showError } from "./notices.js";
import { apiBase, me } from "./page.js";
import { firstUnread, noteVisible } from "./read-marks.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;

const intro = document.getElementById("room-intro");
const loadEarlierButton = document.getElementById("load-earlier");
const input = document.getElementById("message-input");

let helloSeen = false;
let hasHistory = false;
let arrived = () => {}; // room.js: what else a new live message means

/** What else happens when a new message arrives live (not from history). */
export function onArrival(handler) {
  arrived = handler;
}

/** A hello: whether the room has any history at all. */
export function listHello(hello) {
  helloSeen = true;
  hasHistory = hello.last_seq > 0;
  for (const item of rendered.values()) syncActions(item);
  updateEmpty();
}

function setDivider(item, className, label, spoken) {
  let node = item.querySelector(`:scope > .${className}`);
  if (!label) {
    node?.remove();
    return;
  }
  if (!node) {
    node = el("div", className);
    node.setAttribute("role", "separator");
    node.append(el("span", "divider-label"));
    if (className === "day-divider") item.prepend(node);
    else item.querySelector(":scope > .msg").before(node);
  }
  node.setAttribute("aria-label", spoken ?? label);
  node.firstChild.textContent = label;
}

// A message joins the one above it (no avatar, no name) when the same person sent both within
// a few minutes on the same day; a day separator heads each day, a "New" line the first unread.
export function decorate(item) {
  if (!item || !item.classList.contains("message")) return;
  const prev = item.previousElementSibling;
  const date = new Date(item.dataset.ts);
  const newDay = !prev || !sameDay(new Date(prev.dataset.ts), date);
  const firstUnreadHere = firstUnread() !== null && Number(item.dataset.seq) === firstUnread();
  setDivider(item, "day-divider", newDay ? dayLabel(date) : null);
  setDivider(item, "unread-divider", firstUnreadHere ? "New" : null, "Unread messages start here");
  let grouped = false;
  if (
    prev &&
    !newDay &&
    !firstUnreadHere &&
    !prev.classList.contains("failed") &&
    !prev.classList.contains("deleted")
  ) {
    grouped = prev.dataset.author === item.dataset.author && date - new Date(prev.dataset.ts) < GROUP_WINDOW_MS;
  }
  item.classList.toggle("grouped", grouped);
  renderWhen(item);
}

export function renderWhen(item) {
  if (item.classList.contains("sending") || item.classList.contains("failed")) return;
  const date = new Date(item.dataset.ts);
  item.querySelector(".when").textContent = item.classList.contains("grouped") ? clockTime(date) : relativeTime(date);
}

// The room's introduction heads the history once its first message is on the page; until
// then a button offers the earlier messages.
export function updateEmpty() {
  const stick = atBottom();
  const lowest = lowestSeq();
  intro.hidden = !(helloSeen && (!hasHistory || lowest === 1));
  loadEarlierButton.hidden = !(helloSeen && Number.isFinite(lowest) && lowest > 1);
  if (stick) scrollToBottom();
}

/** Load up to `limit` messages above the oldest shown; false if nothing more came. */
export async function loadEarlier(limit = 50) {
  const before = lowestSeq();
  if (!Number.isFinite(before) || before <= 1) return false;
  loadEarlierButton.disabled = true;
  try {
    const result = await api("GET", `${apiBase}/messages/?before_seq=${before}&limit=${limit}`);
    if (!result.ok) throw new Error(result.error);
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const message of result.data) addMessage(message, { history: true });
    updateEmpty();
    scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
    return result.data.length > 0;
  } catch {
    showError("Could not load earlier messages. Try again in a moment.");
    return false;
  } finally {
    loadEarlierButton.disabled = false;
  }
}

/** Show a message (new, or a new version of one shown); `history`: not a live arrival. */
export function addMessage(message, { history = false } = {}) {
  const mine = message.author.username === me;
  const wasAtBottom = atBottom();
  const stick = !history && (wasAtBottom || mine);
  messages.set(message.seq, message);
  const placeholder = message.client_id && pending.get(message.client_id);
  if (placeholder) {
    pending.delete(message.client_id);
    outgoing.delete(message.client_id);
    const next = placeholder.nextElementSibling;
    placeholder.remove();
    decorate(next);
  }
  const item = messageItem(message);
  syncActions(item, message);
  const previous = rendered.get(message.seq);
  if (previous) {
    const hadFocus = previous.contains(document.activeElement);
    previous.replaceWith(item);
    if (hadFocus) (item.querySelector(".msg-actions button") ?? input).focus();
  } else {
    // Keep the list ordered by seq whatever order frames arrive in; unsent ones stay last.
    let before = null;
    for (const [seq, node] of rendered) {
      if (seq > message.seq && (!before || seq < Number(before.dataset.seq))) before = node;
    }
    list.insertBefore(item, before ?? list.querySelector(".message.sending, .message.failed"));
  }
  rendered.set(message.seq, item);
  decorate(item);
  decorate(item.nextElementSibling);
  updateEmpty();
  if (history) {
    if (previous && wasAtBottom) scrollToBottom();
    return;
  }
  if (!previous) arrived(message, { mine });
  if (stick) scrollToBottom();
  else if (!previous) jump.hidden = false;
  noteVisible();
}

setRedraw((message) => addMessage(message, { history: true }));

// An edit or a delete: only messages on the page are redrawn (older ones load as they are now).
export function replaceMessage(message) {
  if (!rendered.has(message.seq) || unchangedOrOlder(messages.get(message.seq), message)) return;
  if (editorTakes(message)) return;
  addMessage(message, { history: true });
}

export function markDeleted({ seq }) {
  const message = messages.get(seq);
  if (message) replaceMessage({ ...message, deleted: true, body: "" });
}

/** Scroll a message into view, loading earlier history until it is on the page. */
export async function reveal(seq) {
  while (!rendered.has(seq) && lowestSeq() > seq && lowestSeq() > 1) {
    if (!(await loadEarlier(200))) break;
  }
  let item = rendered.get(seq);
  if (!item) {
    // A deleted or missing seq: the nearest message after it.
    const after = [...rendered.keys()].filter((s) => s > seq).sort((a, b) => a - b)[0];
    item = rendered.get(after);
  }
  if (!item) return;
  item.scrollIntoView({ block: "center" });
  item.tabIndex = -1;
  item.focus({ preventScroll: true });
  item.classList.remove("flash");
  void item.offsetWidth; // restart the highlight
  item.classList.add("flash");
  noteVisible();
}

/** The seq of the person's own newest message on the page (Up in an empty box edits it). */
export function lastOwnSeq() {
  for (let item = list.lastElementChild; item; item = item.previousElementSibling) {
    const seq = Number(item.dataset.seq);
    if (seq && item.dataset.author === me && !item.classList.contains("deleted")) return seq;
  }
  return null;
}
