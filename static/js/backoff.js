// How long a client waits before trying again: exponential backoff with jitter, so that a
// server restart is not met by every client at the same instant. No DOM: node --test runs it.
// `random` is Math.random unless a test passes its own.

export const MAX_BACKOFF_MS = 15000;
const FIRST_RECONNECT_MS = 500;
const FIRST_RESEND_MS = 2000;

/** The wait before reconnect attempt `attempt` (0, 1, ...): between half and all of 0.5 s doubling to 15 s. */
export function reconnectDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_BACKOFF_MS, FIRST_RECONNECT_MS * 2 ** attempt);
  return Math.round(base / 2 + random() * (base / 2));
}

/** The wait before sending a refused message again, after `tries` refusals: 2 s doubling to 15 s, ±25%. */
export function resendDelay(tries, random = Math.random) {
  return Math.min(MAX_BACKOFF_MS, (FIRST_RESEND_MS / 2) * 2 ** tries) * (0.75 + random() / 2);
}

/** `delay` ±25%: for timers that should not fire in step across clients. */
export function jittered(delay, random = Math.random) {
  return delay * (0.75 + random() / 2);
}
