// Colour maps: 256-entry lookup tables made here, by linear interpolation (in RGB) between a few
// control points, or from a formula (the cyclic wheel); and the mapping of a float array to
// RGBA pixels through one of them, linear or logarithmic.

// [position in 0..1, r, g, b]
const CONTROL_POINTS = {
  gray: [[0, 0, 0, 0], [1, 255, 255, 255]],
  // dark violet -> blue -> teal -> green -> yellow: brightness rises steadily (viridis-like)
  deep: [[0, 38, 16, 74], [0.28, 48, 84, 150], [0.55, 34, 150, 138], [0.8, 120, 200, 80], [1, 250, 232, 60]],
  // blue -> near white -> red, white at the middle (for signed data: divergence, curl, shifts)
  diverging: [[0, 30, 60, 160], [0.25, 110, 150, 215], [0.5, 242, 242, 242], [0.75, 220, 120, 95], [1, 160, 20, 30]],
};

export const MAP_NAMES = ["gray", "deep", "diverging", "wheel"];

function fromControlPoints(points) {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < points.length - 2 && t > points[k + 1][0]) k++;
    const [t0, ...a] = points[k];
    const [t1, ...b] = points[k + 1];
    const f = (t - t0) / (t1 - t0);
    for (let c = 0; c < 3; c++) lut[3 * i + c] = Math.round(a[c] + f * (b[c] - a[c]));
  }
  return lut;
}

// A hue circle at constant, moderate saturation: equal brightness steps all round, so that a
// field direction reads by hue only (brightness is left for the magnitude).
function wheelLut() {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const angle = (2 * Math.PI * i) / 256;
    for (let c = 0; c < 3; c++) {
      const v = 0.5 + 0.45 * Math.cos(angle - (2 * Math.PI * c) / 3);
      lut[3 * i + c] = Math.round(255 * v);
    }
  }
  return lut;
}

const LUTS = {};
export function lut(name) {
  if (!LUTS[name]) LUTS[name] = name === "wheel" ? wheelLut() : fromControlPoints(CONTROL_POINTS[name] ?? CONTROL_POINTS.gray);
  return LUTS[name];
}

// The finite minimum and maximum of an array ([0, 0] when it has none).
export function finiteRange(data) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;       // NaN compares false: skipped; infinities are filtered below
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = Infinity; hi = -Infinity;
    for (const v of data) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

// The position 0..1 of a value on the scale [lo, hi]; the log scale is log(1 + v - lo), which
// takes zeros (counting detectors' empty pixels) without special cases.
export function scaler(lo, hi, log) {
  if (!(hi > lo)) return () => 0;
  if (log) {
    const top = Math.log1p(hi - lo);
    return (v) => Math.log1p(Math.max(v - lo, 0)) / top;
  }
  const span = hi - lo;
  return (v) => (v - lo) / span;
}

// The value at position t of the scale (for the colour bar's labels).
export function valueAt(t, lo, hi, log) {
  return log ? lo + Math.expm1(t * Math.log1p(hi - lo)) : lo + t * (hi - lo);
}

// RGBA pixels of `data` through map `name` on [lo, hi]; non-finite values are transparent.
// `brightness` (optional, 0..1 per pixel) scales the colour: the colour wheel of a vector field
// uses the magnitude for it.
export function colorize(data, image, { name, lo, hi, log, brightness }) {
  const table = lut(name);
  const at = scaler(lo, hi, log);
  const px = image.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) { px[4 * i + 3] = 0; continue; }
    let k = Math.round(255 * at(v));
    k = k < 0 ? 0 : k > 255 ? 255 : k;
    const b = brightness ? brightness[i] : 1;
    px[4 * i] = table[3 * k] * b;
    px[4 * i + 1] = table[3 * k + 1] * b;
    px[4 * i + 2] = table[3 * k + 2] * b;
    px[4 * i + 3] = 255;
  }
  return image;
}

// A horizontal strip of the map, for the colour bar.
export function drawColorbar(canvas, name) {
  const table = lut(name);
  canvas.width = 256; canvas.height = 1;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(256, 1);
  for (let i = 0; i < 256; i++) {
    image.data.set([table[3 * i], table[3 * i + 1], table[3 * i + 2], 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}
