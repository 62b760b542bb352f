// While a room is on its fallback transport (no WebSockets), a WebSocket is tried again in the
// background, less and less often; the first one that says hello takes over (LiveSocket.adopt).

import { jittered } from "./backoff.js";

const PROBE_FIRST_MS = 10000;
const PROBE_MAX_MS = 5 * 60 * 1000;
const PROBE_HELLO_MS = 10000; // a probe that opens but never says hello is given up

export class WebSocketProbe {
  /**
   * @param {() => string} url  where to open the socket
   * @param {(ws: WebSocket, hello: object) => void} onHello  a probe got through
   */
  constructor(url, onHello) {
    this.url = url;
    this.onHello = onHello;
    this.ws = null; // the probe socket on its way, if any
    this.timer = null;
    this.delay = PROBE_FIRST_MS;
    this.active = false;
  }

  /** Start probing (the fallback just took over). */
  start() {
    this.active = true;
    this.delay = PROBE_FIRST_MS;
    this.schedule();
  }

  stop() {
    this.active = false;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  schedule() {
    clearTimeout(this.timer);
    const delay = jittered(this.delay);
    this.delay = Math.min(PROBE_MAX_MS, this.delay * 2);
    this.timer = setTimeout(() => this.tryNow(), delay);
  }

  /** Try a WebSocket now (the network came back), unless one is already on its way. */
  tryNow() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.active || this.ws) return;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    setTimeout(() => ws === this.ws && ws.close(), PROBE_HELLO_MS);
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type !== "hello") return;
      this.ws = null; // handed over: stop() must not close it
      this.onHello(ws, frame);
    });
    ws.addEventListener("close", () => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.active) this.schedule();
    });
  }
}
