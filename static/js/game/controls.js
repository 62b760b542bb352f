// Steering: arrow keys and WASD on the page, and the on-screen pad (phones). Each turn carries
// the next seq; the server's `ack` says which it took.

import { keyToDir } from "./model.js";

export class Controls {
  constructor(socket, pad) {
    this.socket = socket;
    this.seq = 0;
    this.enabled = false;
    document.addEventListener("keydown", (event) => {
      if (!this.enabled || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.target.closest?.("input, textarea, [contenteditable]")) return;
      const dir = keyToDir(event.key);
      if (dir === null) return;
      event.preventDefault();
      this.turn(dir);
    });
    for (const button of pad.querySelectorAll("button[data-dir]")) {
      button.addEventListener("click", () => this.turn(button.dataset.dir));
    }
  }

  turn(dir) {
    if (!this.enabled) return;
    this.seq += 1;
    this.socket.send({ type: "turn", dir, seq: this.seq });
  }

  /** Turns are sent only by a seated player while the game counts down or runs. */
  setEnabled(enabled) {
    this.enabled = enabled;
  }
}
