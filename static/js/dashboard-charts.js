// How a dashboard panel draws its points: uPlot for line charts (here), small SVGs for gauges
// and sparklines (dashboard-gauges.js). Every renderer takes the same series shape,
//   {xs: [unix seconds...], ys: [values...], low?: [...], high?: [...]}
// (low/high: the min/max band of a historical range) and colours from the page's CSS
// variables, so light and dark follow the system.
import uPlot from "uplot";

const SVG = "http://www.w3.org/2000/svg";
const FONT = 'ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

// --- numbers -------------------------------------------------------------------------------

const formats = new Map();

export function formatValue(value) {
  if (value == null || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
  if (!formats.has(digits)) {
    formats.set(digits, new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }));
  }
  return formats.get(digits).format(value);
}

export function unitFor(metric) {
  if (/(^|[._:-])(percent|pct|humidity)$/.test(metric)) return "%";
  if (/(^|[._:-])(temperature|temp|celsius)$/.test(metric)) return "°C";
  if (/(^|[._:-])kw$/.test(metric)) return "kW";
  if (/(^|[._:-])w$|watts$/.test(metric)) return "W";
  return "";
}

export function niceCeil(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const m = value / magnitude;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * magnitude;
}

// --- thresholds ----------------------------------------------------------------------------

/** {"warn": 70, "crit": 90} -> [{name, value, level}] ascending; level is warn or crit. */
export function thresholdList(thresholds) {
  return Object.entries(thresholds ?? {})
    .filter(([, value]) => Number.isFinite(value))
    .map(([name, value]) => ({
      name,
      value,
      level: /crit|danger|alarm|error|high|max/i.test(name) ? "crit" : "warn",
    }))
    .sort((a, b) => a.value - b.value);
}

/** ok, warn or crit: the worst threshold the value has reached. */
export function levelFor(value, thresholds) {
  let level = "ok";
  if (value == null) return level;
  for (const t of thresholds) {
    if (value >= t.value && (level !== "crit" || t.level === "crit")) level = t.level;
  }
  return level;
}

// --- colours -------------------------------------------------------------------------------

export function palette() {
  const css = getComputedStyle(document.documentElement);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    text: read("--text", "#171b2c"),
    muted: read("--muted", "#5f6779"),
    grid: read("--chart-grid", "#e6e8f1"),
    line: read("--chart-line", "#4f46e5"),
    track: read("--chart-track", "#e6e8f1"),
    ok: read("--chart-ok", "#16a34a"),
    warn: read("--chart-warn", "#d97706"),
    crit: read("--chart-crit", "#dc2626"),
  };
}

export function withAlpha(hex, alpha) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function svg(name, attrs = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// --- uPlot, shared by the line chart and the candles (dashboard-candles.js) ---------------

/** The plot's size: its host's, as CSS sizes it. */
export function plotSize(host) {
  return { width: Math.max(120, host.clientWidth), height: Math.max(100, host.clientHeight) };
}

/** Follow the host's size (from a ResizeObserver). */
export function fitPlot(u, host) {
  if (!u) return;
  const { width, height } = plotSize(host);
  if (width !== u.width || height !== u.height) u.setSize({ width, height });
}

/** Axes in the page's colours and font. */
export function axisStyle(c) {
  return {
    stroke: c.muted,
    font: `11px ${FONT}`,
    grid: { stroke: c.grid, width: 1 },
    ticks: { stroke: c.grid, width: 1, size: 4 },
  };
}

// --- line chart (uPlot) --------------------------------------------------------------------

/** Horizontal dashed lines at the thresholds' values, labelled at the right edge. */
function thresholdLines(thresholds, colors) {
  return {
    hooks: {
      draw: [
        (u) => {
          if (!thresholds.length) return;
          const { ctx, bbox } = u;
          const px = uPlot.pxRatio;
          ctx.save();
          ctx.font = `600 ${Math.round(10.5 * px)}px ${FONT}`;
          ctx.textAlign = "right";
          ctx.textBaseline = "bottom";
          ctx.lineWidth = Math.max(1, px);
          ctx.setLineDash([5 * px, 4 * px]);
          for (const t of thresholds) {
            const y = Math.round(u.valToPos(t.value, "y", true)) + 0.5;
            if (y < bbox.top || y > bbox.top + bbox.height) continue;
            const color = colors[t.level];
            ctx.strokeStyle = color;
            ctx.beginPath();
            ctx.moveTo(bbox.left, y);
            ctx.lineTo(bbox.left + bbox.width, y);
            ctx.stroke();
            ctx.fillStyle = color;
            ctx.fillText(`${t.name} ${formatValue(t.value)}`, bbox.left + bbox.width - 4 * px, y - 3 * px);
          }
          ctx.restore();
        },
      ],
    },
  };
}

export class LineChart {
  /**
   * @param {HTMLElement} host  where the canvas goes (sized by CSS)
   * @param {object} panel  the panel's JSON ({metric, thresholds, ...})
   * @param {(text: string|null) => void} onHover  the value under the cursor, or null
   */
  constructor(host, panel, onHover) {
    this.host = host;
    this.panel = panel;
    this.thresholds = thresholdList(panel.thresholds);
    this.onHover = onHover;
    this.unit = unitFor(panel.metric);
    this.u = null;
    this.banded = null;
    this.xRange = null;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(host);
  }

  fit() {
    fitPlot(this.u, this.host);
  }

  build(banded) {
    this.u?.destroy();
    this.banded = banded;
    const c = palette();
    const colors = { warn: c.warn, crit: c.crit };
    const axis = axisStyle(c);
    const thresholdValues = this.thresholds.map((t) => t.value);
    const fill = (u) => {
      const { top, height } = u.bbox;
      if (!Number.isFinite(top) || height <= 0) return withAlpha(c.line, 0.12);
      const gradient = u.ctx.createLinearGradient(0, top, 0, top + height);
      gradient.addColorStop(0, withAlpha(c.line, 0.22));
      gradient.addColorStop(1, withAlpha(c.line, 0));
      return gradient;
    };
    const series = [
      {},
      {
        label: banded ? "average" : this.panel.metric,
        stroke: c.line,
        width: 2,
        fill: banded ? undefined : fill,
        points: { show: false },
      },
    ];
    if (banded) {
      series.push(
        { label: "min", stroke: withAlpha(c.line, 0.35), width: 1, points: { show: false } },
        { label: "max", stroke: withAlpha(c.line, 0.35), width: 1, points: { show: false } },
      );
    }
    this.u = new uPlot(
      {
        ...plotSize(this.host),
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 7, fill: c.line } },
        padding: [10, 18, 0, 0],
        scales: {
          x: { time: true, range: (u, min, max) => this.xRange ?? [min, max] },
          y: {
            range: (u, min, max) => {
              const values = [min, max, ...thresholdValues].filter(Number.isFinite);
              if (!values.length) return [0, 1];
              return uPlot.rangeNum(Math.min(...values), Math.max(...values), 0.12, true);
            },
          },
        },
        axes: [
          {
            ...axis,
            space: 80,
            size: 30,
            values: (u, splits, axisIdx, space, incr) => {
              const options = { hour: "2-digit", minute: "2-digit", second: incr < 60 ? "2-digit" : undefined };
              return splits.map((s) => new Date(s * 1000).toLocaleTimeString([], options));
            },
          },
          { ...axis, size: 44, values: (u, splits) => splits.map((v) => formatValue(v)) },
        ],
        series,
        bands: banded ? [{ series: [3, 2], fill: withAlpha(c.line, 0.14) }] : [],
        plugins: [thresholdLines(this.thresholds, colors)],
        hooks: {
          setCursor: [
            (u) => {
              const i = u.cursor.idx;
              if (i == null || u.data[0][i] == null) return this.onHover(null);
              const when = new Date(u.data[0][i] * 1000).toLocaleTimeString([], {
                hour: "2-digit",
                minute: "2-digit",
                second: this.banded ? undefined : "2-digit",
              });
              const value = formatValue(u.data[1][i]);
              this.onHover(`${when}  ${value}${this.unit ? ` ${this.unit}` : ""}`);
            },
          ],
        },
      },
      [[], [], ...(banded ? [[], []] : [])],
      this.host,
    );
  }

  /** Draw the series; `range` ([since, until] in unix seconds) pins the x axis. */
  update(data, range = null) {
    const banded = Boolean(data.low);
    if (!this.u || banded !== this.banded) this.build(banded);
    this.xRange = range;
    this.u.setData(banded ? [data.xs, data.ys, data.low, data.high] : [data.xs, data.ys]);
  }

  /** Colours come from CSS: a theme change rebuilds the chart. */
  restyle(data, range) {
    this.u?.destroy();
    this.u = null;
    this.update(data, range);
  }

  get length() {
    return this.u ? this.u.data[0].length : 0;
  }
}
