// The board on a canvas: walls from the model, each head drawn between its last two cells by
// how far the next tick is (requestAnimationFrame), in the theme's colours.

const SEAT_COLOURS = ["#e11d48", "#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d"];

export function seatColour(seat) {
  return SEAT_COLOURS[seat % SEAT_COLOURS.length];
}

export class Board {
  constructor(canvas, model, { tickMs = 50 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.model = model;
    this.tickMs = tickMs;
    this.lastTickAt = performance.now();
    this.running = false;
  }

  ticked() {
    this.lastTickAt = performance.now();
  }

  start() {
    if (this.running) return;
    this.running = true;
    const frame = () => {
      if (!this.running) return;
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  stop() {
    this.running = false;
  }

  resize() {
    const { width, height } = this.model;
    if (!width) return;
    const box = this.canvas.parentElement.getBoundingClientRect();
    const cell = Math.max(2, Math.floor(Math.min(box.width / width, (window.innerHeight * 0.7) / height)));
    const ratio = window.devicePixelRatio || 1;
    this.cell = cell;
    this.canvas.style.width = `${cell * width}px`;
    this.canvas.style.height = `${cell * height}px`;
    this.canvas.width = cell * width * ratio;
    this.canvas.height = cell * height * ratio;
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  draw() {
    const { ctx, model } = this;
    if (!model.width) return;
    if (!this.cell) this.resize();
    const cell = this.cell;
    const styles = getComputedStyle(this.canvas);
    ctx.fillStyle = styles.getPropertyValue("--board-bg").trim() || "#111";
    ctx.fillRect(0, 0, cell * model.width, cell * model.height);
    for (const [key, seat] of model.walls) {
      const [x, y] = key.split(",").map(Number);
      ctx.fillStyle = seatColour(seat);
      ctx.globalAlpha = 0.55;
      ctx.fillRect(x * cell, y * cell, cell, cell);
    }
    ctx.globalAlpha = 1;
    const t = Math.min(1, (performance.now() - this.lastTickAt) / this.tickMs);
    for (const [seat, head] of model.heads) {
      const x = head.alive ? head.px + (head.x - head.px) * t : head.x;
      const y = head.alive ? head.py + (head.y - head.py) * t : head.y;
      ctx.fillStyle = head.alive ? seatColour(seat) : styles.getPropertyValue("--muted").trim();
      ctx.fillRect(x * cell - cell * 0.15, y * cell - cell * 0.15, cell * 1.3, cell * 1.3);
      if (seat === model.you) {
        ctx.strokeStyle = styles.getPropertyValue("--text").trim() || "#fff";
        ctx.lineWidth = Math.max(1, cell / 5);
        ctx.strokeRect(x * cell - cell * 0.15, y * cell - cell * 0.15, cell * 1.3, cell * 1.3);
      }
    }
  }
}
