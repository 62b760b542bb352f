import { test } from "node:test";
import assert from "node:assert/strict";

import { describeDelivery, stillMoving } from "../../static/js/alert-deliveries.js";

const base = {
  event: "test",
  status: "pending",
  attempts: 0,
  response_code: null,
  error: "",
  created_at: "2026-01-01T00:00:00Z",
  last_attempt_at: null,
};

test("a new delivery is queued, with no code yet", () => {
  const row = describeDelivery(base);
  assert.equal(row.status, "Queued");
  assert.equal(row.code, "–");
  assert.equal(row.when, base.created_at);
});

test("a failed attempt waits to retry and shows its code and error", () => {
  const row = describeDelivery({
    ...base,
    attempts: 2,
    response_code: 500,
    error: "HTTP 500",
    last_attempt_at: "2026-01-01T00:00:05Z",
  });
  assert.deepEqual(row, {
    when: "2026-01-01T00:00:05Z",
    event: "test",
    status: "Waiting to retry",
    code: "500",
    attempts: "2",
    error: "HTTP 500",
  });
});

test("the log keeps moving until every delivery is delivered or failed", () => {
  assert.equal(
    stillMoving([
      { ...base, status: "delivered" },
      { ...base, status: "sending" },
    ]),
    true,
  );
  assert.equal(
    stillMoving([
      { ...base, status: "delivered" },
      { ...base, status: "failed" },
    ]),
    false,
  );
});
