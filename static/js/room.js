// The room page: renders what the LiveSocket hands it. Bodies go in as text, never as HTML:
// every piece of a message is built with createElement and textContent.
import { api } from "./api.js";
import { askDialog } from "./dialog.js";
import { MentionAutocomplete } from "./mentions.js";
import { closeMenu, menuButton } from "./menu.js";
import { RoomFallback, messagesAfter } from "./room-fallback.js";
import { LiveSocket } from "./socket.js";
import { clockTime, dayLabel, fullDate, relativeTime, sameDay } from "./time.js";
import { toast } from "./toast.js";
import { el, hueFor, icon } from "./ui.js";

const room = JSON.parse(document.getElementById("room-data").textContent);
const me = JSON.parse(document.getElementById("me").textContent);
const layout = document.getElementById("room-layout");
const viewerIsStaff = layout.dataset.staff === "1";
const list = document.getElementById("messages");
const online = document.getElementById("online");
const onlineNote = document.getElementById("online-note");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = form.querySelector("button[type=submit]");
const errorBox = document.getElementById("composer-error");
const notice = document.getElementById("composer-notice");
const connState = document.getElementById("conn-state");
const banner = document.getElementById("conn-banner");
const bannerText = document.getElementById("conn-banner-text");
const bannerAction = document.getElementById("conn-banner-action");
const scroller = document.getElementById("scroller");
const intro = document.getElementById("room-intro");
const loadEarlierButton = document.getElementById("load-earlier");
const jump = document.getElementById("jump");
const typingLine = document.getElementById("typing");
const unreadBar = document.getElementById("unread-bar");
const unreadCountText = document.getElementById("unread-count");

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const TYPING_SHOWN_MS = 5000; // a typing line goes after this long without a new typing frame
const TYPING_EVERY_MS = 3000; // how often this page says the person is still typing
const SERVER_TYPING_GAP_MS = 2100; // the server passes on one typing frame per 2 s per person
const READ_DELAY_MS = 1000; // the read mark follows what was on screen, this much behind
const MODERATOR_ROLES = new Set(["owner", "moderator"]);
const apiBase = `/api/rooms/${encodeURIComponent(room.slug)}`;
const pageOpenedAt = Date.now();
const baseTitle = document.title;

const messages = new Map(); // seq -> the message as last received
const rendered = new Map(); // seq -> <li>
const pending = new Map(); // client_id -> <li> shown as "sending" or "failed"
const outgoing = new Map(); // client_id -> the message.send frame, for Retry
const members = new Map(); // username -> {id, username, role}
let role = room.role;
let isMember = room.is_member;
let helloSeen = false;
let hasHistory = false;
let live = false;
let limited = false; // live over the fallback (no WebSockets): no typing, no presence
let ended = false;
let onlineUsers = [];
let unseen = 0;
let highestSeq = 0;
let readSent = 0; // the read mark the server has (as far as this page knows)
let seenSeq = 0; // the highest seq that has been on screen
let readTimer = null;
let lastTypingSent = 0;
let typingNextAt = 0;
let typingSoon = false; // just sent a message: a "typing" for the next one may wait a moment
let typingTimer = null;
const typingUsers = new Map(); // username -> timeout that forgets them
let firstUnreadSeq = null; // from the first hello: where "new since last time" starts
let unreadReached = false;
let backlogIn = false; // the first resume finished
let wantSeq = null; // a message to bring into view once the backlog is in (#seq-N links)
let editing = null; // {seq, form, area, saving}
let countdown = null;
let dayNow = new Date().toDateString();

// --- small pieces ----------------------------------------------------------------------------

function avatar(username) {
  const node = el("span", "avatar");
  node.setAttribute("aria-hidden", "true");
  node.dataset.initial = username.slice(0, 1).toUpperCase();
  node.style.setProperty("--hue", hueFor(username));
  return node;
}

function canModerate() {
  return !ended && (viewerIsStaff || MODERATOR_ROLES.has(role));
}

function canChange(message) {
  return Boolean(message) && !ended && !message.deleted && (message.author.username === me || canModerate());
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

// --- messages --------------------------------------------------------------------------------

function messageItem(message, { sending = false } = {}) {
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
  item.append(row);
  if (!sending) syncActions(item, message);
  return item;
}

// The "Message actions" menu: on one's own messages, and on everyone's for moderators.
function syncActions(item, message = messages.get(Number(item.dataset.seq))) {
  const want = canChange(message) && !item.classList.contains("editing");
  const has = item.querySelector(".msg-actions");
  if (want && !has) {
    const seq = message.seq;
    const wrap = el("div", "msg-actions");
    wrap.append(
      menuButton({
        label: "Message actions",
        items: () => [
          { label: "Edit", action: () => startEdit(seq) },
          { label: "Delete", danger: true, action: () => confirmDelete(seq) },
        ],
      }),
    );
    item.querySelector(".msg").append(wrap);
  } else if (!want && has) {
    has.remove();
  }
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
function decorate(item) {
  if (!item || !item.classList.contains("message")) return;
  const prev = item.previousElementSibling;
  const date = new Date(item.dataset.ts);
  const newDay = !prev || !sameDay(new Date(prev.dataset.ts), date);
  const firstUnread = firstUnreadSeq !== null && Number(item.dataset.seq) === firstUnreadSeq;
  setDivider(item, "day-divider", newDay ? dayLabel(date) : null);
  setDivider(item, "unread-divider", firstUnread ? "New" : null, "Unread messages start here");
  let grouped = false;
  if (prev && !newDay && !firstUnread && !prev.classList.contains("failed") && !prev.classList.contains("deleted")) {
    grouped = prev.dataset.author === item.dataset.author && date - new Date(prev.dataset.ts) < GROUP_WINDOW_MS;
  }
  item.classList.toggle("grouped", grouped);
  renderWhen(item);
}

function renderWhen(item) {
  if (item.classList.contains("sending") || item.classList.contains("failed")) return;
  const date = new Date(item.dataset.ts);
  item.querySelector(".when").textContent = item.classList.contains("grouped") ? clockTime(date) : relativeTime(date);
}

function distanceFromBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  jump.hidden = true;
}

function lowestSeq() {
  let lowest = Infinity;
  for (const seq of rendered.keys()) lowest = Math.min(lowest, seq);
  return lowest;
}

// The room's introduction heads the history once its first message is on the page; until
// then a button offers the earlier messages.
function updateEmpty() {
  const stick = distanceFromBottom() < 80;
  const lowest = lowestSeq();
  intro.hidden = !(helloSeen && (!hasHistory || lowest === 1));
  loadEarlierButton.hidden = !(helloSeen && Number.isFinite(lowest) && lowest > 1);
  if (stick) scrollToBottom();
}

/** Load up to `limit` messages above the oldest shown; false if nothing more came. */
async function loadEarlier(limit = 50) {
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

function addMessage(message, { history = false } = {}) {
  const mine = message.author.username === me;
  const wasAtBottom = distanceFromBottom() < 80;
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
  highestSeq = Math.max(highestSeq, message.seq);
  decorate(item);
  decorate(item.nextElementSibling);
  updateEmpty();
  if (history) {
    if (previous && wasAtBottom) scrollToBottom();
    return;
  }
  if (!previous) stoppedTyping(message.author.username);
  if (mine && !previous) {
    // Sending made the person a member and moved their read mark to this message.
    isMember = true;
    readSent = Math.max(readSent, message.seq);
  }
  if (stick) scrollToBottom();
  else if (!previous) jump.hidden = false;

  const fresh = !previous && Date.parse(message.created_at) >= pageOpenedAt - 5000;
  if (fresh && !mine && document.hidden) {
    unseen += 1;
    document.title = `(${unseen}) ${baseTitle}`;
  }
  noteVisible();
}

// An edit or a delete: only messages on the page are redrawn (older ones load as they are now).
function replaceMessage(message) {
  if (!rendered.has(message.seq)) return;
  if (editing?.seq === message.seq) {
    if (!editing.saving && !message.deleted) {
      messages.set(message.seq, message); // shown when the editor closes
      return;
    }
    editing = null;
  }
  addMessage(message, { history: true });
}

function markDeleted({ seq }) {
  const message = messages.get(seq);
  if (message) replaceMessage({ ...message, deleted: true, body: "" });
}

// --- editing and deleting --------------------------------------------------------------------

function startEdit(seq) {
  const item = rendered.get(seq);
  const message = messages.get(seq);
  if (!item || !canChange(message)) return;
  if (editing) cancelEdit();
  closeMenu();
  const editor = el("form", "edit-form");
  const area = el("textarea", "edit-input");
  area.value = message.body;
  area.rows = 1;
  area.maxLength = 4000;
  area.setAttribute("aria-label", "Edit message");
  const row = el("div", "edit-row");
  const hint = el("span", "edit-hint", "Enter to save · Esc to cancel");
  const cancel = el("button", "ghost small-button", "Cancel");
  cancel.type = "button";
  const save = el("button", "primary small-button", "Save");
  save.type = "submit";
  row.append(hint, cancel, save);
  editor.append(area, row);
  item.querySelector(".body").replaceWith(editor);
  item.classList.add("editing");
  syncActions(item);
  editing = { seq, form: editor, area, saving: false };

  const size = () => {
    area.style.height = "";
    area.style.height = `${Math.min(area.scrollHeight + 2, 240)}px`;
    editor.scrollIntoView({ block: "nearest" });
  };
  area.addEventListener("input", size);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      cancelEdit();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
  cancel.addEventListener("click", () => cancelEdit());
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit();
  });
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  size();
}

function saveEdit() {
  if (!editing || editing.saving) return;
  const message = messages.get(editing.seq);
  const text = editing.area.value;
  if (!text.trim()) {
    showError("A message can't be empty. To remove it, delete it instead.");
    return;
  }
  if (text === message.body) return cancelEdit();
  editing.saving = true;
  editing.area.readOnly = true;
  editing.form.classList.add("saving");
  errorBox.hidden = true;
  socket.send({ type: "message.edit", id: message.id, body: text });
}

function cancelEdit() {
  if (!editing) return;
  const { seq } = editing;
  editing = null;
  const message = messages.get(seq);
  if (message) addMessage(message, { history: true });
}

async function confirmDelete(seq) {
  const message = messages.get(seq);
  if (!canChange(message)) return;
  const mine = message.author.username === me;
  const { confirmed } = await askDialog({
    title: "Delete this message?",
    text: mine
      ? "Everyone in the room will see “This message was deleted.” in its place."
      : `${message.author.username}'s message will be replaced by “This message was deleted.” for everyone.`,
    confirmLabel: "Delete",
    danger: true,
  });
  if (confirmed) socket.send({ type: "message.delete", id: message.id });
}

function lastOwnSeq() {
  for (let item = list.lastElementChild; item; item = item.previousElementSibling) {
    const seq = Number(item.dataset.seq);
    if (seq && item.dataset.author === me && !item.classList.contains("deleted")) return seq;
  }
  return null;
}

// --- read marks and unread -------------------------------------------------------------------

let visibleFrame = 0;
function noteVisible() {
  if (!visibleFrame) {
    visibleFrame = requestAnimationFrame(() => {
      visibleFrame = 0;
      measureVisible();
    });
  }
}

function measureVisible() {
  updateUnreadBar();
  if (document.visibilityState !== "visible") return;
  const view = scroller.getBoundingClientRect();
  for (let item = list.lastElementChild; item; item = item.previousElementSibling) {
    if (!item.dataset.seq) continue;
    const box = item.getBoundingClientRect();
    if (box.bottom <= view.top) break; // everything from here up is above the view
    if (box.top < view.bottom - 4) {
      seenSeq = Math.max(seenSeq, Number(item.dataset.seq));
      break;
    }
  }
  scheduleRead();
}

// The read mark (CONTRACT §4 "read") is the highest seq that has been on screen, sent once
// things settle and only when it moved.
function scheduleRead() {
  // Not while the backlog streams in: the mark would creep up message by message.
  if (readTimer !== null || seenSeq <= readSent || !backlogIn) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    if (!live || !isMember || seenSeq <= readSent) return;
    readSent = seenSeq;
    socket.send({ type: "read", seq: readSent });
  }, READ_DELAY_MS);
}

function updateUnreadBar() {
  // Judged only once the backlog is in: while it arrives the first unread may look "reached".
  if (firstUnreadSeq === null || unreadReached || !backlogIn) {
    unreadBar.hidden = true;
    return;
  }
  const item = rendered.get(firstUnreadSeq);
  let above;
  if (item) {
    above = item.getBoundingClientRect().top < scroller.getBoundingClientRect().top;
    if (!above) unreadReached = true; // seen: the bar has done its job
  } else {
    above = Number.isFinite(lowestSeq()) && lowestSeq() > firstUnreadSeq;
  }
  unreadBar.hidden = !above;
}

/** Scroll a message into view, loading earlier history until it is on the page. */
async function reveal(seq) {
  wantSeq = null;
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

function seqFromHash() {
  const match = window.location.hash.match(/^#seq-(\d+)$/);
  return match ? Number(match[1]) : null;
}

// --- typing ----------------------------------------------------------------------------------

function renderTyping() {
  const names = [...typingUsers.keys()];
  const stick = distanceFromBottom() < 80;
  typingLine.hidden = names.length === 0;
  // The line gets room of its own under the last message rather than covering it.
  typingLine.parentElement.classList.toggle("has-typing", names.length > 0);
  if (stick) scroller.scrollTop = scroller.scrollHeight;
  if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) typingLine.textContent = "Several people are typing…";
}

function startedTyping(username) {
  if (!username || username === me) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.set(username, setTimeout(() => stoppedTyping(username), TYPING_SHOWN_MS));
  renderTyping();
}

function stoppedTyping(username) {
  if (!typingUsers.has(username)) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.delete(username);
  renderTyping();
}

// This page says "typing" at most every few seconds while the person types. The server passes
// on one per 2 s: right after a send (when the next message often starts at once) the frame
// waits until the server would take it, instead of being dropped.
function typed() {
  if (!live || limited || !input.value.trim()) return;
  const wait = typingNextAt - Date.now();
  if (wait <= 0) {
    clearTimeout(typingTimer);
    typingTimer = null;
    typingSoon = false;
    lastTypingSent = Date.now();
    typingNextAt = lastTypingSent + TYPING_EVERY_MS;
    socket.send({ type: "typing" });
  } else if (typingSoon && typingTimer === null) {
    typingTimer = setTimeout(() => {
      typingTimer = null;
      typingSoon = false;
      typed();
    }, wait);
  }
}

function clearTyping() {
  for (const username of [...typingUsers.keys()]) stoppedTyping(username);
}

// --- sending ---------------------------------------------------------------------------------

function markFailed(clientId, detail) {
  const item = pending.get(clientId);
  if (!item) return;
  item.classList.remove("sending", "grouped");
  item.classList.add("failed");
  const when = item.querySelector(".when");
  when.textContent = "Not sent";
  when.title = detail;
  item.querySelector(".retry")?.remove();
  const retry = el("button", "retry", "Retry");
  retry.type = "button";
  retry.disabled = ended;
  retry.addEventListener("click", () => {
    const frame = outgoing.get(clientId);
    if (!frame || ended) return;
    retry.remove();
    item.classList.remove("failed");
    item.classList.add("sending");
    when.textContent = "sending…";
    when.title = "";
    errorBox.hidden = true;
    notice.hidden = true;
    socket.sendOutbox(frame); // the same client_id: never stored twice
  });
  item.querySelector(".message-head").append(retry);
  decorate(item.nextElementSibling);
}

function queueMessage(body) {
  const frame = socket.sendMessage(body);
  const item = messageItem(
    { author: { username: me }, body, created_at: new Date().toISOString() },
    { sending: true },
  );
  pending.set(frame.client_id, item);
  outgoing.set(frame.client_id, frame);
  list.append(item);
  decorate(item);
  updateEmpty();
  scrollToBottom();
}

function send() {
  const body = input.value;
  if (!body.trim() || input.disabled) return;
  typingNextAt = lastTypingSent + SERVER_TYPING_GAP_MS;
  typingSoon = true;
  clearTimeout(typingTimer);
  typingTimer = null;
  errorBox.hidden = true;
  notice.hidden = true;
  queueMessage(body);
  input.value = "";
  autosize();
}

function autosize() {
  input.style.height = "";
  if (input.value) input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
}

// --- people ----------------------------------------------------------------------------------

let membersLoading = null;
let membersLoadedAt = 0;

function loadMembers({ force = false } = {}) {
  if (membersLoading || (!force && Date.now() - membersLoadedAt < 5000)) return;
  membersLoading = api("GET", `${apiBase}/members/`)
    .then((result) => {
      if (!result.ok) return;
      members.clear();
      for (const member of result.data) members.set(member.username, member);
      renderOnline();
      if (document.activeElement === input) mentions.update();
    })
    .finally(() => {
      membersLoading = null;
      membersLoadedAt = Date.now();
    });
}

function mentionable() {
  const people = new Map();
  for (const member of members.values()) people.set(member.username, member);
  for (const user of onlineUsers) if (!people.has(user.username)) people.set(user.username, user);
  people.delete(me);
  return [...people.values()].sort((a, b) => a.username.localeCompare(b.username));
}

const MODERATION = {
  mute: { done: (u) => `${u} is muted for 10 minutes.`, verb: "mute" },
  unmute: { done: (u) => `${u} can send messages again.`, verb: "unmute" },
  kick: { done: (u) => `${u} was removed from the room.`, verb: "remove" },
  ban: { done: (u) => `${u} is banned from this room.`, verb: "ban" },
  role: { done: (u) => `${u}'s role in this room changed.`, verb: "change the role of" },
};

async function moderate(action, username, extra = {}) {
  const result = await api("POST", `${apiBase}/${action}/`, { username, ...extra });
  if (result.ok) {
    toast({ title: MODERATION[action].done(username), tone: "success", timeout: 5000 });
    if (action === "kick" || action === "ban") loadMembers({ force: true });
  } else {
    toast({ title: `Could not ${MODERATION[action].verb} ${username}`, body: result.error, tone: "error" });
  }
}

async function confirmRemoval(action, username) {
  const ban = action === "ban";
  const { confirmed, reason } = await askDialog({
    title: ban ? `Ban ${username} from ${room.name}?` : `Remove ${username} from ${room.name}?`,
    text: ban
      ? "Their open pages of this room close, and they cannot come back until they are unbanned."
      : "Their open pages of this room close. They can join again if the room is public.",
    confirmLabel: ban ? "Ban" : "Remove",
    danger: true,
    reasonLabel: "Reason (optional, kept in the moderation log)",
  });
  if (confirmed) moderate(action, username, { reason });
}

function moderationButton(username) {
  return menuButton({
    label: `Moderate ${username}`,
    className: "icon-button mod-button",
    items: () => [
      { label: "Mute for 10 minutes", action: () => moderate("mute", username, { minutes: 10 }) },
      { label: "Unmute", action: () => moderate("unmute", username) },
      // Roles are the owners' to give (the server refuses anyone else).
      ...(room.role === "owner"
        ? [
            { label: "Make moderator", action: () => moderate("role", username, { role: "moderator" }) },
            { label: "Make member", action: () => moderate("role", username, { role: "member" }) },
          ]
        : []),
      { label: "Remove from room…", danger: true, action: () => confirmRemoval("kick", username) },
      { label: "Ban from room…", danger: true, action: () => confirmRemoval("ban", username) },
    ],
  });
}

function renderOnline(users) {
  if (users) onlineUsers = users;
  const names = new Map(onlineUsers.map((u) => [u.username, u]));
  // You are online whenever your socket is live, whether or not the server lists you.
  if (live && !names.has(me)) names.set(me, { username: me });
  const sorted = [...names.keys()].sort((a, b) => (a === me ? -1 : b === me ? 1 : a.localeCompare(b)));
  // Re-rendering must not lose the focus of someone using a moderation menu.
  const focusedName = document.activeElement?.closest?.(".online-user")?.dataset.username;
  online.replaceChildren(
    ...sorted.map((username) => {
      const li = el("li", "online-user");
      li.dataset.username = username;
      const face = avatar(username);
      face.append(el("span", "presence-dot"));
      li.append(face, el("span", "online-name", username));
      if (username === me) li.append(el("span", "you", "(you)"));
      const memberRole = members.get(username)?.role;
      if (MODERATOR_ROLES.has(memberRole)) {
        li.append(el("span", "role-tag", memberRole === "owner" ? "owner" : "mod"));
      }
      if (username !== me && canModerate()) li.append(moderationButton(username));
      return li;
    }),
  );
  if (focusedName) online.querySelector(`[data-username="${CSS.escape(focusedName)}"] button`)?.focus();
  online.classList.toggle("stale", !live || limited);
  onlineNote.hidden = !limited; // who else is here is not known without the socket
  if (users && users.some((u) => !members.has(u.username))) loadMembers();
}

// --- connection ------------------------------------------------------------------------------

const ENDED = {
  4001: {
    pill: "Signed out",
    text: "You were signed out. Log in again to keep chatting.",
    link: ["Log in", () => `/accounts/login/?next=${encodeURIComponent(window.location.pathname).replaceAll("%2F", "/")}`],
    placeholder: "Log in again to send",
  },
  4003: {
    pill: "Access ended",
    text: "Your access to this room ended.",
    link: ["Back to all rooms", () => "/"],
    placeholder: "You no longer have access",
  },
  4008: {
    pill: "Disconnected",
    text: "You were disconnected for sending too much too fast.",
    button: ["Reload", () => window.location.reload()],
    placeholder: "Reload the page to send",
  },
};

function showBanner(text, { link = null, button = null, tone = "warn" } = {}) {
  banner.hidden = false;
  banner.dataset.tone = tone;
  bannerText.textContent = text;
  if (link) {
    const a = el("a", "banner-link", link[0]);
    a.href = link[1]();
    bannerAction.replaceChildren(a);
  } else if (button) {
    const b = el("button", "small-button", button[0]);
    b.type = "button";
    b.addEventListener("click", button[1]);
    bannerAction.replaceChildren(b);
  } else {
    bannerAction.replaceChildren();
  }
}

function hideBanner() {
  banner.hidden = true;
  bannerAction.replaceChildren();
}

function showError(text) {
  errorBox.replaceChildren(document.createTextNode(text));
  errorBox.hidden = false;
}

function showNotice(text) {
  notice.replaceChildren(icon("mute", 18), el("span", "", text));
  notice.hidden = false;
}

const retryNow = ["Retry now", () => socket.reconnectNow()];

const LIMITED_TEXT =
  "Live updates via a fallback connection (WebSockets seem blocked on this network). " +
  "Typing indicators and who's online are unavailable.";

function onState({ state, retryAt, code, attempt = 0, limited: onFallback = false }) {
  clearInterval(countdown);
  countdown = null;
  const wasLive = live;
  live = state === "live";
  limited = onFallback;
  const again = state === "connecting" && attempt > 0;
  connState.dataset.state = again ? "reconnecting" : live && limited ? "limited" : state;
  if (state === "live" && limited) {
    connState.textContent = "Live (limited)";
    showBanner(LIMITED_TEXT, { tone: "info" });
    if (!wasLive) scheduleRead();
  } else if (state === "live") {
    connState.textContent = "Live";
    hideBanner();
    if (!wasLive) scheduleRead();
  } else if (state === "connecting") {
    connState.textContent = again ? "Reconnecting…" : "Connecting…";
    if (again) showBanner("Reconnecting…");
  } else if (state === "reconnecting" || state === "offline") {
    connState.textContent = state === "offline" ? "Offline" : "Reconnecting…";
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      const when = seconds > 0 ? `Retrying in ${seconds}s.` : "Retrying…";
      showBanner(
        state === "offline"
          ? `You're offline. Messages you write go out once you're back. ${when}`
          : `Connection lost. ${when}`,
        { button: retryNow, tone: state === "offline" ? "danger" : "warn" },
      );
    };
    tick();
    countdown = setInterval(tick, 500);
  } else if (state === "ended") {
    endRoom(code);
  } else {
    connState.textContent = "Offline";
  }
  if (!live || limited) clearTyping();
  renderOnline();
}

function endRoom(code) {
  ended = true;
  const how = ENDED[code] ?? {
    pill: "Disconnected",
    text: "This room closed the connection.",
    link: ["Back to all rooms", () => "/"],
    placeholder: "Reload the page to send",
  };
  connState.textContent = how.pill;
  showBanner(how.text, { link: how.link, button: how.button, tone: "danger" });
  layout.classList.add("ended");
  unreadReached = true;
  updateUnreadBar();
  input.disabled = true;
  sendButton.disabled = true;
  input.placeholder = how.placeholder;
  mentions.close();
  closeMenu();
  if (editing) cancelEdit();
  onlineUsers = []; // this page is no longer in the room
  for (const clientId of pending.keys()) {
    if (pending.get(clientId).classList.contains("sending")) markFailed(clientId, how.text);
  }
  for (const retry of list.querySelectorAll(".retry")) retry.disabled = true;
  for (const item of rendered.values()) syncActions(item);
  errorBox.hidden = true;
  notice.hidden = true;
}

const QUIET_ERRORS = new Set(["unknown_type", "invalid_frame", "invalid_json", "rate_limited"]);
const NOT_SENT = new Set(["muted", "forbidden"]);

function onError(frame) {
  if (frame.retrying) return; // the socket sends it again by itself, with the same client_id
  if (frame.ref != null && pending.has(frame.ref)) {
    markFailed(frame.ref, frame.detail);
    if (NOT_SENT.has(frame.code)) showNotice(`${frame.detail} Your message was not sent.`);
    else showError(frame.detail);
    return;
  }
  if (editing?.saving && frame.ref === messages.get(editing.seq)?.id) {
    editing.saving = false;
    editing.area.readOnly = false;
    editing.form.classList.remove("saving");
    editing.area.focus();
    showError(frame.detail);
    return;
  }
  if (QUIET_ERRORS.has(frame.code) && typeof frame.ref !== "number") {
    // About a background frame (read mark, typing) the server did not take: not the
    // person's business, and nothing they could do about it.
    console.warn("switchboard:", frame.code, frame.detail);
    return;
  }
  showError(frame.detail);
}

const socket = new LiveSocket(`/ws/rooms/${encodeURIComponent(room.slug)}/`, {
  backlog: 50,
  history: (afterSeq) => messagesAfter(room.slug, afterSeq),
  // Where WebSockets are blocked: Server-Sent Events and REST, the same frames.
  fallback: (live) => new RoomFallback(live, room.slug),
  handlers: {
    hello: (frame) => {
      const first = !helloSeen;
      helloSeen = true;
      hasHistory = frame.last_seq > 0;
      live = true;
      role = frame.room?.role ?? role;
      isMember = frame.room?.is_member ?? isMember;
      if (first) {
        const unread = isMember ? (frame.room?.unread ?? 0) : 0;
        readSent = isMember ? frame.last_seq - unread : 0;
        if (unread > 0) {
          firstUnreadSeq = frame.last_seq - unread + 1;
          unreadCountText.textContent = `${unread} unread message${unread === 1 ? "" : "s"}`;
        }
        wantSeq = seqFromHash();
        if (frame.last_seq === 0) backlogIn = true; // an empty room: no resume to wait for
        loadMembers({ force: true });
      }
      for (const item of rendered.values()) syncActions(item);
      renderOnline(frame.online ?? []);
      updateEmpty();
    },
    message: (frame) => addMessage(frame.message),
    "message.updated": (frame) => frame.message && replaceMessage(frame.message),
    "message.deleted": (frame) => markDeleted(frame),
    resumed: () => {
      backlogIn = true;
      if (wantSeq !== null) reveal(wantSeq);
      noteVisible();
    },
    presence: (frame) => renderOnline(frame.online ?? []),
    typing: (frame) => startedTyping(frame.user?.username),
    pong: () => {},
    error: onError,
    state: onState,
  },
});

// --- composer --------------------------------------------------------------------------------

const mentionList = document.getElementById("mention-list");
const mentions = new MentionAutocomplete(input, mentionList, mentionable);

form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
  input.focus();
});

input.addEventListener("keydown", (event) => {
  if (mentions.handleKeydown(event)) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  } else if (event.key === "ArrowUp" && !input.value && !event.shiftKey && !event.altKey) {
    const seq = lastOwnSeq(); // like most chat apps: Up in an empty box edits your last message
    if (seq !== null && canChange(messages.get(seq))) {
      event.preventDefault();
      startEdit(seq);
    }
  }
});

input.addEventListener("input", () => {
  autosize();
  typed();
});

// Whoever reads the newest messages keeps reading them when the view changes size (a banner,
// the unread bar, a growing composer, a phone keyboard).
let stuckToBottom = true;
scroller.addEventListener("scroll", () => {
  stuckToBottom = distanceFromBottom() < 80;
  if (stuckToBottom) jump.hidden = true;
  noteVisible();
});
new ResizeObserver(() => {
  if (stuckToBottom) scroller.scrollTop = scroller.scrollHeight;
  noteVisible();
}).observe(scroller);

// A tap (or click) on a message selects it, which is how touch screens show its menu button.
list.addEventListener("click", (event) => {
  if (event.target.closest("a, button, textarea, .edit-form")) return;
  const item = event.target.closest(".message");
  for (const other of list.querySelectorAll(".message.active")) if (other !== item) other.classList.remove("active");
  item?.classList.toggle("active");
});

jump.addEventListener("click", scrollToBottom);
loadEarlierButton.addEventListener("click", () => loadEarlier());
// Infinite scroll: when the reader scrolls the top of the list into view, the page above
// loads; the button stays for keyboard users. Only the reader's own scrolling counts, not the
// page settling on its newest message when it opens.
let readerScrolled = false;
for (const kind of ["wheel", "touchmove", "keydown"]) {
  scroller.addEventListener(kind, () => { readerScrolled = true; }, { passive: true });
}
new IntersectionObserver(
  (entries) => {
    const visible = entries.some((e) => e.isIntersecting);
    if (visible && readerScrolled && !loadEarlierButton.disabled) loadEarlier();
  },
  { root: scroller },
).observe(loadEarlierButton);
document.getElementById("unread-jump").addEventListener("click", () => {
  if (firstUnreadSeq !== null) reveal(firstUnreadSeq).then(() => (unreadReached = true) && updateUnreadBar());
});
document.getElementById("unread-dismiss").addEventListener("click", () => {
  unreadReached = true;
  updateUnreadBar();
  input.focus();
});
window.addEventListener("hashchange", () => {
  const seq = seqFromHash();
  if (seq !== null) reveal(seq);
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseen = 0;
    document.title = baseTitle;
    noteVisible();
  }
});

// Relative times ("5 min ago") move on; day separators change at midnight.
setInterval(() => {
  const today = new Date().toDateString();
  const redecorate = today !== dayNow;
  dayNow = today;
  for (const item of list.children) (redecorate ? decorate : renderWhen)(item);
}, 30 * 1000);

socket.connect();
if (window.matchMedia("(pointer: fine)").matches) input.focus();
