// The seq rules every room transport shares: order, duplicates, gaps (static/js/seqtrack.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { SeqTracker } from "../../static/js/seqtrack.js";

function started(lastSeq = 0) {
  const seqs = new SeqTracker();
  seqs.start(lastSeq);
  return seqs;
}

test("nothing counts as applied before the first hello", () => {
  const seqs = new SeqTracker();
  assert.equal(seqs.applied(1), false);
  assert.equal(seqs.advance(1), false);
  assert.equal(seqs.lastSeq, null);
});

test("seqs in order move lastSeq along", () => {
  const seqs = started(4);
  for (const seq of [5, 6, 7]) assert.equal(seqs.advance(seq), true);
  assert.equal(seqs.lastSeq, 7);
  assert.equal(seqs.hasGap, false);
});

test("a duplicate is dropped, below lastSeq or above a gap", () => {
  const seqs = started(0);
  seqs.advance(1);
  seqs.advance(3);
  assert.equal(seqs.applied(1), true);
  assert.equal(seqs.applied(3), true);
  assert.equal(seqs.applied(2), false);
  assert.equal(seqs.advance(1), false);
  assert.equal(seqs.advance(3), false);
  assert.equal(seqs.lastSeq, 1);
});

test("a seq ahead of a gap waits, and lastSeq stays below the hole", () => {
  const seqs = started(10);
  seqs.advance(11);
  seqs.advance(14);
  seqs.advance(12);
  assert.equal(seqs.lastSeq, 12);
  assert.equal(seqs.hasGap, true);
  assert.deepEqual(seqs.missing(), [13]);
});

test("filling the gap closes it and lastSeq jumps over what waited", () => {
  const seqs = started(0);
  for (const seq of [3, 5, 4, 2]) seqs.advance(seq);
  assert.equal(seqs.lastSeq, 0);
  assert.deepEqual(seqs.missing(), [1]);
  seqs.advance(1);
  assert.equal(seqs.lastSeq, 5);
  assert.equal(seqs.hasGap, false);
  assert.deepEqual(seqs.missing(), []);
});

test("frames in any order end where frames in order do", () => {
  const order = [7, 2, 9, 1, 3, 8, 5, 4, 6, 10, 3, 7];
  const seqs = started(0);
  for (const seq of order) seqs.advance(seq);
  assert.equal(seqs.lastSeq, 10);
  assert.equal(seqs.hasGap, false);
});

test("noteTime keeps the newest created_at or edited_at", () => {
  const seqs = started(0);
  seqs.noteTime({ created_at: "2026-01-01T10:00:00Z", edited_at: null });
  seqs.noteTime({ created_at: "2026-01-01T09:00:00Z", edited_at: "2026-01-01T11:00:00Z" });
  seqs.noteTime({ created_at: "2026-01-01T10:30:00Z" });
  assert.equal(seqs.updatedSince, "2026-01-01T11:00:00Z");
});
