// The one client for Switchboard's sockets, shared by every page.
// It connects, reconnects with exponential backoff and jitter, resumes a room stream from the
// last seq it saw (dropping duplicates) and asks for the edits and deletes it missed meanwhile,
// queues what the user sends before the socket is ready, re-sends unacknowledged messages with
// their client_id, and dispatches frames by type.
// Where WebSockets are blocked (a proxy, a corporate network) a page can give it a fallback
// transport (room-fallback.js: Server-Sent Events in, REST out). The frames it brings are applied
// here like the socket's, by the same seq rules, so the page does not care which one is in use.

const MAX_BACKOFF_MS = 15000;
// A ping goes out this often while the socket is live; if no frame at all has come back by the
// next tick, the connection is presumed dead (a laptop that slept, a dropped Wi-Fi) and replaced.
const HEARTBEAT_MS = 20000;
// The server refuses frames over 64 KiB by closing the socket (1009 from Daphne, 4009 from the
// application). Such a frame is never sent, and one that still closed the socket is dropped.
export const MAX_FRAME_BYTES = 64 * 1024;
const TOO_BIG = new Set([1009, 4009]);
// Close codes that end a socket for good: reconnecting would only be refused.
const FINAL = new Set([4001, 4003, 4008]);
// A message refused with one of these is tried again later with the same client_id (the server
// stores a client_id once, so a retry can never make a duplicate); other refusals are final.
const RETRYABLE = new Set(["rate_limited", "unavailable"]);
const MAX_SEND_RETRIES = 5;
// After this many WebSocket attempts in a row that never got as far as ready (a refused
// handshake, a socket closed before hello), a page with a fallback switches to it, provided
// plain HTTP still reaches the server: then the trouble is WebSockets, not the network.
// One failure is not enough (a server restarting, a flaky network); final closes never count.
const FALLBACK_AFTER = 3;
// While on the fallback the WebSocket is tried again in the background, less and less often;
// the first one that says hello takes over.
const PROBE_FIRST_MS = 10000;
const PROBE_MAX_MS = 5 * 60 * 1000;
const PROBE_HELLO_MS = 10000; // a probe that opens but never says hello is given up
// A gap in the seqs that nothing fills within this long is fetched over REST.
const GAP_GRACE_MS = 1500;

const encoder = new TextEncoder();
const byteLength = (text) => encoder.encode(text).length;

export function socketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

export function newClientId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

export class LiveSocket {
  /**
   * @param {string} path  e.g. "/ws/rooms/lobby/"
   * @param {object} options
   *   handlers: {frameType: fn(frame)}; "state" gets {state, attempt, retryAt, retryInMs, code}
   *     with state one of connecting, live, reconnecting, offline, ended
   *   backlog: on first connect, how many past messages to ask for (rooms only)
   *   hello: whether the server greets with a `hello` frame (rooms); without one the socket is
   *     ready as soon as it opens (notifications)
   *   history: async (afterSeq) => the messages above it (a page of them) or null; fills gaps
   *   fallback: (liveSocket) => a transport for when WebSockets are blocked (rooms only), with
   *     start(), send(frame) and stop(); it hands this object frames through receive()
   */
  constructor(path, { handlers = {}, backlog = 0, hello = true, history = null, fallback = null } = {}) {
    this.path = path;
    this.handlers = handlers;
    this.backlog = backlog;
    this.expectHello = hello;
    this.history = history;
    this.fallback = fallback;
    this.transport = null; // the fallback in use; null while on the WebSocket
    this.failures = 0; // WebSocket attempts in a row that never became ready
    this.reachedReady = false; // whether the current attempt did
    this.probe = null; // a background WebSocket tried while on the fallback
    this.probeTimer = null;
    this.probeDelay = PROBE_FIRST_MS;
    this.resuming = false; // a resume is out and its `resumed` has not come back
    this.gapTimer = null;
    this.lastSeq = null; // every seq up to this one has been applied; null until the first hello
    this.ahead = new Set(); // seqs applied above a gap
    this.updatedSince = null; // the newest created_at / edited_at seen, for resume
    this.outbox = new Map(); // client_id -> frame, until the server echoes it back
    this.retries = new Map(); // client_id -> how often a retryable refusal came back
    this.queue = []; // other frames sent before the socket was ready
    this.sentHere = []; // [size, frame] sent on the current socket, to find an oversized one
    this.attempt = 0;
    this.ready = false;
    this.closedByServer = null;
    this.stopped = false;
    this.retryTimer = null;
    this.resendTimer = null;
    this.heartbeat = null;
    this.awaitingPong = false;
    this.onOnline = () => {
      // The network is back: skip the rest of the backoff. On the fallback, a new network
      // may let WebSockets through: try one now.
      if (this.retryTimer !== null) this.reconnectNow();
      if (this.transport) this.tryWebSocket();
    };
    this.onOffline = () => {
      // The fallback's stream has no heartbeat that a page can see (EventSource hides the
      // server's keepalives), so the network going is taken at its word: the stream restarts
      // from lastSeq when it is back.
      if (this.transport && this.ready) return this.transport.lost();
      // Waiting to retry and the network just went: wait for it to come back instead.
      if (this.retryTimer === null) return;
      clearTimeout(this.retryTimer);
      this.retryAt = Date.now() + MAX_BACKOFF_MS;
      this.retryTimer = setTimeout(() => this.connect(), MAX_BACKOFF_MS);
      this.setState("offline", { retryAt: this.retryAt, retryInMs: MAX_BACKOFF_MS, attempt: this.attempt });
    };
    this.onVisible = () => {
      // A phone that wakes up should not wait out a long backoff.
      if (document.visibilityState === "visible" && this.retryTimer !== null && navigator.onLine) {
        this.reconnectNow();
      }
    };
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.reachedReady = false;
    this.setState("connecting", { attempt: this.attempt });
    if (this.transport) return this.transport.start();
    const ws = new WebSocket(socketUrl(this.path));
    this.ws = ws;
    this.sentHere = [];
    // Events of a socket this object has already given up on are ignored.
    ws.addEventListener("open", () => ws === this.ws && !this.expectHello && this.onReady());
    ws.addEventListener("message", (event) => ws === this.ws && this.onMessage(event));
    ws.addEventListener("close", (event) => ws === this.ws && this.onClose(event));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.resendTimer);
    clearTimeout(this.gapTimer);
    this.retryTimer = null;
    this.gapTimer = null;
    this.stopHeartbeat();
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    document.removeEventListener("visibilitychange", this.onVisible);
    if (this.transport) {
      this.leaveFallback();
      this.setState("offline");
    } else if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    else this.setState("offline");
  }

  reconnectNow() {
    if (this.closedByServer !== null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Send a chat message; it survives reconnects until the server acknowledges it. */
  sendMessage(body) {
    return this.sendOutbox({ type: "message.send", body, client_id: newClientId() });
  }

  /** Send (again) a message frame that carries a client_id, keeping that client_id. */
  sendOutbox(frame) {
    if (byteLength(JSON.stringify(frame)) > MAX_FRAME_BYTES) {
      // The server would close the socket over it; tell the page once it has the frame.
      queueMicrotask(() => this.refuseTooBig(frame));
      return frame;
    }
    this.outbox.set(frame.client_id, frame);
    if (this.ready) this.raw(frame);
    return frame;
  }

  /** Send any other frame; queued while the socket is not ready. */
  send(frame) {
    if (this.ready) this.raw(frame);
    else this.queue.push(frame);
  }

  raw(frame) {
    if (this.transport) return this.transport.send(frame);
    const text = JSON.stringify(frame);
    this.sentHere.push([byteLength(text), frame]);
    if (this.sentHere.length > 200) this.sentHere.splice(0, 100);
    this.ws.send(text);
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.awaitingPong = false;
    this.heartbeat = setInterval(() => {
      if (!this.ready) return;
      if (this.awaitingPong) return this.dropDeadSocket();
      this.awaitingPong = true;
      this.raw({ type: "ping" });
    }, HEARTBEAT_MS);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  dropDeadSocket() {
    // A dead TCP connection can take minutes to report "close"; stop listening to it and
    // reconnect now (onClose is what a real close would have run).
    const ws = this.ws;
    this.ws = null;
    try {
      ws.close();
    } catch {
      // already closing
    }
    this.onClose({ code: 1006 });
  }

  onMessage(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    this.receive(frame);
  }

  /** Apply one server frame, whichever transport brought it. */
  receive(frame) {
    this.awaitingPong = false; // any frame proves the connection is alive
    if (frame.type === "hello") return this.onHello(frame);
    if (frame.type === "message" && frame.message) {
      const { seq, client_id: clientId } = frame.message;
      if (clientId) {
        this.outbox.delete(clientId);
        this.retries.delete(clientId);
      }
      // Applied already (a replay overlapping what came live, a REST answer and the stream
      // both bringing one's own message): the page has it.
      if (this.applied(seq)) return;
      this.advance(seq);
      this.noteTime(frame.message);
    }
    if (frame.type === "message.updated" && frame.message) this.noteTime(frame.message);
    if (frame.type === "resumed" || frame.type === "reload") this.resuming = false;
    if (frame.type === "error" && this.onRefused(frame)) return;
    this.dispatch(frame);
  }

  /** An error frame about a message in the outbox; true if it is handled here. */
  onRefused(frame) {
    if (frame.code === "rate_limited" && frame.ref == null && this.outbox.size) {
      // A frame-rate refusal does not say which frame it was: send the outbox again later.
      this.scheduleResend();
      return false;
    }
    if (frame.ref == null || !this.outbox.has(frame.ref)) return false;
    const tries = (this.retries.get(frame.ref) ?? 0) + 1;
    if (RETRYABLE.has(frame.code) && tries <= MAX_SEND_RETRIES) {
      this.retries.set(frame.ref, tries);
      this.scheduleResend(tries);
      this.dispatch({ ...frame, retrying: true });
      return true;
    }
    // Refused for good (muted, forbidden, too long...): re-sending it on every reconnect would
    // only be refused again. The page decides whether the person retries.
    this.outbox.delete(frame.ref);
    this.retries.delete(frame.ref);
    return false;
  }

  scheduleResend(tries = 1) {
    if (this.resendTimer !== null) return;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** tries) * (0.75 + Math.random() / 2);
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (!this.ready) return; // the next hello sends the outbox anyway
      for (const frame of this.outbox.values()) this.raw(frame);
    }, delay);
  }

  refuseTooBig(frame) {
    this.outbox.delete(frame.client_id);
    this.dispatch({
      type: "error",
      code: "frame_too_big",
      detail: "This message is too large to send.",
      ref: frame.client_id ?? frame.id ?? null,
    });
  }

  // The newest server timestamp seen: a resume asks for what changed since then.
  noteTime(message) {
    for (const stamp of [message.created_at, message.edited_at]) {
      if (stamp && (this.updatedSince === null || Date.parse(stamp) > Date.parse(this.updatedSince))) {
        this.updatedSince = stamp;
      }
    }
  }

  applied(seq) {
    return this.lastSeq !== null && (seq <= this.lastSeq || this.ahead.has(seq));
  }

  // lastSeq only moves over a contiguous run: a frame that arrives ahead of a gap (say a live
  // message before the replay that a resume asked for) waits in `ahead`, so a reconnect
  // resumes from below any hole. Pages render by seq, whatever order frames come in.
  advance(seq) {
    if (this.lastSeq === null || seq <= this.lastSeq) return;
    this.ahead.add(seq);
    while (this.ahead.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      this.ahead.delete(this.lastSeq);
    }
    if (this.ahead.size) this.watchGap();
  }

  // A hole that neither a resume nor the stream fills soon is fetched over REST (the
  // servers fill gaps themselves; this is the client's own guarantee, for every transport).
  watchGap() {
    if (!this.history || this.gapTimer !== null) return;
    this.gapTimer = setTimeout(() => this.fillGap(), GAP_GRACE_MS);
  }

  async fillGap() {
    this.gapTimer = null;
    if (!this.ahead.size || this.stopped) return;
    if (this.resuming || !this.ready) return this.watchGap(); // the resume brings it
    const messages = await this.history(this.lastSeq);
    for (const message of messages ?? []) this.receive({ type: "message", message });
    if (this.ahead.size) this.watchGap();
  }

  onHello(hello) {
    this.dispatch(hello);
    if (this.lastSeq === null) {
      // First connect: the page starts from the recent backlog.
      this.lastSeq = Math.max(0, hello.last_seq - this.backlog);
      if (this.backlog && hello.last_seq > this.lastSeq) {
        this.resuming = true;
        this.raw({ type: "resume", after_seq: this.lastSeq });
      }
    } else if (hello.last_seq > this.lastSeq || this.updatedSince !== null) {
      // A reconnect: the messages missed, and the edits and deletes made meanwhile to the ones
      // already shown.
      const resume = { type: "resume", after_seq: this.lastSeq };
      if (this.updatedSince !== null) resume.updated_since = this.updatedSince;
      this.resuming = true;
      this.raw(resume);
    }
    this.onReady();
  }

  onReady() {
    this.attempt = 0;
    this.ready = true;
    this.reachedReady = true;
    if (!this.transport) {
      this.failures = 0;
      this.startHeartbeat();
    }
    this.setState("live");
    for (const frame of this.outbox.values()) this.raw(frame);
    for (const frame of this.queue.splice(0)) this.raw(frame);
  }

  onClose(event) {
    this.ready = false;
    this.resuming = false;
    this.stopHeartbeat();
    if (this.stopped) return this.setState("offline");
    if (FINAL.has(event.code)) {
      this.closedByServer = event.code;
      this.leaveFallback();
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
      document.removeEventListener("visibilitychange", this.onVisible);
      return this.setState("ended", { code: event.code });
    }
    if (TOO_BIG.has(event.code)) this.dropOversized();
    if (this.fallback && !this.transport && !event.unreachable) {
      // Offline attempts say nothing about WebSockets: the fallback would fail just the same.
      if (!this.reachedReady && navigator.onLine !== false) this.failures += 1;
      if (this.failures >= FALLBACK_AFTER) return this.enterFallback();
    }
    // Without a network there is no point in trying soon: the "online" event reconnects at
    // once, and a slow retry covers a browser that is wrong about being offline.
    const offline = navigator.onLine === false;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const retryInMs = offline ? MAX_BACKOFF_MS : Math.round(base / 2 + Math.random() * (base / 2)); // jitter
    this.attempt += 1;
    this.retryAt = Date.now() + retryInMs;
    this.setState(offline ? "offline" : "reconnecting", {
      retryInMs,
      retryAt: this.retryAt,
      attempt: this.attempt,
    });
    this.retryTimer = setTimeout(() => this.connect(), retryInMs);
  }

  // The server closed the socket over a frame too large for it: the largest frame sent on that
  // socket. If it is a message, it leaves the outbox so that it is not sent again forever.
  dropOversized() {
    let culprit = null;
    let largest = -1;
    for (const [size, frame] of this.sentHere) {
      if (size > largest) [largest, culprit] = [size, frame];
    }
    if (culprit?.client_id && this.outbox.has(culprit.client_id)) this.refuseTooBig(culprit);
  }

  // --- the fallback ---------------------------------------------------------------------------

  enterFallback() {
    this.transport = this.fallback(this);
    this.probeDelay = PROBE_FIRST_MS;
    this.scheduleProbe();
    this.connect(); // at once: the fallback's first request tells whether HTTP gets through
  }

  leaveFallback() {
    this.transport?.stop();
    this.transport = null;
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
    const probe = this.probe;
    this.probe = null;
    probe?.close();
  }

  /** From the fallback: HTTP does not reach the server either, so the WebSocket retries on. */
  unreachable() {
    this.leaveFallback();
    this.onClose({ code: 1006, unreachable: true });
  }

  /** From the fallback: its stream dropped and the browser reconnects it by itself. */
  interrupted(retryInMs) {
    this.ready = false;
    this.resuming = false;
    this.attempt += 1;
    this.retryAt = Date.now() + retryInMs;
    this.setState("reconnecting", { retryInMs, retryAt: this.retryAt, attempt: this.attempt });
  }

  scheduleProbe() {
    clearTimeout(this.probeTimer);
    const delay = this.probeDelay * (0.75 + Math.random() / 2);
    this.probeDelay = Math.min(PROBE_MAX_MS, this.probeDelay * 2);
    this.probeTimer = setTimeout(() => this.tryWebSocket(), delay);
  }

  tryWebSocket() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (!this.transport || this.stopped || this.probe) return;
    const ws = new WebSocket(socketUrl(this.path));
    this.probe = ws;
    setTimeout(() => ws === this.probe && ws.close(), PROBE_HELLO_MS);
    ws.addEventListener("message", (event) => {
      if (ws !== this.probe) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") this.adopt(ws, frame);
    });
    ws.addEventListener("close", () => {
      if (ws !== this.probe) return;
      this.probe = null;
      if (this.transport) this.scheduleProbe();
    });
  }

  // The background WebSocket said hello: it takes over. Its hello resumes from lastSeq, and
  // the server holds live frames until the replay is out, so the switch loses nothing; a
  // message the fallback was still posting goes out again with its client_id, stored once.
  adopt(ws, hello) {
    this.probe = null;
    this.leaveFallback();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failures = 0;
    this.ready = false;
    this.ws = ws;
    this.sentHere = [];
    ws.addEventListener("message", (event) => ws === this.ws && this.onMessage(event));
    ws.addEventListener("close", (event) => ws === this.ws && this.onClose(event));
    this.onHello(hello);
  }

  setState(state, extra = {}) {
    this.state = state;
    // `limited`: on the fallback, where typing and presence do not exist.
    this.dispatch({ type: "state", state, limited: this.transport !== null, ...extra });
  }

  dispatch(frame) {
    const handler = this.handlers[frame.type];
    if (handler) handler(frame);
  }
}
