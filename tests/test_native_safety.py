"""The Rust engine fails loudly and never crashes the interpreter: a mapped file truncated while
a run reads it raises ``TruncatedFileError`` (raw, C- and Fortran-ordered ``.npy``), and an
in-memory dataset's array cannot be written through a ferrotem call while the engine reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import make_data
from ferrotem import _core

# Run in a child interpreter without faulthandler (as a user's script would be), so that a
# SIGBUS that escapes the guard kills the child and fails the test instead of killing pytest.
TRUNCATE_MID_RUN = textwrap.dedent(
    """
    import faulthandler, random, sys, threading, time
    import numpy as np
    from ferrotem.api import Context
    from ferrotem.common.exceptions import TruncatedFileError
    from ferrotem.executor.inline import InlineJobExecutor
    from ferrotem.udf.base import UDF
    from ferrotem.udf.sum import SumUDF

    kind, path = sys.argv[1], sys.argv[2]
    N, S = 512, 64
    data = (np.arange(N * S * S, dtype=np.uint32) % 1000).astype(np.uint16).reshape(N, S, S)
    want = data.sum(axis=0, dtype=np.float64)

    def write():
        if kind == "raw":
            data.tofile(path)
        else:
            np.save(path, np.asfortranarray(data) if kind == "npy-F" else data)

    def load(ctx):
        if kind == "raw":
            return ctx.load("raw", path=path, nav_shape=(N,), sig_shape=(S, S), dtype="u2",
                            num_partitions=4)
        return ctx.load("npy", path=path, num_partitions=4)

    def cut():
        with open(path, "r+b") as f:
            f.truncate(5000)

    class CuttingSum(UDF):
        # Sums frames in Python; cuts the file to 5000 bytes at the first frame it sees.
        cut_done = False

        def get_result_buffers(self):
            return {"s": self.buffer(kind="sig", dtype="float64")}

        def process_frame(self, frame):
            if not CuttingSum.cut_done:
                CuttingSum.cut_done = True
                cut()
            self.results.s[:] += frame

        def merge(self, dest, src):
            dest.s[:] += src.s

    def check(ctx):
        # Deterministic: the Python path reads on after the cut.
        write()
        CuttingSum.cut_done = False
        try:
            ctx.run_udf(load(ctx), CuttingSum())
            raise AssertionError("a run over a file cut mid-run succeeded")
        except TruncatedFileError as e:
            assert path in str(e), e
        # Racing: the native path reads while another thread cuts the file, at a moment spread
        # over the length of a whole run.
        write()
        ds = load(ctx)
        start = time.perf_counter()
        ctx.run_udf(ds, SumUDF())
        run_time = time.perf_counter() - start
        outcomes = {"ok": 0, "truncated": 0}
        for i in range(8):
            write()
            ds = load(ctx)
            t = threading.Timer(random.uniform(0, run_time), cut)
            t.start()
            try:
                got = ctx.run_udf(ds, SumUDF())["intensity"].data
                np.testing.assert_allclose(got, want, rtol=1e-6)
                outcomes["ok"] += 1
            except TruncatedFileError as e:
                assert path in str(e), e
                outcomes["truncated"] += 1
            t.join()
            try:
                ctx.run_udf(ds, SumUDF())
                raise AssertionError("a run over a cut file succeeded")
            except TruncatedFileError:
                pass
        return outcomes

    for ctx in (Context(executor=InlineJobExecutor()), Context()):
        print(kind, "guarded", check(ctx))
        # Another SIGBUS handler installed after ferrotem's: sources read without the map.
        faulthandler.enable()
        print(kind, "faulthandler", check(ctx))
        faulthandler.disable()
        ctx.close()
    print("done")
    """
)


@pytest.mark.parametrize("kind", ["raw", "npy-C", "npy-F"])
def test_file_truncated_mid_run_raises_and_never_crashes(tmp_path, kind):
    path = tmp_path / ("data.raw" if kind == "raw" else "data.npy")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    env["FERROTEM_IO"] = "mmap"
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATE_MID_RUN, kind, str(path)],
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode} (-7 is SIGBUS)\n{proc.stdout}\n{proc.stderr}"
    )
    assert proc.stdout.rstrip().endswith("done"), proc.stdout


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1).view(np.uint8)


def test_memory_source_cannot_read_into_its_own_array():
    data = make_data(31, (6, 4, 4), "u2")
    before = data.copy()
    src = _core.DataSource.memory(_flat(data), data.dtype.str, [6], [4, 4])
    # Frame 5 into the bytes of frame 0 of the same array: Rust would hold a shared and a
    # mutable slice over the same memory.
    with pytest.raises(ValueError, match=r"data: .*written"):
        src.read(5, 1, _flat(data)[: 4 * 4 * 2], data.dtype.str)
    np.testing.assert_array_equal(data, before)
    # Into another array it reads as before.
    out = np.zeros((1, 4, 4), dtype=data.dtype)
    src.read(5, 1, _flat(out), data.dtype.str)
    np.testing.assert_array_equal(out[0], before[5])


#: the native SumUDF's declaration for float32 16x16 frames (see ferrotem.udf.native)
SUM_DECL = ("sum", {}, [("intensity", "sig", "<f4", [])])


def test_run_holds_its_array_against_writes_through_ferrotem():
    data = make_data(32, (64, 16, 16), "f4")
    before = data.copy()
    f4 = np.dtype(np.float32).str
    src = _core.DataSource.memory(_flat(data), f4, [64], [16, 16])
    sevens = np.full((1, 16, 16), 7, dtype=np.float32)
    writer = _core.DataSource.memory(_flat(sevens), f4, [1], [16, 16])
    attempts: list[object] = []

    def progress(frames: int) -> None:
        # Called from a worker while the run reads `data` without the GIL: try to overwrite
        # frame 0 of `data` with sevens through another source's read.
        # rust-numpy refuses the writable borrow of `out` while the run's read borrow lasts.
        try:
            writer.read(0, 1, _flat(data)[: 16 * 16 * 4], f4)
            attempts.append("written")
        except TypeError as e:
            attempts.append(e)

    (out,) = _core.Runner(2).run(src, [(0, 32), (32, 64)], None, f4, [SUM_DECL], progress)
    total = out["intensity"]
    assert len(attempts) == 2
    assert all(isinstance(a, TypeError) and "borrowed" in str(a) for a in attempts), attempts
    np.testing.assert_array_equal(data, before)
    np.testing.assert_allclose(total, before.sum(axis=0, dtype=np.float64).ravel(), rtol=1e-6)
    # The borrow ends with the run: now the write goes through.
    writer.read(0, 1, _flat(data)[: 16 * 16 * 4], f4)
    assert (data[0] == 7).all()
    (out,) = _core.Runner(1).run(src, [(0, 64)], None, f4, [SUM_DECL])
    total = out["intensity"]
    expected = before.copy()
    expected[0] = 7
    np.testing.assert_allclose(total, expected.sum(axis=0, dtype=np.float64).ravel(), rtol=1e-6)
