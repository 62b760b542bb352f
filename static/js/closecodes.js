// Every close code a Switchboard socket can end with, and what each page says about it: the
// browser's mirror of realtime/closecodes.py (tests/js/closecodes.test.js keeps the two the
// same). The room, dashboard, notes and notification pages all read their wording from here.

export const CloseCode = Object.freeze({
  SESSION_ENDED: 4001,
  ACCESS_REVOKED: 4003,
  ABUSE: 4008,
  FRAME_TOO_BIG: 4009,
  UPDATE_REFUSED: 4010,
  SERVER_ERROR: 4011,
  TOO_SLOW: 4013,
  // Daphne itself closes with 1009 on a frame over --websocket-max-message-size.
  MESSAGE_TOO_BIG: 1009,
});

// final: reconnecting would only be refused, so the page stops trying.
// resumable: the server asks the client to come back and resume from its last seq.
// label: a few words for a connection pill. text: the sentence that says what happened; a page
// adds what the person can do about it ("Log in again to keep chatting.").
const TABLE = new Map([
  [CloseCode.SESSION_ENDED, { final: true, label: "Signed out", text: "You were signed out." }],
  [CloseCode.ACCESS_REVOKED, { final: true, label: "Access ended", text: "Your access to this room ended." }],
  [
    CloseCode.ABUSE,
    { final: true, label: "Disconnected", text: "You were disconnected for sending too much too fast." },
  ],
  [CloseCode.FRAME_TOO_BIG, { label: "Too large to sync", text: "Something sent was too large for the server." }],
  [CloseCode.MESSAGE_TOO_BIG, { label: "Too large to sync", text: "Something sent was too large for the server." }],
  [CloseCode.UPDATE_REFUSED, { label: "Change not saved", text: "Your last change was not saved." }],
  [CloseCode.SERVER_ERROR, { resumable: true, label: "Reconnecting", text: "The server had a problem." }],
  [CloseCode.TOO_SLOW, { resumable: true, label: "Reconnecting", text: "The connection fell behind." }],
]);

const UNKNOWN = { label: "Disconnected", text: "The connection closed." };

/** What is known about a close code (an unknown one: not final, not resumable). */
export function closeInfo(code) {
  return { final: false, resumable: false, ...(TABLE.get(code) ?? UNKNOWN) };
}

// Codes that end a socket for good: 4001, 4003, 4008.
export const FINAL = new Set(knownCodes().filter((code) => closeInfo(code).final));
// Codes after which the client reconnects and resumes: 4011, 4013.
export const RESUMABLE = new Set(knownCodes().filter((code) => closeInfo(code).resumable));
// A frame too large for the server: 1009 from Daphne, 4009 from the application.
export const TOO_BIG = new Set([CloseCode.MESSAGE_TOO_BIG, CloseCode.FRAME_TOO_BIG]);

// The notes socket also stops for good on a frame too large and on a refused update: the next
// sync would only send the same thing again.
export const ENDS_NOTES = new Set([...FINAL, ...TOO_BIG, CloseCode.UPDATE_REFUSED]);

/** Every code in the table, for the test that compares it with realtime/closecodes.py. */
export function knownCodes() {
  return [...TABLE.keys()];
}
