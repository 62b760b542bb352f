// A room without WebSockets (CONTRACT §3): the room's frames come in as Server-Sent Events from
// /sse/rooms/<slug>/, and what the page says goes out over REST. LiveSocket switches to this
// when WebSockets are blocked; it applies these frames exactly as it applies the socket's (seq
// order, duplicates dropped, gaps filled), so this module only moves frames. Typing and
// presence have no HTTP form: those frames are not sent, and the page says so.
import { api } from "./api.js";
import { CloseCode } from "./closecodes.js";

const PAGE = 200; // the largest page of history the API gives
// A resume also looks this far back for what changed while the page was not listening (the
// socket's `updated_since`; the stream itself replays only new messages).
const CHANGES_WINDOW = 200;
const STREAM_RETRY_MS = 2000; // the `retry:` the server sets for EventSource

/** The messages above `afterSeq` (up to a page), or null if they could not be fetched. */
export async function messagesAfter(slug, afterSeq) {
  const path = `/api/rooms/${encodeURIComponent(slug)}/messages/?after_seq=${afterSeq}&limit=${PAGE}`;
  const result = await api("GET", path);
  return result.ok ? result.data : null;
}

// An HTTP refusal that ends the room for this page, as the socket's close codes do.
function ending(status) {
  if (status === 401) return CloseCode.SESSION_ENDED;
  if (status === 403 || status === 404) return CloseCode.ACCESS_REVOKED; // banned, removed, or gone
  return null;
}

export class RoomFallback {
  constructor(live, slug) {
    this.live = live;
    this.slug = slug;
    this.api = `/api/rooms/${encodeURIComponent(slug)}`;
    this.events = `/sse/rooms/${encodeURIComponent(slug)}/`;
    this.source = null;
    this.stopped = false;
    this.everOpened = false;
    this.writes = Promise.resolve(); // one REST write at a time, in order, as on a socket
    this.posting = new Set(); // client_ids whose POST is on its way
  }

  /** Open the stream from the last seq applied (EventSource's own reconnects send Last-Event-ID). */
  async start() {
    this.closeSource();
    let after = this.live.lastSeq;
    if (after === null) {
      // Nothing applied yet: start at the room's newest message; the hello's resume brings
      // the backlog before it.
      const room = await this.room();
      if (!room) return;
      after = room.last_seq;
    }
    if (this.stopped) return;
    const source = new EventSource(`${this.events}?after_seq=${after}`);
    this.source = source;
    source.addEventListener("open", () => source === this.source && this.opened(source));
    source.addEventListener("error", () => source === this.source && this.failed(source));
    for (const type of ["message", "message.updated", "message.deleted", "reactions"]) {
      source.addEventListener(type, (event) => {
        if (source !== this.source) return;
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        this.live.receive(frame);
      });
    }
  }

  stop() {
    this.stopped = true;
    this.closeSource();
  }

  closeSource() {
    this.source?.close();
    this.source = null;
  }

  // The server is subscribed once the stream is open: what the page missed until now comes
  // from the resume that this hello starts, what happens from now on from the stream.
  async opened(source) {
    const room = await this.room();
    if (!room || source !== this.source || source.readyState !== EventSource.OPEN) return;
    this.everOpened = true;
    this.live.receive({ type: "hello", room, last_seq: room.last_seq, online: null, user: null });
  }

  failed(source) {
    if (source.readyState === EventSource.CONNECTING) {
      this.live.interrupted(STREAM_RETRY_MS);
      return;
    }
    // The browser gave up on it: the answer was not a stream. Ask what it was.
    this.closeSource();
    this.diagnose();
  }

  async diagnose() {
    const abort = new AbortController();
    let status;
    try {
      status = (await fetch(this.events, { credentials: "same-origin", signal: abort.signal })).status;
    } catch {
      status = 0;
    }
    abort.abort();
    this.giveUp(status);
  }

  /** The room as the caller sees it, or null after handing the failure to the LiveSocket. */
  async room() {
    const result = await api("GET", `${this.api}/`);
    if (this.stopped) return null;
    if (result.ok) return result.data;
    this.giveUp(result.status);
    return null;
  }

  // A request that failed with this status: the room is over for this page (signed out,
  // banned, gone), or HTTP does not get through either (so WebSockets were not the trouble),
  // or it is tried again after the socket's backoff.
  giveUp(status) {
    if (this.stopped) return;
    const code = ending(status);
    const unreachable = !this.everOpened && (status === 0 || status >= 500);
    if (code === null && !unreachable) return this.lost();
    this.closeSource();
    if (code !== null) this.live.onClose({ code });
    else this.live.unreachable();
  }

  /** The stream is presumed dead: it starts again from the last seq applied, after a backoff. */
  lost() {
    if (this.stopped) return;
    this.closeSource();
    this.live.onClose({ code: 1006 });
  }

  send(frame) {
    const message = (id) => `${this.api}/messages/${id}/`;
    if (frame.type === "message.send") {
      this.post(frame);
    } else if (frame.type === "message.edit") {
      this.write(
        frame.id,
        () => api("PATCH", message(frame.id), { body: frame.body }),
        (data) => {
          this.live.receive({ type: "message.updated", message: data });
        },
      );
    } else if (frame.type === "message.delete") {
      this.write(frame.id, () => api("DELETE", message(frame.id))); // the stream brings message.deleted
    } else if (frame.type === "read") {
      this.write(null, () => api("POST", `${this.api}/read/`, { seq: frame.seq }));
    } else if (frame.type === "resume") {
      this.resume(frame);
    } else if (frame.type === "reaction.add" || frame.type === "reaction.remove") {
      const method = frame.type === "reaction.add" ? "POST" : "DELETE";
      this.write(frame.id, () => api(method, `${message(frame.id)}reactions/`, { emoji: frame.emoji })); // the stream brings reactions
    }
    // typing and ping have no HTTP form
  }

  // The same client_id as on the socket: a message the socket may already have delivered,
  // or a retry after a lost answer, is stored once and answered with the original.
  post(frame) {
    if (this.posting.has(frame.client_id)) return; // on its way; its answer acknowledges it
    this.posting.add(frame.client_id);
    const body = { body: frame.body, client_id: frame.client_id };
    if (frame.reply_to != null) body.reply_to = frame.reply_to;
    if (frame.attachments?.length) body.attachments = frame.attachments;
    this.write(
      frame.client_id,
      () => api("POST", `${this.api}/messages/`, body).finally(() => this.posting.delete(frame.client_id)),
      (data) => this.live.receive({ type: "message", message: data }),
    );
  }

  /** A REST write after the ones before it; a refusal comes back as the socket's error frame. */
  write(ref, request, onOk = () => {}) {
    this.writes = this.writes.then(async () => {
      const result = await request();
      if (result.ok) return onOk(result.data);
      if (result.status === 401) return this.stopped || this.live.onClose({ code: CloseCode.SESSION_ENDED });
      if (ref === null) return; // a read mark: the next one says it again
      this.live.receive({ type: "error", code: errorCode(result), detail: result.error, ref });
    });
  }

  // The socket's resume over REST: recent messages as they are now (edits, deletes, reactions
  // and reply counts missed; the page redraws only those that differ), then every message
  // after `after_seq`. What the stream replays as well is dropped as a duplicate.
  async resume({ after_seq: afterSeq, updated_since: since }) {
    const source = this.source;
    if (since) {
      const recent = await messagesAfter(this.slug, Math.max(0, afterSeq - CHANGES_WINDOW));
      if (recent === null) return source === this.source && this.lost();
      for (const message of recent) {
        // A reaction or a reply changes no timestamp the API shows: every one is looked at.
        if (message.seq > afterSeq) continue;
        this.live.receive(
          message.deleted
            ? { type: "message.deleted", id: message.id, seq: message.seq }
            : { type: "message.updated", message },
        );
      }
    }
    for (let after = afterSeq; ;) {
      const batch = await messagesAfter(this.slug, after);
      if (batch === null) return source === this.source && this.lost();
      for (const message of batch) this.live.receive({ type: "message", message });
      if (batch.length < PAGE) break;
      after = batch.at(-1).seq;
    }
    if (source === this.source) this.live.receive({ type: "resumed", last_seq: this.live.lastSeq });
  }
}

// The socket's error codes, from a REST refusal: the page treats them alike.
function errorCode({ status, data }) {
  if (status === 0 || status >= 500) return "unavailable"; // tried again with the same client_id
  if (status === 429) return "rate_limited";
  if (data?.code) return data.code;
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  return "invalid_frame";
}
