// Which messages of a room stream a client has applied, by seq: the rules every transport
// shares (CONTRACT §3: seq is per room, from 1, without gaps). No DOM here: node --test runs it.

export class SeqTracker {
  constructor() {
    this.lastSeq = null; // every seq up to this one has been applied; null until the first hello
    this.ahead = new Set(); // seqs applied above a gap
    this.updatedSince = null; // the newest created_at / edited_at seen, for resume
  }

  /** Start counting from a hello: the page shows what comes after `lastSeq`. */
  start(lastSeq) {
    this.lastSeq = lastSeq;
  }

  get started() {
    return this.lastSeq !== null;
  }

  /** Whether `seq` is already applied (a replay overlapping what came live, an echo). */
  applied(seq) {
    return this.lastSeq !== null && (seq <= this.lastSeq || this.ahead.has(seq));
  }

  // lastSeq only moves over a contiguous run: a frame that arrives ahead of a gap (say a live
  // message before the replay that a resume asked for) waits in `ahead`, so a reconnect
  // resumes from below any hole. Pages render by seq, whatever order frames come in.
  /** Apply `seq`; true if it was new. */
  advance(seq) {
    if (this.lastSeq === null || seq <= this.lastSeq || this.ahead.has(seq)) return false;
    this.ahead.add(seq);
    while (this.ahead.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      this.ahead.delete(this.lastSeq);
    }
    return true;
  }

  /** Whether some seq below one already applied is still missing. */
  get hasGap() {
    return this.ahead.size > 0;
  }

  /** The missing seqs, lowest first (for tests and logs). */
  missing() {
    if (!this.ahead.size) return [];
    const top = Math.max(...this.ahead);
    const gaps = [];
    for (let seq = this.lastSeq + 1; seq < top; seq += 1) if (!this.ahead.has(seq)) gaps.push(seq);
    return gaps;
  }

  /** Remember the newest server timestamp of a message: a resume asks for changes since. */
  noteTime(message) {
    for (const stamp of [message.created_at, message.edited_at]) {
      if (stamp && (this.updatedSince === null || Date.parse(stamp) > Date.parse(this.updatedSince))) {
        this.updatedSince = stamp;
      }
    }
  }
}
