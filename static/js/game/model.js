// What a game page knows of the game, from `state` and `tick` frames alone: the walls, each
// cycle's head now and one tick ago (for interpolation), who is alive, and the last tick. No
// DOM: node --test runs it (tests/js/game-model.test.js).

export const DIRECTIONS = Object.freeze(["up", "down", "left", "right"]);

const KEYS = new Map([
  ["ArrowUp", "up"],
  ["ArrowDown", "down"],
  ["ArrowLeft", "left"],
  ["ArrowRight", "right"],
  ["w", "up"],
  ["s", "down"],
  ["a", "left"],
  ["d", "right"],
  ["W", "up"],
  ["S", "down"],
  ["A", "left"],
  ["D", "right"],
]);

/** The direction a key steers ("ArrowUp", "w", ...), or null. */
export function keyToDir(key) {
  return KEYS.get(key) ?? null;
}

export class GameModel {
  constructor() {
    this.game = null;
    this.you = null;
    this.tick = 0;
    this.width = 0;
    this.height = 0;
    this.walls = new Map(); // "x,y" -> seat
    this.heads = new Map(); // seat -> {x, y, px, py, alive}
    this.ack = 0;
    this.missed = 0; // ticks that never came (numbers skipped): the board is then resynced
  }

  /** A full snapshot: everything known before it is replaced. */
  applyState(frame) {
    this.game = frame.game;
    this.you = frame.you;
    this.tick = frame.tick;
    this.width = frame.game.width;
    this.height = frame.game.height;
    this.walls = new Map();
    this.heads = new Map();
    // The cells arrive in the order each was taken, so each seat's last cell is its head.
    for (const [x, y, seat] of frame.cells) {
      this.walls.set(`${x},${y}`, seat);
      const alive = frame.game.players.find((p) => p.seat === seat)?.alive ?? true;
      this.heads.set(seat, { x, y, px: x, py: y, alive });
    }
  }

  /** One tick; false if it is not the next one (a stale or repeated tick is ignored). */
  applyTick(frame) {
    if (frame.tick <= this.tick) return false;
    if (frame.tick > this.tick + 1) this.missed += frame.tick - this.tick - 1;
    this.tick = frame.tick;
    this.ack = Math.max(this.ack, frame.ack ?? 0);
    for (const [seat, x, y, alive] of frame.moves) {
      const head = this.heads.get(seat) ?? { x, y, px: x, py: y, alive: true };
      head.px = head.x;
      head.py = head.y;
      head.x = x;
      head.y = y;
      head.alive = Boolean(alive);
      this.heads.set(seat, head);
      if (alive) this.walls.set(`${x},${y}`, seat);
    }
    return true;
  }

  applyStatus(game) {
    this.game = game;
  }

  /** Players with their seat, name and whether they are still in. */
  players() {
    if (!this.game) return [];
    return this.game.players.map((p) => ({
      seat: p.seat,
      username: p.username,
      alive: this.heads.get(p.seat)?.alive ?? p.alive,
    }));
  }
}

/** Seconds left of a countdown that ends at `startsAt` (ISO), at `now` (ms); 0 once over. */
export function countdownLeft(startsAt, now = Date.now()) {
  if (!startsAt) return 0;
  return Math.max(0, Math.ceil((Date.parse(startsAt) - now) / 1000));
}

/** A sentence for screen readers about a result frame. */
export function describeResult(result, me) {
  if (result.winner === null) return `Game over: nobody won. Ranking: ${result.ranking.join(", ")}.`;
  const who = result.winner === me ? "You won" : `${result.winner} won`;
  return `Game over: ${who}. Ranking: ${result.ranking.join(", ")}.`;
}
