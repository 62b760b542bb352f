// The game page: the board, the controls and the words around them, over one game socket.

import { Board } from "./game/board.js";
import { GameSocket } from "./game/connection.js";
import { Controls } from "./game/controls.js";
import { GameModel } from "./game/model.js";
import { StatusView } from "./game/status.js";

const initial = JSON.parse(document.getElementById("game-data").textContent);
const me = JSON.parse(document.getElementById("me").textContent);
const $ = (id) => document.getElementById(id);

const model = new GameModel();
const board = new Board($("board"), model, { tickMs: 1000 / initial.tick_hz });
const view = new StatusView(
  {
    status: $("game-status"),
    countdown: $("countdown"),
    players: $("players"),
    result: $("result"),
    live: $("game-live"),
    join: $("join"),
    start: $("start"),
    hint: $("controls-hint"),
  },
  me,
);
const conn = $("conn-state");

function steerable() {
  const status = model.game?.status;
  return model.you !== null && (status === "countdown" || status === "running");
}

// A state is announced when the socket (re)connects or the seat changes, not when it only
// refreshes the board (a seat taken, already announced by its status frame).
let announceState = true;

const socket = new GameSocket(`/ws/games/${initial.id}/`, {
  connection({ state, text, retryInMs }) {
    if (state === "live") announceState = true;
    conn.dataset.state = state;
    conn.textContent =
      state === "live"
        ? "Live"
        : state === "ended"
          ? `${text} Reload to watch again.`
          : state === "reconnecting" && retryInMs
            ? `Reconnecting in ${Math.ceil(retryInMs / 1000)} s`
            : "Connecting…";
  },
  state(frame) {
    const announce = announceState || frame.you !== model.you;
    announceState = false;
    model.applyState(frame);
    controls.seq = Math.max(controls.seq, frame.ack ?? 0);
    controls.setEnabled(steerable());
    board.resize();
    board.ticked();
    view.render(model);
    if (announce) {
      view.say(`${view.el.status.textContent}. ${model.you === null ? "Watching." : "You are playing."}`);
    }
  },
  tick(frame) {
    const before = new Map(model.players().map((p) => [p.seat, p.alive]));
    if (!model.applyTick(frame)) return;
    board.ticked();
    view.renderPlayers(model);
    view.announceOut(before, model);
  },
  status(frame) {
    model.applyStatus(frame.game);
    controls.setEnabled(steerable());
    view.render(model);
    view.say(view.el.status.textContent);
  },
  result(frame) {
    controls.setEnabled(false);
    view.showResult(frame);
  },
  error(frame) {
    view.say(frame.detail);
    $("game-error").textContent = frame.detail;
    $("game-error").hidden = false;
  },
});
const controls = new Controls(socket, $("pad"));

$("join").addEventListener("click", () => socket.send({ type: "join" }));
$("start").addEventListener("click", () => socket.send({ type: "start" }));
window.addEventListener("resize", () => board.resize());
socket.start();
board.start();
