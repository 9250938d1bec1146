"""Back-pressure: a browser that reads slowly makes the server drop superseded partial result
frames instead of queueing them without bound; final frames and text messages always arrive,
in order. The outbox on its own with a scripted socket, then a real server and a client that
stops reading while a run streams megabyte frames."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.outbox import Outbox
from ferrotem.gui.protocol import decode_binary_frame
from helpers.gui import ServerThread, ring_oracle
from helpers.gui_client import ask, connect

TOKEN = "backpressure-token-0123456789"


def test_the_outbox_keeps_the_newest_partial_per_analysis_and_everything_else() -> None:
    written: list[str | bytes] = []
    pending: list[asyncio.Future[None]] = []

    def write(data: str | bytes, binary: bool) -> asyncio.Future[None]:
        assert binary == isinstance(data, bytes)
        written.append(data)
        pending.append(asyncio.get_running_loop().create_future())
        return pending[-1]

    async def go() -> Outbox:
        box = Outbox(write, limit=10)
        box.text("t1")  # 2 bytes: goes at once
        box.frame("a", b"a1-part.", final=False)  # 8 more: at the limit, goes at once
        assert written == ["t1", b"a1-part."]
        # the client is behind now: everything waits, partials of one analysis collapse
        box.frame("a", b"a2-part.", final=False)
        box.frame("a", b"a3-part.", final=False)  # replaces a2
        box.text("t2")
        box.frame("b", b"b1-part.", final=False)
        box.frame("a", b"a4-FINAL", final=True)  # kept, after t2 and b1
        box.frame("a", b"a5-part.", final=False)  # replaces a3, goes after the final
        box.frame("c", b"c1-stale", final=False, stale=lambda: True)  # its run was cancelled
        assert written == ["t1", b"a1-part."] and box.waiting == 5  # t2 b1 a4 a5 c1
        assert box.most_waiting_frames == 4
        while pending:  # the client reads: each write completes
            future = pending.pop(0)
            future.set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)
        return box

    box = asyncio.run(go())
    assert written == ["t1", b"a1-part.", "t2", b"b1-part.", b"a4-FINAL", b"a5-part."]
    assert box.dropped == 2 and box.waiting == 0


def test_a_closed_connection_empties_the_outbox() -> None:
    def write(data: str | bytes, binary: bool) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(ConnectionError("closed"))
        return future

    async def go() -> Outbox:
        box = Outbox(write, limit=4)
        box.frame("a", b"12345678", final=False)
        box.text("after")
        await asyncio.sleep(0.01)
        box.text("ignored")
        return box

    box = asyncio.run(go())
    assert box.closed and box.waiting == 0
    with pytest.raises(ValueError, match="limit"):
        Outbox(write, limit=0)


# -- a real server and a client that does not read ---------------------------------------------
NAV = (512, 512)  # a float32 result image of 1 MiB
SIG = (2, 2)
PARTS = 32
RING = {"cx": 0.0, "cy": 0.0, "ri": 0.5, "ro": 1.2}  # the two pixels next to (0, 0)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = (tmp_path_factory.mktemp("backpressure") / "root").resolve()
    base.mkdir()
    rng = np.random.default_rng(4)
    rng.integers(0, 100, size=NAV + SIG, dtype=np.uint16).tofile(base / "big.raw")
    return base


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ServerThread]:
    ctx = Context.make_with("threads", cpus=2)
    srv = ServerThread(root, TOKEN, ctx)
    yield srv
    srv.stop()
    ctx.close()


def test_a_client_that_stops_reading_gets_the_newest_frames_and_the_final(
    server: ServerThread, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ferrotem.gui.outbox as gui_outbox
    import ferrotem.gui.server as gui_server

    # one frame in flight at most (the default allows 8 MiB, more than this whole run)
    monkeypatch.setattr(gui_outbox, "IN_FLIGHT_LIMIT", 1 << 20)
    real = gui_server.stream_run
    finished = threading.Event()

    def stream_and_tell(*args: Any) -> bool:
        try:
            return real(*args)
        finally:
            finished.set()

    monkeypatch.setattr(gui_server, "stream_run", stream_and_tell)
    open_big = {"type": "open", "filetype": "raw", "parameters": {
        "path": "big.raw", "nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "uint16",
        "num_partitions": PARTS}}  # fmt: skip

    async def go() -> list[Any]:
        conn = await connect(server)
        try:
            opened = await ask(conn, open_big)
            run = {"type": "run", "dataset": opened["dataset"], "analysis_id": "big",
                   "analysis": {"type": "ring", "parameters": RING}}  # fmt: skip
            await conn.write_message(json.dumps(run))
            # not reading: the client's one-message queue fills, then the socket buffers
            await asyncio.get_running_loop().run_in_executor(None, finished.wait, 60)
            await asyncio.sleep(0.2)
            out: list[Any] = []
            while not (out and isinstance(out[-1], dict) and out[-1]["type"] == "run_finished"):
                msg = await asyncio.wait_for(conn.read_message(), 20)
                assert msg is not None, "connection closed"
                out.append(decode_binary_frame(msg) if isinstance(msg, bytes) else json.loads(msg))
            return out
        finally:
            conn.close()

    messages = asyncio.run(go())
    frames = [m for m in messages if isinstance(m, tuple)]
    # superseded partial frames were dropped: far fewer than one per partition arrived
    print(f"{len(frames)} of {PARTS} frames arrived")
    assert 1 <= len(frames) < PARTS // 2, len(frames)
    progress = [h["progress"] for h, _ in frames]
    assert progress == sorted(progress)
    header, image = frames[-1]
    assert header["final"] and messages[-1]["type"] == "run_finished"
    data = np.fromfile(root / "big.raw", np.uint16).reshape(NAV + SIG)
    np.testing.assert_allclose(image, ring_oracle(data, **RING), rtol=1e-6)
