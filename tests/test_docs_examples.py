"""The docs' Python snippets run (docs that cannot rot).

Every ```python block of docs/*.md and README.md is executed, blocks of one page in order in one
namespace, in a temporary directory holding small stand-ins for the files the snippets name
(`scan.raw` etc.). A block preceded by the line ``<!-- not-tested: reason -->`` is skipped
(needs a cluster, HyperSpy data, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers.blo_writer import write_blo
from helpers.dm_writer import write_dm
from helpers.empad_writer import write_empad
from helpers.frms6_writer import write_acquisition as write_frms6_acquisition
from helpers.k2is_writer import random_frames, write_k2is
from helpers.mib_writer import write_acquisition
from helpers.mrc_writer import write_mrc
from helpers.seq_writer import write_mrc as write_seq_reference
from helpers.seq_writer import write_seq
from helpers.ser_writer import write_ser
from helpers.tvips_writer import raster_positions, write_tvips

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"(<!-- not-tested:[^>]*-->\s*\n)?```python\n(.*?)```", re.S)


def blocks(page: Path) -> list[tuple[bool, str]]:
    return [(bool(m.group(1)), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def make_stand_ins(d: Path) -> None:
    """Small files under the names the docs use."""
    rng = np.random.default_rng(0)
    rng.integers(0, 100, (32, 32, 128, 128), dtype=np.uint16).tofile(d / "scan.raw")
    write_acquisition(d, "scan", rng.integers(0, 4096, (4, 8, 256, 256)), depth=12)
    write_blo(d / "scan.blo", rng.integers(0, 256, (3, 2, 144, 144)))
    write_seq(d / "scan.seq", rng.integers(0, 4096, (16, 64, 64)).astype(np.uint16))
    write_seq_reference(d / "scan.seq.dark.mrc", rng.random((64, 64)).astype(np.float32))
    pn = [rng.integers(0, 4096, (n, 66, 64)).astype(np.uint16) for n in (4, 4, 2)]
    write_frms6_acquisition(d, "pn", pn[0], pn[1:], 2, (2, 3))
    write_ser(d / "scan_1.ser", rng.integers(0, 1000, (4, 5, 32, 32)).astype("<i4"))
    (d / "scan.emi").write_bytes(
        b"<ObjectInfo><Data><Label>High tension</Label><Value>200</Value>"
        b"<Unit>kV</Unit></Data></ObjectInfo>"
    )
    write_mrc(d / "scan_movie.mrc", rng.integers(0, 4000, (48, 16, 16)), mode=6)
    (d / "scan_info.txt").write_text(
        "Scan - Enable = Enable\nScan - Type = Raster\nScan - Size X = 6\nScan - Size Y = 8\n"
    )
    tvips = rng.integers(0, 4096, (15, 16, 16)).astype(np.uint16)
    write_tvips(d, "series", tvips, split=[5, 10], positions=raster_positions(2, 3, 4, 1))
    write_empad(d, "acquisition", rng.random((2, 3, 128, 128), dtype=np.float32))
    write_dm(d / "scan.dm4", rng.integers(0, 99, (4, 6, 32, 32), dtype=np.uint16), order="hybrid")
    for i in range(2):
        write_dm(d / f"frame_{i:03d}.dm3", rng.integers(0, 99, (32, 32), np.uint16), version=3)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_page_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_stand_ins(tmp_path)
    if '"k2is"' in page.read_text():  # 17 MB: only for the pages that load one
        write_k2is(tmp_path, random_frames(np.random.default_rng(1), 3), n_frames=3, inactive=1,
                   nav_shape=(1, 2), name="capture")  # fmt: skip
    ns: dict = {"__name__": "__docs__"}
    ran = 0
    for skipped, code in blocks(page):
        if skipped:
            continue
        exec(compile(code, f"{page.name}", "exec"), ns)
        ran += 1
    ctx = ns.get("ctx")
    if ctx is not None and hasattr(ctx, "close"):
        ctx.close()
    assert ran > 0 or all(s for s, _ in blocks(page))
