"""The GUI in a real headless Chromium (over the DevTools protocol): browse to a synthetic raw
file, get a parameter error shown next to its field, open the file, run a ring detector, and
compare the scan view's array and its canvas' pixels (gray map) with the numpy oracle. Screenshots
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
from helpers import gui_page as page
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


def _set(selector: str, value: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}"


def test_open_a_raw_file_and_watch_the_ring_image(
    served: tuple[ServerThread, np.ndarray], tmp_path: Path
) -> None:
    server, data = served
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def go() -> tuple[np.ndarray, np.ndarray]:
        await browser.connect()
        try:
            return await steps()
        finally:
            browser.disconnect()

    async def steps() -> tuple[np.ndarray, np.ndarray]:
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url=f"{server.http}/?token={TOKEN}")
        await browser.wait_for("document.getElementById('status')?.textContent === 'connected'")
        await browser.wait_for("document.querySelectorAll('#entries li').length > 0")
        await page.screenshot(browser, tmp_path, "1-files")
        # a wrong parameter: the error appears next to its field
        for name in ("data", "scan.raw"):
            find = ("[...document.querySelectorAll('#entries li')].find(l => l.textContent === "
                    f"{json.dumps(name)})")  # fmt: skip
            await browser.wait_for(f"!!{find}")
            await browser.evaluate(f"{find}.click()")
        await browser.wait_for("!!document.querySelector('#params input[name=nav_shape]')")
        await browser.evaluate(_set("#params input[name=nav_shape]", "[-1, 3]"))
        await browser.evaluate(_set("#params input[name=sig_shape]", json.dumps(list(SIG))))
        await browser.evaluate(_set("#params input[name=dtype]", "uint16"))
        await browser.evaluate("document.getElementById('open-button').click()")
        message = await browser.wait_for(
            "document.querySelector('.field-error[data-param=nav_shape]').textContent"
        )
        assert "nav_shape" in message
        await page.screenshot(browser, tmp_path, "2-parameter-error")
        await browser.evaluate(_set("#params input[name=nav_shape]", json.dumps(list(NAV))))
        await browser.evaluate("document.getElementById('open-button').click()")
        await browser.wait_for("document.getElementById('ds-info').textContent")
        card = await page.add_card(browser, "ring", RING)
        await page.wait_complete(browser, card)
        await page.set_map(browser, card, "scan", "gray", log=False)
        await page.screenshot(browser, tmp_path, "3-ring", card=card)
        return (await page.view_array(browser, card, "scan"),
                await page.view_pixels(browser, card, "scan"))  # fmt: skip

    try:
        values, pixels = asyncio.run(go())
    finally:
        browser.close()
    oracle = ring_oracle(data, **RING)
    np.testing.assert_allclose(values, oracle, rtol=1e-6)
    assert pixels.shape == (*NAV, 3)
    expected = (oracle - oracle.min()) * 255 / (oracle.max() - oracle.min())
    for channel in range(3):  # the gray map: the same level in red, green and blue
        np.testing.assert_allclose(pixels[..., channel], expected, atol=0.51)


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


def test_open_ds_of_a_recognised_file_opens_it(served: tuple[ServerThread, np.ndarray]) -> None:
    """A file whose format the page recognises (here ``.npy``) opens at once from ``#open=``:
    the dataset line shows its scan and frame shapes, read from the file."""
    server, data = served
    np.save(server.state.root / "data" / "scan.npy", data)
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def go() -> str:
        await browser.connect()
        try:
            await browser.call("Page.enable")
            await browser.call(
                "Page.navigate", url=f"{server.http}/?token={TOKEN}#open=data/scan.npy"
            )
            return await browser.wait_for("document.querySelector('#ds-info')?.textContent")
        finally:
            browser.disconnect()

    try:
        info = asyncio.run(go())
    finally:
        browser.close()
    times = "\N{MULTIPLICATION SIGN}"  # the page writes "12 times 10"
    nav, sig = times.join(map(str, data.shape[:2])), times.join(map(str, data.shape[2:]))
    assert info.startswith("npy:") and f"scan {nav}" in info and f"frame {sig}" in info
