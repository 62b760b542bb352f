// A ping goes out every `everyMs` while a socket is live; if no frame at all has come back by
// the next tick, the connection is presumed dead (a laptop that slept, a dropped Wi-Fi) and
// `dead` runs. No DOM: node --test runs it.

export const HEARTBEAT_MS = 20000;

export class Heartbeat {
  /**
   * @param {{ping: () => void, dead: () => void, live?: () => boolean, everyMs?: number}} options
   *   live: whether to ping at this tick (a socket not ready yet skips it)
   */
  constructor({ ping, dead, live = () => true, everyMs = HEARTBEAT_MS }) {
    this.ping = ping;
    this.dead = dead;
    this.live = live;
    this.everyMs = everyMs;
    this.timer = null;
    this.awaiting = false;
  }

  start() {
    this.stop();
    this.awaiting = false;
    this.timer = setInterval(() => this.tick(), this.everyMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  tick() {
    if (!this.live()) return;
    if (this.awaiting) return this.dead();
    this.awaiting = true;
    this.ping();
  }

  /** Any frame proves the connection is alive. */
  heard() {
    this.awaiting = false;
  }
}
