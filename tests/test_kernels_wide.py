"""Native UDFs (every case of ``NATIVE_KERNEL_CASES``) through ``ctx.run_udf`` at real sizes,
against a float64 oracle: 256x256 and 512x512 frames, 4096 frames, values whose float32 sums
round, odd sizes, ROIs, memory / raw / npy datasets, the threads and inline executors, and every
stored dtype in both byte orders. Tolerances and their reasoning: ``tests/kernel_oracle.py``."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_oracle import (
    NATIVE_KERNEL_CASES,
    check_kernel_against_f64,
    kernel_oracle,
    load,
    random_values,
)

#: stored dtypes in both byte orders (one-byte ones have none)
EVERY_DTYPE = [
    order + code
    for code in ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8", "c8", "c16"]
    for order in (["|"] if code[1:] == "1" else ["<", ">"])
]


def _roi(rng: np.random.Generator, nav: tuple[int, ...], fraction: float) -> np.ndarray:
    return rng.random(nav) < fraction


def test_uint16_256x256_4096_frames(contexts, tmp_path):
    """4096 frames of 256x256 uint16 over the whole range (512 MiB): per-pixel float32 sums
    pass 2**24 and round."""
    data = random_values(np.random.default_rng(1), (64, 64, 256, 256), "u2")
    threads, inline = contexts["threads"], contexts["inline"]
    runs = [
        ("memory, threads", threads, load(threads, "memory", data, 2, tmp_path)),
        ("raw, inline", inline, load(inline, "raw", data, 2, tmp_path, num_partitions=3)),
        ("npy, threads", threads, load(threads, "npy", data, 2, tmp_path, num_partitions=5)),
    ]
    worst = check_kernel_against_f64(runs, data, 2)
    assert worst["SumUDF"] > 0, "the float32 sums did not round: the data prove less"
    roi = _roi(np.random.default_rng(2), data.shape[:2], 0.7)
    check_kernel_against_f64(runs[:2], data, 2, roi=roi)


def test_512x512_frames(contexts, tmp_path):
    rng = np.random.default_rng(3)
    threads, inline = contexts["threads"], contexts["inline"]
    data = random_values(rng, (16, 32, 512, 512), "f4")
    runs = [
        ("memory, threads", threads, load(threads, "memory", data, 2, tmp_path)),
        ("npy, inline", inline, load(inline, "npy", data, 2, tmp_path, num_partitions=3)),
    ]
    check_kernel_against_f64(runs, data, 2, roi=_roi(rng, data.shape[:2], 0.8))
    # float64 input: a 2 MiB frame is two tiles of 131072 pixels.
    check_kernel_against_f64(runs[:1], data, 2, preferred=np.float64)


def test_odd_sizes(contexts, tmp_path):
    """Frames of 250x263 pixels (not a multiple of 8, 16 or 64), 2 or 3 frames per tile;
    frames of 100x100, 26 per tile (3 full groups of 8 rows and 2); 600x601 frames cut into
    two tiles; odd frame counts, ROIs and partition counts."""
    rng = np.random.default_rng(4)
    threads, inline = contexts["threads"], contexts["inline"]
    for nav, sig, dtype in [
        ((31, 33), (250, 263), "u2"),
        ((29, 31), (250, 263), "f4"),
        ((37, 41), (100, 100), "u2"),
        ((7, 5), (600, 601), "f4"),
    ]:
        data = random_values(rng, nav + sig, dtype)
        runs = [
            ("memory, threads", threads, load(threads, "memory", data, 2, tmp_path)),
            ("raw, inline", inline, load(inline, "raw", data, 2, tmp_path, num_partitions=5)),
        ]
        check_kernel_against_f64(runs, data, 2, roi=_roi(rng, nav, 0.8))


@pytest.mark.parametrize("dtype", EVERY_DTYPE)
def test_every_dtype_and_byte_order(contexts, tmp_path, dtype):
    """Each stored dtype and byte order at 256x256, from memory and from a raw file."""
    rng = np.random.default_rng(5)
    data = random_values(rng, (3, 7, 256, 256), dtype)
    threads, inline = contexts["threads"], contexts["inline"]
    runs = [
        ("memory, threads", threads, load(threads, "memory", data, 2, tmp_path)),
        ("raw, inline", inline, load(inline, "raw", data, 2, tmp_path, num_partitions=2)),
    ]
    check_kernel_against_f64(runs, data, 2)
    if np.dtype(dtype).kind in "ui":
        check_kernel_against_f64(runs[:1], data, 2, preferred=np.float64)
    if np.dtype(dtype).kind != "c":
        # A UDF may prefer complex input: real data are converted before the kernel.
        check_kernel_against_f64(runs[1:], data, 2, preferred=np.complex64)


def test_tolerance_sees_one_frame_missing_of_4096():
    """The oracle of data with one frame zeroed, judged by the tolerance of the full data: the
    missing frame must show at most pixels, or a kernel that skips a frame would pass."""
    data = random_values(np.random.default_rng(7), (4096, 32, 32), "u2")
    missing = data.copy()
    missing[1234] = 0
    in_dtype = np.dtype(np.float32)
    want = kernel_oracle(data, 2, None, in_dtype, NATIVE_KERNEL_CASES)
    got = kernel_oracle(missing, 2, None, in_dtype, NATIVE_KERNEL_CASES)
    for case, [(w, tol)], [(g, _)] in zip(NATIVE_KERNEL_CASES, want, got, strict=True):
        seen = int(np.count_nonzero(np.abs(g - w) > tol))
        assert seen >= (900 if case.name == "SumUDF" else 1), (case.name, seen, w.size)


@pytest.mark.slow
def test_slow_512x512_4096_frames(contexts, tmp_path):
    """2 GiB of uint16 and 1 GiB of float32."""
    rng = np.random.default_rng(6)
    threads, inline = contexts["threads"], contexts["inline"]
    data = random_values(rng, (64, 64, 512, 512), "u2")
    runs = [
        ("raw, threads", threads, load(threads, "raw", data, 2, tmp_path)),
        ("npy, inline", inline, load(inline, "npy", data, 2, tmp_path)),
    ]
    check_kernel_against_f64(runs, data, 2, roi=_roi(rng, data.shape[:2], 0.9))
    del runs, data
    data = random_values(rng, (4096, 256, 256), "f4")
    runs = [("memory, threads", threads, load(threads, "memory", data, 2, tmp_path))]
    check_kernel_against_f64(runs, data, 2)
