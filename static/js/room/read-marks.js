// Read marks and unread: the highest seq that has been on screen goes to the server as the read
// mark; the "New" line and the unread bar show where unread messages start; the tab's title
// counts messages that came while the page was hidden.
import { list, lowestSeq, rendered, scroller } from "./list-state.js";
import { conn, socket } from "./page.js";

const READ_DELAY_MS = 1000; // the read mark follows what was on screen, this much behind

const unreadBar = document.getElementById("unread-bar");
const unreadCountText = document.getElementById("unread-count");
const baseTitle = document.title;

let readSent = 0; // the read mark the server has (as far as this page knows)
let seenSeq = 0; // the highest seq that has been on screen
let readTimer = null;
let firstUnreadSeq = null; // from the first hello: where "new since last time" starts
let unreadReached = false;
let backlogIn = false; // the first resume finished
let unseen = 0;
let visibleFrame = 0;

/** Where the "New" line goes, or null. */
export function firstUnread() {
  return firstUnreadSeq;
}

/** The first hello: how much is unread, and so where the "New" line goes. */
export function startUnread(hello) {
  const unread = conn.isMember ? (hello.room?.unread ?? 0) : 0;
  readSent = conn.isMember ? hello.last_seq - unread : 0;
  if (unread > 0) {
    firstUnreadSeq = hello.last_seq - unread + 1;
    unreadCountText.textContent = `${unread} unread message${unread === 1 ? "" : "s"}`;
  }
  if (hello.last_seq === 0) backlogIn = true; // an empty room: no resume to wait for
}

/** The backlog the first resume asked for is in. */
export function backlogArrived() {
  backlogIn = true;
}

/** One's own message arrived: sending made the person a member and moved their read mark. */
export function sentOwn(seq) {
  conn.isMember = true;
  readSent = Math.max(readSent, seq);
}

/** A new message from someone else while the page is hidden: count it in the tab's title. */
export function countUnseen() {
  unseen += 1;
  document.title = `(${unseen}) ${baseTitle}`;
}

/** The unread bar has done its job (jumped to, dismissed, or the room ended). */
export function dismissUnread() {
  unreadReached = true;
  updateUnreadBar();
}

/** Something may have come into view: measure once, on the next frame. */
export function noteVisible() {
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
export function scheduleRead() {
  // Not while the backlog streams in: the mark would creep up message by message.
  if (readTimer !== null || seenSeq <= readSent || !backlogIn) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    if (!conn.live || !conn.isMember || seenSeq <= readSent) return;
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

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseen = 0;
    document.title = baseTitle;
    noteVisible();
  }
});
