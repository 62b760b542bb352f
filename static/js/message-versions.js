// Which copy of a message the page shows: a resume over REST sends recent messages as they were
// when it asked, and a live frame can overtake it on the way.

/**
 * True if `incoming` would change nothing on the page, or is older than what it `shown`: a
 * deletion is final, and an edit is never replaced by an earlier one. (Reactions and reply
 * counts keep their own order: room/conversation.js.)
 */
export function unchangedOrOlder(shown, incoming) {
  if (!shown) return false;
  if (JSON.stringify(shown) === JSON.stringify(incoming)) return true;
  if (shown.deleted && !incoming.deleted) return true;
  return Date.parse(shown.edited_at ?? 0) > Date.parse(incoming.edited_at ?? 0);
}
