"""The GUI server's message layer without a server: the wire format, the requests a session
answers, and the partition-by-partition stream of a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.messages import Session, stream_run
from ferrotem.gui.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    decode_binary_frame,
    encode_binary_frame,
    parse_request,
)
from helpers.gui import NAV, RING, SIG, ring_oracle, write_raw
from hypothesis import given, settings
from hypothesis import strategies as st


# -- wire format --------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(
        ["uint8", "int16", "uint16", "int32", "float32", "float64", "bool", "int64", ">f4"]
    ),
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
    run=st.integers(0, 10**6),
)
def test_binary_frame_round_trip(dtype: str, shape: list[int], run: int) -> None:
    rng = np.random.default_rng(run)
    array = (rng.random(shape) * 100).astype(dtype)
    frame = encode_binary_frame({"run": run, "kind": "ring"}, array)
    (n,) = np.frombuffer(frame[:4], "<u4")
    assert (4 + n) % 8 == 0  # the array starts 8-byte aligned: a typed array views it in place
    header, back = decode_binary_frame(frame)
    assert header["run"] == run and header["kind"] == "ring" and header["shape"] == shape
    np.testing.assert_array_equal(back, array)
    assert len(frame) == 4 + n + back.nbytes  # raw bytes, no base64


def test_complex_results_are_refused() -> None:
    with pytest.raises(ProtocolError, match="complex"):
        encode_binary_frame({}, np.ones(3, complex))


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("{not json", "bad JSON"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
        ("{}", "type"),
        ('{"type": 3}', "type"),
        (b"\x00\x01", "binary"),
        (json.dumps({"type": "ping", "pad": "x" * MAX_MESSAGE_BYTES}), "limit"),
    ],
)
def test_bad_requests_are_refused(message: str | bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        parse_request(message)


def test_good_request_parses() -> None:
    assert parse_request('{"type": "ping", "id": 4}') == {"type": "ping", "id": 4}


# -- the session --------------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    write_raw(tmp_path / "data" / "scan.raw")
    np.save(
        tmp_path / "data" / "frames.npy",
        np.arange(4 * 5 * 6 * 7, dtype=np.float32).reshape(4, 5, 6, 7),
    )
    return tmp_path.resolve()


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context.make_with("inline")


def _open_raw(session: Session, **overrides: object) -> dict:
    params = {"path": "data/scan.raw", "nav_shape": list(NAV), "sig_shape": list(SIG),
              "dtype": "uint16", "num_partitions": 4, **overrides}  # fmt: skip
    return session.open({"type": "open", "filetype": "raw", "parameters": params})


def test_list_dir(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    top = session.list_dir({"path": ""})
    assert top["path"] == "" and top["parent"] is None
    assert top["entries"] == [{"name": "data", "kind": "dir", "size": None}]
    sub = session.list_dir({"path": "data"})
    assert sub["parent"] == ""
    sizes = {e["name"]: e["size"] for e in sub["entries"]}
    assert sizes["scan.raw"] == np.prod(NAV + SIG) * 2
    with pytest.raises(ProtocolError, match="outside the root"):
        session.list_dir({"path": ".."})
    with pytest.raises(ProtocolError, match="not a directory"):
        session.list_dir({"path": "data/scan.raw"})


def test_symlinks_out_of_the_root_are_hidden(root: Path, ctx: Context, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (root / "escape").symlink_to(outside)
    names = [e["name"] for e in Session(ctx, root).list_dir({"path": ""})["entries"]]
    assert names == ["data"]


def test_detect(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    npy = session.detect({"path": "data/frames.npy"})
    assert npy["filetype"] == "npy" and npy["parameters"]["path"] == "data/frames.npy"
    raw = session.detect({"path": "data/scan.raw"})  # raw files carry no signature
    assert raw["filetype"] is None and raw["message"]
    with pytest.raises(ProtocolError, match="absolute"):
        session.detect({"path": "/etc/passwd"})


def test_open_names_the_wrong_parameter(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    ok = _open_raw(session)
    assert ok["type"] == "opened" and ok["nav_shape"] == list(NAV) and ok["dtype"] == "uint16"
    bad = _open_raw(session, dtype="not-a-dtype")
    assert bad["type"] == "error" and bad["param"] == "dtype" and "not-a-dtype" in bad["message"]
    bad = _open_raw(session, nav_shape=[-1, 3])
    assert bad["type"] == "error" and bad["param"] == "nav_shape"
    with pytest.raises(ProtocolError, match="outside the root"):
        _open_raw(session, path="../../etc/passwd")
    with pytest.raises(ProtocolError, match="filetype"):
        session.open({"filetype": "memory", "parameters": {}})
    with pytest.raises(ProtocolError, match="outside the root"):
        _open_raw(session, gain_map_path="../../etc/passwd")
    with pytest.raises(ProtocolError) as e:  # a file parameter the GUI does not know
        _open_raw(session, dark_file="/etc/passwd")
    assert e.value.param == "dark_file"


def test_open_auto_resolves_the_format_and_refuses_what_it_cannot_confine(
    root: Path, ctx: Context
) -> None:
    session = Session(ctx, root)
    reply = session.open({"filetype": "auto", "parameters": {"path": "data/frames.npy"}})
    assert reply["type"] == "opened" and reply["filetype"] == "npy"
    assert reply["nav_shape"] == [4, 5] and reply["sig_shape"] == [6, 7]
    reply = session.open({"filetype": "auto", "parameters": {"path": "data/scan.raw"}})
    assert reply["type"] == "error" and reply["param"] == "filetype"  # raw: no signature
    # raw_csr opens (its descriptor's files are confined); a raw file is no descriptor
    reply = session.open({"filetype": "raw_csr", "parameters": {"path": "data/scan.raw"}})
    assert reply["type"] == "error" and reply["param"] == "path", reply


def test_hdf5_internal_path_is_not_a_file(root: Path, ctx: Context) -> None:
    h5py = pytest.importorskip("h5py")
    data = np.arange(3 * 4 * 5 * 6, dtype=np.uint16).reshape(3, 4, 5, 6)
    with h5py.File(root / "data" / "scan.h5", "w") as f:
        f.create_dataset("entry/data", data=data)
    session = Session(ctx, root)
    found = session.detect({"path": "data/scan.h5"})
    assert found["filetype"] == "hdf5"
    params = {"path": "data/scan.h5", "ds_path": "/entry/data"}
    reply = session.open({"filetype": "hdf5", "parameters": params})
    assert reply["type"] == "opened" and reply["nav_shape"] == [3, 4], reply


def test_prepare_run_refuses_bad_analyses(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    ds = _open_raw(session)["dataset"]
    with pytest.raises(ProtocolError, match="analysis type"):
        session.prepare_run({"dataset": ds, "analysis": {"type": "rm -rf /"}})
    with pytest.raises(ProtocolError, match="dataset"):
        session.prepare_run({"dataset": "ds999", "analysis": {"type": "ring"}})
    with pytest.raises(ProtocolError) as e:
        session.prepare_run(
            {"dataset": ds, "analysis": {"type": "ring", "parameters": {"ri": 5, "ro": 2}}}
        )
    assert e.value.param in ("ri", "ro")


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_stream_run_matches_numpy(root: Path, executor: str) -> None:
    ctx = Context.make_with(executor)
    try:
        session = Session(ctx, root)
        ds = _open_raw(session)["dataset"]
        run = session.prepare_run({"dataset": ds, "analysis": {"type": "ring", "parameters": RING}})
        frames: list[tuple[dict, np.ndarray]] = []
        assert stream_run(ctx, run, lambda h, a: frames.append((h, a)))
    finally:
        ctx.close()
    assert len(frames) == 4  # one per partition
    progress = [h["progress"] for h, _ in frames]
    assert progress == sorted(progress) and progress[-1] == 1.0 and progress[0] < 1.0
    assert [h["final"] for h, _ in frames] == [False, False, False, True]
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    np.testing.assert_allclose(frames[-1][1], ring_oracle(data, **RING), rtol=1e-6)


def _disk_oracle(data: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    y, x = np.mgrid[: data.shape[-2], : data.shape[-1]]
    mask = (y - cy) ** 2 + (x - cx) ** 2 <= r**2
    assert 0 < mask.sum() < mask.size
    return np.einsum("...yx,yx->...", data.astype(np.float64), mask.astype(np.float64))


@pytest.mark.parametrize(
    ("kind", "parameters", "oracle"),
    [
        ("disk", {"cx": 7.4, "cy": 9.3, "r": 3.6}, lambda d: _disk_oracle(d, 7.4, 9.3, 3.6)),
        ("point", {"cx": 5, "cy": 11}, lambda d: d[..., 11, 5].astype(np.float64)),
    ],
)
def test_stream_run_disk_and_point(
    root: Path, ctx: Context, kind: str, parameters: dict, oracle: object
) -> None:
    session = Session(ctx, root)
    ds = _open_raw(session)["dataset"]
    run = session.prepare_run({"dataset": ds, "analysis": {"type": kind, "parameters": parameters}})
    frames: list[np.ndarray] = []
    assert stream_run(ctx, run, lambda h, a: frames.append(a))
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    np.testing.assert_allclose(frames[-1], oracle(data), rtol=1e-6)  # type: ignore[operator]


def test_stream_run_sum(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    ds = _open_raw(session)["dataset"]
    run = session.prepare_run({"dataset": ds, "analysis": {"type": "sum"}})
    frames: dict[str, np.ndarray] = {}
    stream_run(ctx, run, lambda h, a: frames.__setitem__(h["channel"], a))
    data = np.fromfile(root / "data" / "scan.raw", np.uint16).reshape(NAV + SIG)
    total = data.sum(axis=(0, 1), dtype=np.float64)
    np.testing.assert_allclose(frames["intensity"], total, rtol=1e-6)
    np.testing.assert_allclose(frames["mean"], total / np.prod(NAV), rtol=1e-6)


def test_cancelled_run_stops_after_the_current_partition(root: Path, ctx: Context) -> None:
    session = Session(ctx, root)
    ds = _open_raw(session)["dataset"]
    run = session.prepare_run({"dataset": ds, "analysis": {"type": "ring", "parameters": RING}})
    frames: list[dict] = []

    def emit(header: dict, _: np.ndarray) -> None:
        frames.append(header)
        run.cancelled.set()  # a newer request arrives after the first partition

    assert stream_run(ctx, run, emit) is False
    assert len(frames) == 1 and not frames[0]["final"]


def test_a_finished_run_is_remembered_with_its_dataset_spec(tmp_path: Path) -> None:
    """After a complete run the session holds the final image (equal to the oracle), the
    analysis request and how the dataset was opened; closing the dataset forgets both."""
    data = write_raw(tmp_path / "scan.raw")
    ctx = Context.make_with("inline")
    session = Session(ctx, tmp_path)
    params = {"path": "scan.raw", "nav_shape": list(NAV), "sig_shape": list(SIG), "dtype": "uint16"}
    ds_id = session.open({"filetype": "raw", "parameters": params})["dataset"]
    request = {
        "dataset": ds_id,
        "analysis_id": "a1",
        "analysis": {"type": "ring", "parameters": RING},
    }
    run = session.prepare_run(request)
    assert stream_run(ctx, run, lambda header, image: None)
    record = session.results["a1"]
    assert record.dataset.filetype == "raw" and record.dataset.parameters == params
    assert record.analysis == {"type": "ring", "parameters": RING}
    np.testing.assert_allclose(record.channels["intensity"], ring_oracle(data, **RING), rtol=1e-6)
    session.close_dataset({"dataset": ds_id})
    assert session.results == {} and session.dataset_specs == {}
