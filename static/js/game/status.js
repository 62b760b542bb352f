// The words around the board: the game's status and countdown, who is in and who is out, the
// result, and one aria-live line that tells screen readers what changed.

import { countdownLeft, describeResult } from "./model.js";
import { seatColour } from "./board.js";

const STATUS_TEXT = {
  waiting: "Waiting for players",
  countdown: "Get ready",
  running: "Running",
  finished: "Finished",
};

export class StatusView {
  constructor(elements, me) {
    this.el = elements; // {status, countdown, players, result, live, join, start, hint}
    this.me = me;
    this.timer = null;
    this.lastSaid = "";
  }

  /** Say `text` to screen readers (once: a repeat is not news). */
  say(text) {
    if (text === this.lastSaid) return;
    this.lastSaid = text;
    this.el.live.textContent = text;
  }

  render(model) {
    const game = model.game;
    if (!game) return;
    this.el.status.textContent = STATUS_TEXT[game.status] ?? game.status;
    this.el.status.dataset.status = game.status;
    const seated = model.you !== null && model.you !== undefined;
    this.el.join.hidden = seated || game.status !== "waiting";
    const creator = game.created_by === this.me;
    this.el.start.hidden = !(creator && game.status === "waiting");
    this.el.start.disabled = game.players.length < 2;
    const over = game.status === "finished";
    this.el.hint.textContent = over
      ? "This game is over."
      : seated
        ? "Steer with the arrow keys or W A S D, or the buttons below the board."
        : game.status === "waiting"
          ? "Join to play, or watch."
          : "You are watching.";
    this.renderPlayers(model);
    this.renderCountdown(game);
  }

  renderPlayers(model) {
    const list = this.el.players;
    list.replaceChildren();
    for (const player of model.players()) {
      const item = document.createElement("li");
      item.dataset.alive = player.alive ? "1" : "0";
      const swatch = document.createElement("span");
      swatch.className = "seat-swatch";
      swatch.style.background = seatColour(player.seat);
      swatch.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      const you = player.seat === model.you ? " (you)" : "";
      name.textContent = `${player.username}${you}`;
      const state = document.createElement("span");
      state.className = "muted small";
      state.textContent = player.alive ? "in" : "out";
      item.append(swatch, name, " ", state);
      list.append(item);
    }
  }

  renderCountdown(game) {
    clearInterval(this.timer);
    if (game.status !== "countdown") {
      this.el.countdown.hidden = true;
      return;
    }
    const show = () => {
      const left = countdownLeft(game.starts_at);
      this.el.countdown.hidden = left === 0;
      this.el.countdown.textContent = String(left);
      if (left > 0) this.say(`Starting in ${left}`);
    };
    show();
    this.timer = setInterval(show, 200);
  }

  /** Who went out since the last tick, said aloud. */
  announceOut(before, model) {
    const out = model.players().filter((p) => !p.alive && before.get(p.seat));
    if (out.length) this.say(`${out.map((p) => (p.seat === model.you ? "You" : p.username)).join(", ")} out.`);
  }

  showResult(result) {
    const text = describeResult(result, this.me);
    this.el.result.hidden = false;
    this.el.result.textContent = text;
    this.say(text);
  }
}
