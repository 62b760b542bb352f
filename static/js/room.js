// The room page: renders what the LiveSocket hands it. Each part of the page is a module of its
// own under room/ (message list, message actions, composer and outbox, typing, read marks,
// people and moderation, connection banner); this one makes the socket, dispatches its frames
// to them, and ties together what happens across parts (a hello, the room ending).
import { closeMenu } from "./menu.js";
import { RoomFallback, messagesAfter } from "./room-fallback.js";
import { LiveSocket } from "./socket.js";
import { closeComposer, focusComposer, onError } from "./room/composer.js";
import { forgetReactions, onReactions } from "./room/conversation.js";
import { closeRepliesComposer, replyFrame } from "./room/replies-panel.js";
import { showConnection, showEnded } from "./room/connection.js";
import { atBottom, jump, list, rendered, scrollToBottom, scroller } from "./room/list-state.js";
import { cancelEdit, syncActions } from "./room/message-actions.js";
import {
  addMessage,
  decorate,
  listHello,
  loadEarlier,
  markDeleted,
  onArrival,
  renderWhen,
  replaceMessage,
  reveal,
} from "./room/message-list.js";
import { conn, layout, room, setSocket } from "./room/page.js";
import { leftRoom, loadMembers, renderOnline } from "./room/people.js";
import {
  backlogArrived,
  countUnseen,
  dismissUnread,
  firstUnread,
  noteVisible,
  scheduleRead,
  sentOwn,
  startUnread,
} from "./room/read-marks.js";
import { clearTyping, startedTyping, stoppedTyping } from "./room/typing.js";

const pageOpenedAt = Date.now();
const loadEarlierButton = document.getElementById("load-earlier");
let helloSeen = false;
let wantSeq = null; // a message to bring into view once the backlog is in (#seq-N links)
let dayNow = new Date().toDateString();

function seqFromHash() {
  const match = window.location.hash.match(/^#seq-(\d+)$/);
  return match ? Number(match[1]) : null;
}

function goTo(seq) {
  wantSeq = null;
  return reveal(seq);
}

// A new message, live: its author stopped typing; one's own moved the read mark; another's,
// while the page is hidden, counts in the tab's title.
onArrival((message, { mine }) => {
  stoppedTyping(message.author.username);
  if (mine) sentOwn(message.seq);
  const fresh = Date.parse(message.created_at) >= pageOpenedAt - 5000;
  if (fresh && !mine && document.hidden) countUnseen();
});

function onHello(frame) {
  const first = !helloSeen;
  helloSeen = true;
  conn.live = true;
  conn.role = frame.room?.role ?? conn.role;
  conn.isMember = frame.room?.is_member ?? conn.isMember;
  if (!first) forgetReactions(); // the resume brings the messages as they are now
  if (first) {
    startUnread(frame);
    wantSeq = seqFromHash();
    loadMembers({ force: true });
  }
  listHello(frame);
  renderOnline(frame.online ?? []);
}

function onState(frame) {
  const wasLive = conn.live;
  conn.live = frame.state === "live";
  conn.limited = frame.limited ?? false;
  showConnection(frame);
  if (conn.live && !wasLive) scheduleRead();
  if (frame.state === "ended") endRoom(frame.code);
  if (!conn.live || conn.limited) clearTyping();
  renderOnline();
}

function endRoom(code) {
  conn.ended = true;
  const how = showEnded(code);
  layout.classList.add("ended");
  dismissUnread();
  closeMenu();
  cancelEdit();
  leftRoom(); // this page is no longer in the room
  closeComposer(how);
  closeRepliesComposer();
  for (const item of rendered.values()) syncActions(item);
}

const socket = new LiveSocket(`/ws/rooms/${encodeURIComponent(room.slug)}/`, {
  backlog: 50,
  history: (afterSeq) => messagesAfter(room.slug, afterSeq),
  // Where WebSockets are blocked: Server-Sent Events and REST, the same frames.
  fallback: (live) => new RoomFallback(live, room.slug),
  handlers: {
    hello: onHello,
    message: (frame) => {
      addMessage(frame.message);
      replyFrame(frame.message);
    },
    "message.updated": (frame) => {
      if (!frame.message) return;
      replaceMessage(frame.message);
      replyFrame(frame.message);
    },
    reactions: onReactions,
    "message.deleted": (frame) => markDeleted(frame),
    resumed: () => {
      backlogArrived();
      if (wantSeq !== null) goTo(wantSeq);
      noteVisible();
    },
    presence: (frame) => renderOnline(frame.online ?? []),
    typing: (frame) => startedTyping(frame.user?.username),
    pong: () => {},
    error: onError,
    state: onState,
  },
});
setSocket(socket);

// Whoever reads the newest messages keeps reading them when the view changes size (a banner,
// the unread bar, a growing composer, a phone keyboard).
let stuckToBottom = true;
scroller.addEventListener("scroll", () => {
  stuckToBottom = atBottom();
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
  scroller.addEventListener(
    kind,
    () => {
      readerScrolled = true;
    },
    { passive: true },
  );
}
new IntersectionObserver(
  (entries) => {
    const visible = entries.some((e) => e.isIntersecting);
    if (visible && readerScrolled && !loadEarlierButton.disabled) loadEarlier();
  },
  { root: scroller },
).observe(loadEarlierButton);
document.getElementById("unread-jump").addEventListener("click", () => {
  if (firstUnread() !== null) goTo(firstUnread()).then(dismissUnread);
});
document.getElementById("unread-dismiss").addEventListener("click", () => {
  dismissUnread();
  focusComposer();
});
window.addEventListener("hashchange", () => {
  const seq = seqFromHash();
  if (seq !== null) goTo(seq);
});

// Relative times ("5 min ago") move on; day separators change at midnight.
setInterval(() => {
  const today = new Date().toDateString();
  const redecorate = today !== dayNow;
  dayNow = today;
  for (const item of list.children) (redecorate ? decorate : renderWhen)(item);
}, 30 * 1000);

socket.connect();
if (window.matchMedia("(pointer: fine)").matches) focusComposer();
