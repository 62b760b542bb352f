// The message list's data and its scroll position: the messages received, their list items, the
// unsent ones, and the scroller they sit in. The other room modules read these; message-list.js
// and composer.js change them.
export const list = document.getElementById("messages");
export const scroller = document.getElementById("scroller");
export const jump = document.getElementById("jump");

export const messages = new Map(); // seq -> the message as last received
export const rendered = new Map(); // seq -> <li>
export const pending = new Map(); // client_id -> <li> shown as "sending" or "failed"
export const outgoing = new Map(); // client_id -> the message.send frame, for Retry

export function lowestSeq() {
  let lowest = Infinity;
  for (const seq of rendered.keys()) lowest = Math.min(lowest, seq);
  return lowest;
}

export function distanceFromBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
}

export function atBottom() {
  return distanceFromBottom() < 80;
}

export function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  jump.hidden = true;
}
