"""The GUI's interaction in a real headless Chromium, on a REAL Merlin (MIB) file from
shared/data/real and on a synthetic raw file: add a ring, drag its handle with real mouse
events, wait for the final scan image and compare it with the same analysis through the
Python API; pick frames by clicking and with the arrow keys and compare the picked frame;
restrict the mean frame to a rectangle drawn on the scan view; centre of mass channels.

Timings (Apply to first and complete scan image, frame rate of the page while a handle is
dragged during runs) are printed, not asserted; ``-s`` shows them. The slow variant does the
same on a 512 MiB uint16 raw file and compares with the API's time. Screenshots go to the
test's folder and to $FERROTEM_GUI_SCREENSHOTS when it is set."""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.udf.sum import SumUDF
from helpers import gui_page as page
from helpers.cdp import Browser, find_chromium
from helpers.gui import NAV, SIG, ServerThread, ring_oracle, write_raw

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)
TOKEN = "browser-interact-token-0123456789"
MERLIN_ZIP = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "quantumdetector"
    / "Merlin_Single_Quad.zip"
)  # fmt: skip
if not MERLIN_ZIP.exists():  # a worktree beside /work/main: shared/ is /work/shared
    MERLIN_ZIP = Path("/work/shared/data/real/quantumdetector/Merlin_Single_Quad.zip")
MIB = "Single_9_Frame_CounterDepth_12_Rows_256"
#: the file's total over all frames (shared/data/real/README.md, read with RosettaSciIO)
MIB_TOTAL = 260753
MIB_NAV = (3, 3)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    if not MERLIN_ZIP.exists():
        pytest.skip(f"the real Merlin files are not here: {MERLIN_ZIP}")
    root = tmp_path_factory.mktemp("gui-interact").resolve()
    (root / "data").mkdir()
    write_raw(root / "data" / "scan.raw")
    (root / "merlin").mkdir()
    with zipfile.ZipFile(MERLIN_ZIP) as z:  # shared/ is never written: extract a copy
        for suffix in (".mib", ".hdr"):
            z.extract(MIB + suffix, root / "merlin")
    ctx = Context.make_with("threads", cpus=2)
    server = ServerThread(root, TOKEN, ctx)
    yield server, root
    server.stop()
    ctx.close()


def _in_browser(server: ServerThread, steps: Callable[[Browser], Coroutine[Any, Any, Any]]) -> Any:
    """Runs ``steps(browser)`` on the page of ``server`` in a fresh headless Chromium."""
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)

    async def go() -> Any:
        await browser.connect()
        try:
            await browser.call("Page.enable")
            await browser.call("Page.navigate", url=f"{server.http}/?token={TOKEN}")
            await browser.wait_for("document.getElementById('status')?.textContent === 'connected'")
            return await steps(browser)
        finally:
            browser.disconnect()

    try:
        return asyncio.run(go())
    finally:
        browser.close()


async def _card_params(browser: Browser, card: str) -> dict[str, float]:
    return dict(await browser.evaluate(f"({{...{page.card_js(card)}.params}})"))


async def _record_frames(browser: Browser) -> None:
    """Starts recording requestAnimationFrame timestamps in the page."""
    await browser.evaluate(
        "window.rafTimes = []; window.rafStop = false;"
        "(function tick(t) { rafTimes.push(t); if (!rafStop) requestAnimationFrame(tick); })"
        "(performance.now())"
    )


async def _frame_rate(browser: Browser) -> tuple[float, float]:
    """Stops recording; the mean frame rate and the longest gap (ms) between frames."""
    times = await browser.evaluate("rafStop = true; rafTimes.slice(1)")
    gaps = np.diff(np.array(times, dtype=np.float64))
    return 1000 / float(gaps.mean()), float(gaps.max())


async def _drag_handle(
    browser: Browser, card: str, handle: tuple[float, float], to: tuple[float, float], steps: int
) -> None:
    start = await page.page_point(browser, card, "detector", *handle)
    end = await page.page_point(browser, card, "detector", *to)
    await page.drag(browser, start, end, steps=steps)


def _report(label: str, timing: dict[str, float]) -> None:
    print(f"\n[gui timing] {label}: Apply -> first image {timing['first'] / 1000:.3f} s, "
          f"-> complete image {timing['complete'] / 1000:.3f} s")  # fmt: skip


def test_merlin_ring_drag_pick_roi(served: tuple[ServerThread, Path], tmp_path: Path) -> None:
    server, root = served
    ctx = server.state.ctx
    ds = ctx.load("mib", path=str(root / "merlin" / f"{MIB}.mib"), nav_shape=MIB_NAV)

    async def steps(browser: Browser) -> dict[str, Any]:
        out: dict[str, Any] = {}
        info = await page.open_file(browser, ["merlin", f"{MIB}.mib"], {"nav_shape": list(MIB_NAV)})
        assert info.startswith("mib: scan 3\N{MULTIPLICATION SIGN}3")
        ring = await page.add_card(browser, "ring", {"cx": 128, "cy": 128, "ri": 20, "ro": 60})
        out["first"] = await page.wait_complete(browser, ring)
        await page.wait_for_view(browser, ring, "detector")
        await page.screenshot(browser, tmp_path, "4-merlin-ring", card=ring)
        # drag the outer radius handle from (188, 128) to (218, 128) with real mouse events,
        # recording the page's frame rate while runs are in progress
        await _record_frames(browser)
        await _drag_handle(browser, ring, (188, 128), (218, 128), steps=30)
        out["fps"] = await _frame_rate(browser)
        out["overlay_draws"] = await browser.evaluate(
            f"{page.card_js(ring)}.detector.overlayDraws.length"
        )
        out["dragged"] = await page.wait_complete(browser, ring)
        out["params"] = await _card_params(browser, ring)
        out["ring"] = await page.view_array(browser, ring, "scan")
        await page.screenshot(browser, tmp_path, "5-merlin-ring-dragged", card=ring)
        # pick: click the scan position (x=2, y=1); the detector view shows that frame
        await page.mouse(browser, "pressed", *await page.page_point(browser, ring, "scan", 2, 1))
        await page.mouse(browser, "released", *await page.page_point(browser, ring, "scan", 2, 1),
                         pressed=False)  # fmt: skip
        await page.wait_for_title(browser, ring, "detector", "picked frame (2, 1)")
        out["pick_2_1"] = await page.view_array(browser, ring, "detector")
        await page.screenshot(browser, tmp_path, "6-merlin-picked", card=ring)
        await page.key(browser, "ArrowLeft")  # the scan view has the focus since the click
        await page.key(browser, "ArrowDown")
        await page.wait_for_title(browser, ring, "detector", "picked frame (1, 2)")
        out["pick_1_2"] = await page.view_array(browser, ring, "detector")
        # a ROI over the scan positions x 0..1, y 0..1 restricts the mean frame
        await browser.evaluate(
            f"(() => {{ const c = {page.card_js(ring)}; c.sourceSelect.value = 'mean';"
            " c.sourceSelect.dispatchEvent(new Event('change'));"
            " c.root.querySelector('input[value=roi]').click(); })()"
        )
        await page.wait_for_title(browser, ring, "detector", "mean frame")
        start = await page.page_point(browser, ring, "scan", 0, 0)
        end = await page.page_point(browser, ring, "scan", 1, 1)
        await page.drag(browser, start, end, steps=5)
        await page.wait_for_title(browser, ring, "detector", "mean frame in ROI")
        out["roi_mean"] = await page.view_array(browser, ring, "detector")
        await page.screenshot(browser, tmp_path, "7-merlin-roi", card=ring)
        # the sum of frames and each frame's total, against the file's known total
        total = await page.add_card(browser, "sum")
        await page.wait_complete(browser, total)
        await page.wait_for_view(browser, total, "scan")
        out["sum"] = await page.view_array(browser, total, "detector")
        out["totals"] = await page.view_array(browser, total, "scan")
        return out

    out = _in_browser(server, steps)
    _report("Merlin 3x3 x 256x256 ring", out["first"])
    _report("Merlin ring after the drag", out["dragged"])
    fps, gap = out["fps"]
    print(f"[gui timing] frame rate while dragging during runs: {fps:.0f} fps "
          f"(longest gap {gap:.0f} ms, {out['overlay_draws']} overlay redraws)")  # fmt: skip
    p = out["params"]
    assert p["ro"] > 80  # the drag moved the outer radius (from 60 towards 90)
    api = ctx.run(ctx.create_ring_analysis(ds, cx=p["cx"], cy=p["cy"], ri=p["ri"], ro=p["ro"]))
    np.testing.assert_allclose(out["ring"], api.intensity.raw_data, rtol=1e-6)
    for (x, y), key in (((2, 1), "pick_2_1"), ((1, 2), "pick_1_2")):
        picked = ctx.run(ctx.create_pick_analysis(ds, x=x, y=y)).intensity.raw_data
        np.testing.assert_array_equal(out[key], picked)
    roi = np.zeros(MIB_NAV, dtype=bool)
    roi[0:2, 0:2] = True
    mean = ctx.run_udf(ds, SumUDF(dtype=np.float64), roi=roi)["intensity"].data / roi.sum()
    np.testing.assert_allclose(out["roi_mean"], mean, rtol=1e-6)
    assert out["sum"].sum() == MIB_TOTAL
    assert out["totals"].shape == MIB_NAV and out["totals"].sum() == MIB_TOTAL


def test_raw_ring_timing_and_centre_of_mass_channels(
    served: tuple[ServerThread, Path], tmp_path: Path
) -> None:
    server, root = served
    ctx = server.state.ctx
    ds = ctx.load("raw", path=str(root / "data" / "scan.raw"), nav_shape=NAV, sig_shape=SIG,
                  dtype="uint16")  # fmt: skip
    com_params = {"cx": 8.5, "cy": 7.5, "r": 6}

    async def steps(browser: Browser) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await page.open_file(browser, ["data", "scan.raw"],
                             {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "uint16"},
                             filetype="raw")  # fmt: skip
        ring = await page.add_card(browser, "ring", {"cx": 8, "cy": 8, "ri": 2, "ro": 6})
        out["ring_timing"] = await page.wait_complete(browser, ring)
        # the arrow keys move the detector once its view has the focus (a click on it)
        corner = await page.page_point(browser, ring, "detector", 0, 0)
        await page.mouse(browser, "pressed", *corner)
        await page.mouse(browser, "released", *corner, pressed=False)
        for name in ("ArrowRight", "ArrowRight", "ArrowUp"):
            await page.key(browser, name)
        await browser.wait_for(f"{page.card_js(ring)}.params.cx === 10")
        out["moved"] = await page.wait_complete(browser, ring)
        out["moved_params"] = await _card_params(browser, ring)
        out["moved_ring"] = await page.view_array(browser, ring, "scan")
        com = await page.add_card(browser, "com", com_params)
        await page.wait_complete(browser, com)
        for channel in ("divergence", "direction"):
            await browser.evaluate(
                f"(() => {{ const c = {page.card_js(com)}; c.channelSelect.value = "
                f"{json.dumps(channel)}; c.channelSelect.dispatchEvent(new Event('change')); }})()"
            )
            await page.wait_for_title(browser, com, "scan", f"scan: {channel}")
            out[channel] = await page.view_array(browser, com, "scan")
            out[f"{channel}_map"] = await browser.evaluate(
                f"{page.card_js(com)}.scan.mapSelect.value"
            )
            await page.screenshot(browser, tmp_path, f"8-com-{channel}", card=com)
        return out

    out = _in_browser(server, steps)
    _report("raw 12x10 x 16x18 ring", out["ring_timing"])
    assert out["moved_params"] == {"cx": 10, "cy": 7, "ri": 2, "ro": 6}
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    np.testing.assert_allclose(out["moved_ring"], ring_oracle(data, 10, 7, 2, 6), rtol=1e-6)
    api = ctx.run(ctx.create_com_analysis(ds, cx=8.5, cy=7.5, mask_radius=6))
    np.testing.assert_allclose(out["divergence"], api.divergence.raw_data, rtol=1e-5, atol=1e-6)
    x, y = api.x.raw_data, api.y.raw_data
    np.testing.assert_allclose(out["direction"], np.arctan2(y, x), rtol=1e-5, atol=1e-6)
    assert out["divergence_map"] == "diverging" and out["direction_map"] == "wheel"


def test_raw_pick_and_std_cards(served: tuple[ServerThread, Path], tmp_path: Path) -> None:
    """The frame-shaped analyses: a pick card follows its cursor (click, arrow keys); a
    standard deviation card restricted by a ROI drawn on its scan view (the frame totals)."""
    server, root = served
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)

    async def steps(browser: Browser) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await page.open_file(browser, ["data", "scan.raw"],
                             {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "uint16"},
                             filetype="raw")  # fmt: skip
        pick = await page.add_card(browser, "pick")
        await page.wait_for_view(browser, pick, "scan")
        await page.mouse(browser, "pressed", *await page.page_point(browser, pick, "scan", 3, 4))
        await page.mouse(browser, "released", *await page.page_point(browser, pick, "scan", 3, 4),
                         pressed=False)  # fmt: skip
        await page.wait_for_title(browser, pick, "detector", "picked frame (3, 4)")
        out["pick_3_4"] = await page.view_array(browser, pick, "detector")
        await page.key(browser, "ArrowRight")
        await page.key(browser, "ArrowUp")
        await page.wait_for_title(browser, pick, "detector", "picked frame (4, 3)")
        out["pick_4_3"] = await page.view_array(browser, pick, "detector")
        out["totals"] = await page.view_array(browser, pick, "scan")
        await page.screenshot(browser, tmp_path, "9-pick-card", card=pick)
        std = await page.add_card(browser, "std")
        await page.wait_for_view(browser, std, "scan")
        await browser.evaluate(
            f"{page.card_js(std)}.root.querySelector('input[value=roi]').click()"
        )
        start = await page.page_point(browser, std, "scan", 2, 1)
        end = await page.page_point(browser, std, "scan", 6, 8)
        await page.drag(browser, start, end, steps=6)
        await page.wait_for_title(browser, std, "detector", "standard deviation in ROI")
        out["std_roi"] = await page.view_array(browser, std, "detector")
        await page.screenshot(browser, tmp_path, "10-std-roi", card=std)
        return out

    out = _in_browser(server, steps)
    np.testing.assert_array_equal(out["pick_3_4"], data[4, 3])
    np.testing.assert_array_equal(out["pick_4_3"], data[3, 4])
    np.testing.assert_allclose(out["totals"], data.sum(axis=(-2, -1), dtype=np.float64))
    inside = data[1:9, 2:7].astype(np.float64).reshape((-1, *SIG))
    np.testing.assert_allclose(out["std_roi"], inside.std(axis=0), rtol=1e-4, atol=1e-6)


def test_raw_rectangle_corner_drag(served: tuple[ServerThread, Path], tmp_path: Path) -> None:
    """The rectangle's far corner dragged with the mouse: the scan image is the sum over the
    new rectangle (both corners included, as masks.rectangular)."""
    server, root = served
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)

    async def steps(browser: Browser) -> dict[str, Any]:
        await page.open_file(browser, ["data", "scan.raw"],
                             {"nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "uint16"},
                             filetype="raw")  # fmt: skip
        card = await page.add_card(browser, "rectangle", {"x": 4, "y": 4, "width": 9, "height": 8})
        await page.wait_complete(browser, card)
        await _drag_handle(browser, card, (13, 12), (15, 14), steps=8)
        await page.wait_complete(browser, card)
        await page.screenshot(browser, tmp_path, "11-rectangle", card=card)
        return {"params": await _card_params(browser, card),
                "image": await page.view_array(browser, card, "scan")}  # fmt: skip

    out = _in_browser(server, steps)
    assert out["params"] == {"x": 4, "y": 4, "width": 11, "height": 10}
    np.testing.assert_allclose(
        out["image"], data[..., 4:15, 4:16].sum(axis=(-2, -1), dtype=np.float64), rtol=1e-6
    )


@pytest.fixture(scope="module")
def big_raw(served: tuple[ServerThread, Path]) -> Iterator[Path]:
    """A 512 MiB uint16 raw file, 128x128 scan of 128x128 frames, in the served root."""
    _, root = served
    path = root / "data" / "big.raw"
    rows = np.arange(128 * 128, dtype=np.uint16).reshape(128, 128) % 977
    with path.open("wb") as f:
        for i in range(128):
            block = np.broadcast_to(rows, (128, 128, 128)) + np.uint16(i)
            f.write(np.ascontiguousarray(block).tobytes())
    assert path.stat().st_size == 512 * 2**20
    yield path
    path.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("num_partitions", [None, 8])
def test_512_mib_raw_timing_against_the_api(
    served: tuple[ServerThread, Path], big_raw: Path, num_partitions: int | None
) -> None:
    """Apply -> first partial and complete image on a 512 MiB uint16 file, against the same
    ring through the API; the page's frame rate while a handle is dragged during a run. The
    default partitioning (here: one partition per CPU) and 8 partitions (finer streaming)."""
    server, _ = served
    ctx = server.state.ctx
    nav, sig = (128, 128), (128, 128)
    extra = {} if num_partitions is None else {"num_partitions": num_partitions}
    ds = ctx.load("raw", path=str(big_raw), nav_shape=nav, sig_shape=sig, dtype="uint16", **extra)
    ring = {"cx": 64, "cy": 64, "ri": 16, "ro": 48}
    api_times = []
    for _ in range(2):  # the first also warms the page cache
        t0 = time.perf_counter()
        expected = ctx.run(ctx.create_ring_analysis(ds, **ring)).intensity.raw_data
        api_times.append(time.perf_counter() - t0)

    async def steps(browser: Browser) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await page.open_file(browser, ["data", "big.raw"],
                             {"nav_shape": list(nav), "sig_shape": list(sig), "dtype": "uint16",
                              **extra}, filetype="raw")  # fmt: skip
        card = await page.add_card(browser, "ring", ring)
        await page.wait_complete(browser, card)
        await page.wait_for_view(browser, card, "detector")  # the mean frame: the CPUs are free
        timings = []
        for _ in range(3):  # Apply on an idle server, as a user does after placing the ring
            await browser.evaluate(f"document.querySelector('#card-{card} .apply').click()")
            timings.append(await page.wait_complete(browser, card))
        out["timings"] = timings
        out["ring"] = await page.view_array(browser, card, "scan")
        await browser.evaluate(f"document.querySelector('#card-{card} .apply').click()")
        runs_before = await browser.evaluate(f"{page.card_js(card)}.seq.main")
        await _record_frames(browser)
        await _drag_handle(browser, card, (112, 64), (100, 64), steps=40)
        out["fps"] = await _frame_rate(browser)
        out["runs"] = await browser.evaluate(f"{page.card_js(card)}.seq.main") - runs_before
        await page.wait_complete(browser, card)
        return out

    out = _in_browser(server, steps)
    np.testing.assert_allclose(out["ring"], expected, rtol=1e-6)
    label = f"512 MiB uint16 raw ring, num_partitions={num_partitions or 'default'}"
    for timing in out["timings"]:
        _report(label, timing)
    best = min(t["complete"] for t in out["timings"]) / 1000
    print(f"[gui timing] same ring through the API: {api_times[-1]:.3f} s "
          f"(first, cold: {api_times[0]:.3f} s); GUI complete (best of 3) / API = "
          f"{best / api_times[-1]:.2f}")  # fmt: skip
    fps, gap = out["fps"]
    print(f"[gui timing] frame rate while dragging during 512 MiB runs: {fps:.0f} fps "
          f"(longest gap {gap:.0f} ms; {out['runs']} runs started by the drag)")  # fmt: skip
