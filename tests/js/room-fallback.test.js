// The room's resume over REST where WebSockets are blocked (static/js/room-fallback.js): what
// changed while the page was not listening comes back, reactions and reply counts included.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RoomFallback } from "../../static/js/room-fallback.js";

const message = (seq, extra = {}) => ({
  id: 100 + seq, seq, body: `m${seq}`, deleted: false, edited_at: null,
  reply_count: 0, reactions: [], author: { username: "alice" }, ...extra,
}); // prettier-ignore

function serving(pages) {
  const asked = [];
  globalThis.fetch = async (path) => {
    asked.push(path);
    const afterSeq = Number(new URL(path, "http://x").searchParams.get("after_seq"));
    const data = pages.filter((m) => m.seq > afterSeq);
    return { ok: true, status: 200, json: async () => data };
  };
  return asked;
}

test("a resume brings back reactions and reply counts that changed with no edit", async () => {
  const reacted = message(2, { reactions: [{ emoji: "👍", count: 1, users: ["bob"] }] });
  const replied = message(3, { reply_count: 2 });
  serving([message(1), reacted, replied, message(4, { reply_to: 103 }), message(5, { reply_to: 103 })]);
  const frames = [];
  const fallback = new RoomFallback({ receive: (frame) => frames.push(frame), lastSeq: 3 }, "lobby");
  await fallback.resume({ after_seq: 3, updated_since: new Date().toISOString() });
  const updated = frames.filter((f) => f.type === "message.updated").map((f) => f.message);
  assert.deepEqual(updated, [message(1), reacted, replied]);
  assert.deepEqual(
    frames.filter((f) => f.type === "message").map((f) => f.message.seq),
    [4, 5],
  );
  assert.equal(frames.at(-1).type, "resumed");
});

test("a deleted message is sent as deleted, and a first resume looks back at nothing", async () => {
  serving([message(1, { deleted: true, body: "" }), message(2)]);
  const frames = [];
  const fallback = new RoomFallback({ receive: (frame) => frames.push(frame), lastSeq: 2 }, "lobby");
  await fallback.resume({ after_seq: 2, updated_since: new Date().toISOString() });
  assert.deepEqual(frames.slice(0, 2), [
    { type: "message.deleted", id: 101, seq: 1 },
    { type: "message.updated", message: message(2) },
  ]);
  frames.length = 0;
  const asked = serving([message(1)]);
  await fallback.resume({ after_seq: 0 });
  assert.equal(asked.length, 1); // only the messages after the seq: nothing to look back at
  assert.deepEqual(
    frames.map((f) => f.type),
    ["message", "resumed"],
  );
});
