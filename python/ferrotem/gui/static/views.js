// An image view: the array drawn through a colour map on one canvas, an overlay canvas above it
// (detector shapes, handles, the pick cursor, the ROI), and a colour bar with its scale. Colour
// changes redraw from the array kept here: no round trip to the server.
import { MAP_NAMES, colorize, drawColorbar, finiteRange, valueAt } from "./colormap.js";

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(2) : v.toPrecision(4));

export class ImageView {
  constructor(title, { map = "gray", log = false, role = "" } = {}) {
    this.data = null;         // the array shown, and its height / width
    this.height = 0; this.width = 0;
    this.brightness = null;   // optional per-pixel brightness (the field's magnitude)
    this.fixedRange = null;   // [lo, hi] that replaces the data's own (direction: -pi..pi)
    this.overlay = null;      // { draw(ctx, scale) }: what the overlay canvas shows
    this.overlayDraws = [];   // timestamps of overlay redraws (the browser test reads them)
    this.mapSelect = el("select", { className: "map" }, ...MAP_NAMES.map((n) => new Option(n, n)));
    this.mapSelect.value = map;
    this.logBox = el("input", { type: "checkbox", className: "log", checked: log });
    this.title = el("span", { className: "view-title", textContent: title });
    this.image = el("canvas", { className: "image", width: 1, height: 1 });
    this.over = el("canvas", { className: "overlay", tabIndex: 0 });
    this.bar = el("canvas", { className: "bar" });
    this.lo = el("span", { className: "lo" });
    this.mid = el("span", { className: "mid" });
    this.hi = el("span", { className: "hi" });
    this.root = el("figure", { className: `view ${role}` },
      el("figcaption", {}, this.title, " ", this.mapSelect, el("label", { className: "inline" }, this.logBox, " log")),
      el("div", { className: "stack" }, this.image, this.over),
      el("div", { className: "colorbar" }, this.bar, el("div", { className: "scale" }, this.lo, this.mid, this.hi)));
    this.mapSelect.addEventListener("change", () => this.render());
    this.logBox.addEventListener("change", () => this.render());
    new ResizeObserver(() => this.requestOverlay()).observe(this.image);
  }

  setMap(name, log) { this.mapSelect.value = name; if (log !== undefined) this.logBox.checked = log; }

  // final: whether the image is a run's complete result (false: a partial one)
  setImage(data, height, width, { brightness = null, range = null, final = true } = {}) {
    this.data = data; this.height = height; this.width = width; this.final = final;
    this.brightness = brightness; this.fixedRange = range;
    this.render();
  }

  // Draws the kept array with the current map and scale; returns the range used.
  render() {
    if (!this.data) return null;
    const name = this.mapSelect.value, log = this.logBox.checked;
    let [lo, hi] = this.fixedRange ?? finiteRange(this.data);
    if (name === "diverging" && !this.fixedRange) { const m = Math.max(Math.abs(lo), Math.abs(hi)); [lo, hi] = [-m, m]; }
    const resized = this.image.width !== this.width || this.image.height !== this.height;
    if (resized) { this.image.width = this.width; this.image.height = this.height; }
    const ctx = this.image.getContext("2d");
    const pixels = ctx.createImageData(this.width, this.height);
    ctx.putImageData(colorize(this.data, pixels, { name, lo, hi, log, brightness: this.brightness }), 0, 0);
    drawColorbar(this.bar, name);
    this.lo.textContent = fmt(lo);
    this.mid.textContent = fmt(valueAt(0.5, lo, hi, log));
    this.hi.textContent = fmt(hi);
    this.range = [lo, hi];
    if (resized) this.requestOverlay();
    return this.range;
  }

  // Canvas pixels per image pixel, and the image coordinates (pixel centres at integers, as
  // the masks count them) of a mouse event.
  scale() { return this.over.clientWidth / Math.max(this.width, 1); }
  toImage(event) {
    const box = this.over.getBoundingClientRect();
    const s = box.width / Math.max(this.width, 1);
    return { x: (event.clientX - box.left) / s - 0.5, y: (event.clientY - box.top) / s - 0.5 };
  }

  // Redraws the overlay once, at the next animation frame, however many changes come first.
  requestOverlay() {
    if (this.pending) return;
    this.pending = requestAnimationFrame((t) => { this.pending = 0; this.drawOverlay(t); });
  }

  drawOverlay(time) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(this.over.clientWidth * dpr), h = Math.round(this.over.clientHeight * dpr);
    if (this.over.width !== w || this.over.height !== h) { this.over.width = w; this.over.height = h; }
    const ctx = this.over.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (this.overlay && this.width) this.overlay.draw(ctx, this.scale());
    this.overlayDraws.push(time);
    if (this.overlayDraws.length > 600) this.overlayDraws.splice(0, 300);
  }
}
