// The game socket: connects, reconnects with the shared backoff (a fresh `state` puts the page
// back where the game is), queues what the player sends before the socket is ready, and hands
// each frame to its handler by type. Close codes read from closecodes.js.

import { reconnectDelay } from "../backoff.js";
import { closeInfo } from "../closecodes.js";
import { socketUrl } from "../socket.js";

export class GameSocket {
  /** handlers: {frameType: fn(frame)}; "connection" gets {state, code, text, retryInMs}. */
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.ws = null;
    this.ready = false;
    this.queue = [];
    this.attempt = 0;
    this.stopped = false;
  }

  start() {
    this.emit("connection", { state: this.attempt ? "reconnecting" : "connecting" });
    const ws = new WebSocket(socketUrl(this.path));
    this.ws = ws;
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(event.code));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "state" && !this.ready) {
      this.ready = true;
      this.attempt = 0;
      this.emit("connection", { state: "live" });
      this.emit(frame.type, frame);
      for (const queued of this.queue.splice(0)) this.ws.send(JSON.stringify(queued));
      return;
    }
    this.emit(frame.type, frame);
  }

  /** Send now, or as soon as the socket is ready. */
  send(frame) {
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else this.queue.push(frame);
  }

  closed(code) {
    this.ready = false;
    if (this.stopped) return;
    const info = closeInfo(code);
    if (info.final) {
      this.emit("connection", { state: "ended", code, text: info.text });
      return;
    }
    const retryInMs = reconnectDelay(this.attempt);
    this.attempt += 1;
    this.emit("connection", { state: "reconnecting", code, text: info.text, retryInMs });
    setTimeout(() => this.start(), retryInMs);
  }

  stop() {
    this.stopped = true;
    this.ws?.close();
  }

  emit(type, frame) {
    this.handlers[type]?.(frame);
  }
}
