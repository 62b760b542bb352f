// The dashboard page: panels fed by the dashboard socket (a snapshot, then new points), a
// time-range picker that swaps the live stream for the series API, and the alert rules on
// this dashboard (dashboard-alerts.js). The socket client is the shared LiveSocket; this module
// only renders.
import { api } from "./api.js";
import { closeInfo } from "./closecodes.js";
import { pointsArrived, setUpAlerts } from "./dashboard-alerts.js";
import { LiveSocket } from "./socket.js";
import { LineChart, formatValue, levelFor, thresholdList, unitFor } from "./dashboard-charts.js";
import { Gauge, Sparkline } from "./dashboard-gauges.js";
import { setUpPanelEditor } from "./dashboard-editor.js";
import { TickerView } from "./dashboard-ticker.js";
import { CandlesView } from "./dashboard-candles.js";

const LIVE_WINDOW_S = 10 * 60; // what a live panel keeps: the socket's snapshot window
const LIVE_MAX_POINTS = 1200;
// Range -> bucket: a few hundred buckets whatever the range.
const BUCKETS = { 900: 5, 3600: 15, 86400: 300 };

const root = document.getElementById("dashboard");
const dashboard = JSON.parse(document.getElementById("dashboard-data").textContent);
const connState = document.getElementById("conn-state");
const rangeNote = document.getElementById("range-note");
const slug = dashboard.slug;

// --- panels --------------------------------------------------------------------------------

// Points are kept in time order (a device may report late). A point already held (same time,
// same value) is not added twice: a reading committed while the socket was opening can come
// both in the snapshot and as a live frame.
function insertSorted(xs, ys, x, y) {
  let at = xs.length;
  if (at && x < xs[at - 1] + 1e-6) {
    let lo = 0;
    let hi = at;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    at = lo;
  }
  for (let i = at - 1; i >= 0 && xs[i] === x; i -= 1) if (ys[i] === y) return;
  xs.splice(at, 0, x);
  ys.splice(at, 0, y);
}

class PanelView {
  constructor(figure, panel) {
    this.figure = figure;
    this.panel = panel;
    this.kind = panel.kind;
    this.thresholds = thresholdList(panel.thresholds);
    this.live = { xs: [], ys: [] };
    this.history = null; // {xs, ys (avg), low, high} while a past range is shown
    this.range = null;
    this.valueEl = figure.querySelector("[data-value]");
    this.unitEl = figure.querySelector("[data-unit]");
    this.footEl = figure.querySelector("[data-foot]");
    this.body = figure.querySelector("[data-chart]");
    this.unit = unitFor(panel.metric);
    this.unitEl.textContent = this.unit;
    this.dirty = false;
    if (this.kind === "line") {
      this.chart = new LineChart(this.body, panel, (text) => this.hover(text));
    } else if (this.kind === "gauge") {
      this.chart = new Gauge(this.body, panel);
    } else {
      this.chart = new Sparkline(this.body);
    }
    this.renderFoot();
  }

  get data() {
    return this.history ?? this.live;
  }

  setLive(points) {
    this.live = { xs: [], ys: [] };
    this.append(points);
  }

  append(points) {
    const { xs, ys } = this.live;
    for (const [ts, value] of points) {
      const x = Date.parse(ts) / 1000;
      if (Number.isFinite(x) && Number.isFinite(value)) insertSorted(xs, ys, x, value);
    }
    // A bounded window: the last ten minutes, and never more than LIVE_MAX_POINTS.
    const cutoff = xs.length ? xs.at(-1) - LIVE_WINDOW_S : 0;
    let drop = 0;
    while (drop < xs.length && xs[drop] < cutoff) drop += 1;
    drop = Math.max(drop, xs.length - LIVE_MAX_POINTS);
    if (drop > 0) {
      xs.splice(0, drop);
      ys.splice(0, drop);
    }
    if (!this.history) this.schedule();
  }

  showHistory(history, range) {
    this.history = history;
    this.range = range;
    this.renderFoot();
    this.schedule();
  }

  showLive() {
    this.history = null;
    this.range = null;
    this.renderFoot();
    this.schedule();
  }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => {
      this.dirty = false;
      this.render();
    });
  }

  render(restyle = false) {
    const data = this.data;
    const latest = data.ys.at(-1);
    const level = levelFor(latest, this.thresholds);
    if (restyle) this.chart.restyle(data, this.range, level);
    else this.chart.update(data, this.range, level);
    this.valueEl.textContent = formatValue(latest);
    this.figure.dataset.level = latest == null ? "none" : level;
    // For tests and tools: how many points the chart holds (for a line, uPlot's own data).
    this.figure.dataset.points = String(this.kind === "line" ? this.chart.length : data.xs.length);
    this.figure.classList.toggle("is-empty", data.xs.length === 0);
    if (this.kind !== "line") this.renderFoot();
  }

  hover(text) {
    if (this.hoverEl) this.hoverEl.textContent = text ?? "";
  }

  renderFoot() {
    const items = [];
    if (this.kind === "line") {
      items.push(legendItem("series", this.history ? "min · avg · max" : this.panel.metric));
    } else if (this.kind === "stat" && this.data.ys.length) {
      const ys = this.data.low ? [...this.data.low, ...this.data.high] : this.data.ys;
      items.push(textItem(`low ${formatValue(Math.min(...ys))} · high ${formatValue(Math.max(...ys))}`));
    }
    for (const t of this.thresholds) items.push(legendItem(t.level, `${t.name} ${formatValue(t.value)}`));
    if (this.kind === "line") {
      this.hoverEl = textItem("");
      this.hoverEl.classList.add("legend-hover");
      items.push(this.hoverEl);
    }
    if (!items.length && this.kind !== "line") items.push(textItem(this.data.ys.length ? "" : " "));
    this.footEl.replaceChildren(...items);
  }
}

function legendItem(kind, text) {
  const item = document.createElement("span");
  item.className = `legend-item legend-${kind}`;
  const swatch = document.createElement("span");
  swatch.className = "legend-swatch";
  swatch.setAttribute("aria-hidden", "true");
  item.append(swatch, document.createTextNode(text));
  return item;
}

function textItem(text) {
  const item = document.createElement("span");
  item.className = "legend-item legend-text";
  item.textContent = text;
  return item;
}

// Ticker, candles and map panels have views of their own; the map's (Leaflet) is a bundle
// loaded only where a dashboard has one.
const KINDS = { ticker: TickerView, candles: CandlesView };
const deviceNames = JSON.parse(document.getElementById("device-names")?.textContent ?? "{}");
const views = new Map();
for (const panel of dashboard.panels) {
  const figure = root.querySelector(`figure[data-panel="${panel.id}"]`);
  if (!figure) continue;
  if (panel.kind === "map") {
    const { FleetMapView } = await import("./map/fleet-map.js");
    views.set(panel.id, new FleetMapView(figure, panel, deviceNames));
  } else {
    views.set(panel.id, new (KINDS[panel.kind] ?? PanelView)(figure, panel));
  }
}
for (const view of views.values()) view.render();

// Colours are read from CSS when drawing: follow a theme change.
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const view of views.values()) view.render(true);
});

// --- time range ----------------------------------------------------------------------------

let rangeToken = 0;

async function loadRange(seconds) {
  const token = ++rangeToken;
  const until = new Date();
  const since = new Date(until.getTime() - seconds * 1000);
  const bucket = BUCKETS[seconds] ?? Math.max(1, Math.round(seconds / 240));
  const range = [since.getTime() / 1000, until.getTime() / 1000];
  root.dataset.loading = "";
  rangeNote.hidden = false;
  rangeNote.textContent = `Loading the last ${rangeLabel(seconds)}…`;
  const results = await Promise.allSettled(
    [...views.values()]
      .filter((view) => !view.liveOnly)
      .map(async (view) => {
        const query = new URLSearchParams({
          device: view.panel.device,
          metric: view.panel.metric,
          since: since.toISOString(),
          until: until.toISOString(),
          bucket,
          ...(view.agg ? { agg: view.agg } : {}),
        });
        const result = await api("GET", `/api/dashboards/${encodeURIComponent(slug)}/series/?${query}`);
        if (!result.ok) throw new Error(result.error);
        return [view, result.data.points];
      }),
  );
  if (token !== rangeToken) return; // the person picked another range meanwhile
  delete root.dataset.loading;
  let failed = 0;
  for (const result of results) {
    if (result.status !== "fulfilled") {
      failed += 1;
      continue;
    }
    const [view, points] = result.value;
    if (view.showSeries) {
      view.showSeries(points, range, bucket);
      continue;
    }
    const history = { xs: [], ys: [], low: [], high: [] };
    for (const [ts, low, avg, high] of points) {
      history.xs.push(Date.parse(ts) / 1000);
      history.low.push(low);
      history.ys.push(avg);
      history.high.push(high);
    }
    view.showHistory(history, range);
  }
  const bucketText = bucket >= 60 ? `${bucket / 60} min` : `${bucket} s`;
  rangeNote.textContent =
    `Showing the last ${rangeLabel(seconds)}: min, average and max per ${bucketText}. ` +
    "Live updates are paused; choose Live to resume." +
    (failed ? ` ${failed} panel${failed > 1 ? "s" : ""} could not be loaded.` : "");
}

function rangeLabel(seconds) {
  return { 900: "15 minutes", 3600: "hour", 86400: "24 hours" }[seconds] ?? `${seconds} s`;
}

document.getElementById("range-picker").addEventListener("change", (event) => {
  const value = event.target.value;
  root.dataset.range = value;
  if (value === "live") {
    rangeToken += 1;
    delete root.dataset.loading;
    rangeNote.hidden = true;
    for (const view of views.values()) view.showLive();
  } else {
    loadRange(Number(value));
  }
});

// --- connection ----------------------------------------------------------------------------

let countdown = null;

function showState({ state, retryAt, code }) {
  clearInterval(countdown);
  connState.dataset.state = state;
  root.dataset.conn = state;
  if (state === "reconnecting") {
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
      connState.textContent = `Reconnecting in ${seconds}s…`;
    };
    tick();
    countdown = setInterval(tick, 500);
  } else if (state === "ended") {
    connState.textContent = closeInfo(code).label;
  } else {
    connState.textContent = { connecting: "Connecting…", live: "Live", offline: "Offline" }[state] ?? state;
  }
}

// The dashboard socket greets with a snapshot, not a chat `hello`: it is live once open.
// Each (re)connect starts with a fresh snapshot, so there is nothing to resume.
const socket = new LiveSocket(`/ws/dashboards/${encodeURIComponent(slug)}/`, {
  hello: false,
  handlers: {
    snapshot: (frame) => {
      for (const [id, points] of Object.entries(frame.panels ?? {})) {
        views.get(Number(id))?.setLive(points);
      }
    },
    readings: (frame) => {
      const view = views.get(frame.panel);
      if (!view) return;
      view.append(frame.points ?? []);
      pointsArrived(view.panel);
    },
    pong: () => {},
    state: showState,
  },
});
socket.connect();

setUpAlerts({ root, slug });

// --- panel editor (the owner's) ------------------------------------------------------------

if (root.hasAttribute("data-owner")) setUpPanelEditor({ slug });
