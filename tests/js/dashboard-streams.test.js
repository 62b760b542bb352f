import assert from "node:assert/strict";
import { test } from "node:test";

import { CandleBuckets, FleetTracks, TickerBook } from "../../static/js/dashboard-streams.js";

const at = (s) => new Date(Date.UTC(2026, 0, 5, 12, 0, 0) + s * 1000).toISOString();

test("the ticker keeps the first price as the open and reports changes with their direction", () => {
  const book = new TickerBook(["aapl", "msft"]);
  assert.deepEqual([...book.apply([[at(0), 100, 1, "aapl"]])], []);
  const changed = book.apply([
    [at(1), 110, 1, "aapl"],
    [at(1), 50, 1, "msft"],
    [at(1), 7, 1, "goog"], // not on this ticker
  ]);
  assert.deepEqual([...changed], [["aapl", 1]]);
  const row = book.row("aapl");
  assert.equal(row.last, 110);
  assert.equal(row.change, 10);
  assert.ok(Math.abs(row.pct - 10) < 1e-9);
  assert.deepEqual([...book.apply([[at(2), 99, 1, "aapl"]])], [["aapl", -1]]);
  // An older point (a reconnect's snapshot) moves neither the open nor the last price.
  book.apply([[at(0.5), 1, 1, "aapl"]]);
  assert.equal(book.row("aapl").last, 99);
  assert.equal(book.row("aapl").open, 100);
  assert.equal(book.row("msft").change, 0);
});

test("candles: open is the earliest point of a bucket and close the latest, whatever the order", () => {
  const candles = new CandleBuckets(60);
  candles.load([[at(0), 10, 15, 9, 11]]);
  candles.add([
    [at(70), 20],
    [at(61), 18],
    [at(90), 25],
    [at(80), 16],
    [at(30), 30], // after the history answer, in its bucket: a new high, and its close
  ]);
  const [starts, opens, highs, lows, closes] = candles.columns();
  assert.equal(starts.length, 2);
  assert.deepEqual([opens[0], highs[0], lows[0], closes[0]], [10, 30, 9, 30]);
  assert.deepEqual([opens[1], highs[1], lows[1], closes[1]], [18, 25, 16, 25]);
  candles.trim(1);
  assert.equal(candles.columns()[0].length, 1);
});

test("fleet: a position needs the lat and lon of the same time; the track is bounded", () => {
  const fleet = new FleetTracks({ trail: 3 });
  assert.deepEqual([...fleet.apply([[at(0), 48.1, 7, "lat"]])], []);
  assert.deepEqual(
    [
      ...fleet.apply([
        [at(0), 2.3, 7, "lon"],
        [at(0), 88, 7, "speed"],
      ]),
    ],
    [7],
  );
  const van = fleet.vehicles.get(7);
  assert.deepEqual([van.lat, van.lon, van.speed], [48.1, 2.3, 88]);
  for (let s = 1; s <= 4; s += 1) {
    fleet.apply([
      [at(s), 48.1 + s, 7, "lat"],
      [at(s), 2.3, 7, "lon"],
    ]);
  }
  assert.equal(van.track.length, 3);
  assert.deepEqual(van.track.at(-1), [52.1, 2.3]);
});

test("candles: history that arrives after live points keeps their close movable", () => {
  const candles = new CandleBuckets(60);
  candles.add([[at(10), 17.16]]);
  candles.load([[at(0), 16, 17.16, 15.9, 17.16]]); // the page's history answer, late
  candles.add([[at(20), 17.02]]);
  const [, opens, highs, lows, closes] = candles.columns();
  assert.deepEqual([opens[0], highs[0], lows[0], closes[0]], [16, 17.16, 15.9, 17.02]);
});
