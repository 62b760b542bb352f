// Gauges and sparklines: small SVGs drawn by hand, with the same series shape and colours as the
// line charts of dashboard-charts.js.
import {
  formatValue,
  levelFor,
  niceCeil,
  palette,
  svg,
  thresholdList,
  unitFor,
  withAlpha,
} from "./dashboard-charts.js";

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
    this.root = svg("svg", {
      viewBox: "0 0 300 60",
      preserveAspectRatio: "none",
      class: "sparkline",
      "aria-hidden": "true",
      focusable: "false",
    });
    const id = `spark-${Math.random().toString(36).slice(2)}`;
    this.gradient = svg("linearGradient", { id, x1: "0", x2: "0", y1: "0", y2: "1" });
    this.stops = [svg("stop", { offset: "0" }), svg("stop", { offset: "1" })];
    this.gradient.append(...this.stops);
    const defs = svg("defs");
    defs.append(this.gradient);
    this.area = svg("path", { fill: `url(#${id})`, stroke: "none" });
    this.line = svg("path", {
      fill: "none",
      "stroke-width": "2",
      "vector-effect": "non-scaling-stroke",
      "stroke-linejoin": "round",
    });
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
