// "alice is typing…": the line under the messages for others, and this page's own typing frames.
import { atBottom, scroller } from "./list-state.js";
import { conn, me, socket } from "./page.js";

const TYPING_SHOWN_MS = 5000; // a typing line goes after this long without a new typing frame
const TYPING_EVERY_MS = 3000; // how often this page says the person is still typing
const SERVER_TYPING_GAP_MS = 2100; // the server passes on one typing frame per 2 s per person

const typingLine = document.getElementById("typing");
const input = document.getElementById("message-input");
const typingUsers = new Map(); // username -> timeout that forgets them
let lastTypingSent = 0;
let typingNextAt = 0;
let typingSoon = false; // just sent a message: a "typing" for the next one may wait a moment
let typingTimer = null;

function renderTyping() {
  const names = [...typingUsers.keys()];
  const stick = atBottom();
  typingLine.hidden = names.length === 0;
  // The line gets room of its own under the last message rather than covering it.
  typingLine.parentElement.classList.toggle("has-typing", names.length > 0);
  if (stick) scroller.scrollTop = scroller.scrollHeight;
  if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) typingLine.textContent = "Several people are typing…";
}

export function startedTyping(username) {
  if (!username || username === me) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.set(
    username,
    setTimeout(() => stoppedTyping(username), TYPING_SHOWN_MS),
  );
  renderTyping();
}

export function stoppedTyping(username) {
  if (!typingUsers.has(username)) return;
  clearTimeout(typingUsers.get(username));
  typingUsers.delete(username);
  renderTyping();
}

export function clearTyping() {
  for (const username of [...typingUsers.keys()]) stoppedTyping(username);
}

// This page says "typing" at most every few seconds while the person types. The server passes
// on one per 2 s: right after a send (when the next message often starts at once) the frame
// waits until the server would take it, instead of being dropped.
/** The person typed in the composer. */
export function typed() {
  if (!conn.live || conn.limited || !input.value.trim()) return;
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

/** A message went out: the next "typing" waits until the server would pass it on. */
export function sentMessage() {
  typingNextAt = lastTypingSent + SERVER_TYPING_GAP_MS;
  typingSoon = true;
  clearTimeout(typingTimer);
  typingTimer = null;
}
