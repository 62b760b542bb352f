// Which copy of a message the page keeps (static/js/message-versions.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { unchangedOrOlder } from "../../static/js/message-versions.js";

const message = (extra = {}) => ({ id: 1, seq: 1, body: "hi", deleted: false, edited_at: null, ...extra });

test("the same copy again changes nothing", () => {
  assert.equal(unchangedOrOlder(message(), message()), true);
  assert.equal(unchangedOrOlder(undefined, message()), false);
});

test("a newer edit, a reaction or a deletion is taken", () => {
  assert.equal(unchangedOrOlder(message(), message({ body: "hello", edited_at: "2026-12-06T10:00:00Z" })), false);
  assert.equal(unchangedOrOlder(message(), message({ reactions: [{ emoji: "👍", count: 1, users: ["bob"] }] })), false);
  assert.equal(unchangedOrOlder(message(), message({ deleted: true, body: "" })), false);
});

test("an older copy never replaces a newer edit or undoes a deletion", () => {
  const edited = message({ body: "second", edited_at: "2026-12-06T10:00:05Z" });
  assert.equal(unchangedOrOlder(edited, message({ body: "first", edited_at: "2026-12-06T10:00:01Z" })), true);
  assert.equal(unchangedOrOlder(edited, message()), true);
  assert.equal(unchangedOrOlder(message({ deleted: true, body: "" }), message()), true);
});
