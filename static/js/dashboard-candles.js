// The candles panel: open, high, low and close per bucket of one metric, drawn with uPlot. The
// buckets come from `GET .../series/?agg=ohlc` and the live bucket moves with each `readings`
// frame (CandleBuckets). uPlot draws the axes and cursor; the candles themselves are drawn in
// a `draw` hook, the approach of uPlot's candlestick demo, with the four series kept pathless.
import uPlot from "uplot";

import { api } from "./api.js";
import { axisStyle, fitPlot, formatValue, palette, plotSize } from "./dashboard-charts.js";
import { CandleBuckets, LiveView } from "./dashboard-streams.js";

const LIVE_BUCKET_S = 10;
const LIVE_CANDLES = 60; // ten minutes of 10-second candles

function drawCandles(u, bucket, colors) {
  const [xs, opens, highs, lows, closes] = u.data;
  if (!xs.length) return;
  const { ctx } = u;
  const px = uPlot.pxRatio;
  const step = Math.abs(u.valToPos(xs[0] + bucket, "x", true) - u.valToPos(xs[0], "x", true));
  const width = Math.max(1, Math.min(step * 0.7, 24 * px));
  ctx.save();
  ctx.beginPath();
  ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
  ctx.clip();
  for (let i = 0; i < xs.length; i += 1) {
    const up = closes[i] >= opens[i];
    const x = Math.round(u.valToPos(xs[i] + bucket / 2, "x", true));
    const [yHigh, yLow] = [highs[i], lows[i]].map((v) => Math.round(u.valToPos(v, "y", true)));
    const [yOpen, yClose] = [opens[i], closes[i]].map((v) => u.valToPos(v, "y", true));
    ctx.fillStyle = ctx.strokeStyle = up ? colors.ok : colors.crit;
    ctx.lineWidth = Math.max(1, px);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, yHigh);
    ctx.lineTo(x + 0.5, yLow);
    ctx.stroke();
    const top = Math.min(yOpen, yClose);
    ctx.fillRect(
      Math.round(x - width / 2),
      Math.round(top),
      Math.round(width),
      Math.max(px, Math.round(Math.abs(yClose - yOpen))),
    );
  }
  ctx.restore();
}

export class CandlesView extends LiveView {
  constructor(figure, panel) {
    super();
    this.figure = figure;
    this.panel = panel;
    this.agg = "ohlc"; // what the time-range picker asks the series API for
    this.slug = figure.closest("[data-slug]").dataset.slug;
    this.live = new CandleBuckets(LIVE_BUCKET_S);
    this.history = null;
    this.range = null;
    this.body = figure.querySelector("[data-chart]");
    this.valueEl = figure.querySelector("[data-value]");
    this.footEl = figure.querySelector("[data-foot]");
    this.u = null;
    this.frame = 0;
    new ResizeObserver(() => fitPlot(this.u, this.body)).observe(this.body);
    this.loadLive();
  }

  async loadLive() {
    const until = new Date();
    const since = new Date(until.getTime() - LIVE_CANDLES * LIVE_BUCKET_S * 1000);
    const query = new URLSearchParams({
      device: this.panel.device,
      metric: this.panel.metric,
      since: since.toISOString(),
      until: until.toISOString(),
      bucket: LIVE_BUCKET_S,
      agg: "ohlc",
    });
    const result = await api("GET", `/api/dashboards/${encodeURIComponent(this.slug)}/series/?${query}`);
    if (!result.ok) return;
    const live = new CandleBuckets(LIVE_BUCKET_S);
    live.load(result.data.points);
    // Points that came over the socket while this loaded are newer: they win.
    for (const [start, candle] of this.live.candles) live.candles.set(start, candle);
    this.live = live;
    this.schedule();
  }

  get buckets() {
    return this.history ?? this.live;
  }

  build() {
    this.u?.destroy();
    const c = palette();
    const axis = axisStyle(c);
    const pathless = (label) => ({ label, paths: () => null, points: { show: false } });
    this.u = new uPlot(
      {
        ...plotSize(this.body),
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        padding: [10, 18, 0, 0],
        scales: {
          x: {
            time: true,
            range: (u, min, max) => this.range ?? [min, max + this.buckets.bucket],
          },
          y: { range: (u, min, max) => (Number.isFinite(min) ? uPlot.rangeNum(min, max, 0.1, true) : [0, 1]) },
        },
        axes: [
          {
            ...axis,
            space: 80,
            size: 30,
            values: (u, splits) =>
              splits.map((s) => new Date(s * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
          },
          { ...axis, size: 50, values: (u, splits) => splits.map((v) => formatValue(v)) },
        ],
        series: [{}, pathless("open"), pathless("high"), pathless("low"), pathless("close")],
        hooks: { draw: [(u) => drawCandles(u, this.buckets.bucket, c)] },
      },
      [[], [], [], [], []],
      this.body,
    );
  }

  append(points) {
    if (this.live.add(points)) {
      this.live.trim(LIVE_CANDLES);
      if (!this.history) this.schedule();
    }
  }

  /** A past range: the API's [[ts, open, high, low, close], ...] per `bucket` seconds. */
  showSeries(points, range, bucket) {
    this.history = new CandleBuckets(bucket);
    this.history.load(points);
    this.range = range;
    this.schedule();
  }

  showLive() {
    this.history = null;
    this.range = null;
    this.schedule();
  }

  render(restyle = false) {
    if (!this.u || restyle) this.build();
    const columns = this.buckets.columns();
    this.u.setData(columns);
    const close = columns[4].at(-1);
    this.valueEl.textContent = formatValue(close);
    const up = columns[4].length && close >= columns[1].at(-1);
    this.figure.dataset.trend = !columns[0].length ? "flat" : up ? "up" : "down";
    this.figure.dataset.points = String(columns[0].length);
    this.figure.classList.toggle("is-empty", columns[0].length === 0);
    const bucket = this.buckets.bucket;
    this.footEl.textContent = `Open, high, low, close per ${bucket >= 60 ? `${bucket / 60} min` : `${bucket} s`}`;
  }
}
