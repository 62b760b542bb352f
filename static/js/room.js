// The room page: renders what the LiveSocket hands it. Bodies go in as text, never as HTML:
// every piece of a message is built with createElement and textContent.
import { LiveSocket } from "./socket.js";
import { hueFor } from "./ui.js";

const room = JSON.parse(document.getElementById("room-data").textContent);
const me = JSON.parse(document.getElementById("me").textContent);
const list = document.getElementById("messages");
const online = document.getElementById("online");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = form.querySelector("button[type=submit]");
const errorBox = document.getElementById("composer-error");
const connState = document.getElementById("conn-state");
const scroller = document.getElementById("scroller");
const intro = document.getElementById("room-intro");
const loadEarlier = document.getElementById("load-earlier");
const jump = document.getElementById("jump");
const typingLine = document.getElementById("typing");

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const pageOpenedAt = Date.now();
const baseTitle = document.title;

const rendered = new Map(); // seq -> <li>
const pending = new Map(); // client_id -> <li> shown as "sending"
let helloSeen = false;
let hasHistory = false;
let live = false;
let onlineUsers = [];
let unseen = 0;
let highestSeq = 0;
let readSent = 0;
let readTimer = null;
let lastTypingSent = 0;
const typingUsers = new Map(); // username -> timeout that forgets them

// --- formatting ------------------------------------------------------------------------------

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const weekdayTime = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

function formatWhen(date) {
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return timeOnly.format(date);
  if (now - date < 6 * 24 * 3600 * 1000) return weekdayTime.format(date);
  return dateTime.format(date);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function avatar(username) {
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


// --- messages --------------------------------------------------------------------------------

function messageItem(message, { sending = false } = {}) {
  const username = message.author.username;
  const item = el("li", "message");
  if (username === me) item.classList.add("mine");
  if (sending) item.classList.add("sending");
  item.dataset.author = username;
  item.dataset.ts = message.created_at;
  if (message.seq) item.dataset.seq = message.seq;

  const head = el("div", "message-head");
  head.append(el("span", "author", username));
  const when = el("time", "when", sending ? "sending…" : formatWhen(new Date(message.created_at)));
  if (!sending) {
    when.dateTime = message.created_at;
    when.title = fullDate.format(new Date(message.created_at));
  }
  head.append(when);
  if (message.edited_at && !message.deleted) head.append(el("span", "edited", "(edited)"));

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
  item.append(avatar(username), head, body);
  return item;
}

// A message joins the one above it (no avatar, no name) when the same person sent both within
// a few minutes on the same day.
function regroup(item) {
  if (!item || !item.classList.contains("message")) return;
  const prev = item.previousElementSibling;
  let grouped = false;
  if (prev && !prev.classList.contains("failed") && !prev.classList.contains("deleted")) {
    const a = new Date(prev.dataset.ts);
    const b = new Date(item.dataset.ts);
    grouped =
      prev.dataset.author === item.dataset.author &&
      b - a < GROUP_WINDOW_MS &&
      a.toDateString() === b.toDateString();
  }
  item.classList.toggle("grouped", grouped);
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
  loadEarlier.hidden = !(helloSeen && Number.isFinite(lowest) && lowest > 1);
  if (stick) scrollToBottom();
}

async function showEarlier() {
  const before = lowestSeq();
  if (!Number.isFinite(before) || before <= 1) return;
  loadEarlier.disabled = true;
  try {
    const response = await fetch(
      `/api/rooms/${encodeURIComponent(room.slug)}/messages/?before_seq=${before}&limit=50`,
      { headers: { Accept: "application/json" }, credentials: "same-origin" },
    );
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const older = await response.json();
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const message of older) addMessage(message, { history: true });
    updateEmpty();
    scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
  } catch {
    showError("Could not load earlier messages. Try again in a moment.");
  } finally {
    loadEarlier.disabled = false;
  }
}

function addMessage(message, { history = false } = {}) {
  const stick = !history && (distanceFromBottom() < 80 || message.author.username === me);
  const item = messageItem(message);
  const placeholder = message.client_id && pending.get(message.client_id);
  if (placeholder) {
    pending.delete(message.client_id);
    placeholder.remove();
  }
  const previous = rendered.get(message.seq);
  if (previous) {
    previous.replaceWith(item);
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
  stoppedTyping(message.author.username);
  regroup(item);
  regroup(item.nextElementSibling);
  updateEmpty();
  if (history) return;
  if (stick) scrollToBottom();
  else if (!previous) jump.hidden = false;

  const fresh = !previous && Date.parse(message.created_at) >= pageOpenedAt - 5000;
  if (fresh && message.author.username !== me && document.hidden) {
    unseen += 1;
    document.title = `(${unseen}) ${baseTitle}`;
  }
  scheduleRead();
}

// The read mark (CONTRACT §4 "read") follows what a visible page has shown, a little behind.
function scheduleRead() {
  if (readTimer !== null || document.hidden) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    if (document.hidden || !live || highestSeq <= readSent) return;
    readSent = highestSeq;
    socket.send({ type: "read", seq: highestSeq });
  }, 1500);
}

// --- typing ----------------------------------------------------------------------------------

function renderTyping() {
  const names = [...typingUsers.keys()];
  typingLine.hidden = names.length === 0;
  if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) typingLine.textContent = "Several people are typing…";
}

function startedTyping(username) {
  if (!username || username === me) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.set(username, setTimeout(() => stoppedTyping(username), 4000));
  renderTyping();
}

function stoppedTyping(username) {
  if (!typingUsers.has(username)) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.delete(username);
  renderTyping();
}

function markDeleted(seq) {
  const item = rendered.get(seq);
  if (!item) return;
  item.classList.add("deleted");
  item.querySelector(".body").textContent = "This message was deleted.";
  item.querySelector(".edited")?.remove();
  regroup(item.nextElementSibling);
}

function markFailed(clientId, detail) {
  const item = pending.get(clientId);
  if (!item) return;
  pending.delete(clientId);
  item.classList.remove("sending", "grouped");
  item.classList.add("failed");
  const when = item.querySelector(".when");
  when.textContent = "Not sent";
  when.title = detail;
  const retry = el("button", "retry", "Retry");
  retry.type = "button";
  retry.addEventListener("click", () => {
    const body = item.dataset.body;
    item.remove();
    updateEmpty();
    queueMessage(body);
  });
  item.querySelector(".message-head").append(retry);
  regroup(item.nextElementSibling);
}

// --- people ----------------------------------------------------------------------------------

function renderOnline(users) {
  if (users) onlineUsers = users;
  const names = new Map(onlineUsers.map((u) => [u.username, u]));
  // You are online whenever your socket is live, whether or not the server lists you.
  if (live && !names.has(me)) names.set(me, { username: me });
  const sorted = [...names.keys()].sort((a, b) => (a === me ? -1 : b === me ? 1 : a.localeCompare(b)));
  online.replaceChildren(
    ...sorted.map((username) => {
      const li = el("li", "online-user");
      const face = avatar(username);
      face.append(el("span", "presence-dot"));
      li.append(face, el("span", "online-name", username));
      if (username === me) li.append(el("span", "you", "(you)"));
      return li;
    }),
  );
  online.classList.toggle("stale", !live);
}

// --- connection ------------------------------------------------------------------------------

const stateText = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Offline",
};

const endedText = {
  4001: ["Logged out", "You were logged out. Log in again to keep chatting."],
  4003: ["Access ended", "Your access to this room ended."],
  4008: ["Disconnected", "You were disconnected for sending too fast. Reload the page to rejoin."],
};

function showError(text, link) {
  errorBox.replaceChildren(document.createTextNode(text));
  if (link) {
    const a = el("a", "", link.text);
    a.href = link.href;
    errorBox.append(" ", a);
  }
  errorBox.hidden = false;
}

function onState({ state, retryInMs, code }) {
  connState.dataset.state = state;
  live = state === "live";
  if (state === "reconnecting") {
    connState.textContent = `Reconnecting in ${Math.max(1, Math.ceil(retryInMs / 1000))}s…`;
  } else if (state === "ended") {
    const [short, long] = endedText[code] ?? ["Disconnected", "This room closed the connection."];
    connState.textContent = short;
    input.disabled = true;
    sendButton.disabled = true;
    onlineUsers = []; // this page is no longer in the room
    for (const retry of list.querySelectorAll(".retry")) retry.disabled = true;
    showError(
      long,
      code === 4001
        ? { text: "Log in", href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}` }
        : { text: "Back to all rooms", href: "/" },
    );
  } else {
    connState.textContent = stateText[state] ?? state;
  }
  renderOnline();
}

const QUIET_ERRORS = new Set(["unknown_type", "invalid_frame", "invalid_json"]);

const socket = new LiveSocket(`/ws/rooms/${encodeURIComponent(room.slug)}/`, {
  backlog: 50,
  handlers: {
    hello: (frame) => {
      helloSeen = true;
      hasHistory = frame.last_seq > 0;
      live = true;
      renderOnline(frame.online ?? []);
      updateEmpty();
    },
    message: (frame) => addMessage(frame.message),
    "message.updated": (frame) => frame.message && addMessage(frame.message),
    "message.deleted": (frame) => markDeleted(frame.seq),
    presence: (frame) => renderOnline(frame.online ?? []),
    typing: (frame) => startedTyping(frame.user?.username),
    pong: () => {},
    error: (frame) => {
      if (frame.ref != null && pending.has(frame.ref)) {
        markFailed(frame.ref, frame.detail);
        showError(frame.detail);
      } else if (QUIET_ERRORS.has(frame.code)) {
        // About a background frame (read mark, typing) the server did not take: not the
        // person's business, and nothing they could do about it.
        console.warn("switchboard:", frame.code, frame.detail);
      } else {
        showError(frame.detail);
      }
    },
    state: onState,
  },
});

// --- composer --------------------------------------------------------------------------------

function queueMessage(body) {
  const frame = socket.sendMessage(body);
  const item = messageItem(
    { author: { username: me }, body, created_at: new Date().toISOString() },
    { sending: true },
  );
  item.dataset.body = body;
  pending.set(frame.client_id, item);
  list.append(item);
  regroup(item);
  updateEmpty();
  scrollToBottom();
}

function send() {
  const body = input.value;
  if (!body.trim() || input.disabled) return;
  lastTypingSent = 0;
  errorBox.hidden = true;
  queueMessage(body);
  input.value = "";
  autosize();
}

function autosize() {
  input.style.height = "";
  if (input.value) input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
  input.focus();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

input.addEventListener("input", () => {
  autosize();
  if (live && input.value.trim() && Date.now() - lastTypingSent > 3000) {
    lastTypingSent = Date.now();
    socket.send({ type: "typing" });
  }
});

scroller.addEventListener("scroll", () => {
  if (distanceFromBottom() < 80) jump.hidden = true;
});

jump.addEventListener("click", scrollToBottom);
loadEarlier.addEventListener("click", showEarlier);

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseen = 0;
    document.title = baseTitle;
    scheduleRead();
  }
});

socket.connect();
if (window.matchMedia("(pointer: fine)").matches) input.focus();
