"""The front end's colour maps (static/colormap.js), run in node or, where node is missing, in
headless Chromium: the lookup tables' defining properties and the value -> colour mapping
against numpy reimplementations of the formulas the page documents (linear, and
log(1 + v - lo) / log(1 + hi - lo)). ``FERROTEM_TEST_NO_NODE=1`` takes the Chromium path where
node is installed."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cdp import Browser, find_chromium

NODE = None if os.environ.get("FERROTEM_TEST_NO_NODE") else shutil.which("node")
CHROMIUM = None if NODE else find_chromium()
STATIC = Path(__file__).resolve().parents[1] / "python" / "ferrotem" / "gui" / "static"
pytestmark = pytest.mark.skipif(
    NODE is None and CHROMIUM is None,
    reason="neither node nor Chromium is installed (they run the page's scripts)",
)


def _js(body: str) -> Any:
    """Runs ``body`` with colormap.js imported as ``cm``; ``body`` prints one JSON text with
    ``console.log``, which is returned decoded."""
    if NODE is not None:
        script = f"import * as cm from {json.dumps((STATIC / 'colormap.js').as_uri())};\n{body}"
        out = subprocess.run([NODE, "--input-type=module"], input=script, text=True,
                             check=True, capture_output=True).stdout  # fmt: skip
        return json.loads(out)
    return json.loads(_in_chromium(body))


def _in_chromium(body: str) -> str:
    """``body`` run in a page served from the static folder (modules need http, not file:),
    with a local ``console`` whose ``log`` keeps the text."""
    assert CHROMIUM is not None
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(STATIC))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    browser = Browser(CHROMIUM)

    async def go() -> str:
        await browser.connect()
        try:
            await browser.call("Page.enable")
            await browser.call("Page.navigate", url=url + "style.css")
            await browser.wait_for("document.readyState === 'complete'")
            return str(await browser.evaluate(
                f"import({json.dumps(url + 'colormap.js')}).then(cm => {{ let printed;"
                " const console = { log: (text) => { printed = text; } };"
                f" {body}\n return printed; }})"
            ))  # fmt: skip
        finally:
            browser.disconnect()

    try:
        return asyncio.run(go())
    finally:
        browser.close()
        httpd.shutdown()
        httpd.server_close()


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
