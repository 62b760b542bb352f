// The ticker panel: a table of symbol, last price, change and change % since the open (see
// TickerBook), each row flashing green or red as its price moves. The server sends at most ten
// frames a second with the latest price per symbol; this draws at most once per animation
// frame, and only the rows that changed. No aria-live: a screen reader reads the table when
// asked, not two hundred prices a second.
import { formatValue } from "./dashboard-charts.js";
import { LiveView, TickerBook } from "./dashboard-streams.js";

const SORTS = {
  symbol: (a, b) => a.symbol.localeCompare(b.symbol),
  pct: (a, b) => (b.pct ?? -Infinity) - (a.pct ?? -Infinity),
  listed: () => 0,
};

function cell(tag, text, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

export class TickerView extends LiveView {
  constructor(figure, panel) {
    super();
    this.figure = figure;
    this.panel = panel;
    this.liveOnly = true; // the time-range picker leaves it live
    this.symbols = panel.metrics;
    this.book = new TickerBook(this.symbols);
    this.dirty = new Map(); // symbol -> direction of its last move (0: none)
    this.frame = 0;
    this.sort = "listed";
    this.flip = new Map(); // alternates two identical animations, so each move restarts it
    figure.querySelector("[data-value]").textContent = String(this.symbols.length);
    figure.querySelector("[data-unit]").textContent = " symbols";
    this.build(figure.querySelector("[data-chart]"));
    figure.querySelector("[data-foot]").textContent = "Change since the first price seen (10 minutes back at most)";
  }

  build(body) {
    const wrap = document.createElement("div");
    wrap.className = "ticker-wrap";
    const table = document.createElement("table");
    table.className = "ticker";
    table.append(cell("caption", `${this.panel.title}: last price and change per symbol`, "visually-hidden"));
    const head = document.createElement("tr");
    this.headers = new Map();
    for (const [key, label, sortKey] of [
      ["symbol", "Symbol", "symbol"],
      ["last", "Last", null],
      ["change", "Change", null],
      ["pct", "Change %", "pct"],
    ]) {
      const th = cell("th", "", key === "symbol" ? "" : "num");
      th.scope = "col";
      if (sortKey) {
        const button = cell("button", label, "ticker-sort");
        button.type = "button";
        button.addEventListener("click", () => this.sortBy(this.sort === sortKey ? "listed" : sortKey));
        th.append(button);
        th.setAttribute("aria-sort", "none");
        this.headers.set(sortKey, th);
      } else {
        th.textContent = label;
      }
      head.append(th);
    }
    table.createTHead().append(head);
    this.tbody = table.createTBody();
    this.rows = new Map();
    for (const symbol of this.symbols) {
      const tr = document.createElement("tr");
      tr.dataset.symbol = symbol;
      const th = cell("th", symbol.toUpperCase());
      th.scope = "row";
      const last = cell("td", "–", "num");
      const change = cell("td", "", "num");
      const pct = cell("td", "", "num");
      tr.append(th, last, change, pct);
      this.tbody.append(tr);
      this.rows.set(symbol, { tr, last, change, pct });
    }
    wrap.append(table);
    body.replaceChildren(wrap);
  }

  sortBy(key) {
    this.sort = key;
    for (const [name, th] of this.headers) {
      th.setAttribute("aria-sort", name === key ? (key === "symbol" ? "ascending" : "descending") : "none");
    }
    this.reorder();
  }

  reorder() {
    const rows = this.symbols.map((s) => this.book.row(s));
    const order = this.sort === "listed" ? rows : [...rows].sort(SORTS[this.sort]);
    this.tbody.append(...order.map((row) => this.rows.get(row.symbol).tr));
  }

  append(points) {
    for (const [symbol, dir] of this.book.apply(points)) this.dirty.set(symbol, dir);
    for (const [, , , metric] of points) if (!this.dirty.has(metric)) this.dirty.set(metric, 0);
    this.schedule();
  }

  render() {
    for (const [symbol, dir] of this.dirty) {
      const cells = this.rows.get(symbol);
      if (!cells) continue;
      const row = this.book.row(symbol);
      cells.last.textContent = formatValue(row.last);
      cells.change.textContent = row.change == null ? "" : signed(row.change, formatValue(Math.abs(row.change)));
      cells.pct.textContent = row.pct == null ? "" : signed(row.pct, `${Math.abs(row.pct).toFixed(2)}%`);
      cells.tr.dataset.trend = row.change > 0 ? "up" : row.change < 0 ? "down" : "flat";
      if (dir) {
        const flip = !this.flip.get(symbol);
        this.flip.set(symbol, flip);
        cells.last.classList.remove("flash-up", "flash-down", "flash-up-again", "flash-down-again");
        cells.last.classList.add(`flash-${dir > 0 ? "up" : "down"}${flip ? "" : "-again"}`);
      }
    }
    this.dirty.clear();
    if (this.sort !== "listed") this.reorder();
    const priced = this.symbols.filter((s) => this.book.row(s).last != null).length;
    this.figure.dataset.points = String(priced);
    this.figure.classList.toggle("is-empty", priced === 0);
  }
}

function signed(value, text) {
  return value > 0 ? `+${text}` : value < 0 ? `−${text}` : text;
}
