// What the overlay canvases show, in image coordinates (pixel centres at integers): the virtual
// detector with its handles on the detector view, the pick cursor and the ROI on the scan view.
// Shapes are edited in place through their handles; `drag` returns nothing, the caller re-reads
// the parameters.

const HANDLE_PX = 5;   // drawn radius of a handle, in CSS pixels
const GRAB_PX = 10;    // how near a press must be to grab one

const round2 = (v) => Math.round(v * 100) / 100;
const toCanvas = (v, s) => (v + 0.5) * s;

function handle(ctx, x, y, s) {
  ctx.beginPath();
  ctx.arc(toCanvas(x, s), toCanvas(y, s), HANDLE_PX, 0, 2 * Math.PI);
  ctx.fillStyle = "rgba(255, 200, 0, 0.9)";
  ctx.fill();
  ctx.stroke();
}

function circle(ctx, cx, cy, r, s) {
  ctx.beginPath();
  ctx.arc(toCanvas(cx, s), toCanvas(cy, s), Math.max(r, 0) * s, 0, 2 * Math.PI);
  ctx.stroke();
}

// The handles of each detector kind: name -> [x, y] from the parameters, and how dragging
// that handle to (x, y) changes them.
const SHAPES = {
  ring: {
    handles: (p) => ({ centre: [p.cx, p.cy], outer: [p.cx + p.ro, p.cy], inner: [p.cx + p.ri, p.cy] }),
    drag: (p, name, x, y) => {
      if (name === "centre") { p.cx = round2(x); p.cy = round2(y); return; }
      const r = round2(Math.hypot(x - p.cx, y - p.cy));
      if (name === "outer") p.ro = Math.max(r, p.ri);
      else p.ri = Math.min(r, p.ro);
    },
    draw: (ctx, p, s) => { circle(ctx, p.cx, p.cy, p.ro, s); circle(ctx, p.cx, p.cy, p.ri, s); },
  },
  disk: {
    handles: (p) => ({ centre: [p.cx, p.cy], radius: [p.cx + p.r, p.cy] }),
    drag: (p, name, x, y) => {
      if (name === "centre") { p.cx = round2(x); p.cy = round2(y); } else p.r = round2(Math.hypot(x - p.cx, y - p.cy));
    },
    draw: (ctx, p, s) => circle(ctx, p.cx, p.cy, p.r, s),
  },
  point: {
    handles: (p) => ({ centre: [p.cx, p.cy] }),
    drag: (p, name, x, y) => { p.cx = Math.round(x); p.cy = Math.round(y); },
    draw: (ctx, p, s) => {
      ctx.strokeRect(p.cx * s, p.cy * s, s, s);
    },
  },
  rectangle: {
    handles: (p) => ({ corner: [p.x, p.y], opposite: [p.x + p.width, p.y + p.height],
                       centre: [p.x + p.width / 2, p.y + p.height / 2] }),
    drag: (p, name, x, y) => {
      x = Math.round(x); y = Math.round(y);
      if (name === "corner") { p.width += p.x - x; p.height += p.y - y; p.x = x; p.y = y; }
      else if (name === "opposite") { p.width = x - p.x; p.height = y - p.y; }
      else { p.x = Math.round(x - p.width / 2); p.y = Math.round(y - p.height / 2); }
    },
    draw: (ctx, p, s) => {
      // masks.rectangular includes both corner pixels: outline their outer edges
      const x0 = Math.min(p.x, p.x + p.width), y0 = Math.min(p.y, p.y + p.height);
      ctx.strokeRect(x0 * s, y0 * s, (Math.abs(p.width) + 1) * s, (Math.abs(p.height) + 1) * s);
    },
  },
};
SHAPES.com = {
  handles: (p) => ({ centre: [p.cx, p.cy], radius: [p.cx + p.r, p.cy] }),
  drag: SHAPES.disk.drag,
  draw: SHAPES.disk.draw,
};
SHAPES.radial_fourier = SHAPES.ring;

export const HAS_SHAPE = new Set(Object.keys(SHAPES));

// The detector of `kind` drawn from (and edited into) the parameter object `params`.
export class DetectorOverlay {
  constructor(kind, params) { this.shape = SHAPES[kind]; this.params = params; this.active = null; }

  draw(ctx, s) {
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "rgba(0, 255, 120, 0.95)";
    this.shape.draw(ctx, this.params, s);
    ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
    for (const [name, [x, y]] of Object.entries(this.shape.handles(this.params))) {
      ctx.lineWidth = name === this.active ? 3 : 1;
      handle(ctx, x, y, s);
    }
  }

  // The handle under image point (x, y), if one is within GRAB_PX (canvas pixels at scale s).
  grab(x, y, s) {
    let best = null, bestD = GRAB_PX / s;
    for (const [name, [hx, hy]] of Object.entries(this.shape.handles(this.params))) {
      // strictly nearer: on a tie (a zero inner radius) the handle listed first, the centre
      const d = Math.hypot(hx - x, hy - y);
      if (d < bestD || (best === null && d === bestD)) { best = name; bestD = d; }
    }
    return best;
  }

  drag(name, x, y) { this.shape.drag(this.params, name, x, y); }

  // Arrow keys move the whole detector (its centre handle, or the rectangle's corner).
  nudge(dx, dy) {
    const [name] = Object.keys(this.shape.handles(this.params));
    const [x, y] = this.shape.handles(this.params)[name];
    this.shape.drag(this.params, name, x + dx, y + dy);
  }
}

// The scan view's overlay: the pick cursor (a crosshair on one scan position) and the ROI
// rectangle ({x, y, width, height}, both corners included as in masks.rectangular).
export class ScanOverlay {
  constructor() { this.pick = null; this.roi = null; }

  draw(ctx, s) {
    if (this.roi) {
      const { x, y, width, height } = this.roi;
      const [w, h] = [(width + 1) * s, (height + 1) * s];
      ctx.fillStyle = "rgba(0, 200, 255, 0.3)";
      ctx.fillRect(x * s, y * s, w, h);
      // dashed, and 1 px inside, so that it shows on the view's edges too
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "rgba(0, 230, 255, 1)";
      ctx.strokeRect(x * s + 1, y * s + 1, w - 2, h - 2);
      ctx.setLineDash([]);
    }
    if (this.pick) {
      // a square on the picked position, and arms pointing at it from outside it
      const cx = toCanvas(this.pick.x, s), cy = toCanvas(this.pick.y, s), r = s / 2 + 3;
      ctx.strokeStyle = "rgba(255, 60, 60, 0.95)";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(this.pick.x * s, this.pick.y * s, s, s);
      ctx.beginPath();
      const arm = r + 10;
      ctx.moveTo(cx - arm, cy); ctx.lineTo(cx - r, cy);
      ctx.moveTo(cx + r, cy); ctx.lineTo(cx + arm, cy);
      ctx.moveTo(cx, cy - arm); ctx.lineTo(cx, cy - r);
      ctx.moveTo(cx, cy + r); ctx.lineTo(cx, cy + arm);
      ctx.stroke();
    }
  }
}
