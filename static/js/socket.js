// The one client for Switchboard's sockets, shared by every page.
// It connects, reconnects with exponential backoff and jitter, resumes a room stream from the
// last seq it saw (dropping duplicates) and asks for the edits and deletes it missed meanwhile,
// queues what the user sends before the socket is ready, re-sends unacknowledged messages with
// their client_id, and dispatches frames by type.
// Where WebSockets are blocked (a proxy, a corporate network) a page can give it a fallback
// transport (room-fallback.js: Server-Sent Events in, REST out). The frames it brings are applied
// here like the socket's, by the same seq rules, so the page does not care which one is in use.

import { MAX_BACKOFF_MS, reconnectDelay, resendDelay } from "./backoff.js";
import { FINAL, TOO_BIG } from "./closecodes.js";
import { Heartbeat } from "./heartbeat.js";
import { Outbox, byteLength, newClientId, tooBig } from "./outbox.js";
import { SeqTracker } from "./seqtrack.js";
import { WebSocketProbe } from "./socket-probe.js";

// After this many WebSocket attempts in a row that never got as far as ready (a refused
// handshake, a socket closed before hello), a page with a fallback switches to it, provided
// plain HTTP still reaches the server: then the trouble is WebSockets, not the network.
// One failure is not enough (a server restarting, a flaky network); final closes never count.
const FALLBACK_AFTER = 3;
// A gap in the seqs that nothing fills within this long is fetched over REST.
const GAP_GRACE_MS = 1500;

export function socketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
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
    this.probe = new WebSocketProbe(
      () => socketUrl(this.path),
      (ws, hello) => this.adopt(ws, hello),
    );
    this.resuming = false; // a resume is out and its `resumed` has not come back
    this.gapTimer = null;
    this.seqs = new SeqTracker();
    this.outbox = new Outbox();
    this.queue = []; // other frames sent before the socket was ready
    this.attempt = 0;
    this.ready = false;
    this.closedByServer = null;
    this.stopped = false;
    this.retryTimer = null;
    this.resendTimer = null;
    this.heartbeat = new Heartbeat({
      ping: () => this.raw({ type: "ping" }),
      dead: () => this.dropDeadSocket(),
      live: () => this.ready,
    });
    this.onOnline = () => {
      // The network is back: skip the rest of the backoff. On the fallback, a new network
      // may let WebSockets through: try one now.
      if (this.retryTimer !== null) this.reconnectNow();
      if (this.transport) this.probe.tryNow();
    };
    this.onOffline = () => {
      // The fallback's stream has no heartbeat that a page can see (EventSource hides the
      // server's keepalives), so the network going is taken at its word: the stream restarts
      // from lastSeq when it is back.
      if (this.transport && this.ready) return this.transport.lost();
      // Waiting to retry and the network just went: wait for it to come back instead.
      if (this.retryTimer === null) return;
      clearTimeout(this.retryTimer);
      this.retryIn("offline", MAX_BACKOFF_MS);
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
    this.listen(true);
    this.reachedReady = false;
    this.setState("connecting", { attempt: this.attempt });
    if (this.transport) return this.transport.start();
    const ws = new WebSocket(socketUrl(this.path));
    this.use(ws);
    ws.addEventListener("open", () => ws === this.ws && !this.expectHello && this.onReady());
  }

  // From now on `ws` is the socket; events of one this object has given up on are ignored.
  use(ws) {
    this.ws = ws;
    this.outbox.newSocket();
    ws.addEventListener("message", (event) => ws === this.ws && this.onMessage(event));
    ws.addEventListener("close", (event) => ws === this.ws && this.onClose(event));
  }

  // The network and visibility events that cut a backoff short, while the socket is wanted.
  listen(on) {
    const method = on ? "addEventListener" : "removeEventListener";
    window[method]("online", this.onOnline);
    window[method]("offline", this.onOffline);
    document[method]("visibilitychange", this.onVisible);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.resendTimer);
    clearTimeout(this.gapTimer);
    this.retryTimer = null;
    this.gapTimer = null;
    this.heartbeat.stop();
    this.listen(false);
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
  sendMessage(body, extra = {}) {
    return this.sendOutbox({ type: "message.send", body, client_id: newClientId(), ...extra });
  }

  /** Send (again) a message frame that carries a client_id, keeping that client_id. */
  sendOutbox(frame) {
    if (tooBig(frame)) {
      // The server would close the socket over it; tell the page once it has the frame.
      queueMicrotask(() => this.refuseTooBig(frame));
      return frame;
    }
    this.outbox.add(frame);
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
    this.outbox.noteSent(byteLength(text), frame);
    this.ws.send(text);
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
    this.heartbeat.heard();
    if (frame.type === "hello") return this.onHello(frame);
    if (frame.type === "message" && frame.message) {
      const { seq, client_id: clientId } = frame.message;
      if (clientId) this.outbox.acknowledge(clientId);
      // Applied already (a replay overlapping what came live, a REST answer and the stream
      // both bringing one's own message): the page has it.
      if (this.seqs.applied(seq)) return;
      this.seqs.advance(seq);
      if (this.seqs.hasGap) this.watchGap();
      this.seqs.noteTime(frame.message);
    }
    if (frame.type === "message.updated" && frame.message) this.seqs.noteTime(frame.message);
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
    if (this.outbox.refused(frame) !== "retry") return false;
    this.scheduleResend(this.outbox.tries(frame.ref));
    this.dispatch({ ...frame, retrying: true });
    return true;
  }

  scheduleResend(tries = 1) {
    if (this.resendTimer !== null) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (!this.ready) return; // the next hello sends the outbox anyway
      for (const frame of this.outbox.pending()) this.raw(frame);
    }, resendDelay(tries));
  }

  refuseTooBig(frame) {
    this.outbox.acknowledge(frame.client_id);
    this.dispatch({
      type: "error",
      code: "frame_too_big",
      detail: "This message is too large to send.",
      ref: frame.client_id ?? frame.id ?? null,
    });
  }

  /** Every seq up to this one has been applied; null until the first hello. */
  get lastSeq() {
    return this.seqs.lastSeq;
  }

  // A hole that neither a resume nor the stream fills soon is fetched over REST (the
  // servers fill gaps themselves; this is the client's own guarantee, for every transport).
  watchGap() {
    if (!this.history || this.gapTimer !== null) return;
    this.gapTimer = setTimeout(() => this.fillGap(), GAP_GRACE_MS);
  }

  async fillGap() {
    this.gapTimer = null;
    if (!this.seqs.hasGap || this.stopped) return;
    if (this.resuming || !this.ready) return this.watchGap(); // the resume brings it
    const messages = await this.history(this.lastSeq);
    for (const message of messages ?? []) this.receive({ type: "message", message });
    if (this.seqs.hasGap) this.watchGap();
  }

  onHello(hello) {
    this.dispatch(hello);
    const { updatedSince } = this.seqs;
    if (this.lastSeq === null) {
      // First connect: the page starts from the recent backlog.
      this.seqs.start(Math.max(0, hello.last_seq - this.backlog));
      if (this.backlog && hello.last_seq > this.lastSeq) {
        this.resuming = true;
        this.raw({ type: "resume", after_seq: this.lastSeq });
      }
    } else if (hello.last_seq > this.lastSeq || updatedSince !== null) {
      // A reconnect: the messages missed, and the edits and deletes made meanwhile to the ones
      // already shown.
      const resume = { type: "resume", after_seq: this.lastSeq };
      if (updatedSince !== null) resume.updated_since = updatedSince;
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
      this.heartbeat.start();
    }
    this.setState("live");
    for (const frame of this.outbox.pending()) this.raw(frame);
    for (const frame of this.queue.splice(0)) this.raw(frame);
  }

  onClose(event) {
    this.ready = false;
    this.resuming = false;
    this.heartbeat.stop();
    if (this.stopped) return this.setState("offline");
    if (FINAL.has(event.code)) {
      this.closedByServer = event.code;
      this.leaveFallback();
      this.listen(false);
      return this.setState("ended", { code: event.code });
    }
    if (TOO_BIG.has(event.code)) {
      // The largest message sent on that socket leaves the outbox, so it is not sent forever.
      const culprit = this.outbox.oversized();
      if (culprit) this.refuseTooBig(culprit);
    }
    if (this.fallback && !this.transport && !event.unreachable) {
      // Offline attempts say nothing about WebSockets: the fallback would fail just the same.
      if (!this.reachedReady && navigator.onLine !== false) this.failures += 1;
      if (this.failures >= FALLBACK_AFTER) return this.enterFallback();
    }
    // Without a network there is no point in trying soon: the "online" event reconnects at
    // once, and a slow retry covers a browser that is wrong about being offline.
    const offline = navigator.onLine === false;
    const retryInMs = offline ? MAX_BACKOFF_MS : reconnectDelay(this.attempt);
    this.attempt += 1;
    this.retryIn(offline ? "offline" : "reconnecting", retryInMs);
  }

  // Say when the next attempt is; with `reconnect`, make it then.
  retryIn(state, retryInMs, reconnect = true) {
    this.retryAt = Date.now() + retryInMs;
    if (reconnect) this.retryTimer = setTimeout(() => this.connect(), retryInMs);
    this.setState(state, { retryInMs, retryAt: this.retryAt, attempt: this.attempt });
  }

  // --- the fallback ---------------------------------------------------------------------------

  enterFallback() {
    this.transport = this.fallback(this);
    this.probe.start();
    this.connect(); // at once: the fallback's first request tells whether HTTP gets through
  }

  leaveFallback() {
    this.transport?.stop();
    this.transport = null;
    this.probe.stop();
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
    this.retryIn("reconnecting", retryInMs, false);
  }

  // The background WebSocket said hello: it takes over. Its hello resumes from lastSeq, and
  // the server holds live frames until the replay is out, so the switch loses nothing; a
  // message the fallback was still posting goes out again with its client_id, stored once.
  adopt(ws, hello) {
    this.leaveFallback();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failures = 0;
    this.ready = false;
    this.use(ws);
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
