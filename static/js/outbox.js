// Messages sent but not yet acknowledged, keyed by client_id (CONTRACT §4: the server stores a
// client_id once, so sending one again can never make a duplicate). The socket sends the whole
// outbox again on every (re)connect, until the server echoes each message back. No DOM here:
// node --test runs it.

// A message refused with one of these is tried again later with the same client_id; other
// refusals (muted, forbidden, body_too_long, ...) are final.
const RETRYABLE = new Set(["rate_limited", "unavailable"]);
export const MAX_SEND_RETRIES = 5;
// The server refuses frames over 64 KiB by closing the socket (1009 from Daphne, 4009 from the
// application). Such a frame is never sent, and one that still closed the socket is dropped.
export const MAX_FRAME_BYTES = 64 * 1024;
const SENT_KEPT = 200;

const encoder = new TextEncoder();
export const byteLength = (text) => encoder.encode(text).length;

export function tooBig(frame) {
  return byteLength(JSON.stringify(frame)) > MAX_FRAME_BYTES;
}

/** A fresh client_id for a message (CONTRACT §4: a uuid). */
export function newClientId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

export class Outbox {
  constructor() {
    this.frames = new Map(); // client_id -> frame, until the server echoes it back
    this.retries = new Map(); // client_id -> how often a retryable refusal came back
    this.sentHere = []; // [size, frame] sent on the current socket, to find an oversized one
  }

  get size() {
    return this.frames.size;
  }

  has(clientId) {
    return this.frames.has(clientId);
  }

  add(frame) {
    this.frames.set(frame.client_id, frame);
  }

  /** The frames to send (again), oldest first. */
  pending() {
    return [...this.frames.values()];
  }

  /** The server has the message with this client_id: it leaves the outbox. */
  acknowledge(clientId) {
    this.frames.delete(clientId);
    this.retries.delete(clientId);
  }

  /**
   * An error frame about a message: "retry" (send it again later, same client_id), "final"
   * (it left the outbox; the page decides whether the person retries) or null (not ours).
   */
  refused(frame) {
    if (frame.ref == null || !this.frames.has(frame.ref)) return null;
    const tries = (this.retries.get(frame.ref) ?? 0) + 1;
    if (RETRYABLE.has(frame.code) && tries <= MAX_SEND_RETRIES) {
      this.retries.set(frame.ref, tries);
      return "retry";
    }
    // Re-sending it on every reconnect would only be refused again.
    this.acknowledge(frame.ref);
    return "final";
  }

  /** How many retryable refusals the message with this client_id has had. */
  tries(clientId) {
    return this.retries.get(clientId) ?? 0;
  }

  /** A new socket: forget what went out on the old one. */
  newSocket() {
    this.sentHere = [];
  }

  /** Note a frame that went out on the current socket, with its size in bytes. */
  noteSent(size, frame) {
    this.sentHere.push([size, frame]);
    if (this.sentHere.length > SENT_KEPT) this.sentHere.splice(0, SENT_KEPT / 2);
  }

  // The server closed the socket over a frame too large for it: the largest frame sent on that
  // socket. If it is a message still in the outbox, it is the one to drop.
  /** The outbox message that most likely closed the socket for being too large, or null. */
  oversized() {
    let culprit = null;
    let largest = -1;
    for (const [size, frame] of this.sentHere) {
      if (size > largest) [largest, culprit] = [size, frame];
    }
    return culprit?.client_id && this.frames.has(culprit.client_id) ? culprit : null;
  }
}
