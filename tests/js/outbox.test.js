// Messages kept until the server acknowledges them, replayed with their client_id
// (static/js/outbox.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_FRAME_BYTES, MAX_SEND_RETRIES, Outbox, newClientId, tooBig } from "../../static/js/outbox.js";

const send = (clientId, body = "hi") => ({ type: "message.send", body, client_id: clientId });

test("every unacknowledged message is replayed, oldest first, with its own client_id", () => {
  const outbox = new Outbox();
  outbox.add(send("a", "one"));
  outbox.add(send("b", "two"));
  outbox.add(send("c", "three"));
  outbox.acknowledge("b");
  assert.deepEqual(
    outbox.pending().map((frame) => [frame.client_id, frame.body]),
    [
      ["a", "one"],
      ["c", "three"],
    ],
  );
});

test("a replay after a reconnect sends the same frames again, unchanged", () => {
  const outbox = new Outbox();
  const frame = send(newClientId());
  outbox.add(frame);
  const first = outbox.pending();
  outbox.newSocket();
  assert.deepEqual(outbox.pending(), first);
  assert.equal(outbox.pending()[0].client_id, frame.client_id);
});

test("client ids are fresh each time", () => {
  const ids = new Set(Array.from({ length: 100 }, newClientId));
  assert.equal(ids.size, 100);
});

test("a rate_limited refusal is retried, at most MAX_SEND_RETRIES times", () => {
  const outbox = new Outbox();
  outbox.add(send("a"));
  const refusal = { type: "error", code: "rate_limited", ref: "a" };
  for (let i = 1; i <= MAX_SEND_RETRIES; i += 1) {
    assert.equal(outbox.refused(refusal), "retry");
    assert.equal(outbox.tries("a"), i);
  }
  assert.equal(outbox.refused(refusal), "final");
  assert.equal(outbox.has("a"), false);
});

test("a final refusal takes the message out of the outbox", () => {
  const outbox = new Outbox();
  outbox.add(send("a"));
  assert.equal(outbox.refused({ type: "error", code: "muted", ref: "a" }), "final");
  assert.equal(outbox.size, 0);
});

test("an error about something else is not the outbox's", () => {
  const outbox = new Outbox();
  outbox.add(send("a"));
  assert.equal(outbox.refused({ type: "error", code: "muted", ref: "zzz" }), null);
  assert.equal(outbox.refused({ type: "error", code: "rate_limited", ref: null }), null);
  assert.equal(outbox.size, 1);
});

test("the largest message sent on a socket is the one blamed for a too-big close", () => {
  const outbox = new Outbox();
  const small = send("a", "x");
  const big = send("b", "y".repeat(1000));
  outbox.add(small);
  outbox.add(big);
  outbox.noteSent(10, small);
  outbox.noteSent(1000, big);
  outbox.noteSent(20, { type: "typing" });
  assert.equal(outbox.oversized(), big);
  outbox.newSocket();
  assert.equal(outbox.oversized(), null);
});

test("frames over 64 KiB of UTF-8 are too big to send", () => {
  assert.equal(tooBig(send("a", "x".repeat(MAX_FRAME_BYTES))), true);
  assert.equal(tooBig(send("a", "€".repeat(MAX_FRAME_BYTES / 3 - 100))), false);
  assert.equal(tooBig(send("a", "€".repeat(MAX_FRAME_BYTES / 3 + 100))), true);
});
