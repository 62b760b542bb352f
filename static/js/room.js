// The room page: renders what the LiveSocket hands it. Bodies go in as text, never as HTML.
import { LiveSocket } from "./socket.js";

const room = JSON.parse(document.getElementById("room-data").textContent);
const me = JSON.parse(document.getElementById("me").textContent);
const list = document.getElementById("messages");
const online = document.getElementById("online");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const errorBox = document.getElementById("composer-error");
const connState = document.getElementById("conn-state");

const rendered = new Map(); // seq -> <li>
const pending = new Map(); // client_id -> <li> shown as "sending"

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function messageItem(message, { sending = false } = {}) {
  const item = el("li", "message");
  if (message.author.username === me) item.classList.add("mine");
  if (sending) item.classList.add("sending");
  item.dataset.author = message.author.username;
  if (message.seq) item.dataset.seq = message.seq;
  const head = el("div", "message-head");
  head.append(el("span", "avatar", ""));
  head.firstChild.dataset.initial = message.author.username.slice(0, 1).toUpperCase();
  head.append(el("span", "author", message.author.username));
  const when = el("time", "when", sending ? "sending…" : timeFormat.format(new Date(message.created_at)));
  if (!sending) when.dateTime = message.created_at;
  head.append(when);
  item.append(head);
  item.append(el("p", "body", message.deleted ? "This message was deleted." : message.body));
  if (message.deleted) item.classList.add("deleted");
  return item;
}

function atBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function addMessage(message) {
  const stick = atBottom() || message.author.username === me;
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
    // Keep the list ordered by seq whatever order frames arrive in.
    let before = null;
    for (const [seq, node] of rendered) if (seq > message.seq && (!before || seq < Number(before.dataset.seq))) before = node;
    list.insertBefore(item, before ?? list.querySelector(".message.sending"));
  }
  rendered.set(message.seq, item);
  const prev = item.previousElementSibling;
  if (prev && prev.dataset.author === message.author.username && !prev.classList.contains("sending")) item.classList.add("grouped");
  if (stick) list.scrollTop = list.scrollHeight;
}

function renderOnline(users) {
  online.replaceChildren(
    ...users.map((u) => {
      const li = el("li", "online-user");
      const dot = el("span", "dot");
      dot.setAttribute("aria-hidden", "true");
      li.append(dot, document.createTextNode(u.username));
      return li;
    }),
  );
}

const stateText = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  ended: "Your access to this room ended",
};

const socket = new LiveSocket(`/ws/rooms/${encodeURIComponent(room.slug)}/`, {
  backlog: 50,
  handlers: {
    hello: (frame) => renderOnline(frame.online),
    message: (frame) => addMessage(frame.message),
    presence: (frame) => renderOnline(frame.online),
    pong: () => {},
    error: (frame) => {
      errorBox.textContent = frame.detail;
      errorBox.hidden = false;
    },
    state: ({ state, retryInMs }) => {
      connState.dataset.state = state;
      connState.textContent =
        state === "reconnecting" ? `Reconnecting in ${Math.ceil(retryInMs / 1000)}s…` : stateText[state];
      if (state === "ended") {
        input.disabled = true;
        form.querySelector("button").disabled = true;
      }
    },
  },
});

function send() {
  const body = input.value;
  if (!body.trim()) return;
  errorBox.hidden = true;
  const frame = socket.sendMessage(body);
  const item = messageItem(
    { author: { username: me }, body, created_at: new Date().toISOString() },
    { sending: true },
  );
  pending.set(frame.client_id, item);
  list.append(item);
  list.scrollTop = list.scrollHeight;
  input.value = "";
  input.style.height = "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

input.addEventListener("input", () => {
  input.style.height = "";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
});

socket.connect();
input.focus();
