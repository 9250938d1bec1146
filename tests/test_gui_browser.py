"""The GUI in a real headless Chromium (over the DevTools protocol): browse to a synthetic raw
file, get a parameter error shown next to its field, open the file, run a ring detector, and
compare the canvas' pixels with the numpy oracle drawn the way the page draws it. Screenshots
of the steps go to the test's temporary folder. Skipped where Chromium is not installed
(Debian: ``apt-get install chromium``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ferrotem.api import Context
from helpers.cdp import Browser, find_chromium
from helpers.gui import NAV, RING, SIG, ServerThread, ring_oracle, write_raw

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)
TOKEN = "browser-test-token-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, np.ndarray]]:
    root = tmp_path_factory.mktemp("gui-browser")
    (root / "data").mkdir()
    data = write_raw(root / "data" / "scan.raw")
    ctx = Context.make_with("threads", cpus=2)
    server = ServerThread(root.resolve(), TOKEN, ctx)
    yield server, data
    server.stop()
    ctx.close()


def _click(text: str) -> str:
    return (f"[...document.querySelectorAll('#entries li')].find(l => l.textContent === "
            f"{json.dumps(text)}).click()")  # fmt: skip


def _set(selector: str, value: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}"


def test_open_a_raw_file_and_watch_the_ring_image(
    served: tuple[ServerThread, np.ndarray], tmp_path: Path
) -> None:
    server, data = served
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def go() -> list[int]:
        await browser.connect()
        try:
            return await steps()
        finally:
            browser.disconnect()

    async def steps() -> list[int]:
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url=f"{server.http}/?token={TOKEN}")
        await browser.wait_for("document.getElementById('status')?.textContent === 'connected'")
        await browser.wait_for("document.querySelectorAll('#entries li').length > 0")
        (tmp_path / "1-files.png").write_bytes(await browser.screenshot())
        await browser.evaluate(_click("data"))
        await browser.wait_for("!!" + _click("scan.raw").replace(".click()", ""))
        await browser.evaluate(_click("scan.raw"))
        await browser.wait_for("!!document.querySelector('#params input[name=nav_shape]')")
        # a wrong parameter: the error appears next to its field
        await browser.evaluate(_set("#params input[name=nav_shape]", "[-1, 3]"))
        await browser.evaluate(_set("#params input[name=sig_shape]", json.dumps(list(SIG))))
        await browser.evaluate(_set("#params input[name=dtype]", "uint16"))
        await browser.evaluate("document.getElementById('open-button').click()")
        message = await browser.wait_for(
            "document.querySelector('.field-error[data-param=nav_shape]').textContent"
        )
        assert "nav_shape" in message
        (tmp_path / "2-parameter-error.png").write_bytes(await browser.screenshot())
        await browser.evaluate(_set("#params input[name=nav_shape]", json.dumps(list(NAV))))
        await browser.evaluate("document.getElementById('open-button').click()")
        await browser.wait_for("document.getElementById('ds-info').textContent")
        for name, value in RING.items():
            await browser.evaluate(_set(f"#analysis-params input[name={name}]", str(value)))
        await browser.evaluate("document.getElementById('apply').click()")
        await browser.wait_for(
            "document.getElementById('range').textContent.startsWith('ring') && "
            "!document.getElementById('range').textContent.includes('partial')"
        )
        (tmp_path / "3-ring.png").write_bytes(await browser.screenshot())
        return await browser.evaluate(
            "(() => { const c = document.getElementById('result');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " return [c.height, c.width, ...Array.from(d).filter((_, i) => i % 4 === 0)]; })()"
        )

    try:
        pixels = asyncio.run(go())
    finally:
        browser.close()
    height, width, grey = pixels[0], pixels[1], np.array(pixels[2:], dtype=np.float64)
    assert (height, width) == NAV
    oracle = ring_oracle(data, **RING)
    expected = (oracle - oracle.min()) * 255 / (oracle.max() - oracle.min())
    np.testing.assert_allclose(grey.reshape(NAV), expected, atol=0.51)


def test_open_ds_in_the_url_detects_that_file(served: tuple[ServerThread, np.ndarray]) -> None:
    """``ferrotem server --open-ds`` puts ``#open=PATH`` in the URL: the page detects it."""
    server, _ = served
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def go() -> str:
        await browser.connect()
        try:
            await browser.call("Page.enable")
            await browser.call(
                "Page.navigate", url=f"{server.http}/?token={TOKEN}#open=data/scan.raw"
            )
            return await browser.wait_for(
                "document.querySelector('#params input[name=path]')?.value"
            )
        finally:
            browser.disconnect()

    try:
        assert asyncio.run(go()) == "data/scan.raw"
    finally:
        browser.close()
