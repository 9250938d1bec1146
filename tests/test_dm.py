"""'dm' (Gatan Digital Micrograph DM3/DM4): the real files of shared/data/real/dm with their known
values, and files synthesised by tests/helpers/dm_writer.py (DM3 and DM4, both byte orders, a
thumbnail first, C and Gatan's transposed "hybrid" order, stacks of files), read back against
the numpy arrays they were written from."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close, make_data
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetException,
    InvalidDataSetParameter,
    MissingFileError,
    TruncatedFileError,
)
from ferrotem.io.dataset.dm import DMDataSet, StackedDMDataSet
from ferrotem.io.dataset.dm_single import SingleDMDataSet
from ferrotem.udf.base import UDF
from ferrotem.udf.sum import SumUDF
from ferrotem.udf.sumsigudf import SumSigUDF
from helpers.dm_writer import stored_layout, write_dm
from hypothesis import given, settings
from hypothesis import strategies as st

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "dm"
LIBERTEM_PY = Path(__file__).resolve().parents[1] / ".venv-libertem" / "bin" / "python"
if not LIBERTEM_PY.exists():
    LIBERTEM_PY = Path("/work/main/.venv-libertem/bin/python")


class CopyUDF(UDF):
    def get_preferred_input_dtype(self):
        return self.USE_NATIVE_DTYPE

    def get_result_buffers(self):
        sig = tuple(self.meta.dataset_shape.sig)
        return {"frames": self.buffer(kind="nav", extra_shape=sig, dtype=self.meta.input_dtype)}

    def process_tile(self, tile):
        self.results.frames[:] = tile


def read_back(ctx, ds, roi=None):
    return ctx.run_udf(ds, CopyUDF(), roi=roi)["frames"].data


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.parametrize("name", ["test-1.dm3", "test-1.dm4"])
def test_real_stacks(ctx, name):
    ds = ctx.load("dm", path=real(name))
    assert isinstance(ds, SingleDMDataSet)
    assert tuple(ds.shape) == (2, 2, 2) and ds.dtype == np.int16
    assert ds.meta["image"]["index"] == 1  # image 0 is the thumbnail
    data = read_back(ctx, ds)
    # known values (README): 1 ... 8, total 36
    assert data.sum() == 36 and sorted(data.ravel().tolist()) == list(range(1, 9))
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
    assert_close(total["intensity"].data, data.sum(axis=0))
    assert per_frame["intensity"].data.sum() == 36


def test_real_stacks_agree_between_dm3_and_dm4(inline_ctx):
    a = read_back(inline_ctx, inline_ctx.load("dm", path=real("test-1.dm3")))
    b = read_back(inline_ctx, inline_ctx.load("dm", path=real("test-1.dm4")))
    np.testing.assert_array_equal(a, b)


def test_real_diffraction_pattern(ctx):
    ds = ctx.load("auto", path=real("test_diffraction_pattern.dm3"))
    assert isinstance(ds, SingleDMDataSet)
    assert tuple(ds.shape) == (1, 87, 87) and ds.dtype == np.int32
    data = read_back(ctx, ds)
    assert int(data.sum()) == 9459771
    assert data[0, 0, :3].tolist() == [834, 823, 834]
    diag = {d["name"]: d["value"] for d in ds.get_diagnostics()}
    assert diag["DM version"] == "3" and diag["Stored order"] == "C"


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize(
    ("shape", "order", "dtype"),
    [
        ((3, 4, 5, 6), "hybrid", "u2"),
        ((3, 4, 5, 6), "C", "f4"),
        ((7, 5, 6), "C", "i4"),
        ((2, 3, 4, 8), "hybrid", "c8"),
    ],
)
def test_synthetic_files(ctx, tmp_path, version, little_endian, shape, order, dtype):
    data = make_data(version + len(shape), shape, dtype)
    path = tmp_path / f"s.dm{version}"
    swapped = True if (order == "C" and len(shape) == 4) else None
    write_dm(
        path,
        data,
        version=version,
        little_endian=little_endian,
        order=order,
        data_order_swapped=swapped,
    )
    ds = ctx.load("dm", path=path, num_partitions=3)
    assert tuple(ds.shape) == shape
    assert ds.dtype == np.dtype(dtype).newbyteorder("<" if little_endian else ">")
    assert ds.meta["transposed"] == (order == "hybrid")
    np.testing.assert_array_equal(read_back(ctx, ds), data)
    nav = shape[:-2]
    roi = np.random.default_rng(1).random(nav) < 0.5
    total, per_frame = ctx.run_udf(ds, [SumUDF(), SumSigUDF()], roi=roi)
    assert_close(total["intensity"].data, data[roi].sum(axis=0))
    assert_close(per_frame["intensity"].data[roi], data[roi].sum(axis=(-2, -1)))


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "u4", "f8", "c16"])
def test_every_supported_data_type(inline_ctx, tmp_path, dtype):
    data = make_data(3, (2, 3, 4, 5), dtype)
    path = tmp_path / "t.dm4"
    write_dm(path, data, order="hybrid")
    ds = inline_ctx.load("dm", path=path)
    assert ds.dtype.newbyteorder("=") == np.dtype(dtype)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)


def test_force_c_order_reads_the_stored_bytes_as_c_frames(inline_ctx, tmp_path):
    data = make_data(4, (3, 4, 5, 6), "u2")
    path = tmp_path / "h.dm4"
    write_dm(path, data, order="hybrid")
    ds = inline_ctx.load("dm", path=path, force_c_order=True)
    stored, dims = stored_layout(data, "hybrid")
    assert tuple(ds.shape) == tuple(reversed(dims))
    expected = np.frombuffer(stored, dtype="u2").reshape(tuple(reversed(dims)))
    np.testing.assert_array_equal(read_back(inline_ctx, ds), expected)


def test_spectrum_image_is_transposed_with_one_signal_axis(inline_ctx, tmp_path):
    data = make_data(5, (4, 3, 10), "f4")
    path = tmp_path / "si.dm4"
    write_dm(path, data, order="hybrid", sig_dims=1, fmt="Spectrum image")
    ds = inline_ctx.load("dm", path=path)
    assert tuple(ds.shape) == (4, 3, 10) and ds.shape.sig.dims == 1
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)


def test_shape_parameters_and_sync_offset(inline_ctx, tmp_path):
    data = make_data(6, (3, 4, 5, 6), "i2")
    flat = data.reshape(12, 30)
    for order in ("hybrid", "C"):
        path = tmp_path / f"{order}.dm4"
        write_dm(path, data, order=order, data_order_swapped=(order == "C") or None)
        ds = inline_ctx.load("dm", path=path, nav_shape=(10,), sync_offset=3)
        out = read_back(inline_ctx, ds).reshape(10, 30)
        np.testing.assert_array_equal(out[:9], flat[3:])
        assert not out[9:].any()
        ds = inline_ctx.load("dm", path=path, sync_offset=-2, sig_shape=(30,))
        out = read_back(inline_ctx, ds).reshape(12, 30)
        assert not out[:2].any()
        np.testing.assert_array_equal(out[2:], flat[:10])
        with pytest.raises(InvalidDataSetParameter, match=r"nav_shape.*at most the 12 frames"):
            inline_ctx.load("dm", path=path, nav_shape=(13,))
    # C-ordered data may be cut into frames of another size, as long as the pixels are there
    ds = inline_ctx.load("dm", path=path, nav_shape=(6,), sig_shape=(60,))
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data.reshape(6, 60))
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape.*holds 360"):
        inline_ctx.load("dm", path=path, sig_shape=(61,))
    with pytest.raises(InvalidDataSetParameter, match=r"sig_shape.*stored transposed"):
        inline_ctx.load("dm", path=tmp_path / "hybrid.dm4", nav_shape=(6,), sig_shape=(60,))


def test_dataset_index_and_several_images(inline_ctx, tmp_path):
    data = make_data(7, (3, 5, 6), "u2")
    path = tmp_path / "multi.dm3"
    write_dm(path, data, version=3, extra_images=2)
    with pytest.warns(RuntimeWarning, match=r"holds 3 images; reading image 1"):
        ds = inline_ctx.load("dm", path=path)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    ds = inline_ctx.load("dm", path=path, dataset_index=3)
    assert tuple(ds.shape) == (1, 5, 6)
    np.testing.assert_array_equal(read_back(inline_ctx, ds)[0], data[0] + 2)
    with pytest.raises(DataSetException, match=r"data type 23 \(RGBA"):
        inline_ctx.load("dm", path=path, dataset_index=0)
    with pytest.raises(InvalidDataSetParameter, match=r"dataset_index: got 4, expected 0 \.\.= 3"):
        inline_ctx.load("dm", path=path, dataset_index=4)


def test_unsupported_data_type_is_named(inline_ctx, tmp_path):
    path = tmp_path / "rgb.dm4"
    write_dm(path, np.zeros((2, 4, 4), np.uint32), data_type=8, thumbnail=False)
    with pytest.raises(DataSetException, match=r"rgb\.dm4.*data type 8 \(RGB\)"):
        inline_ctx.load("dm", path=path)


def test_bad_files_name_the_file_and_the_problem(inline_ctx, tmp_path):
    data = make_data(8, (2, 3, 4, 5), "u2")
    good = tmp_path / "good.dm4"
    write_dm(good, data, order="hybrid")
    raw = good.read_bytes()
    offset = inline_ctx.load("dm", path=good).meta["image"]["offset"]
    # cut inside the tag tree, and inside the data
    for name, cut in (("tags.dm4", 200), ("data.dm4", offset + 10)):
        bad = tmp_path / name
        bad.write_bytes(raw[:cut])
        with pytest.raises(TruncatedFileError, match=name):
            inline_ctx.load("dm", path=bad)
    # a corrupted tag tree: the first data tag's %%%% mark overwritten
    mark = raw.index(b"%%%%")
    bad = tmp_path / "mark.dm4"
    bad.write_bytes(raw[:mark] + b"%%$%" + raw[mark + 4 :])
    with pytest.raises(CorruptFileError, match=r"mark\.dm4.*%%%% mark"):
        inline_ctx.load("dm", path=bad)
    bad = tmp_path / "notdm.dm3"
    bad.write_bytes(b"\0\0\0\x07" + raw[4:])
    with pytest.raises(CorruptFileError, match=r"notdm\.dm3.*version number is 7"):
        inline_ctx.load("dm", path=bad)
    with pytest.raises(MissingFileError, match="nothere"):
        inline_ctx.load("dm", path=tmp_path / "nothere.dm4")
    with pytest.raises(InvalidDataSetParameter, match="force_c_order"):
        inline_ctx.load("dm", path=good, force_c_order="yes")


def write_stack(tmp_path, frames: np.ndarray, per_file: int = 1) -> list[str]:
    paths = []
    for i in range(0, len(frames), per_file):
        p = tmp_path / f"f{i:03d}.dm{3 + i % 2}"
        chunk = frames[i] if per_file == 1 else frames[i : i + per_file]
        write_dm(p, chunk, version=3 + i % 2, fmt="Image")
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("same_offset", [False, True])
def test_stacks_of_files(ctx, tmp_path, same_offset):
    frames = make_data(9, (6, 7, 8), "f4")
    paths = write_stack(tmp_path, frames)
    if same_offset:  # same_offset needs files alike: all DM4
        paths = []
        for i, f in enumerate(frames):
            p = tmp_path / f"s{i}.dm4"
            write_dm(p, f)
            paths.append(str(p))
    ds = ctx.load("dm", files=paths, nav_shape=(2, 3), same_offset=same_offset)
    assert isinstance(ds, StackedDMDataSet)
    assert tuple(ds.shape) == (2, 3, 7, 8)
    np.testing.assert_array_equal(read_back(ctx, ds), frames.reshape(2, 3, 7, 8))
    # positional list, as LiberTEM allows
    ds = ctx.load("dm", paths, sync_offset=1)
    out = read_back(ctx, ds)
    np.testing.assert_array_equal(out[:5], frames[1:])
    assert not out[5].any()


def test_stack_of_3d_files(inline_ctx, tmp_path):
    frames = make_data(10, (6, 4, 5), "u2")
    paths = write_stack(tmp_path, frames, per_file=3)
    ds = inline_ctx.load("dm", files=paths)
    assert tuple(ds.shape) == (6, 4, 5)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), frames)


def test_bad_stacks(inline_ctx, tmp_path):
    frames = make_data(11, (3, 4, 5), "u2")
    paths = write_stack(tmp_path, frames)
    with pytest.raises(MissingFileError, match=r"files\[3\].*gone\.dm4"):
        inline_ctx.load("dm", files=[*paths, str(tmp_path / "gone.dm4")])
    other = tmp_path / "other.dm4"
    write_dm(other, make_data(1, (4, 6), "u2"))
    with pytest.raises(DataSetException, match=r"files\[3\].*other\.dm4.*\(4, 6\)"):
        inline_ctx.load("dm", files=[*paths, str(other)])
    # same_offset trusts the first file; a shorter file is still an error naming it
    short = tmp_path / "short.dm3"
    short.write_bytes(Path(paths[0]).read_bytes()[:300])
    with pytest.raises(TruncatedFileError, match=r"short\.dm3"):
        inline_ctx.load("dm", files=[paths[0], str(short)], same_offset=True)
    with pytest.raises(InvalidDataSetParameter, match="files: got"):
        inline_ctx.load("dm", files=[])


def test_factory_pickling_and_detect(tmp_path):
    data = make_data(12, (2, 3, 4, 5), "u2")
    path = tmp_path / "p.dm4"
    write_dm(path, data, order="hybrid")
    assert isinstance(DMDataSet(path=str(path)), SingleDMDataSet)
    assert isinstance(DMDataSet(str(path)), SingleDMDataSet)
    assert isinstance(DMDataSet(files=[str(path)]), StackedDMDataSet)
    assert isinstance(DMDataSet([str(path)]), StackedDMDataSet)
    from ferrotem.executor.inline import InlineJobExecutor

    ds = DMDataSet(path=str(path)).initialize(InlineJobExecutor())
    again = pickle.loads(pickle.dumps(ds))
    assert type(again) is SingleDMDataSet and tuple(again.shape) == (2, 3, 4, 5)
    stack = DMDataSet(files=[str(path)])
    assert type(pickle.loads(pickle.dumps(stack))) is StackedDMDataSet
    params = DMDataSet.detect_params(str(path), None)
    assert params["parameters"]["nav_shape"] == (2, 3)
    assert params["parameters"]["sig_shape"] == (4, 5)
    assert DMDataSet.detect_params(str(tmp_path / "x.raw"), None) is False
    assert DMDataSet.get_supported_extensions() == {"dm3", "dm4"}


LIBERTEM_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, libertem.api as lt
    from libertem.udf.sum import SumUDF
    from libertem.udf.sumsigudf import SumSigUDF
    ctx = lt.Context.make_with("inline")
    for path, force in zip(sys.argv[1::2], sys.argv[2::2]):
        ds = ctx.load("dm", path=path, force_c_order=force == "1")
        a, b = ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
        np.save(path + ".sum.npy", a["intensity"].data)
        np.save(path + ".sumsig.npy", b["intensity"].data)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTEM_PY.exists(), reason="no LiberTEM venv")
def test_libertem_agrees_on_synthetic_files(inline_ctx, tmp_path):
    data = make_data(13, (4, 5, 6, 7), "u2")
    cases = {
        "c.dm4": dict(order="C", data_order_swapped=True),
        "c3.dm3": dict(version=3, order="C", data_order_swapped=True),
        "hybrid.dm4": dict(order="hybrid"),
    }
    args = []
    for name, kw in cases.items():
        write_dm(tmp_path / name, data, **kw)
        args += [str(tmp_path / name), "1" if name.startswith("hybrid") else "0"]
    script = tmp_path / "lt.py"
    script.write_text(LIBERTEM_SCRIPT)
    subprocess.run([str(LIBERTEM_PY), str(script), *args], check=True, timeout=300)
    for name in cases:
        force = name.startswith("hybrid")
        ds = inline_ctx.load("dm", path=tmp_path / name, force_c_order=force)
        a, b = inline_ctx.run_udf(ds, [SumUDF(), SumSigUDF()])
        assert_close(a["intensity"].data, np.load(tmp_path / f"{name}.sum.npy"))
        assert_close(b["intensity"].data, np.load(tmp_path / f"{name}.sumsig.npy"))
    # and the hybrid file, read by default, is the data itself
    ds = inline_ctx.load("dm", path=tmp_path / "hybrid.dm4")
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    assert sys.version_info >= (3, 10)


@pytest.mark.parametrize("version", [3, 4])
def test_auto_detects_dm_by_content(inline_ctx, tmp_path, version):
    data = make_data(14, (3, 4, 6), "u2")
    path = tmp_path / "scan.dat"  # the extension says nothing: the header decides
    write_dm(path, data, version=version, little_endian=False)
    ds = inline_ctx.load("auto", path=str(path))
    assert isinstance(ds, SingleDMDataSet)
    np.testing.assert_array_equal(read_back(inline_ctx, ds), data)
    from ferrotem.io.dataset import detect

    assert detect(str(path))["type"] == "dm"
    # a file that starts like a DM header but is not one is not taken for one
    (tmp_path / "x.bin").write_bytes(b"\0\0\0\x04" + b"\xff" * 60)
    assert detect(str(tmp_path / "x.bin")) == {}


@given(
    nav=st.lists(st.integers(1, 5), min_size=1, max_size=2).map(tuple),
    sig=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    dtype=st.sampled_from(["u1", "i2", "u4", "f4", "f8"]),
    layout=st.sampled_from(["hybrid", "C"]),
    version=st.sampled_from([3, 4]),
    little_endian=st.booleans(),
    partitions=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=25)
def test_any_shape_and_layout_reads_back(
    contexts, tmp_path_factory, nav, sig, dtype, layout, version, little_endian, partitions, seed
):
    ctx = contexts["inline"]
    shape = nav + sig
    # 2-D nav + 2-D sig is 4-D: hybrid by default, C when tagged; 3-D data is a C stack
    if len(shape) == 3:
        layout = "C"
    data = make_data(seed, shape, dtype)
    path = tmp_path_factory.mktemp("h") / f"x.dm{version}"
    swapped = True if (layout == "C" and len(shape) == 4) else None
    write_dm(
        path,
        data,
        version=version,
        little_endian=little_endian,
        order=layout,
        data_order_swapped=swapped,
        fmt="Image",
    )
    n = int(np.prod(nav))
    ds = ctx.load("dm", path=path, num_partitions=min(partitions, n))
    assert tuple(ds.shape) == shape
    np.testing.assert_array_equal(read_back(ctx, ds), data)
    roi = np.random.default_rng(seed).random(nav) < 0.5
    total = ctx.run_udf(ds, SumUDF(), roi=roi)["intensity"].data
    assert_close(total, data[roi].sum(axis=0))
