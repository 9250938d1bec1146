"""The GUI's outputs in a real headless Chromium: after a ring analysis the page offers its
downloads: the .npz fetched through the page's own link holds the result of the same analysis
through the API, and the notebook fetched there runs and computes it again; the
compute-resources panel shows the embedded executor; a bookmark made in the page leads back to
its directory. Screenshots go to the test's folder (and to $FERROTEM_GUI_SCREENSHOTS when
set). Skipped without Chromium."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.notebook import make_notebook
from helpers.cdp import Browser, find_chromium
from helpers.gui import NAV, RING, SIG, ServerThread, write_raw
from helpers.gui_page import add_card, open_file, wait_complete
from helpers.notebooks import run_code_cells

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)
TOKEN = "outputs-browser-token-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    root = tmp_path_factory.mktemp("gui-outputs").resolve()
    (root / "data").mkdir()
    write_raw(root / "data" / "scan.raw", seed=2)
    ctx = Context.make_with("threads", cpus=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERROTEM_GUI_BOOKMARKS", str(tmp_path_factory.mktemp("cfg") / "b.json"))
        server = ServerThread(root, TOKEN, ctx)
        yield server, root
        server.stop()
    ctx.close()


def _click_entry(text: str) -> str:
    return (f"[...document.querySelectorAll('#entries li')].find(l => l.textContent === "
            f"{json.dumps(text)}).click()")  # fmt: skip


def _set(selector: str, value: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}"


def _fetch_base64(selector: str) -> str:
    """JavaScript: the body behind the link ``selector``, fetched by the page, as base64."""
    return (
        f"fetch(document.querySelector({json.dumps(selector)}).href)"
        ".then(r => { if (!r.ok) throw new Error(r.status); return r.arrayBuffer(); })"
        ".then(b => { let s = ''; for (const x of new Uint8Array(b)) s += String.fromCharCode(x);"
        " return btoa(s); })"
    )


def _shots(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path]
    if os.environ.get("FERROTEM_GUI_SCREENSHOTS"):
        dirs.append(Path(os.environ["FERROTEM_GUI_SCREENSHOTS"]))
        dirs[-1].mkdir(parents=True, exist_ok=True)
    return dirs


def test_downloads_bookmarks_and_resources_in_the_page(
    served: tuple[ServerThread, Path], tmp_path: Path
) -> None:
    server, root = served
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def shot(name: str) -> None:
        png = await browser.screenshot()
        for folder in _shots(tmp_path):
            (folder / name).write_bytes(png)

    async def steps() -> dict[str, Any]:
        out: dict[str, Any] = {}
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url=f"{server.http}/?token={TOKEN}")
        await browser.wait_for("document.getElementById('status')?.textContent === 'connected'")
        out["resources"] = await browser.wait_for(
            "document.getElementById('resources-current')?.textContent"
        )
        await browser.wait_for("document.querySelectorAll('#entries li').length > 0")
        await browser.evaluate(_click_entry("data"))
        await browser.wait_for("document.getElementById('cwd').textContent === '/data'")
        await browser.evaluate("document.getElementById('bookmark-add').click()")
        await browser.wait_for("document.querySelectorAll('#bookmark-list a').length === 1")
        await browser.evaluate(_click_entry(".."))
        await browser.wait_for("document.getElementById('cwd').textContent === '/'")
        await browser.evaluate("document.querySelector('#bookmark-list a').click()")
        out["after_bookmark"] = await browser.wait_for(
            "document.getElementById('cwd').textContent === '/data' && "
            "document.getElementById('cwd').textContent"
        )
        await open_file(browser, ["scan.raw"], {"nav_shape": list(NAV), "sig_shape": list(SIG),
                                                "dtype": "uint16"}, filetype="raw")  # fmt: skip
        card = await add_card(browser, "ring", RING)
        await wait_complete(browser, card)
        out["card"] = card
        main = f"#downloads p[data-analysis={json.dumps(card)}]"
        await browser.wait_for(f"!!document.querySelector({json.dumps(main + ' a')})")
        await browser.evaluate("document.getElementById('outputs').scrollIntoView()")
        await shot("outputs-downloads.png")
        out["links"] = await browser.evaluate(
            f"[...document.querySelectorAll({json.dumps(main + ' a')})].map(a => a.textContent)"
        )
        out["npz"] = base64.b64decode(
            await browser.evaluate(_fetch_base64(main + ' a[href$=".npz"]'))
        )
        (session,) = server.state.tabs.sessions()  # the page's tab, still connected
        out["expected_notebook"] = make_notebook(session.results[card], root)
        out["notebook"] = base64.b64decode(
            await browser.evaluate(_fetch_base64(main + ' a[href$=".ipynb"]'))
        )
        return out

    async def go() -> dict[str, Any]:
        await browser.connect()
        try:
            return await steps()
        finally:
            browser.disconnect()

    try:
        out = asyncio.run(go())
    finally:
        browser.close()
    assert out["resources"].startswith("embedded")
    assert out["after_bookmark"] == "/data"
    assert out["links"] == ["npz", "HDF5", "notebook", "tiff", "png"]
    ctx = Context.make_with("inline")
    ds = ctx.load("raw", path=str(root / "data" / "scan.raw"), nav_shape=NAV, sig_shape=SIG,
                  dtype="uint16")  # fmt: skip
    api = ctx.run(ctx.create_ring_analysis(ds, **RING)).intensity.raw_data
    with np.load(io.BytesIO(out["npz"])) as npz:
        np.testing.assert_array_equal(npz["intensity"], api)
    notebook = json.loads(out["notebook"])
    assert notebook == out["expected_notebook"]
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "ctx.create_ring_analysis(" in code and "data/scan.raw" in code
    # the downloaded notebook runs and computes the same image
    run_code_cells(notebook, tmp_path)
    with np.load(tmp_path / "result.npz") as saved:
        np.testing.assert_array_equal(saved["intensity"], api)
