// What the ticker, candles and map panels make of the points they are sent, without the DOM
// (tested by tests/js/dashboard-streams.test.js). Ticker and map points name their series:
// [ts, value, device, metric]; a candle panel's are [ts, value] of its one metric.

const seconds = (ts) => Date.parse(ts) / 1000;

/** What the ticker, candles and map views share: a snapshot is applied like live points, and
 * a burst of frames is drawn once, at the next animation frame (`render`). */
export class LiveView {
  setLive(points) {
    this.append(points);
  }

  showHistory() {}

  showLive() {}

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }
}

/**
 * The latest price of each symbol and its change since the open: the first price this page
 * has seen (the oldest in the socket's snapshot, ten minutes back, or the first live one). A
 * reconnect's snapshot does not move the open.
 */
export class TickerBook {
  constructor(symbols) {
    this.rows = new Map(symbols.map((s) => [s, { symbol: s, open: null, last: null, at: 0, dir: 0 }]));
  }

  /** Apply points (any order); returns the symbols whose price changed, with the direction. */
  apply(points) {
    const changed = new Map();
    for (const [ts, value, , metric] of points) {
      const row = this.rows.get(metric);
      const at = seconds(ts);
      if (!row || !Number.isFinite(value) || !Number.isFinite(at)) continue;
      if (row.open == null) row.open = value;
      if (at < row.at) continue; // older than what is shown: a late or repeated point
      const before = row.last;
      row.last = value;
      row.at = at;
      if (before != null && value !== before) {
        row.dir = value > before ? 1 : -1;
        changed.set(metric, row.dir);
      }
    }
    return changed;
  }

  row(symbol) {
    const row = this.rows.get(symbol);
    if (!row || row.last == null) return { ...row, change: null, pct: null };
    const change = row.last - row.open;
    return { ...row, change, pct: row.open ? (change / row.open) * 100 : null };
  }
}

/** Open, high, low and close per bucket of `bucket` seconds, from the API and live points. */
export class CandleBuckets {
  constructor(bucket) {
    this.bucket = bucket;
    this.candles = new Map(); // start -> {start, open, high, low, close, openAt, closeAt}
  }

  /** [[ts, open, high, low, close], ...] from `GET .../series/?agg=ohlc` (replaces those). */
  load(rows) {
    for (const [ts, open, high, low, close] of rows) {
      const start = seconds(ts);
      // Points that come live after this answer are newer than what it counted: they close the
      // bucket, even inside it (the newest bucket is still filling as the page opens).
      const candle = { start, open, high, low, close, openAt: start, closeAt: start };
      const live = this.candles.get(start);
      if (live) {
        // The answer crossed live points of the same bucket: keep their extremes and close.
        candle.high = Math.max(high, live.high);
        candle.low = Math.min(low, live.low);
        [candle.close, candle.closeAt] = [live.close, live.closeAt];
      }
      this.candles.set(start, candle);
    }
  }

  /** Live [ts, value] points: each lands in its bucket; returns whether anything moved. */
  add(points) {
    let moved = false;
    for (const [ts, value] of points) {
      const at = seconds(ts);
      if (!Number.isFinite(at) || !Number.isFinite(value)) continue;
      const start = Math.floor(at / this.bucket) * this.bucket;
      const candle = this.candles.get(start);
      moved = true;
      if (!candle) {
        this.candles.set(start, { start, open: value, high: value, low: value, close: value, openAt: at, closeAt: at });
        continue;
      }
      if (at < candle.openAt) [candle.open, candle.openAt] = [value, at];
      if (at >= candle.closeAt) [candle.close, candle.closeAt] = [value, at];
      candle.high = Math.max(candle.high, value);
      candle.low = Math.min(candle.low, value);
    }
    return moved;
  }

  /** Keep the newest `count` buckets. */
  trim(count) {
    const starts = [...this.candles.keys()].sort((a, b) => a - b);
    for (const start of starts.slice(0, Math.max(0, starts.length - count))) this.candles.delete(start);
  }

  /** uPlot's columns: [starts, opens, highs, lows, closes], oldest first. */
  columns() {
    const rows = [...this.candles.values()].sort((a, b) => a.start - b.start);
    return [rows.map((c) => c.start), ...["open", "high", "low", "close"].map((k) => rows.map((c) => c[k]))];
  }
}

/** Each vehicle's position, speed and recent track, from its lat, lon and speed points. */
export class FleetTracks {
  constructor({ trail = 30 } = {}) {
    this.trail = trail;
    this.vehicles = new Map(); // device -> {device, lat, lon, speed, at, track: [[lat, lon]...], fix: Map}
  }

  vehicle(device) {
    let v = this.vehicles.get(device);
    if (!v) {
      v = { device, lat: null, lon: null, speed: null, at: 0, track: [], fix: new Map() };
      this.vehicles.set(device, v);
    }
    return v;
  }

  /** Apply points; returns the devices that moved or changed speed. A position is a lat and
   * a lon of the same time (a device reports them together); the track gains one per time. */
  apply(points) {
    const changed = new Set();
    const sorted = [...points].sort((a, b) => seconds(a[0]) - seconds(b[0]));
    for (const [ts, value, device, metric] of sorted) {
      const at = seconds(ts);
      if (!Number.isFinite(value) || !Number.isFinite(at)) continue;
      const v = this.vehicle(device);
      if (metric === "speed") {
        if (at >= v.at) v.speed = value;
        changed.add(device);
        continue;
      }
      if (metric !== "lat" && metric !== "lon") continue;
      const fix = v.fix.get(ts) ?? {};
      fix[metric] = value;
      v.fix.set(ts, fix);
      if (fix.lat == null || fix.lon == null) continue;
      v.fix.delete(ts);
      if (at < v.at) continue;
      [v.lat, v.lon, v.at] = [fix.lat, fix.lon, at];
      v.track.push([fix.lat, fix.lon]);
      if (v.track.length > this.trail) v.track.splice(0, v.track.length - this.trail);
      changed.add(device);
    }
    for (const v of this.vehicles.values()) {
      // Half-fixes (a lat whose lon never came) are not kept for ever.
      if (v.fix.size > 8) v.fix = new Map([...v.fix].slice(-4));
    }
    return changed;
  }
}
