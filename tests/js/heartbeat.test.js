// The socket's liveness check (static/js/heartbeat.js), on node's mock timers.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Heartbeat } from "../../static/js/heartbeat.js";

test("a socket that answers keeps living; one that goes silent is dropped", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  const pings = [];
  let dead = 0;
  const beat = new Heartbeat({ ping: () => pings.push(1), dead: () => (dead += 1), everyMs: 100 });
  beat.start();
  t.mock.timers.tick(100);
  beat.heard();
  t.mock.timers.tick(100);
  assert.equal(pings.length, 2);
  assert.equal(dead, 0);
  t.mock.timers.tick(100); // nothing heard since the last ping
  assert.equal(dead, 1);
  beat.stop();
  t.mock.timers.tick(1000);
  assert.equal(pings.length, 2);
});

test("no ping while the socket is not ready", (t) => {
  t.mock.timers.enable({ apis: ["setInterval"] });
  let pings = 0;
  const beat = new Heartbeat({ ping: () => (pings += 1), dead: () => {}, live: () => false, everyMs: 50 });
  beat.start();
  t.mock.timers.tick(500);
  assert.equal(pings, 0);
  beat.stop();
});
