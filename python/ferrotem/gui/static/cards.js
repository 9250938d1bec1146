// One analysis on the page (a "card"): its parameters, the detector view (a frame with the
// detector drawn on it and draggable handles) and the scan view (the result, with the pick
// cursor and the ROI). Each card owns up to three server runs, by analysis id:
//   <id>        the analysis itself
//   <id>-frame  the detector view's frame: mean (sum analysis, channel "mean"), std, or picked
//   <id>-scan   for frame-shaped analyses (sum, std, pick): each frame's total, to pick on
import { ImageView } from "./views.js";
import { DetectorOverlay, HAS_SHAPE, ScanOverlay } from "./overlay.js";

export const KINDS = {
  ring: "ring", disk: "disk", point: "point", rectangle: "rectangle", com: "centre of mass",
  radial_fourier: "radial Fourier", sum: "sum of frames", std: "standard deviation", pick: "pick a frame",
};
const FRAME_SHAPED = new Set(["sum", "std", "pick"]);
const RUN_INTERVAL_MS = 80;   // while dragging, a new run at most this often (the newest wins)
const SIGNED = new Set(["x", "y", "divergence", "curl"]);

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

// [height, width] of a result frame's shape (1-D results: one row)
const dims = (shape) => (shape.length === 2 ? shape : [1, shape[shape.length - 1]]);

function defaults(kind, [fy, fx]) {
  const m = Math.min(fy, fx);
  const c = { cx: fx / 2, cy: fy / 2 };
  switch (kind) {
    case "ring": return { ...c, ri: m / 8, ro: m / 4 };
    case "disk": return { ...c, r: m / 8 };
    case "point": return { cx: Math.floor(fx / 2), cy: Math.floor(fy / 2) };
    case "rectangle": return { x: Math.floor(fx / 4), y: Math.floor(fy / 4), width: Math.floor(fx / 2), height: Math.floor(fy / 2) };
    case "com": return { ...c, r: m / 4 };
    case "radial_fourier": return { ...c, ri: 0, ro: m / 2, n_bins: 1, max_order: 8 };
    default: return {};
  }
}

let counter = 0;

export class Card {
  // dataset: the "opened" reply; send(analysisId, type, parameters, seq) posts a run
  constructor(kind, dataset, send) {
    this.id = `a${++counter}`;
    this.kind = kind;
    this.send = send;
    this.sig = dataset.sig_shape;
    this.nav = dims(dataset.nav_shape);
    this.navDims = dataset.nav_shape.length;
    this.frameShaped = FRAME_SHAPED.has(kind);
    this.params = defaults(kind, this.sig);
    this.channels = {};            // the main run's latest images: name -> {data, height, width}
    this.channel = null;           // the channel the scan view shows
    this.pick = { x: Math.floor(this.nav[1] / 2), y: Math.floor(this.nav[0] / 2) };
    this.roi = null;
    this.source = "mean";          // the detector view's frame
    this.tool = "pick";            // what a press on the scan view does: pick or draw the ROI
    this.timing = { sent: 0, first: null, complete: null };
    this.lastSent = {}; this.timers = {}; this.seq = {}; this.sentRequest = {};
    this.build();
  }

  build() {
    const [detTitle, scanTitle] = this.frameShaped ? [`${KINDS[this.kind]}`, "scan: frame totals"] : ["detector: mean frame", "scan: result"];
    this.detector = new ImageView(detTitle, { map: "gray", log: true, role: "detector" });
    this.scan = new ImageView(scanTitle, { map: "deep", role: "scan" });
    this.scanOverlay = new ScanOverlay();
    this.scanOverlay.pick = this.pick;
    this.scan.overlay = this.scanOverlay;
    if (HAS_SHAPE.has(this.kind)) this.detector.overlay = this.shape = new DetectorOverlay(this.kind, this.params);

    this.form = el("form", { className: "params" });
    for (const name of Object.keys(this.params)) {
      const input = el("input", { type: "number", step: "any", name, value: this.params[name] });
      this.form.append(el("label", {}, name + " ", input, el("span", { className: "field-error" })));
    }
    this.apply = el("button", { type: "submit", className: "apply", textContent: "Apply" });
    this.form.append(this.apply);
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.readInputs(); this.runNow("main"); });

    this.channelSelect = el("select", { className: "channel" });
    this.channelSelect.addEventListener("change", () => { this.channel = this.channelSelect.value; this.defaultMap(); this.showChannel(); });
    this.sourceSelect = el("select", { className: "source" }, ...["mean", "std", "pick"].map((s) => new Option(s === "pick" ? "picked" : s, s)));
    this.sourceSelect.addEventListener("change", () => { this.source = this.sourceSelect.value; this.runNow("frame"); });
    const tools = ["pick", "roi"].map((t) => el("label", { className: "inline" },
      el("input", { type: "radio", name: `tool-${this.id}`, value: t, checked: t === "pick", onchange: () => { this.tool = t; } }), ` ${t === "roi" ? "draw ROI" : "pick"}`));
    const clearRoi = el("button", { type: "button", className: "clear-roi", textContent: "clear ROI", onclick: () => { this.roi = null; this.onRoi(); } });
    this.progress = el("progress", { max: 1, value: 0 });
    this.timingText = el("span", { className: "timing" });
    this.error = el("p", { className: "error" });
    const remove = el("button", { type: "button", className: "remove", textContent: "remove", onclick: () => this.remove() });

    const detectorControls = this.frameShaped ? el("div") : el("div", { className: "controls" }, "frame ", this.sourceSelect);
    const scanControls = el("div", { className: "controls" }, ...(this.frameShaped ? [] : ["channel ", this.channelSelect, " "]), ...tools, " ", clearRoi);
    this.root = el("section", { className: "card", id: `card-${this.id}` },
      el("header", {}, el("h3", { textContent: `${KINDS[this.kind]} (${this.id})` }), remove),
      this.form, this.error,
      el("div", { className: "run-status" }, this.progress, " ", this.timingText),
      el("div", { className: "views" },
        el("div", {}, this.detector.root, detectorControls),
        el("div", {}, this.scan.root, scanControls)));
    this.wireDetector();
    this.wireScan();
  }

  // -- runs ------------------------------------------------------------------------------------
  request(role) {
    const roi = this.roi && { shape: "rect", ...this.roi };
    const at = this.navDims === 1 ? { x: this.pick.x } : { x: this.pick.x, y: this.pick.y };
    if (role === "scan") return ["sumsig", {}];
    if (role === "frame") {
      if (this.source === "pick") return ["pick", at];
      return [this.source === "std" ? "std" : "sum", roi ? { roi } : {}];
    }
    if (this.kind === "pick") return ["pick", at];
    if (this.kind === "sum" || this.kind === "std") return [this.kind, roi ? { roi } : {}];
    return [this.kind, { ...this.params }];
  }

  describeFrame() {
    if (this.source === "pick") return `picked frame (${this.pick.x}, ${this.pick.y})`;
    return `${this.source} frame${this.roi ? " in ROI" : ""}`;
  }

  describeResult() {
    if (this.kind === "pick") return `picked frame (${this.pick.x}, ${this.pick.y})`;
    return `${KINDS[this.kind]}${this.roi ? " in ROI" : ""}`;
  }

  // Whether the newest run sent for `role` is for the parameters shown now (none is waiting
  // for its throttle interval).
  upToDate(role = "main") { return this.sentRequest[role] === JSON.stringify(this.request(role)); }

  analysisId(role) { return role === "main" ? this.id : `${this.id}-${role}`; }

  runNow(role) {
    clearTimeout(this.timers[role]);
    this.lastSent[role] = performance.now();
    this.seq[role] = (this.seq[role] ?? 0) + 1;
    if (role === "main") {
      this.timing = { sent: performance.now(), first: null, complete: null };
      this.error.textContent = "";
      for (const e of this.form.querySelectorAll(".field-error")) e.textContent = "";
    }
    const [type, parameters] = this.request(role);
    this.sentRequest[role] = JSON.stringify([type, parameters]);
    // what the images of this run show (titles are set as they arrive)
    if (role === "frame") this.frameLabel = this.describeFrame();
    if (role === "main" && this.frameShaped) this.resultLabel = this.describeResult();
    this.send(this.analysisId(role), type, parameters, this.seq[role]);
  }

  // A run soon: at once if none was sent for RUN_INTERVAL_MS, else when that time is up (the
  // parameters are read then, so the newest position is what runs).
  schedule(role) {
    clearTimeout(this.timers[role]);
    const wait = RUN_INTERVAL_MS - (performance.now() - (this.lastSent[role] ?? -Infinity));
    if (wait <= 0) this.runNow(role);
    else this.timers[role] = setTimeout(() => this.runNow(role), wait);
  }

  start() {
    this.runNow("main");
    this.runNow(this.frameShaped ? "scan" : "frame");
  }

  // A binary result frame of one of this card's runs.
  onFrame(role, header, data) {
    const [height, width] = dims(header.shape);
    if (role === "frame") {
      if (header.channel !== (header.kind === "sum" ? "mean" : "intensity")) return;
      this.detector.setImage(data, height, width, { final: header.final });
      this.detector.title.textContent = `detector: ${this.frameLabel}`;
      return;
    }
    if (role === "scan") { this.scan.setImage(data, height, width, { final: header.final }); return; }
    this.channels[header.channel] = { data, height, width, final: header.final };
    if (!this.frameShaped && this.channelSelect.options.length !== header.channels.length) {
      this.channelSelect.replaceChildren(...header.channels.map((c) => new Option(c, c)));
      this.channel = header.channels.includes(this.channel) ? this.channel : header.channels[0];
      this.channelSelect.value = this.channel;
      this.defaultMap();
    }
    const last = header.channel === header.channels[header.channels.length - 1];
    if (last) this.showChannel();
    this.progress.value = header.progress;
    if (last) {
      const now = performance.now() - this.timing.sent;
      if (this.timing.first === null) this.timing.first = now;
      if (header.final) this.timing.complete = now;
      const t = this.timing;
      this.timingText.textContent = `first image ${(t.first / 1000).toFixed(3)} s` +
        (t.complete === null ? "" : `, complete ${(t.complete / 1000).toFixed(3)} s`);
    }
  }

  onError(role, message, param) {
    const field = param && this.form.querySelector(`input[name="${param}"]`);
    if (role === "main" && field) field.nextElementSibling.textContent = message;
    else this.error.textContent = message;
  }

  // -- the scan view's image -----------------------------------------------------------------
  defaultMap() {
    if (this.frameShaped) return;
    const name = this.channel;
    if (name === "direction") this.scan.setMap("wheel", false);
    else if (SIGNED.has(name)) this.scan.setMap("diverging", false);
    else this.scan.setMap("deep", false);
  }

  showChannel() {
    const view = this.frameShaped ? this.detector : this.scan;
    const name = this.frameShaped ? "intensity" : this.channel;
    const image = this.channels[name];
    if (!image) return;
    view.title.textContent = this.frameShaped ? this.resultLabel : `scan: ${name}`;
    if (name === "direction" && this.channels.magnitude) {
      // the field as a colour wheel: hue from the direction, brightness from the magnitude
      const m = this.channels.magnitude.data;
      let top = 0;
      for (const v of m) if (v > top) top = v;
      const brightness = Float32Array.from(m, (v) => (top > 0 && Number.isFinite(v) ? v / top : 0));
      view.setImage(image.data, image.height, image.width, { brightness, range: [-Math.PI, Math.PI], final: image.final });
    } else {
      view.setImage(image.data, image.height, image.width, { final: image.final });
    }
  }

  // -- interaction ---------------------------------------------------------------------------
  readInputs() {
    for (const input of this.form.querySelectorAll("input")) {
      if (input.value !== "") this.params[input.name] = Number(input.value);
    }
    this.detector.requestOverlay();
  }

  writeInputs() {
    for (const input of this.form.querySelectorAll("input")) input.value = this.params[input.name];
  }

  wireDetector() {
    const canvas = this.detector.over;
    if (!this.shape) return;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.focus();   // the arrow keys then move the detector
      const p = this.detector.toImage(e);
      this.shape.active = this.shape.grab(p.x, p.y, this.detector.scale());
      if (!this.shape.active) return;
      canvas.setPointerCapture(e.pointerId);
      this.detector.requestOverlay();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!this.shape.active) return;
      const p = this.detector.toImage(e);
      this.shape.drag(this.shape.active, p.x, p.y);
      this.writeInputs();
      this.detector.requestOverlay();
      this.schedule("main");
    });
    const release = () => {
      if (!this.shape.active) return;
      this.shape.active = null;
      this.detector.requestOverlay();
      this.runNow("main");   // the position the handle was let go at
    };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    canvas.addEventListener("keydown", (e) => {
      const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (!step) return;
      e.preventDefault();
      this.shape.nudge(...step);
      this.writeInputs();
      this.detector.requestOverlay();
      this.schedule("main");
    });
  }

  wireScan() {
    const canvas = this.scan.over;
    const clamp = (p) => ({ x: Math.min(Math.max(Math.round(p.x), 0), this.nav[1] - 1),
                            y: Math.min(Math.max(Math.round(p.y), 0), this.nav[0] - 1) });
    let anchor = null;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      canvas.focus();
      const p = clamp(this.scan.toImage(e));
      if (this.tool === "roi") { anchor = p; this.setRoi(p, p); } else this.movePick(p);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!(e.buttons & 1)) return;
      const p = clamp(this.scan.toImage(e));
      if (this.tool === "roi" && anchor) this.setRoi(anchor, p); else if (this.tool === "pick") this.movePick(p);
    });
    canvas.addEventListener("pointerup", () => { if (anchor) { anchor = null; this.onRoi(); } });
    canvas.addEventListener("keydown", (e) => {
      const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (!step) return;
      e.preventDefault();
      this.movePick(clamp({ x: this.pick.x + step[0], y: this.pick.y + step[1] }));
    });
  }

  setRoi(a, b) {
    this.roi = { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
    this.scanOverlay.roi = this.roi;
    this.scan.requestOverlay();
  }

  onRoi() {
    this.scanOverlay.roi = this.roi;
    this.scan.requestOverlay();
    if (this.kind === "sum" || this.kind === "std") this.runNow("main");
    else if (!this.frameShaped && this.source !== "pick") this.runNow("frame");
  }

  movePick(p) {
    if (p.x === this.pick.x && p.y === this.pick.y) return;
    Object.assign(this.pick, p);
    this.scan.requestOverlay();
    if (this.kind === "pick") this.schedule("main");
    else if (!this.frameShaped) {
      if (this.source !== "pick") { this.source = "pick"; this.sourceSelect.value = "pick"; }
      this.schedule("frame");
    }
  }

  remove() {
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.root.remove();
    this.onRemove?.(this);
  }
}
