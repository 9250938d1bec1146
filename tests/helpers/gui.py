"""Shared by the web server tests: a synthetic raw file and its numpy ring oracle, and a real
server on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

NAV = (12, 10)
SIG = (16, 18)
#: ring parameters chosen so that no pixel centre lies on either boundary
RING = {"cx": 8.3, "cy": 7.6, "ri": 2.7, "ro": 6.4}


def write_raw(path: Path, seed: int = 0) -> np.ndarray:
    """A uint16 raw file of shape NAV + SIG with random counts; returns the data."""
    data = np.random.default_rng(seed).integers(0, 1000, size=NAV + SIG, dtype=np.uint16)
    data.tofile(path)
    return data


def ring_oracle(data: np.ndarray, cx: float, cy: float, ri: float, ro: float) -> np.ndarray:
    """The ring detector in float64 numpy: the sum of every frame over the pixels whose centre
    (integer grid) lies at ``ri < d <= ro`` from ``(cy, cx)``."""
    y, x = np.mgrid[: data.shape[-2], : data.shape[-1]]
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    mask = (d2 > ri**2) & (d2 <= ro**2)
    assert 0 < mask.sum() < mask.size
    return np.einsum("...yx,yx->...", data.astype(np.float64), mask.astype(np.float64))


class ServerThread:
    """A ferrotem web server on 127.0.0.1 (a free port) with its own event loop thread."""

    def __init__(self, root: Path, token: str | None, ctx: Any):
        from ferrotem.gui.server import ServerConfig, ServerState, make_app

        self.state = ServerState(ctx, ServerConfig(root=root, token=token, workers=2))
        self.app = make_app(self.state)
        self.token = token
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.port = 0

        def serve() -> None:
            from tornado.httpserver import HTTPServer
            from tornado.netutil import bind_sockets

            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                sockets = bind_sockets(0, "127.0.0.1")
                self.port = sockets[0].getsockname()[1]
                self.server = HTTPServer(self.app)
                self.server.add_sockets(sockets)
                started.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert started.wait(10)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.state.close()
