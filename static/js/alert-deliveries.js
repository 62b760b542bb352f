// The delivery log's wording, without the DOM (tests/js/alert-deliveries.test.js).

const STATUS_TEXT = {
  pending: "Waiting to retry",
  sending: "Sending",
  delivered: "Delivered",
  failed: "Failed",
};

/** One row of the log: the cells' text for a delivery from GET …/deliveries/. */
export function describeDelivery(delivery) {
  const fresh = delivery.status === "pending" && delivery.attempts === 0;
  return {
    when: delivery.last_attempt_at ?? delivery.created_at,
    event: delivery.event,
    status: fresh ? "Queued" : (STATUS_TEXT[delivery.status] ?? delivery.status),
    code:
      delivery.response_code === null || delivery.response_code === undefined ? "–" : String(delivery.response_code),
    attempts: String(delivery.attempts),
    error: delivery.error || "",
  };
}

/** Whether the log may still change soon (a delivery is queued, sending or to be retried). */
export function stillMoving(deliveries) {
  return deliveries.some((delivery) => delivery.status === "pending" || delivery.status === "sending");
}
