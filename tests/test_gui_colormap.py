"""The front end's colour maps (static/colormap.js), run in node: the lookup tables' defining
properties and the value -> colour mapping against numpy reimplementations of the formulas
the page documents (linear, and log(1 + v - lo) / log(1 + hi - lo))."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

NODE = shutil.which("node")
STATIC = Path(__file__).resolve().parents[1] / "python" / "ferrotem" / "gui" / "static"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (checks the scripts)")


def _js(body: str) -> Any:
    """Runs ``body`` (which prints JSON) with colormap.js imported; returns the JSON."""
    assert NODE is not None
    script = f"import * as cm from {json.dumps((STATIC / 'colormap.js').as_uri())};\n{body}"
    out = subprocess.run([NODE, "--input-type=module"], input=script, text=True, check=True,
                         capture_output=True).stdout  # fmt: skip
    return json.loads(out)


def _luts() -> dict[str, np.ndarray]:
    got = _js("console.log(JSON.stringify(Object.fromEntries("
              "cm.MAP_NAMES.map(n => [n, Array.from(cm.lut(n))]))));")  # fmt: skip
    return {k: np.array(v, dtype=np.float64).reshape(256, 3) for k, v in got.items()}


def test_lookup_tables() -> None:
    luts = _luts()
    assert set(luts) == {"gray", "deep", "diverging", "wheel"}
    np.testing.assert_array_equal(luts["gray"], np.repeat(np.arange(256.0)[:, None], 3, axis=1))
    # sequential: brightness (Rec. 601 luma) rises all the way, dark to light (steps of one
    # entry may dip by the rounding of a channel to an integer)
    luma = luts["deep"] @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luma[::4]) > 0) and np.all(np.diff(luma) > -0.6)
    assert luma[0] < 40 and luma[-1] > 200
    # diverging: light in the middle, blue end and red end, darker towards both ends
    div = luts["diverging"]
    assert div[127:129].min() > 235
    assert div[0, 2] > div[0, 0] and div[-1, 0] > div[-1, 2]
    luma = div @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luma[:128]) >= 0) and np.all(np.diff(luma[128:]) <= 0)
    # cyclic: the wheel closes on itself, and every hue is equally bright (within rounding)
    wheel = luts["wheel"]
    assert np.abs(wheel[0] - wheel[-1]).max() <= 6
    np.testing.assert_allclose(wheel.sum(axis=1), wheel.sum(axis=1).mean(), atol=2)


@pytest.mark.parametrize("log", [False, True])
def test_colorize_matches_the_formula(log: bool) -> None:
    rng = np.random.default_rng(3)
    data = rng.random(50) * 900 + 100
    data[[4, 9]] = [np.nan, np.inf]
    lo, hi = 100.0, 1000.0
    values = json.dumps([x if np.isfinite(x) else None for x in data])
    options = f"{{ name: 'gray', lo: {lo}, hi: {hi}, log: {json.dumps(log)} }}"
    got = _js(
        f"const data = Float64Array.from({values}, v => v === null ? NaN : v);"
        " data[9] = Infinity; const image = { data: new Uint8ClampedArray(4 * data.length) };"
        f" cm.colorize(data, image, {options});"
        " console.log(JSON.stringify({ px: Array.from(image.data),"
        "   range: cm.finiteRange(data) }));"
    )
    px = np.array(got["px"], dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(data)
    t = np.log1p(data - lo) / np.log1p(hi - lo) if log else (data - lo) / (hi - lo)
    expected = np.clip(np.round(255 * t), 0, 255)
    np.testing.assert_array_equal(px[finite, 0], expected[finite])
    assert np.all(px[finite, 3] == 255) and np.all(px[~finite, 3] == 0)  # non-finite: clear
    assert got["range"] == [data[finite].min(), data[finite].max()]


def test_scale_labels_invert_the_scale() -> None:
    got = _js(
        "const out = []; for (const log of [false, true]) for (const t of [0, 0.25, 0.5, 1]) {"
        " const v = cm.valueAt(t, 3, 4003, log); out.push([t, cm.scaler(3, 4003, log)(v)]); }"
        " console.log(JSON.stringify(out));"
    )
    for t, back in got:
        assert back == pytest.approx(t, abs=1e-12)
