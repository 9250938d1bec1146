"""The GUI's analyses (ferrotem.gui.analyses) through the message layer: every analysis type
streams its channels partition by partition, and the final channels equal a float64 numpy
oracle and the same analysis run through the Python API; the session keeps ALL channels of
the complete result; bad parameters are refused naming the parameter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.analyses import ANALYSES
from ferrotem.gui.messages import Session, stream_run
from ferrotem.gui.protocol import ProtocolError
from helpers.gui import NAV, RING, SIG, ring_oracle, write_raw
from hypothesis import given, settings
from hypothesis import strategies as st

Oracle = Callable[[np.ndarray], dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gui-analyses")
    write_raw(root / "scan.raw")
    return root.resolve()


@pytest.fixture(scope="module")
def data(root: Path) -> np.ndarray:
    return np.fromfile(root / "scan.raw", np.uint16).reshape(NAV + SIG).astype(np.float64)


@pytest.fixture(scope="module", params=["inline", "threads"])
def ctx(request: pytest.FixtureRequest) -> Iterator[Context]:
    ctx = Context.make_with(request.param) if request.param == "inline" else (
        Context.make_with("threads", cpus=2)
    )  # fmt: skip
    yield ctx
    ctx.close()


def _session(ctx: Context, root: Path) -> tuple[Session, str]:
    session = Session(ctx, root)
    params = {"path": "scan.raw", "nav_shape": list(NAV), "sig_shape": list(SIG),
              "dtype": "uint16", "num_partitions": 3}  # fmt: skip
    reply = session.open({"filetype": "raw", "parameters": params})
    return session, reply["dataset"]


def _stream(
    ctx: Context, session: Session, ds: str, kind: str, parameters: dict[str, Any]
) -> list[tuple[dict[str, Any], np.ndarray]]:
    request = {"dataset": ds, "analysis_id": kind,
               "analysis": {"type": kind, "parameters": parameters}}  # fmt: skip
    run = session.prepare_run(request)
    frames: list[tuple[dict[str, Any], np.ndarray]] = []
    assert stream_run(ctx, run, lambda header, image: frames.append((header, image)))
    return frames


# -- numpy oracles (float64, from the definitions) -----------------------------------------------
def _grid() -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[: SIG[0], : SIG[1]]


def _disk(d: np.ndarray) -> dict[str, np.ndarray]:
    y, x = _grid()
    mask = (y - 9.3) ** 2 + (x - 7.4) ** 2 <= 3.6**2
    return {"intensity": np.einsum("...yx,yx->...", d, mask.astype(float))}


def _com(d: np.ndarray) -> dict[str, np.ndarray]:
    """Centre of mass inside the disk r = 6 around (cy, cx) = (7.5, 8.5), minus that centre."""
    y, x = _grid()
    mask = ((y - 7.5) ** 2 + (x - 8.5) ** 2 <= 36).astype(float)
    total = np.einsum("...yx,yx->...", d, mask)
    cy = np.einsum("...yx,yx->...", d, mask * y) / total - 7.5
    cx = np.einsum("...yx,yx->...", d, mask * x) / total - 8.5
    return {
        "x": cx,
        "y": cy,
        "magnitude": np.hypot(cx, cy),
        "direction": np.arctan2(cy, cx),
        "divergence": np.gradient(cy, axis=0) + np.gradient(cx, axis=1),
        "curl": np.gradient(cy, axis=1) - np.gradient(cx, axis=0),
    }


CASES: dict[str, tuple[dict[str, Any], Oracle]] = {
    "ring": (RING, lambda d: {"intensity": ring_oracle(d, **RING)}),
    "disk": ({"cx": 7.4, "cy": 9.3, "r": 3.6}, _disk),
    "point": ({"cx": 5, "cy": 11}, lambda d: {"intensity": d[..., 11, 5]}),
    # masks.rectangular includes both corners: rows 2..6, columns 3..8
    "rectangle": (
        {"x": 3, "y": 2, "width": 5, "height": 4},
        lambda d: {"intensity": d[..., 2:7, 3:9].sum(axis=(-2, -1))},
    ),
    "com": ({"cx": 8.5, "cy": 7.5, "r": 6}, _com),
    "sum": ({}, lambda d: {"intensity": d.sum(axis=(0, 1)), "mean": d.mean(axis=(0, 1))}),
    "std": ({}, lambda d: {"intensity": d.std(axis=(0, 1))}),
    "pick": ({"x": 7, "y": 4}, lambda d: {"intensity": d[4, 7]}),
    "sumsig": ({}, lambda d: {"intensity": d.sum(axis=(-2, -1))}),
}


def test_every_analysis_type_is_tested() -> None:
    assert set(CASES) | {"radial_fourier"} == set(ANALYSES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_channels_stream_in_and_match_numpy(
    ctx: Context, root: Path, data: np.ndarray, kind: str
) -> None:
    session, ds = _session(ctx, root)
    parameters, oracle = CASES[kind]
    frames = _stream(ctx, session, ds, kind, parameters)
    expected = oracle(data)
    names = frames[-1][0]["channels"]
    assert sorted(names) == sorted(expected)
    per_step = len(names)
    steps = [frames[i][0] for i in range(0, len(frames), per_step)]
    progress = [h["progress"] for h in steps]
    assert progress == sorted(progress) and progress[-1] == 1.0
    if kind != "pick":  # a pick reads one frame: one partition
        assert len(steps) == 3 and progress[0] < 1.0
    assert [h["final"] for h in steps] == [False] * (len(steps) - 1) + [True]
    final = {h["channel"]: image for h, image in frames[-per_step:]}
    for name, want in expected.items():
        np.testing.assert_allclose(final[name], want, rtol=1e-4, atol=1e-6, err_msg=name)
    # the session keeps every channel of the complete result, for downloads and notebooks
    record = session.results[kind]
    assert record.analysis == {"type": kind, "parameters": parameters}
    assert sorted(record.channels) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(record.channels[name], want, rtol=1e-4, atol=1e-6)


def _api(ctx: Context, ds: Any, kind: str) -> dict[str, np.ndarray]:
    """The same analyses through the LiberTEM-style API (Context.create_*_analysis + run)."""
    if kind == "ring":
        result = ctx.run(ctx.create_ring_analysis(ds, **RING))
        return {"intensity": result.intensity.raw_data}
    if kind == "com":
        result = ctx.run(ctx.create_com_analysis(ds, cx=8.5, cy=7.5, mask_radius=6))
        names = ("x", "y", "magnitude", "divergence", "curl")
        return {k: result[k].raw_data for k in names}
    if kind == "radial_fourier":
        result = ctx.run(ctx.create_radial_fourier_analysis(ds, cx=8, cy=7, ri=1, ro=7,
                                                             n_bins=2, max_order=3))  # fmt: skip
        return {k: result[k].raw_data for k in result.keys()
                if k.startswith(("dominant_", "absolute_"))}  # fmt: skip
    if kind == "sum":
        return {"intensity": ctx.run(ctx.create_sum_analysis(ds)).intensity.raw_data}
    if kind == "pick":
        return {"intensity": ctx.run(ctx.create_pick_analysis(ds, x=7, y=4)).intensity.raw_data}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["ring", "com", "radial_fourier", "sum", "pick"])
def test_final_channels_equal_the_python_api(ctx: Context, root: Path, kind: str) -> None:
    session, ds = _session(ctx, root)
    parameters = {
        "ring": RING,
        "com": {"cx": 8.5, "cy": 7.5, "r": 6},
        "radial_fourier": {"cx": 8, "cy": 7, "ri": 1, "ro": 7, "n_bins": 2, "max_order": 3},
        "sum": {},
        "pick": {"x": 7, "y": 4},
    }[kind]
    _stream(ctx, session, ds, kind, parameters)
    got = session.results[kind].channels
    want = _api(ctx, session.datasets[ds], kind)
    assert set(want) <= set(got)
    if kind == "radial_fourier":
        assert set(got) == set(want) and len(got) == 2 * (1 + 4)  # dominant + 4 orders per bin
    for name, image in want.items():
        np.testing.assert_allclose(got[name], image, rtol=1e-5, atol=1e-6, err_msg=name)


def test_radial_fourier_order_zero_is_the_ring_sum(root: Path, data: np.ndarray) -> None:
    """Order 0 of one bin covering the whole frame is each frame's total (all weights 1)."""
    ctx = Context.make_with("inline")
    session, ds = _session(ctx, root)
    frames = _stream(ctx, session, ds, "radial_fourier", {"ri": 0, "ro": 40, "max_order": 2})
    final = {h["channel"]: a for h, a in frames if h["final"]}
    np.testing.assert_allclose(final["absolute_0_0"], data.sum(axis=(-2, -1)), rtol=1e-5)


@settings(max_examples=12, deadline=None)
@given(
    x=st.integers(0, NAV[1] - 1),
    y=st.integers(0, NAV[0] - 1),
    width=st.integers(1, NAV[1]),
    height=st.integers(1, NAV[0]),
    kind=st.sampled_from(["sum", "std"]),
)
def test_scan_roi_restricts_the_frame_analyses(
    root: Path, data: np.ndarray, x: int, y: int, width: int, height: int, kind: str
) -> None:
    """A rectangle on the scan view restricts the mean / std frame to the scan positions
    masks.rectangular selects (both corners included, clipped to the scan)."""
    ctx = Context.make_with("inline")
    session, ds = _session(ctx, root)
    roi = {"shape": "rect", "x": x, "y": y, "width": width, "height": height}
    frames = _stream(ctx, session, ds, kind, {"roi": roi})
    final = {h["channel"]: a for h, a in frames if h["final"]}
    inside = data[y : y + height + 1, x : x + width + 1].reshape((-1, *SIG))
    if kind == "sum":
        np.testing.assert_allclose(final["mean"], inside.mean(axis=0), rtol=1e-5)
    else:
        np.testing.assert_allclose(final["intensity"], inside.std(axis=0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "parameters", "param"),
    [
        ("ring", {"ri": 5, "ro": 2}, "ri"),
        ("ring", {"cx": "left"}, "cx"),
        ("disk", {"r": -1}, "r"),
        ("com", {"r": -2}, "r"),
        ("com", {"ri": 3}, "r"),  # an annulus needs a finite outer radius
        ("rectangle", {"x": 1, "y": 1, "width": 0, "height": 3}, "width"),
        ("rectangle", {"x": 1, "y": 1, "width": 2}, "height"),
        ("radial_fourier", {"max_order": -1}, "max_order"),
        ("pick", {"x": 99, "y": 0}, "x"),
        ("pick", {"x": 1.5, "y": 0}, "x"),
        ("sum", {"roi": {"shape": "star"}}, "roi"),
        ("sum", {"roi": {"shape": "rect", "x": 1, "y": "a", "width": 1, "height": 1}}, "roi"),
        ("std", {"roi": {"shape": "rect", "x": 50, "y": 50, "width": 1, "height": 1}}, "roi"),
        ("sum", {"cx": 3}, "cx"),  # not a parameter of sum
    ],
)
def test_bad_parameters_name_the_parameter(
    root: Path, kind: str, parameters: dict[str, Any], param: str
) -> None:
    session, ds = _session(Context.make_with("inline"), root)
    with pytest.raises(ProtocolError) as e:
        session.prepare_run({"dataset": ds, "analysis": {"type": kind, "parameters": parameters}})
    assert e.value.param == param, str(e.value)


_PREPARE_IN_THREADS = """
import threading
import numpy as np
from ferrotem.api import Context
from ferrotem.gui.analyses import build_analysis
ctx = Context.make_with("inline")
ds = ctx.load("memory", data=np.zeros((2, 2, 8, 8), np.float32))
errors = []
def prepare(kind):
    try:
        build_analysis(kind, ds, {})
    except Exception as e:
        errors.append(f"{kind}: {e}")
kinds = ["ring", "sum", "std", "disk", "com", "radial_fourier", "sumsig"] * 2
threads = [threading.Thread(target=prepare, args=(k,)) for k in kinds]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(errors)
"""


def test_analyses_prepared_on_threads_in_a_fresh_process() -> None:
    """The server prepares runs on several threads at once, first thing after start: each
    must find its Analysis class even while another thread is still importing
    ferrotem.analysis (a lookup during that import used to miss classes, about every second
    fresh process)."""
    import subprocess
    import sys

    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", _PREPARE_IN_THREADS], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        assert out.strip() == "[]", out
