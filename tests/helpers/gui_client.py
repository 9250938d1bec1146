"""A scripted browser tab for the GUI server tests: a websocket client that asks, opens the
synthetic raw file, and runs an analysis to its end; plus plain HTTP GETs."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from ferrotem.gui.protocol import decode_binary_frame
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from helpers.gui import NAV, SIG, ServerThread

#: the synthetic raw file of helpers.gui at data/scan.raw, in 6 partitions
OPEN_RAW = {
    "type": "open",
    "filetype": "raw",
    "parameters": {
        "path": "data/scan.raw",
        "nav_shape": list(NAV),
        "sig_shape": list(SIG),
        "dtype": "uint16",
        "num_partitions": 6,
    },
}


async def connect(server: ServerThread, **kwargs: Any) -> WebSocketClientConnection:
    """A websocket to ``server`` carrying its token."""
    url = f"{server.ws}?token={server.token}"
    return await websocket_connect(HTTPRequest(url), max_message_size=1 << 28, **kwargs)


async def ask(conn: WebSocketClientConnection, request: dict[str, Any]) -> dict[str, Any]:
    """Sends ``request`` and reads text messages until the reply with its id."""
    request = {**request, "id": request.get("id", 99)}
    await conn.write_message(json.dumps(request))
    while True:
        msg = await asyncio.wait_for(conn.read_message(), 20)
        assert msg is not None, "connection closed"
        if isinstance(msg, str):
            reply = json.loads(msg)
            if reply.get("id") == request["id"] and reply["type"] != "run_started":
                return reply  # type: ignore[no-any-return]


async def run_to_end(
    conn: WebSocketClientConnection, dataset: str, analysis: dict[str, Any], analysis_id: str
) -> list[Any]:
    """Runs ``analysis``; returns the messages (dicts) and frames ((header, array)) up to its
    ``run_finished``."""
    await conn.write_message(
        json.dumps(
            {"type": "run", "dataset": dataset, "analysis_id": analysis_id, "analysis": analysis}
        )
    )
    out: list[Any] = []
    while True:
        msg = await asyncio.wait_for(conn.read_message(), 30)
        assert msg is not None, "connection closed"
        if isinstance(msg, bytes):
            out.append(decode_binary_frame(msg))
            continue
        reply = json.loads(msg)
        out.append(reply)
        assert reply["type"] not in ("error", "run_cancelled"), reply
        if reply["type"] == "run_finished" and reply["analysis_id"] == analysis_id:
            return out


def final_image(messages: list[Any], channel: str = "intensity") -> Any:
    """The last image of ``channel`` among a run's messages (single-channel frames carry no
    channel name: they are ``intensity``)."""
    images = [m[1] for m in messages if isinstance(m, tuple)
              and m[0].get("channel", "intensity") == channel]  # fmt: skip
    assert images, f"no {channel!r} image"
    return images[-1]


def http_get(url: str) -> tuple[int, bytes, Any]:
    """Status, body and headers of a GET (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers
