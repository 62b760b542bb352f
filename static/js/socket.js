// The one client for Switchboard's sockets, shared by every page.
// It connects, reconnects with exponential backoff and jitter, resumes a room stream from the
// last seq it saw (dropping duplicates), queues what the user sends before the socket is
// ready, re-sends unacknowledged messages with their client_id, and dispatches frames by type.

const MAX_BACKOFF_MS = 15000;
// A ping goes out this often while the socket is live; if no frame at all has come back by the
// next tick, the connection is presumed dead (a laptop that slept, a dropped Wi-Fi) and replaced.
const HEARTBEAT_MS = 20000;

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
   *   handlers: {frameType: fn(frame)}; "state" gets {state, retryInMs}
   *   backlog: on first connect, how many past messages to ask for (rooms only)
   */
  constructor(path, { handlers = {}, backlog = 0 } = {}) {
    this.path = path;
    this.handlers = handlers;
    this.backlog = backlog;
    this.lastSeq = null; // every seq up to this one has been applied; null until the first hello
    this.ahead = new Set(); // seqs applied above a gap
    this.outbox = new Map(); // client_id -> frame, until the server echoes it back
    this.queue = []; // other frames sent before the socket was ready
    this.attempt = 0;
    this.ready = false;
    this.closedByServer = null;
    this.stopped = false;
    this.retryTimer = null;
    this.heartbeat = null;
    this.awaitingPong = false;
    this.onOnline = () => {
      // The network is back: skip the rest of the backoff.
      if (this.retryTimer !== null) this.reconnectNow();
    };
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    window.addEventListener("online", this.onOnline);
    this.setState("connecting");
    const ws = new WebSocket(socketUrl(this.path));
    this.ws = ws;
    // Events of a socket this object has already given up on are ignored.
    ws.addEventListener("message", (event) => ws === this.ws && this.onMessage(event));
    ws.addEventListener("close", (event) => ws === this.ws && this.onClose(event));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopHeartbeat();
    window.removeEventListener("online", this.onOnline);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    else this.setState("offline");
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Send a chat message; it survives reconnects until the server acknowledges it. */
  sendMessage(body) {
    const frame = { type: "message.send", body, client_id: newClientId() };
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
    this.ws.send(JSON.stringify(frame));
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
    this.awaitingPong = false; // any frame proves the connection is alive
    if (frame.type === "hello") return this.onHello(frame);
    if (frame.type === "message") {
      const { seq, client_id: clientId } = frame.message;
      if (clientId) this.outbox.delete(clientId);
      this.advance(seq);
    }
    if (frame.type === "error" && frame.ref != null && this.outbox.has(frame.ref)) {
      // The server refused this message (muted, too long, rate limited...): re-sending it on
      // every reconnect would only be refused again. The page decides whether to retry.
      this.outbox.delete(frame.ref);
    }
    this.dispatch(frame);
  }

  // lastSeq only moves over a contiguous run: a frame that arrives ahead of a gap (say a live
  // message before the replay that a resume asked for) waits in `ahead`, so a reconnect
  // resumes from below any hole. Pages render by seq, so a repeated frame just re-renders.
  advance(seq) {
    if (this.lastSeq === null || seq <= this.lastSeq) return;
    this.ahead.add(seq);
    while (this.ahead.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      this.ahead.delete(this.lastSeq);
    }
  }

  onHello(hello) {
    this.attempt = 0;
    this.dispatch(hello);
    if (this.lastSeq === null) {
      // First connect: the page starts from the recent backlog.
      this.lastSeq = Math.max(0, hello.last_seq - this.backlog);
      if (this.backlog && hello.last_seq > this.lastSeq) this.raw({ type: "resume", after_seq: this.lastSeq });
    } else if (hello.last_seq > this.lastSeq) {
      this.raw({ type: "resume", after_seq: this.lastSeq });
    }
    this.ready = true;
    this.startHeartbeat();
    this.setState("live");
    for (const frame of this.outbox.values()) this.raw(frame);
    for (const frame of this.queue.splice(0)) this.raw(frame);
  }

  onClose(event) {
    this.ready = false;
    this.stopHeartbeat();
    if (this.stopped) return this.setState("offline");
    if ([4001, 4003, 4008].includes(event.code)) {
      // The server ended this socket on purpose; reconnecting would only be refused.
      this.closedByServer = event.code;
      return this.setState("ended", { code: event.code });
    }
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const retryInMs = Math.round(base / 2 + Math.random() * (base / 2)); // jitter
    this.attempt += 1;
    this.setState("reconnecting", { retryInMs });
    this.retryTimer = setTimeout(() => this.connect(), retryInMs);
  }

  setState(state, extra = {}) {
    this.dispatch({ type: "state", state, ...extra });
  }

  dispatch(frame) {
    const handler = this.handlers[frame.type];
    if (handler) handler(frame);
  }
}
