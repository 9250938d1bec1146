"""``ferrotem demo --gui`` as a user starts it: it writes the demo scan as a ``.npy`` file,
serves it, prints the URL with the token and the file to open; the page loads, the file is
recognised by its content, and its frames are the demo's."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from ferrotem.cli import main, synthesize
from helpers.gui_client import ask, http_get
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

SCAN = (6, 5)
FRAME = (24, 20)


def test_demo_gui_serves_the_demo_scan(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrotem.cli", "demo", "--gui", "--no-browser", "--port", "0",
         "--scan", *map(str, SCAN), "--frame", *map(str, FRAME), "--dir", str(out),
         "--seed", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("token=" in line for line in lines):
            line = proc.stdout.readline()
            assert line, (lines, proc.stderr.read() if proc.stderr else "")
            lines.append(line)
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=([\w-]+)#open=(\S+)", lines[-1])
        assert m, lines
        base, port, token, opened = m.group(1), m.group(2), m.group(3), unquote(m.group(4))
        assert opened == "scan.npy"
        status, body, _ = http_get(f"{base}?token={token}")
        assert status == 200 and b"ferrotem" in body
        assert http_get(base)[0] == 403

        async def detect() -> dict[str, object]:
            url = f"ws://127.0.0.1:{port}/ws?token={token}"
            conn = await websocket_connect(HTTPRequest(url))
            try:
                return await ask(conn, {"type": "detect", "path": opened})
            finally:
                conn.close()

        detected = asyncio.run(detect())
    finally:
        proc.terminate()
        proc.wait(10)
    # the page learns the format and the shape from the file itself
    assert detected["filetype"] == "npy", detected
    stored = np.load(out / "scan.npy")
    assert stored.shape == SCAN + FRAME and stored.dtype == np.uint16
    # the frames are the demo's: the same synthesis written as a raw file
    synthesize(str(tmp_path / "scan.raw"), SCAN, FRAME, seed=4)
    raw = np.fromfile(tmp_path / "scan.raw", np.uint16).reshape(SCAN + FRAME)
    np.testing.assert_array_equal(stored, raw)
    assert stored.sum() > 0


def test_server_options_of_demo_need_gui(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["demo", "--port", "9999"])
    assert e.value.code == 2 and "--gui" in capsys.readouterr().err
