"""Compute resources (the embedded default, or a Dask scheduler on 127.0.0.1) and file-browser
bookmarks, through a real server's websocket and on their own."""

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
from ferrotem.gui.bookmarks import Bookmarks
from ferrotem.gui.protocol import ProtocolError
from helpers.gui import NAV, RING, SIG, ServerThread, ring_oracle, write_raw
from helpers.gui_client import OPEN_RAW, ask, connect, final_image, run_to_end

TOKEN = "resources-token-0123456789"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("resources")
    (base / "root" / "data" / "deeper").mkdir(parents=True)
    (base / "root" / "escape").symlink_to(base)
    write_raw(base / "root" / "data" / "scan.raw", seed=11)
    return (base / "root").resolve()


@pytest.fixture(scope="module")
def bookmarks_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("config") / "bookmarks.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERROTEM_GUI_BOOKMARKS", str(path))
        yield path


@pytest.fixture(scope="module")
def server(root: Path, bookmarks_file: Path) -> Iterator[ServerThread]:
    ctx = Context.make_with("threads", cpus=2)
    srv = ServerThread(root, TOKEN, ctx)
    srv.state.resources.cpus = 2  # the --cpus the server was started with (launch.py)
    yield srv
    srv.stop()
    ctx.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        yield cluster


def _executed(cluster: Any) -> int:
    """Tasks the cluster's workers have run so far."""
    return sum(w.state.executed_count for w in cluster.workers.values())


@pytest.mark.dist
@pytest.mark.timeout(120)
def test_runs_move_to_a_dask_scheduler_and_back(
    server: ServerThread, root: Path, cluster: Any
) -> None:
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    expected = ring_oracle(data, **RING)

    async def told(tab: Any) -> dict[str, Any]:
        """The next ``resources`` message the server pushed to ``tab`` (no ``id``)."""
        while True:
            msg = json.loads(await asyncio.wait_for(tab.read_message(), 20))
            if msg["type"] == "resources" and "id" not in msg:
                return msg  # type: ignore[no-any-return]

    async def go() -> None:
        conn, other = await connect(server), await connect(server)
        try:
            await ask(other, {"type": "ping"})  # the other tab is connected
            shown = await ask(conn, {"type": "get_resources"})
            assert shown == {"type": "resources", "kind": "embedded", "address": None,
                             "workers": 2, "id": 99}  # fmt: skip
            before = await ask(conn, OPEN_RAW)  # opened on the embedded executor
            chosen = await ask(conn, {"type": "set_resources", "kind": "dask",
                                      "address": cluster.scheduler_address})  # fmt: skip
            assert chosen["kind"] == "dask" and chosen["address"] == cluster.scheduler_address
            assert chosen["workers"] == 1
            assert (await told(other))["address"] == cluster.scheduler_address
            # every tab computes there now: a dataset opened before and one opened after
            after = await ask(conn, OPEN_RAW)
            for dataset in (before["dataset"], after["dataset"]):
                executed = _executed(cluster)
                out = await run_to_end(conn, dataset, {"type": "ring", "parameters": RING}, "d")
                image = final_image(out)
                np.testing.assert_allclose(image, expected, rtol=1e-6)
                assert _executed(cluster) > executed  # the cluster's worker did the work
            back = await ask(conn, {"type": "set_resources", "kind": "embedded"})
            assert back["kind"] == "embedded" and back["address"] is None
            assert (await told(other))["kind"] == "embedded"
            executed = _executed(cluster)
            out = await run_to_end(conn, after["dataset"], {"type": "sum"}, "s")
            np.testing.assert_allclose(final_image(out),
                                       data.sum(axis=(0, 1)), rtol=1e-6)  # fmt: skip
            assert _executed(cluster) == executed
        finally:
            conn.close()
            other.close()

    asyncio.run(go())
    assert cluster.scheduler_info["workers"]  # the cluster outlives our connection to it


def test_bad_resource_requests_say_why(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import ferrotem.gui.resources as resources

    monkeypatch.setattr(resources, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    cases = [
        ({"kind": "gpu"}, "kind", "'gpu'"),
        ({"kind": "dask"}, "address", "None"),
        ({"kind": "dask", "address": "no address; rm -rf /"}, "address", "expected"),
        ({"kind": "dask", "address": f"tcp://127.0.0.1:{closed_port}"}, "address",
         "could not connect"),
    ]  # fmt: skip

    async def go() -> list[dict[str, Any]]:
        conn = await connect(server)
        try:
            replies = [await ask(conn, {"type": "set_resources", **req}) for req, _, _ in cases]
            replies.append(await ask(conn, {"type": "get_resources"}))
            return replies
        finally:
            conn.close()

    replies = asyncio.run(go())
    for (request, param, why), reply in zip(cases, replies, strict=False):
        assert reply["type"] == "error" and reply["param"] == param, (request, reply)
        assert why in reply["message"], (request, reply)
    assert replies[-1]["kind"] == "embedded"  # nothing changed


def test_resources_do_not_change_under_a_running_analysis(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ferrotem.gui.server as gui_server

    real = gui_server.stream_run
    release = threading.Event()

    def held(*args: Any) -> bool:
        assert release.wait(20)
        return real(*args)

    monkeypatch.setattr(gui_server, "stream_run", held)

    async def go() -> dict[str, Any]:
        conn = await connect(server)
        try:
            opened = await ask(conn, OPEN_RAW)
            await conn.write_message(json.dumps({"type": "run", "dataset": opened["dataset"],
                "analysis": {"type": "sum"}}))  # fmt: skip
            await asyncio.sleep(0.2)
            reply = await ask(conn, {"type": "set_resources", "kind": "embedded"})
            release.set()
            return reply
        finally:
            release.set()
            conn.close()

    reply = asyncio.run(go())
    assert reply["type"] == "error" and "analyses running" in reply["message"]


# -- bookmarks ----------------------------------------------------------------------------------
def test_bookmarks_through_the_server_persist_per_root(
    server: ServerThread, root: Path, bookmarks_file: Path
) -> None:
    async def go() -> list[dict[str, Any]]:
        conn = await connect(server)
        try:
            return [
                await ask(conn, {"type": "list_bookmarks"}),
                await ask(conn, {"type": "add_bookmark", "path": "data/deeper"}),
                await ask(conn, {"type": "add_bookmark", "path": "", "name": "top"}),
                await ask(conn, {"type": "add_bookmark", "path": "data/deeper", "name": "d"}),
            ]
        finally:
            conn.close()

    replies = asyncio.run(go())
    assert replies[0]["bookmarks"] == []
    assert replies[1]["bookmarks"] == [{"name": "deeper", "path": "data/deeper"}]
    # adding a bookmarked directory again renames it (and moves it to the end)
    assert replies[3]["bookmarks"] == [{"name": "top", "path": ""},
                                       {"name": "d", "path": "data/deeper"}]  # fmt: skip
    stored = json.loads(bookmarks_file.read_text())["bookmarks"]
    assert stored == [{"name": "top", "path": str(root)},
                      {"name": "d", "path": str(root / "data" / "deeper")}]  # fmt: skip
    # a server started on another root sees only the bookmarks inside its own
    other = Bookmarks((root / "data").resolve(), bookmarks_file)
    assert other.show({})["bookmarks"] == [{"name": "d", "path": "deeper"}]
    assert other.remove({"path": "deeper"})["bookmarks"] == []
    assert Bookmarks(root, bookmarks_file).show({})["bookmarks"] == [{"name": "top", "path": ""}]


@pytest.mark.parametrize(
    ("request_", "param", "why"),
    [
        ({"path": "../"}, "path", "outside the root"),
        ({"path": "/etc"}, "path", "absolute"),
        ({"path": "escape"}, "path", "outside the root"),
        ({"path": "data/scan.raw"}, "path", "not a directory"),
        ({"path": "nope"}, "path", "not a directory"),
        ({"path": ["data"]}, "path", "expected a string"),
        ({"path": "data", "name": "x" * 101}, "name", "at most 100"),
        ({"path": "data", "name": "  "}, "name", "non-empty"),
    ],
)
def test_bookmarks_outside_the_root_or_not_directories_are_refused(
    root: Path, tmp_path: Path, request_: dict[str, Any], param: str, why: str
) -> None:
    marks = Bookmarks(root, tmp_path / "b.json")
    with pytest.raises(ProtocolError) as e:
        marks.add(request_)
    assert e.value.param == param and why in str(e.value)
    assert not (tmp_path / "b.json").exists()


def test_a_broken_bookmarks_file_holds_none_and_unknown_removals_are_refused(
    root: Path, tmp_path: Path
) -> None:
    file = tmp_path / "b.json"
    file.write_text("{not json")
    marks = Bookmarks(root, file)
    assert marks.show({})["bookmarks"] == []
    with pytest.raises(ProtocolError, match="not bookmarked"):
        marks.remove({"path": "data"})
    # entries that are not absolute paths (hand-edited) are ignored
    file.write_text(json.dumps({"bookmarks": [{"name": "x", "path": "relative"}, "junk"]}))
    assert marks.add({"path": "data"})["bookmarks"] == [{"name": "data", "path": "data"}]
