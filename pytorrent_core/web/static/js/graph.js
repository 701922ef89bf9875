// Live down/up speed graph from profile:status, drawn on a canvas.
// Two polylines over a few minutes do not need a charting library.

const WINDOW_SECONDS = 300;

export class SpeedGraph {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = []; // [seconds, down, up]
    canvas.setAttribute("role", "img");
    if (typeof ResizeObserver === "function") new ResizeObserver(() => this.draw()).observe(canvas);
    if (window.matchMedia) {
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener?.("change", () => this.draw());
    }
  }

  push(down, up, at = Date.now() / 1000) {
    this.points.push([at, down || 0, up || 0]);
    while (this.points.length && this.points[0][0] < at - WINDOW_SECONDS) this.points.shift();
    this.draw();
  }

  clear() {
    this.points = [];
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const now = this.points.length ? this.points[this.points.length - 1][0] : Date.now() / 1000;
    const max = Math.max(1024, ...this.points.map((p) => Math.max(p[1], p[2])));
    const x = (t) => width - ((now - t) / WINDOW_SECONDS) * width;
    const y = (v) => height - 1 * ratio - (v / max) * (height - 3 * ratio);
    ctx.strokeStyle = style.getPropertyValue("--border").trim() || "#888";
    ctx.lineWidth = ratio;
    ctx.beginPath();
    ctx.moveTo(0, height - 0.5 * ratio);
    ctx.lineTo(width, height - 0.5 * ratio);
    ctx.stroke();
    for (const [index, color] of [[1, "--down"], [2, "--up"]]) {
      if (this.points.length < 2) continue;
      ctx.strokeStyle = style.getPropertyValue(color).trim() || "#36c";
      ctx.lineWidth = 1.5 * ratio;
      ctx.beginPath();
      this.points.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[index])) : ctx.moveTo(x(p[0]), y(p[index]))));
      ctx.stroke();
    }
  }
}
