"""A headless Chromium driven over the DevTools protocol (a websocket, tornado's client): no
selenium or playwright needed. Used by the GUI's browser test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from typing import Any

from tornado.websocket import WebSocketClientConnection, websocket_connect


def find_chromium() -> str | None:
    """The Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page; ``evaluate`` runs JavaScript in it."""

    def __init__(self, executable: str):
        # Chromium's helper processes may still write to the profile as it is removed.
        self.profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile.name}",
             "--window-size=1200,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        for _ in range(200):
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://[^\s]+)", line)
            if m:
                port = re.search(r":(\d+)/", m.group(1)).group(1)  # type: ignore[union-attr]
                break
        else:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.target = pages[0]["webSocketDebuggerUrl"]
        self.conn: WebSocketClientConnection | None = None
        self.ids = 0

    async def connect(self) -> None:
        self.conn = await websocket_connect(self.target, max_message_size=1 << 28)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.conn is not None
        self.ids += 1
        await self.conn.write_message(
            json.dumps({"id": self.ids, "method": method, "params": params})
        )
        while True:
            msg = await asyncio.wait_for(self.conn.read_message(), 30)
            assert msg is not None, "DevTools connection closed"
            reply = json.loads(msg)
            if reply.get("id") == self.ids:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = await self.call("Runtime.evaluate", expression=expression,
                                 awaitPromise=True, returnByValue=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Polls ``expression`` until it is truthy; returns its value. An expression that
        throws counts as not yet true (the page may still be loading: an element it names
        may not exist yet); the last error is in the timeout's message."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        last_error: RuntimeError | None = None
        while loop.time() < end:
            try:
                value = await self.evaluate(expression)
            except RuntimeError as e:
                last_error, value = e, None
            if value:
                return value
            await asyncio.sleep(0.05)
        raise TimeoutError(f"waited {timeout} s for {expression} (last error: {last_error})")

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot"))["data"])

    def disconnect(self) -> None:
        """Closes the DevTools connection (inside the event loop that opened it)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        """Ends Chromium and removes its profile."""
        # Chromium runs as a process group (renderers, GPU and network helpers): end all of it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.profile.cleanup()
