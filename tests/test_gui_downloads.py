"""Downloads of a tab's results (npz, HDF5, TIFF, PNG) from a real server on a loopback port,
read back and compared with the same analysis run through the Python API; and the routes'
guards: the token, unknown tabs and analyses, another tab's session id, bad channels."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from ferrotem.api import Context
from ferrotem.gui.colormap import LUT
from ferrotem.gui.downloads import DownloadError, encode_result
from ferrotem.gui.results import CompletedResult, DatasetSpec
from helpers.gui import NAV, RING, SIG, ServerThread, write_raw
from helpers.gui_client import OPEN_RAW, ask, connect, http_get, run_to_end
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

TOKEN = "download-token-0123456789"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("downloads") / "root"
    (base / "data").mkdir(parents=True)
    write_raw(base / "data" / "scan.raw", seed=5)
    return base.resolve()


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ServerThread]:
    ctx = Context.make_with("threads", cpus=2)
    srv = ServerThread(root, TOKEN, ctx)
    yield srv
    srv.stop()
    ctx.close()


@pytest.fixture(scope="module")
def api_ring(root: Path) -> np.ndarray:
    ctx = Context.make_with("inline")
    ds = ctx.load("raw", path=str(root / "data" / "scan.raw"), nav_shape=NAV, sig_shape=SIG,
                  dtype="uint16")  # fmt: skip
    return np.asarray(ctx.run(ctx.create_ring_analysis(ds, **RING)).intensity.raw_data)


def _png_values(body: bytes) -> tuple[np.ndarray, dict[str, str]]:
    """A downloaded PNG mapped back through the colour map: each pixel's LUT index in 0..1,
    and its text chunks."""
    image = Image.open(io.BytesIO(body))
    rgb = np.asarray(image.convert("RGB"))
    # every LUT entry is distinct, so a pixel's colour names its index
    index = {tuple(c): i for i, c in enumerate(LUT.tolist())}
    idx = np.array([index[tuple(p)] for p in rgb.reshape(-1, 3).tolist()]).reshape(rgb.shape[:2])
    return idx / 255, dict(image.text)  # type: ignore[attr-defined]


def _check_png(body: bytes, expected: np.ndarray) -> None:
    scaled, text = _png_values(body)
    vmin, vmax = float(text["vmin"]), float(text["vmax"])
    np.testing.assert_allclose([vmin, vmax], [expected.min(), expected.max()], rtol=1e-6)
    # 8 bits: each pixel within half a step of its value in the range
    np.testing.assert_allclose(scaled, (expected - vmin) / (vmax - vmin), atol=0.5 / 255 + 1e-9)


def test_downloads_of_a_streamed_ring_match_the_api(
    server: ServerThread, api_ring: np.ndarray
) -> None:
    async def go() -> None:
        conn = await connect(server)
        try:
            session = await ask(conn, {"type": "session"})
            opened = await ask(conn, OPEN_RAW)
            await run_to_end(conn, opened["dataset"], {"type": "ring", "parameters": RING}, "r1")
            listed = await ask(conn, {"type": "list_results"})
            assert listed["results"] == [{"analysis_id": "r1", "kind": "ring",
                                          "dataset": opened["dataset"],
                                          "channels": ["intensity"]}]  # fmt: skip
            # the tab stays connected while it downloads (its results go when it closes)
            _check_ring_downloads(server, session["session"], api_ring)
        finally:
            conn.close()

    asyncio.run(go())


def _check_ring_downloads(server: ServerThread, sid: str, api_ring: np.ndarray) -> None:
    base = f"{server.http}/download/{sid}/r1"
    status, body, headers = http_get(f"{base}.npz?token={TOKEN}")
    assert status == 200 and 'filename="r1.npz"' in headers["Content-Disposition"]
    with np.load(io.BytesIO(body)) as npz:
        assert list(npz.files) == ["intensity"]
        np.testing.assert_array_equal(npz["intensity"], api_ring)

    status, body, _ = http_get(f"{base}.h5?token={TOKEN}")
    assert status == 200
    with h5py.File(io.BytesIO(body), "r") as f:
        np.testing.assert_array_equal(f["intensity"][()], api_ring)
        assert f.attrs["analysis_type"] == "ring"
        assert json.loads(f.attrs["analysis_parameters"]) == RING
        assert f.attrs["dataset_filetype"] == "raw"
        assert json.loads(f.attrs["dataset_parameters"]) == OPEN_RAW["parameters"]

    status, body, _ = http_get(f"{base}.tiff?token={TOKEN}")
    assert status == 200
    with tifffile.TiffFile(io.BytesIO(body)) as tif:
        image = tif.asarray()
        meta = json.loads(tif.pages[0].description)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, api_ring.astype(np.float32))
    assert meta["channel"] == "intensity" and meta["analysis"]["type"] == "ring"

    status, body, headers = http_get(f"{base}.png?channel=intensity&token={TOKEN}")
    assert status == 200 and headers["Content-Type"] == "image/png"
    _check_png(body, api_ring)


def test_download_routes_refuse_what_they_should(server: ServerThread) -> None:
    async def go() -> tuple[str, str]:
        a, b = await connect(server), await connect(server)
        try:
            sid_a = (await ask(a, {"type": "session"}))["session"]
            sid_b = (await ask(b, {"type": "session"}))["session"]
            opened = await ask(a, OPEN_RAW)
            await run_to_end(a, opened["dataset"], {"type": "sum"}, "s")
            assert sid_a != sid_b
            # while tab a is open, its result is there; another tab's id does not reach it
            ok = http_get(f"{server.http}/download/{sid_a}/s.npz?token={TOKEN}")[0]
            other = http_get(f"{server.http}/download/{sid_b}/s.npz?token={TOKEN}")
            assert ok == 200 and other[0] == 404 and b"no complete result" in other[1]
            for route in (f"/download/{sid_a}/s.npz", f"/notebook/{sid_a}/s.ipynb"):
                assert http_get(server.http + route)[0] == 403
                assert http_get(server.http + route + "?token=wrong")[0] == 403
            bad = http_get(f"{server.http}/download/{sid_a}/s.png?channel=nope&token={TOKEN}")
            assert bad[0] == 400 and b"channel" in bad[1] and b"'nope'" in bad[1]
            return sid_a, sid_b
        finally:
            a.close()
            b.close()

    sid_a, _ = asyncio.run(go())
    for route in ("/download/unknown/s.npz", "/notebook/unknown/s.ipynb",
                  f"/download/{sid_a}/missing.npz", f"/download/{sid_a}/s.exe"):  # fmt: skip
        assert http_get(f"{server.http}{route}?token={TOKEN}")[0] == 404, route
    # once the tab has closed its results are gone (the server notices the close quickly)
    for _ in range(50):
        if http_get(f"{server.http}/download/{sid_a}/s.npz?token={TOKEN}")[0] == 404:
            break
        asyncio.run(asyncio.sleep(0.1))
    else:
        pytest.fail("a closed tab's result is still served")


# -- several channels: the encoders on their own -----------------------------------------------
@pytest.fixture(scope="module")
def com_result(root: Path) -> CompletedResult:
    """A centre-of-mass result through the API: several channels, as the GUI keeps them."""
    ctx = Context.make_with("inline")
    ds = ctx.load("raw", path=str(root / "data" / "scan.raw"), nav_shape=NAV, sig_shape=SIG,
                  dtype="uint16")  # fmt: skip
    res = ctx.run(ctx.create_com_analysis(ds, cx=8.0, cy=7.5, mask_radius=5.0))
    channels = {name: np.asarray(getattr(res, name).raw_data)
                for name in ("magnitude", "x", "y", "divergence", "curl")}  # fmt: skip
    spec = DatasetSpec("raw", dict(OPEN_RAW["parameters"]))  # type: ignore[arg-type]
    analysis = {"type": "com", "parameters": {"cx": 8.0, "cy": 7.5, "r": 5.0}}
    return CompletedResult("ds1", spec, analysis, channels)


def test_every_format_holds_the_channels_of_a_multi_channel_result(
    com_result: CompletedResult,
) -> None:
    channels = com_result.channels
    with np.load(io.BytesIO(encode_result(com_result, "npz"))) as npz:
        assert sorted(npz.files) == sorted(channels)
        for name, image in channels.items():
            np.testing.assert_array_equal(npz[name], image)
    with h5py.File(io.BytesIO(encode_result(com_result, "h5")), "r") as f:
        assert sorted(f) == sorted(channels)
        for name, image in channels.items():
            np.testing.assert_array_equal(f[name][()], image)
    for name in ("x", "divergence"):
        image = tifffile.imread(io.BytesIO(encode_result(com_result, "tiff", name)))
        np.testing.assert_array_equal(image, channels[name].astype(np.float32))
        _check_png(encode_result(com_result, "png", name), channels[name])


@pytest.mark.parametrize(
    ("fmt", "channel", "status", "why"),
    [
        ("tiff", None, 400, "name one"),
        ("png", None, 400, "name one"),
        ("png", "nope", 400, "'nope'"),
        ("h5", "nope", 400, "'nope'"),
        ("npz", "nope", 400, "'nope'"),
        ("bmp", None, 404, "format"),
    ],
)
def test_bad_requests_say_why(
    com_result: CompletedResult, fmt: str, channel: str | None, status: int, why: str
) -> None:
    with pytest.raises(DownloadError) as e:
        encode_result(com_result, fmt, channel)
    assert e.value.status == status and why in str(e.value)


def test_images_need_two_dimensions_and_real_values() -> None:
    spec = DatasetSpec("raw", {})
    cube = CompletedResult("d", spec, {"type": "x"}, {"c": np.zeros((2, 3, 4))})
    with pytest.raises(DownloadError, match=r"shape \(2, 3, 4\)"):
        encode_result(cube, "tiff", "c")
    wave = CompletedResult("d", spec, {"type": "x"}, {"c": np.ones((2, 3), dtype=complex)})
    with pytest.raises(DownloadError, match="complex"):
        encode_result(wave, "png", "c")
    with np.load(io.BytesIO(encode_result(wave, "npz"))) as npz:  # npz keeps complex data
        np.testing.assert_array_equal(npz["c"], wave.channels["c"])
    line = CompletedResult("d", spec, {"type": "x"}, {"c": np.arange(5.0)})  # 1-D scans
    np.testing.assert_array_equal(tifffile.imread(io.BytesIO(encode_result(line, "tiff"))),
                                  np.arange(5.0, dtype=np.float32)[np.newaxis])  # fmt: skip


# -- any image: what is written reads back ----------------------------------------------------
@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    """1-D or 2-D images of the dtypes results come in; float ones with NaN now and then."""
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint16, np.int32]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=9))
    if np.dtype(dtype).kind == "f":
        width = 32 if dtype == np.float32 else 64
        finite = st.floats(-1e6, 1e6, width=width)
        elements = st.one_of(finite, st.just(float("nan"))) if draw(st.booleans()) else finite
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=25, deadline=None)
@given(image=images(), name=st.sampled_from(["intensity", "x", "curl"]))
def test_any_image_reads_back_from_every_format(image: np.ndarray, name: str) -> None:
    result = CompletedResult("d", DatasetSpec("raw", {"path": "a.raw"}), {"type": "t"},
                             {name: image})  # fmt: skip
    with np.load(io.BytesIO(encode_result(result, "npz"))) as npz:
        assert npz[name].dtype == image.dtype
        np.testing.assert_array_equal(npz[name], image)
    with h5py.File(io.BytesIO(encode_result(result, "h5")), "r") as f:
        np.testing.assert_array_equal(f[name][()], image)
    plane = image.reshape((1, -1)) if image.ndim == 1 else image
    tiff = tifffile.imread(io.BytesIO(encode_result(result, "tiff")))
    np.testing.assert_array_equal(tiff, plane.astype(np.float32))
    scaled, text = _png_values(encode_result(result, "png"))
    finite = np.isfinite(plane.astype(np.float64))
    assert scaled.shape == plane.shape
    if finite.any():
        vmin, vmax = float(text["vmin"]), float(text["vmax"])
        values = plane.astype(np.float64)[finite]
        assert (vmin, vmax) == (values.min(), values.max())
        expected = (values - vmin) / (vmax - vmin) if vmax > vmin else np.zeros_like(values)
        np.testing.assert_allclose(scaled[finite], expected, atol=0.5 / 255 + 1e-9)
    assert (scaled[~finite] == 0).all()  # non-finite pixels take the map's first colour
