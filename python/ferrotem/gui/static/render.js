// Draws a 2-D array on a canvas in grey levels, scaled between its finite minimum and maximum.
export function drawImage(canvas, data, height, width) {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) { if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < data.length; i++) {
    const g = Number.isFinite(data[i]) ? (data[i] - lo) * scale : 0;
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return [lo, hi];
}
