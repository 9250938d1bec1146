"""``ferrotem server`` as a user starts it (a subprocess), and the front end's scripts: they
parse as ES modules, and the browser-side frame decoder reads what the server encodes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from ferrotem.cli import main
from ferrotem.gui.protocol import encode_binary_frame

STATIC = Path(__file__).parents[1] / "python" / "ferrotem" / "gui" / "static"
NODE = shutil.which("node")


def _server(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ferrotem.cli", "server", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_server_prints_its_url_with_a_token_and_serves(tmp_path: Path) -> None:
    (tmp_path / "a.raw").write_bytes(b"\0" * 16)
    proc = _server("--port", "0", "--root", str(tmp_path), "--open-ds", str(tmp_path / "a.raw"))
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)#open=a\.raw)", lines[1])
        assert m, lines
        url, port, token = m.group(1), m.group(2), m.group(3)
        assert len(token) >= 40
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"ferrotem" in r.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert e.value.code == 403
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--host", "0.0.0.0"], "--token-path"),
        (["--root", "/does/not/exist"], "--root"),
        (["--open-ds", "/etc/passwd", "--root", "."], "--open-ds"),
        (["--cpus", "0"], "--cpus"),
        (["--token-path", "/does/not/exist"], "exist"),
    ],
)
def test_server_refuses_to_start(
    args: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "--no-browser", "--port", "0", *args]) == 2
    assert why in capsys.readouterr().err


@pytest.mark.skipif(NODE is None, reason="node is not installed (only used to check the scripts)")
@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_front_end_scripts_parse_as_modules(script: str) -> None:
    assert NODE is not None
    source = (STATIC / script).read_text()
    subprocess.run([NODE, "--input-type=module", "--check"], input=source, text=True, check=True)


@pytest.mark.skipif(NODE is None, reason="node is not installed (only used to check the scripts)")
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint16", "int32"])
def test_browser_decoder_reads_server_frames(tmp_path: Path, dtype: str) -> None:
    assert NODE is not None
    array = (np.random.default_rng(1).random((3, 5)) * 1000).astype(dtype)
    (tmp_path / "frame.bin").write_bytes(encode_binary_frame({"run": 4}, array))
    script = f"""
        import {{ decodeFrame }} from {json.dumps((STATIC / "protocol.js").as_uri())};
        import {{ readFileSync }} from "node:fs";
        const bytes = readFileSync({json.dumps(str(tmp_path / "frame.bin"))});
        const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
        const {{ header, data }} = decodeFrame(buffer);
        console.log(JSON.stringify({{ header, values: Array.from(data) }}));
    """
    out = subprocess.run(
        [NODE, "--input-type=module"], input=script, text=True, check=True, capture_output=True
    ).stdout
    decoded = json.loads(out)
    assert decoded["header"]["run"] == 4 and decoded["header"]["shape"] == [3, 5]
    np.testing.assert_array_equal(np.array(decoded["values"], dtype=dtype).reshape(3, 5), array)
