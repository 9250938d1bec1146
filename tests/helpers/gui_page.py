"""Driving the GUI page in the browser tests: open a file through the dataset form, add an
analysis card, wait for its images, read a view's array and canvas pixels, drag a detector
handle and click the scan view with real mouse events (CDP ``Input.dispatchMouseEvent``), and
take screenshots (of the page or of one card) into the test's folder and, when the environment
names one, ``FERROTEM_GUI_SCREENSHOTS``."""

from __future__ import annotations

import base64
import faulthandler
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from helpers.cdp import Browser

SCREENSHOTS_ENV = "FERROTEM_GUI_SCREENSHOTS"


def card_js(card: str) -> str:
    """The JavaScript expression of a card object."""
    return f"window.ferrotemGui.cards.get({json.dumps(card)})"


async def open_file(
    browser: Browser, names: list[str], params: dict[str, Any], filetype: str | None = None
) -> str:
    """Clicks through the directories ``names[:-1]`` to the file ``names[-1]``, fills in
    ``params`` (JSON values), chooses ``filetype`` when given, presses Open; returns the
    dataset line the page shows."""
    for name in names:
        find = (f"[...document.querySelectorAll('#entries li')].find(l => l.textContent === "
                f"{json.dumps(name)})")  # fmt: skip
        await browser.wait_for(f"!!{find}")
        await browser.evaluate(f"{find}.click()")
    await browser.wait_for("!!document.querySelector('#params input[name=path]')")
    if filetype is not None:
        await browser.evaluate(
            f"document.getElementById('filetype').value = {json.dumps(filetype)}"
        )
    for key, value in params.items():
        await browser.wait_for(f"!!document.querySelector('#params input[name={key}]')")
        await browser.evaluate(f"document.querySelector('#params input[name={key}]').value = "
                               f"{json.dumps(json.dumps(value))}")  # fmt: skip
    await browser.evaluate("document.getElementById('ds-info').textContent = ''")
    await browser.evaluate("document.getElementById('open-button').click()")
    return str(await browser.wait_for("document.getElementById('ds-info').textContent"))


async def add_card(browser: Browser, kind: str, parameters: dict[str, float] | None = None) -> str:
    """Adds an analysis through the page's Add form; sets ``parameters`` in its form and
    presses its Apply button when given; returns the card's id."""
    await browser.evaluate(f"document.getElementById('analysis-type').value = {json.dumps(kind)}")
    await browser.evaluate("document.querySelector('#add-form button').click()")
    card = str(await browser.evaluate("document.querySelector('#cards .card').id.slice(5)"))
    if parameters:
        for name, value in parameters.items():
            await browser.evaluate(f"document.querySelector('#card-{card} input[name={name}]')"
                                   f".value = {json.dumps(str(value))}")  # fmt: skip
        await browser.evaluate(f"document.querySelector('#card-{card} .apply').click()")
    return card


async def wait_complete(browser: Browser, card: str, timeout: float = 60) -> dict[str, float]:
    """Waits until the card's newest run, for the parameters it shows now, has drawn its
    complete image; returns its timing (milliseconds from sending the run to the first and to
    the complete image)."""
    try:
        timing = await browser.wait_for(
            f"{card_js(card)}.upToDate() && {card_js(card)}.timing.complete !== null && "
            f"{card_js(card)}.timing",
            timeout,
        )
    except TimeoutError:
        state = await browser.evaluate(
            f"(() => {{ const c = {card_js(card)}; return {{timing: c.timing, error: "
            "c.error.textContent, params: c.params, status: "
            "document.getElementById('status').textContent}; })()"
        )
        faulthandler.dump_traceback(all_threads=True)  # where the server's threads are
        raise TimeoutError(f"card {card} never completed: {state}") from None
    return dict(timing)


async def wait_for_view(browser: Browser, card: str, view: str, timeout: float = 30) -> None:
    """Waits until a card's view (``detector`` or ``scan``) shows a complete image."""
    await browser.wait_for(
        f"!!{card_js(card)}.{view}.data && {card_js(card)}.{view}.final", timeout
    )


async def wait_for_title(
    browser: Browser, card: str, view: str, title: str, timeout: float = 30
) -> None:
    """Waits until a card's view is titled ``title`` (set as its image arrives) and shows
    a complete result."""
    v = f"{card_js(card)}.{view}"
    await browser.wait_for(
        f"{v}.title.textContent.endsWith({json.dumps(title)}) && {v}.final", timeout
    )


async def view_array(browser: Browser, card: str, view: str) -> np.ndarray:
    """The float array a card's view (``detector`` or ``scan``) shows."""
    got = await browser.evaluate(
        f"(() => {{ const v = {card_js(card)}.{view}; "
        "return [v.height, v.width, Array.from(v.data, Number)]; })()"
    )
    # JSON has no NaN: the page's NaN (e.g. 0 / 0 where no frame was merged) arrive as null
    values = [np.nan if v is None else v for v in got[2]]
    return np.array(values, dtype=np.float64).reshape(got[0], got[1])


async def view_pixels(browser: Browser, card: str, view: str) -> np.ndarray:
    """The RGB pixels of a card's view canvas, (height, width, 3)."""
    got = await browser.evaluate(
        f"(() => {{ const c = {card_js(card)}.{view}.image;"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return [c.height, c.width, Array.from(d)]; })()"
    )
    return np.array(got[2], dtype=np.uint8).reshape(got[0], got[1], 4)[..., :3]


async def set_map(browser: Browser, card: str, view: str, name: str, log: bool) -> None:
    """Chooses a view's colour map and scale as a user would (select + change event)."""
    v = f"{card_js(card)}.{view}"
    await browser.evaluate(
        f"(() => {{ {v}.mapSelect.value = {json.dumps(name)};"
        f" {v}.logBox.checked = {json.dumps(log)};"
        f" {v}.mapSelect.dispatchEvent(new Event('change')); }})()"
    )


async def page_point(
    browser: Browser, card: str, view: str, x: float, y: float
) -> tuple[float, float]:
    """The page (CSS pixel) position of image coordinates (x, y) of a card's view."""
    got = await browser.evaluate(
        f"(() => {{ const v = {card_js(card)}.{view}; v.root.scrollIntoView({{block: 'center'}});"
        " const b = v.over.getBoundingClientRect(); const s = b.width / v.width;"
        f" return [b.left + ({x} + 0.5) * s, b.top + ({y} + 0.5) * s]; }})()"
    )
    return float(got[0]), float(got[1])


async def mouse(browser: Browser, kind: str, x: float, y: float, pressed: bool = True) -> None:
    """One mouse event at page position (x, y): ``pressed``, ``moved`` or ``released``."""
    await browser.call("Input.dispatchMouseEvent", type=f"mouse{kind.capitalize()}", x=x, y=y,
                       button="left", buttons=1 if pressed else 0, clickCount=1)  # fmt: skip


async def drag(browser: Browser, start: tuple[float, float], end: tuple[float, float],
               steps: int = 20) -> None:  # fmt: skip
    """Presses at ``start``, moves in ``steps`` to ``end``, releases there."""
    await mouse(browser, "pressed", *start)
    for i in range(1, steps + 1):
        t = i / steps
        await mouse(browser, "moved", start[0] + t * (end[0] - start[0]),
                    start[1] + t * (end[1] - start[1]))  # fmt: skip
    await mouse(browser, "released", *end, pressed=False)


async def key(browser: Browser, name: str) -> None:
    """Presses and releases a key (``ArrowRight``, ...) in the focused element."""
    code = {"ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40}[name]
    for kind in ("keyDown", "keyUp"):
        await browser.call("Input.dispatchKeyEvent", type=kind, key=name, code=name,
                           windowsVirtualKeyCode=code)  # fmt: skip


async def screenshot(browser: Browser, folder: Path, name: str, card: str | None = None) -> None:
    """A PNG of the page (or of one card) into ``folder`` and into $FERROTEM_GUI_SCREENSHOTS."""
    params: dict[str, Any] = {}
    if card is not None:
        box = await browser.evaluate(
            f"(() => {{ const e = document.getElementById('card-{card}');"
            " e.scrollIntoView({block: 'start'}); const b = e.getBoundingClientRect();"
            " return [b.left + scrollX, b.top + scrollY, b.width, b.height]; })()"
        )
        params["clip"] = {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}
        params["captureBeyondViewport"] = True
    png = base64.b64decode((await browser.call("Page.captureScreenshot", **params))["data"])
    targets = [folder]
    if os.environ.get(SCREENSHOTS_ENV):
        targets.append(Path(os.environ[SCREENSHOTS_ENV]))
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.png").write_bytes(png)
