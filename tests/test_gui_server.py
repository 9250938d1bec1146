"""The GUI server on a real loopback port, with hostile and ordinary clients: the token on
every route and the websocket, the origin check, the file browser's root, bad messages, and an
analysis streamed over the websocket compared with the same analysis through the API."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tornado.websocket
from ferrotem.api import Context
from ferrotem.gui.protocol import MAX_MESSAGE_BYTES, decode_binary_frame
from helpers.gui import NAV, RING, SIG, ServerThread, ring_oracle, write_raw
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("web")
    (base / "root" / "data").mkdir(parents=True)
    (base / "secret.txt").write_text("outside the root")
    (base / "root" / "escape").symlink_to(base)
    write_raw(base / "root" / "data" / "scan.raw")
    return (base / "root").resolve()


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ServerThread]:
    ctx = Context.make_with("threads", cpus=2)
    srv = ServerThread(root, TOKEN, ctx)
    yield srv
    srv.stop()
    ctx.close()


def _get(url: str, cookie: str | None = None) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


# -- HTTP ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "route", ["/", "/static/app.js", "/static/index.html", "/static/../security.py", "/nope"]
)
def test_every_route_needs_the_token(server: ServerThread, route: str) -> None:
    assert _get(server.http + route)[0] == 403
    assert _get(server.http + route + "?token=wrong")[0] == 403
    assert _get(server.http + route, cookie="ferrotem_token=wrong")[0] == 403


def test_token_in_url_then_cookie(server: ServerThread) -> None:
    status, body, headers = _get(f"{server.http}/?token={TOKEN}")
    assert status == 200 and b'<script type="module" src="static/app.js">' in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, body, _ = _get(server.http + "/static/app.js", cookie=cookie.split(";")[0])
    assert status == 200 and b"import" in body
    assert _get(f"{server.http}/nope?token={TOKEN}")[0] == 404


def test_static_files_cannot_leave_their_folder(server: ServerThread) -> None:
    for route in ("/static/../server.py", "/static/%2e%2e/server.py", "/static//etc/passwd"):
        assert _get(f"{server.http}{route}?token={TOKEN}")[0] in (403, 404)


# -- websocket ----------------------------------------------------------------------------------
async def _connect(server: ServerThread, token: str | None = TOKEN, origin: str | None = None
                   ) -> WebSocketClientConnection:  # fmt: skip
    url = server.ws + (f"?token={token}" if token is not None else "")
    headers = {"Origin": origin} if origin else {}
    return await websocket_connect(HTTPRequest(url, headers=headers), max_message_size=1 << 26)


async def _ask(conn: WebSocketClientConnection, request: dict[str, Any] | str) -> dict[str, Any]:
    """Sends ``request`` (a dict, or text as it is) and reads the next text reply."""
    await conn.write_message(request if isinstance(request, str) else json.dumps(request))
    reply = await asyncio.wait_for(conn.read_message(), 10)
    assert isinstance(reply, str)
    return json.loads(reply)


@pytest.mark.parametrize(
    ("token", "origin"),
    [(None, None), ("wrong", None), (TOKEN, "http://evil.example"), (TOKEN, "null")],
)
def test_websocket_refuses_without_token_or_from_another_origin(
    server: ServerThread, token: str | None, origin: str | None
) -> None:
    with pytest.raises(HTTPClientError) as e:
        asyncio.run(_connect(server, token, origin))
    assert e.value.code == 403


def test_websocket_accepts_its_own_origin(server: ServerThread) -> None:
    async def go() -> dict[str, Any]:
        conn = await _connect(server, origin=server.http)
        try:
            return await _ask(conn, {"type": "ping", "id": 1})
        finally:
            conn.close()

    assert asyncio.run(go()) == {"type": "pong", "id": 1}


def test_hostile_messages_get_errors_and_the_connection_survives(server: ServerThread) -> None:
    outside = "outside the root"
    hostile = [
        ("{not json", "bad JSON"),
        ("[]", "JSON object"),
        ('{"type": null}', "type"),
        ('{"type": "eval", "code": "__import__(\'os\').system(\'true\')"}', "'eval'"),
        (json.dumps({"type": "ping", "pad": "x" * (2 * MAX_MESSAGE_BYTES)}), "limit"),
        (json.dumps({"type": "list_dir", "path": "../"}), outside),
        (json.dumps({"type": "list_dir", "path": "/etc"}), "absolute"),
        (json.dumps({"type": "list_dir", "path": "escape"}), outside),
        (json.dumps({"type": "detect", "path": "escape/secret.txt"}), outside),
        (json.dumps({"type": "open", "filetype": "raw", "parameters": {"path": "../secret.txt",
                     "nav_shape": [1], "sig_shape": [1], "dtype": "uint8"}}), outside),
        (json.dumps({"type": "open", "filetype": "raw", "parameters": "x"}), "parameters"),
        (json.dumps({"type": "open", "filetype": "memory", "parameters": {}}), "filetype"),
        (json.dumps({"type": "run", "dataset": "ds1", "analysis": {"type": "ring"}}), "not open"),
        (json.dumps({"type": "run", "dataset": None, "analysis": "ring"}), "dataset"),
        (json.dumps({"type": "list_dir", "path": ["a"]}), "path"),
    ]  # fmt: skip

    async def go() -> list[dict[str, Any]]:
        conn = await _connect(server)
        try:
            replies = [await _ask(conn, message) for message, _ in hostile]
            replies.append(await _ask(conn, {"type": "ping", "id": 7}))
            return replies
        finally:
            conn.close()

    replies = asyncio.run(go())
    for (message, why), reply in zip(hostile, replies[:-1], strict=True):
        assert reply["type"] == "error", (message[:60], reply)
        assert why in reply["message"], (message[:60], reply)
    assert replies[-1] == {"type": "pong", "id": 7}  # still serving after all of them


def test_files_named_inside_a_file_cannot_leave_the_root(server: ServerThread, root: Path) -> None:
    """An HDF5 external link and a raw_csr descriptor under the root that point outside it are
    refused over the websocket, naming the file; the connection goes on."""
    h5py = pytest.importorskip("h5py")
    outside = root.parent
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = np.ones((2, 2, 3, 3), np.uint8)
    (root / "hostile").mkdir()  # its own folder: the other tests list data/
    with h5py.File(root / "hostile" / "linked.h5", "w") as f:
        f["data"] = h5py.ExternalLink("../../secret.h5", "/data")
    (root / "hostile" / "hits.toml").write_text(
        '[params]\nfiletype = "raw_csr"\nnav_shape = [2]\nsig_shape = [2, 2]\n[raw_csr]\n'
        'indptr_file = "../../secret.txt"\nindptr_dtype = "<i8"\n'
        'indices_file = "../../secret.txt"\nindices_dtype = "<i4"\n'
        'data_file = "../../secret.txt"\ndata_dtype = "<u1"\n'
    )
    requests = [
        {"type": "open", "filetype": "hdf5",
         "parameters": {"path": "hostile/linked.h5", "ds_path": "/data"}},
        {"type": "open", "filetype": "raw_csr", "parameters": {"path": "hostile/hits.toml"}},
    ]  # fmt: skip

    async def go() -> list[dict[str, Any]]:
        conn = await _connect(server)
        try:
            replies = [await _ask(conn, request) for request in requests]
            replies.append(await _ask(conn, {"type": "ping", "id": 7}))
            return replies
        finally:
            conn.close()

    hdf5, csr, pong = asyncio.run(go())
    assert hdf5["type"] == "error" and hdf5["param"] == "ds_path", hdf5
    assert "secret.h5" in hdf5["message"] and "outside the root" in hdf5["message"]
    assert csr["type"] == "error" and csr["param"] == "path", csr
    assert "secret.txt" in csr["message"] and "outside the root" in csr["message"]
    assert pong == {"type": "pong", "id": 7}


def test_a_message_beyond_the_hard_limit_closes_only_that_connection(server: ServerThread) -> None:
    async def go() -> tuple[Any, dict[str, Any]]:
        conn = await _connect(server)
        try:
            await conn.write_message("x" * (8 * MAX_MESSAGE_BYTES))
        except tornado.websocket.WebSocketClosedError:
            closed = None  # the server closed it before the whole message was written
        else:
            closed = await asyncio.wait_for(conn.read_message(), 10)
        other = await _connect(server)
        try:
            return closed, await _ask(other, {"type": "ping", "id": 2})
        finally:
            other.close()

    closed, pong = asyncio.run(go())
    assert closed is None and pong == {"type": "pong", "id": 2}


def test_binary_messages_are_refused(server: ServerThread) -> None:
    async def go() -> dict[str, Any]:
        conn = await _connect(server)
        try:
            await conn.write_message(b"\x00\x01\x02", binary=True)
            return json.loads(await asyncio.wait_for(conn.read_message(), 10))  # type: ignore[arg-type]
        finally:
            conn.close()

    reply = asyncio.run(go())
    assert reply["type"] == "error" and "binary" in reply["message"]


# -- end to end ---------------------------------------------------------------------------------
OPEN_RAW = {"type": "open", "id": 1, "filetype": "raw",
            "parameters": {"path": "data/scan.raw", "nav_shape": list(NAV), "sig_shape": list(SIG),
                           "dtype": "uint16", "num_partitions": 6}}  # fmt: skip


async def _read_until(conn: WebSocketClientConnection, stop: Any) -> list[Any]:
    """Messages and frames up to and including the first message for which ``stop`` holds."""
    out: list[Any] = []
    while True:
        msg = await asyncio.wait_for(conn.read_message(), 20)
        assert msg is not None, "connection closed"
        if isinstance(msg, bytes):
            out.append(decode_binary_frame(msg))
            continue
        out.append(json.loads(msg))
        if stop(out[-1]):
            return out


async def _collect_run(conn: WebSocketClientConnection, until_run: int) -> list[Any]:
    """Messages (dicts) and frames ((header, array)) until run ``until_run`` has ended."""
    out: list[Any] = []
    while True:
        msg = await asyncio.wait_for(conn.read_message(), 20)
        assert msg is not None, "connection closed"
        if isinstance(msg, bytes):
            out.append(decode_binary_frame(msg))
            continue
        reply = json.loads(msg)
        out.append(reply)
        if reply["type"] in ("run_finished", "run_cancelled") and reply["run"] == until_run:
            return out
        assert reply["type"] != "error", reply


def test_streamed_ring_matches_the_api_and_numpy(server: ServerThread, root: Path) -> None:
    async def go() -> tuple[dict[str, Any], list[Any]]:
        conn = await _connect(server)
        try:
            listing = await _ask(conn, {"type": "list_dir", "path": "data", "id": 0})
            assert [e["name"] for e in listing["entries"]] == ["scan.raw"]
            opened = await _ask(conn, OPEN_RAW)
            analysis = {"type": "ring", "parameters": RING}
            await conn.write_message(
                json.dumps({"type": "run", "dataset": opened["dataset"], "analysis": analysis})
            )
            return opened, await _collect_run(conn, 1)
        finally:
            conn.close()

    opened, messages = asyncio.run(go())
    assert opened["type"] == "opened" and opened["nav_shape"] == list(NAV)
    frames = [m for m in messages if isinstance(m, tuple)]
    assert messages[0]["type"] == "run_started" and messages[-1]["type"] == "run_finished"
    assert len(frames) == 6  # partition by partition
    assert [h["final"] for h, _ in frames] == [False] * 5 + [True]
    assert all(h["run"] == 1 and h["kind"] == "ring" for h, _ in frames)
    streamed = frames[-1][1]
    assert streamed.shape == NAV
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    np.testing.assert_allclose(streamed, ring_oracle(data, **RING), rtol=1e-6)
    ctx = Context.make_with("inline")
    ds = ctx.load("raw", path=str(root / "data" / "scan.raw"), nav_shape=NAV, sig_shape=SIG,
                  dtype="uint16")  # fmt: skip
    api = ctx.run(ctx.create_ring_analysis(ds, **RING))
    np.testing.assert_array_equal(streamed, api.intensity.raw_data)
    # the partial images hold the final values where they are filled in
    first = frames[0][1]
    filled = first != 0
    assert 0 < filled.sum() < first.size
    np.testing.assert_array_equal(first[filled], streamed[filled])


def test_a_newer_run_cancels_the_older_and_the_loop_stays_free(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ferrotem.gui.server as web_server

    real = web_server.stream_run

    release = threading.Event()

    def slow_stream(*args: Any) -> bool:
        # a long run: its worker thread is busy until the test has had its pong
        assert release.wait(20)
        return real(*args)

    monkeypatch.setattr(web_server, "stream_run", slow_stream)

    async def go() -> list[Any]:
        conn = await _connect(server)
        try:
            opened = await _ask(conn, OPEN_RAW)
            run = {"type": "run", "dataset": opened["dataset"], "analysis_id": "a",
                   "analysis": {"type": "ring", "parameters": RING}}  # fmt: skip
            await conn.write_message(json.dumps(run))
            await conn.write_message(json.dumps({"type": "ping", "id": 9}))
            seen = await _read_until(conn, lambda m: m.get("type") == "pong")
            # the pong came while run 1's worker thread was blocked: the loop is free
            assert not any(isinstance(m, tuple) for m in seen)
            await conn.write_message(json.dumps({**run, "analysis": {"type": "sum"}}))
            seen += await _read_until(conn, lambda m: m.get("type") == "run_started"
                                      and m["run"] == 2)  # fmt: skip
            release.set()  # both runs may go on now; run 1 is cancelled already
            seen += await _collect_run(conn, 2)
            cancelled_1 = {"type": "run_cancelled", "run": 1, "analysis_id": "a"}
            if cancelled_1 not in seen:  # the two worker threads may end in either order
                seen += await _read_until(conn, lambda m: m == cancelled_1)
            return seen
        finally:
            conn.close()

    messages = asyncio.run(go())
    started_2 = messages.index({"type": "run_started", "run": 2, "analysis_id": "a"})
    # run 1 ends cancelled, and none of its frames arrive once run 2 has started
    assert {"type": "run_cancelled", "run": 1, "analysis_id": "a"} in messages
    assert not [m for m in messages if isinstance(m, tuple) and m[0]["run"] == 1]
    assert all(isinstance(m, dict) for m in messages[:started_2])
    frames_2 = [m for m in messages if isinstance(m, tuple) and m[0]["run"] == 2]
    assert frames_2[-1][0]["final"] and frames_2[-1][0]["kind"] == "sum"
    assert frames_2[-1][1].shape == SIG


def test_two_tabs_run_at_once(server: ServerThread, root: Path) -> None:
    rings = [RING, {"cx": 9.1, "cy": 8.2, "ri": 0.5, "ro": 4.3}]

    async def tab(ring: dict[str, float]) -> np.ndarray:
        conn = await _connect(server)
        try:
            opened = await _ask(conn, OPEN_RAW)
            analysis = {"type": "ring", "parameters": ring}
            await conn.write_message(
                json.dumps({"type": "run", "dataset": opened["dataset"], "analysis": analysis})
            )
            messages = await _collect_run(conn, 1)  # run numbers are per connection
            assert messages[-1]["type"] == "run_finished"
            return [m for m in messages if isinstance(m, tuple)][-1][1]
        finally:
            conn.close()

    async def both() -> list[np.ndarray]:
        return list(await asyncio.gather(*(tab(r) for r in rings)))

    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    for ring, image in zip(rings, asyncio.run(both()), strict=True):
        np.testing.assert_allclose(image, ring_oracle(data, **ring), rtol=1e-6)


@pytest.mark.parametrize("newer", ["run", "cancel"])
def test_a_run_superseded_while_it_is_prepared_never_starts(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, newer: str
) -> None:
    from ferrotem.gui.messages import Session

    real = Session.prepare_run
    release = threading.Event()
    calls: list[str] = []

    def slow_prepare(self: Session, request: dict[str, Any]) -> Any:
        calls.append(request["analysis"]["type"])
        if len(calls) == 1:  # the first run is still being prepared when the second arrives
            assert release.wait(20)
        return real(self, request)

    monkeypatch.setattr(Session, "prepare_run", slow_prepare)

    async def go() -> list[Any]:
        conn = await _connect(server)
        try:
            opened = await _ask(conn, OPEN_RAW)
            run = {"type": "run", "dataset": opened["dataset"], "analysis_id": "b",
                   "analysis": {"type": "ring", "parameters": RING}}  # fmt: skip
            await conn.write_message(json.dumps(run))
            if newer == "cancel":
                await conn.write_message(json.dumps({"type": "cancel", "analysis_id": "b"}))
                seen = await _read_until(conn, lambda m: m.get("type") == "cancelled")
                release.set()
                return seen + await _read_until(conn, lambda m: m.get("run") == 1)
            await conn.write_message(json.dumps({**run, "analysis": {"type": "sum"}}))
            seen = await _read_until(conn, lambda m: m.get("type") == "run_started")
            release.set()
            seen += await _collect_run(conn, 2)
            if {"type": "run_cancelled", "run": 1, "analysis_id": "b"} not in seen:
                seen += await _read_until(conn, lambda m: m.get("run") == 1)
            return seen
        finally:
            conn.close()

    messages = asyncio.run(go())
    assert {"type": "run_cancelled", "run": 1, "analysis_id": "b"} in messages
    assert {"type": "run_started", "run": 1, "analysis_id": "b"} not in messages
    frames = [m for m in messages if isinstance(m, tuple)]
    if newer == "cancel":
        assert not frames
    else:
        assert frames and all(h["run"] == 2 and h["kind"] == "sum" for h, _ in frames)


def test_browsing_is_answered_while_every_run_thread_is_busy(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ferrotem.gui.server as gui_server

    real = gui_server.stream_run
    release = threading.Event()

    def blocked_stream(*args: Any) -> bool:
        assert release.wait(20)
        return real(*args)

    monkeypatch.setattr(gui_server, "stream_run", blocked_stream)
    workers = server.state.runs._max_workers

    async def go() -> dict[str, Any]:
        conn = await _connect(server)
        try:
            opened = await _ask(conn, OPEN_RAW)
            for i in range(workers):  # one run per run thread, all of them blocked
                await conn.write_message(json.dumps({
                    "type": "run", "dataset": opened["dataset"], "analysis_id": f"r{i}",
                    "analysis": {"type": "ring", "parameters": RING}}))  # fmt: skip
            await conn.write_message(json.dumps({"type": "list_dir", "path": "data", "id": 5}))
            seen = await _read_until(conn, lambda m: m.get("id") == 5)
            release.set()
            for _ in range(workers):
                await _read_until(conn, lambda m: m.get("type") == "run_finished")
            return seen[-1]
        finally:
            conn.close()

    listing = asyncio.run(go())
    assert listing["type"] == "dir" and [e["name"] for e in listing["entries"]] == ["scan.raw"]
