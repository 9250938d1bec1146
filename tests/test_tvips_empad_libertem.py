"""LiberTEM 0.16 as a second oracle for 'tvips' and 'empad': the synthetic files its readers
can read (a TVIPS series in one file whose scan LiberTEM detects, EMPAD scans of both modes
and a series) give the same shape, sync_offset and sums in LiberTEM as in ferrotem. Needs
``.venv-libertem`` (``make bench-libertem``); slow (LiberTEM starts in a subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.empad_writer import write_empad
from helpers.tvips_writer import raster_positions, write_tvips

ROOT = Path(__file__).resolve().parents[1]
LIBERTEM_PY = ROOT / ".venv-libertem" / "bin" / "python"

SCRIPT = """
import json, sys
import numpy as np
import libertem.api as lt
from libertem.udf.sum import SumUDF
from libertem.udf.sumsigudf import SumSigUDF

cases, out = json.loads(sys.argv[1]), sys.argv[2]
ctx = lt.Context.make_with("inline")
arrays, facts = {}, {}
for name, params in cases.items():
    ds = ctx.load(**params)
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    arrays[name + "/sum"] = total["intensity"].data
    arrays[name + "/sumsig"] = per_frame["intensity"].data
    facts[name] = {"shape": list(ds.shape), "sync_offset": ds.meta.sync_offset}
np.savez(out, **arrays)
print(json.dumps(facts))
"""


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="needs .venv-libertem (make bench-libertem)")
def test_libertem_reads_the_same(inline_ctx, tmp_path):
    rng = np.random.default_rng(42)
    t16 = rng.integers(0, 60000, (3 + 24 + 2, 6, 8)).astype(np.uint16)
    write_tvips(tmp_path, "t16", t16, positions=raster_positions(3, 4, 6, 2))
    t8 = rng.integers(0, 255, (1 + 9 + 1, 5, 5)).astype(np.uint8)
    write_tvips(tmp_path, "t8", t8, positions=raster_positions(1, 3, 3, 1))
    frames = (rng.integers(-100, 100, (2, 3, 128, 128)) / 4).astype(np.float32)
    for mode in ("acquire", "search"):
        write_empad(tmp_path, mode, frames, mode=mode, raw_dir="")
    write_empad(tmp_path, "series", frames.reshape(6, 128, 128), mode="series")
    cases = {
        "t16": {"filetype": "tvips", "path": str(tmp_path / "t16_000.tvips")},
        "t8": {"filetype": "tvips", "path": str(tmp_path / "t8_000.tvips")},
        **{
            m: {"filetype": "empad", "path": str(tmp_path / f"{m}.xml")}
            for m in ("acquire", "search", "series")
        },
    }
    out = tmp_path / "libertem.npz"
    proc = subprocess.run(
        [str(LIBERTEM_PY), "-c", SCRIPT, json.dumps(cases), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    theirs = np.load(out)
    for name, params in cases.items():
        params = dict(params)
        ds = inline_ctx.load(params.pop("filetype"), **params)
        assert list(ds.shape) == facts[name]["shape"], name
        assert ds.meta.sync_offset == facts[name]["sync_offset"], name
        total, per_frame = inline_ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
        assert_close(total["intensity"].data, theirs[name + "/sum"])
        assert_close(per_frame["intensity"].data, theirs[name + "/sumsig"])
