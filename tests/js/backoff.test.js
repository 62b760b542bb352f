// Exponential backoff with jitter (static/js/backoff.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_BACKOFF_MS, jittered, reconnectDelay, resendDelay } from "../../static/js/backoff.js";

const low = () => 0;
const high = () => 1 - Number.EPSILON;

test("reconnects double from 0.5 s and stop at 15 s", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 10].map((attempt) => reconnectDelay(attempt, high));
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
});

test("jitter spreads a reconnect over the upper half of its window", () => {
  assert.equal(reconnectDelay(3, low), 2000);
  assert.equal(
    reconnectDelay(3, () => 0.5),
    3000,
  );
  assert.equal(reconnectDelay(3, high), 4000);
});

test("with the real random source, delays stay in the window and differ", () => {
  const delays = Array.from({ length: 200 }, () => reconnectDelay(4));
  for (const delay of delays) assert.ok(delay >= 4000 && delay <= 8000, delay);
  assert.ok(new Set(delays).size > 20, "jitter: clients do not retry in step");
});

test("resends wait 2 s doubling to 15 s, within ±25%", () => {
  assert.equal(
    resendDelay(1, () => 0.5),
    2000,
  );
  assert.equal(
    resendDelay(2, () => 0.5),
    4000,
  );
  assert.equal(
    resendDelay(9, () => 0.5),
    MAX_BACKOFF_MS,
  );
  assert.equal(resendDelay(1, low), 1500);
  assert.ok(Math.abs(resendDelay(1, high) - 2500) < 1e-6);
});

test("jittered stays within ±25%", () => {
  assert.equal(jittered(1000, low), 750);
  assert.ok(Math.abs(jittered(1000, high) - 1250) < 1e-6);
});
