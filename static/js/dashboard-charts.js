// How a dashboard panel draws its points: uPlot for line charts, small SVGs drawn here for
// gauges and sparklines. Every renderer takes the same series shape,
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

function niceCeil(value) {
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

function svg(name, attrs = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
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

  size() {
    return { width: Math.max(120, this.host.clientWidth), height: Math.max(100, this.host.clientHeight) };
  }

  fit() {
    if (!this.u) return;
    const { width, height } = this.size();
    if (width !== this.u.width || height !== this.u.height) this.u.setSize({ width, height });
  }

  build(banded) {
    this.u?.destroy();
    this.banded = banded;
    const c = palette();
    const colors = { warn: c.warn, crit: c.crit };
    const axis = {
      stroke: c.muted,
      font: `11px ${FONT}`,
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1, size: 4 },
    };
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
        ...this.size(),
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

// --- gauge (SVG) ---------------------------------------------------------------------------

const SWEEP = 240; // degrees, centred on 12 o'clock
const CX = 100;
const CY = 100;
const R = 78;

function polar(angle, radius = R) {
  const rad = (angle * Math.PI) / 180;
  return [CX + radius * Math.sin(rad), CY - radius * Math.cos(rad)];
}

function arc(from, to, radius = R) {
  const [x1, y1] = polar(from, radius);
  const [x2, y2] = polar(to, radius);
  const large = to - from > 180 ? 1 : 0;
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${radius} ${radius} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

export class Gauge {
  constructor(host, panel) {
    this.host = host;
    this.panel = panel;
    this.thresholds = thresholdList(panel.thresholds);
    this.percent = unitFor(panel.metric) === "%";
    this.min = 0;
    this.max = this.percent ? 100 : niceCeil(Math.max(1, ...this.thresholds.map((t) => t.value * 1.2)));
    this.root = svg("svg", { viewBox: "0 0 200 168", class: "gauge", "aria-hidden": "true", focusable: "false" });
    host.replaceChildren(this.root);
    this.draw(null);
  }

  angle(value) {
    const ratio = Math.min(1, Math.max(0, (value - this.min) / (this.max - this.min || 1)));
    return -SWEEP / 2 + ratio * SWEEP;
  }

  draw(value) {
    const c = palette();
    const start = -SWEEP / 2;
    const end = SWEEP / 2;
    const nodes = [svg("path", { d: arc(start, end), class: "gauge-track", stroke: c.track })];
    // The threshold zones, as a thin outer ring.
    this.thresholds.forEach((t, i) => {
      const next = this.thresholds[i + 1]?.value ?? this.max;
      if (t.value >= this.max) return;
      nodes.push(
        svg("path", {
          d: arc(this.angle(t.value), this.angle(Math.min(next, this.max)), R + 13),
          class: "gauge-zone",
          stroke: c[t.level],
        }),
      );
    });
    if (value != null) {
      const level = levelFor(value, this.thresholds);
      const to = Math.max(this.angle(value), start + 0.5);
      nodes.push(svg("path", { d: arc(start, to), class: "gauge-value", stroke: c[level] }));
    }
    const [lx, ly] = polar(start, R);
    const [rx, ry] = polar(end, R);
    const low = svg("text", { x: lx, y: ly + 24, class: "gauge-label", "text-anchor": "middle", fill: c.muted });
    low.textContent = formatValue(this.min);
    const high = svg("text", { x: rx, y: ry + 24, class: "gauge-label", "text-anchor": "middle", fill: c.muted });
    high.textContent = formatValue(this.max);
    nodes.push(low, high);
    this.root.replaceChildren(...nodes);
  }

  update(data) {
    const latest = data.ys.at(-1) ?? null;
    const peak = Math.max(...(data.high ?? data.ys).slice(-300), latest ?? 0);
    if (!this.percent && peak > this.max) this.max = niceCeil(peak * 1.1);
    this.draw(latest);
  }

  restyle(data) {
    this.update(data);
  }
}

// --- sparkline (SVG) ----------------------------------------------------------------------

export class Sparkline {
  constructor(host) {
    this.host = host;
    this.root = svg("svg", { viewBox: "0 0 300 60", preserveAspectRatio: "none", class: "sparkline", "aria-hidden": "true", focusable: "false" });
    const id = `spark-${Math.random().toString(36).slice(2)}`;
    this.gradient = svg("linearGradient", { id, x1: "0", x2: "0", y1: "0", y2: "1" });
    this.stops = [svg("stop", { offset: "0" }), svg("stop", { offset: "1" })];
    this.gradient.append(...this.stops);
    const defs = svg("defs");
    defs.append(this.gradient);
    this.area = svg("path", { fill: `url(#${id})`, stroke: "none" });
    this.line = svg("path", { fill: "none", "stroke-width": "2", "vector-effect": "non-scaling-stroke", "stroke-linejoin": "round" });
    this.root.append(defs, this.area, this.line);
    host.replaceChildren(this.root);
  }

  update(data, range = null, level = "ok") {
    const c = palette();
    const color = level === "ok" ? c.line : c[level];
    this.line.setAttribute("stroke", color);
    this.stops[0].setAttribute("stop-color", withAlpha(color, 0.28));
    this.stops[1].setAttribute("stop-color", withAlpha(color, 0));
    const { xs, ys } = data;
    if (xs.length < 2) {
      this.line.setAttribute("d", "");
      this.area.setAttribute("d", "");
      return;
    }
    const [x0, x1] = range ?? [xs[0], xs.at(-1)];
    let lo = Math.min(...ys);
    let hi = Math.max(...ys);
    if (hi - lo < 1e-9) {
      lo -= 1;
      hi += 1;
    }
    const px = (x) => (((x - x0) / (x1 - x0 || 1)) * 300).toFixed(1);
    const py = (y) => (56 - ((y - lo) / (hi - lo)) * 50).toFixed(1);
    const d = xs.map((x, i) => `${i ? "L" : "M"}${px(x)} ${py(ys[i])}`).join("");
    this.line.setAttribute("d", d);
    this.area.setAttribute("d", `${d}L${px(xs.at(-1))} 60L${px(xs[0])} 60Z`);
  }

  restyle(data, range, level) {
    this.update(data, range, level);
  }
}
