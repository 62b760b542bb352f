// The game page's model (static/js/game/model.js): snapshots, ticks in order, keys, countdown.
import assert from "node:assert/strict";
import { test } from "node:test";

import { GameModel, countdownLeft, describeResult, keyToDir } from "../../static/js/game/model.js";

const game = {
  width: 16,
  height: 16,
  status: "running",
  players: [
    { seat: 0, username: "alice", alive: true },
    { seat: 1, username: "bob", alive: true },
  ],
};

function started() {
  const model = new GameModel();
  model.applyState({
    type: "state",
    tick: 3,
    game,
    you: 1,
    cells: [
      [1, 1, 0],
      [5, 5, 1],
      [1, 2, 0],
      [5, 4, 1],
    ],
  });
  return model;
}

test("a state puts each seat's head on its last cell", () => {
  const model = started();
  assert.equal(model.tick, 3);
  assert.deepEqual([model.heads.get(0).x, model.heads.get(0).y], [1, 2]);
  assert.deepEqual([model.heads.get(1).x, model.heads.get(1).y], [5, 4]);
  assert.equal(model.walls.size, 4);
});

test("ticks move heads, keep the previous cell for interpolation and mark who is out", () => {
  const model = started();
  assert.ok(
    model.applyTick({
      tick: 4,
      moves: [
        [0, 1, 3, 1],
        [1, 5, 4, 0],
      ],
      ack: 2,
    }),
  );
  const head = model.heads.get(0);
  assert.deepEqual([head.px, head.py, head.x, head.y], [1, 2, 1, 3]);
  assert.equal(model.heads.get(1).alive, false);
  assert.deepEqual(
    model.players().map((p) => p.alive),
    [true, false],
  );
  assert.equal(model.ack, 2);
});

test("a repeated or older tick is ignored; a skipped one is counted", () => {
  const model = started();
  assert.ok(model.applyTick({ tick: 4, moves: [], ack: 0 }));
  assert.equal(model.applyTick({ tick: 4, moves: [[0, 9, 9, 1]], ack: 0 }), false);
  assert.equal(model.applyTick({ tick: 2, moves: [], ack: 0 }), false);
  assert.ok(model.applyTick({ tick: 7, moves: [], ack: 0 }));
  assert.equal(model.missed, 2);
});

test("arrow keys and WASD steer; other keys do not", () => {
  assert.equal(keyToDir("ArrowLeft"), "left");
  assert.equal(keyToDir("w"), "up");
  assert.equal(keyToDir("D"), "right");
  assert.equal(keyToDir("Enter"), null);
});

test("the countdown rounds up and stops at zero", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(countdownLeft("2026-01-01T00:00:02.500Z", now), 3);
  assert.equal(countdownLeft("2025-12-31T23:59:59Z", now), 0);
  assert.equal(countdownLeft(null, now), 0);
});

test("the result is said in words", () => {
  assert.equal(
    describeResult({ winner: "bob", ranking: ["bob", "alice"] }, "bob"),
    "Game over: You won. Ranking: bob, alice.",
  );
  assert.equal(describeResult({ winner: null, ranking: ["a", "b"] }, "bob"), "Game over: nobody won. Ranking: a, b.");
});
