"""The web GUI keeps a dataset's *other* files inside ``--root`` too: HDF5 external links,
virtual datasets and external raw storage, Arina's data files, the Merlin files gathered beside
the chosen one, and raw_csr's descriptor. Each hostile file lies under a temporary root and
points at a file outside it with known content; the same file pointing inside the root still
opens, and a sum over it through the message layer matches numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.confine import check_after_load
from ferrotem.gui.messages import Session, stream_run
from ferrotem.gui.protocol import ProtocolError
from ferrotem.gui.security import PathOutsideRoot
from helpers.empad_writer import write_empad
from helpers.mib_writer import write_acquisition
from helpers.mrc_writer import write_mrc
from helpers.raw_csr_writer import write_dense_as_csr

h5py = pytest.importorskip("h5py")

#: the secret outside the root: frames whose values no file inside the root holds
SECRET = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(6, 4, 5) + 1000


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context.make_with("inline")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``(root, outside)``: an empty root and, beside it, a folder with the secret as HDF5
    (``secret.h5:/data``, ``secret.h5:/grp/data``) and as raw bytes (``secret.bin``)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = SECRET
        f["grp/data"] = SECRET
    SECRET.tofile(outside / "secret.bin")
    return root.resolve(), outside.resolve()


def _inside_copy(root: Path) -> np.ndarray:
    """Data like the secret's, stored inside the root at ``sub/real.h5:/data``."""
    data = SECRET - 1000
    with h5py.File(root / "sub" / "real.h5", "w") as f:
        f["data"] = data
    return data


def _open(session: Session, filetype: str, **params: Any) -> dict[str, Any]:
    return session.open({"filetype": filetype, "parameters": params})


def _refused(reply: dict[str, Any], param: str, names: str) -> None:
    assert reply["type"] == "error", reply
    assert reply["param"] == param, reply
    assert "outside the root" in reply["message"] or "does not exist" in reply["message"]
    assert names in reply["message"], reply["message"]


def _sum_via_gui(ctx: Context, session: Session, ds_id: str) -> np.ndarray:
    run = session.prepare_run({"dataset": ds_id, "analysis": {"type": "sum"}})
    images: dict[str, np.ndarray] = {}
    assert stream_run(ctx, run, lambda h, a: images.__setitem__(h["channel"], a))
    return images["intensity"]


def _opens_and_sums(ctx: Context, session: Session, reply: dict[str, Any], data: np.ndarray):
    assert reply["type"] == "opened", reply
    total = data.reshape((-1, *data.shape[-2:])).sum(axis=0, dtype=np.float64)
    np.testing.assert_allclose(_sum_via_gui(ctx, session, reply["dataset"]), total, rtol=1e-6)


# -- HDF5 external links ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("link_at", "target_path", "ds_path"),
    [
        ("entry/data", "/data", "/entry/data"),  # the dataset itself is the link
        ("entry", "/grp", "/entry/data"),  # a group on the way is the link
    ],
)
def test_hdf5_external_link_out_of_the_root_is_refused(
    tree: tuple[Path, Path], ctx: Context, link_at: str, target_path: str, ds_path: str
) -> None:
    root, outside = tree
    with h5py.File(root / "linked.h5", "w") as f:
        f[link_at] = h5py.ExternalLink("../outside/secret.h5", target_path)
    session = Session(ctx, root)
    _refused(_open(session, "hdf5", path="linked.h5", ds_path=ds_path), "ds_path", "secret.h5")
    # the same link spelled as an absolute path
    with h5py.File(root / "absolute.h5", "w") as f:
        f[link_at] = h5py.ExternalLink(str(outside / "secret.h5"), target_path)
    _refused(_open(session, "hdf5", path="absolute.h5", ds_path=ds_path), "ds_path", "secret.h5")
    assert not session.datasets


def test_hdf5_links_through_symlinks_soft_links_and_missing_files_are_refused(
    tree: tuple[Path, Path], ctx: Context
) -> None:
    root, outside = tree
    (root / "sub" / "innocent.h5").symlink_to(outside / "secret.h5")
    with h5py.File(root / "via_symlink.h5", "w") as f:
        f["data"] = h5py.ExternalLink("sub/innocent.h5", "/data")
    with h5py.File(root / "via_soft.h5", "w") as f:
        f["ext"] = h5py.ExternalLink("../outside/secret.h5", "/grp")
        f["data"] = h5py.SoftLink("/ext/data")
    with h5py.File(root / "missing.h5", "w") as f:
        # HDF5 would go on to look for it in the working directory
        f["data"] = h5py.ExternalLink("nowhere.h5", "/data")
    session = Session(ctx, root)
    _refused(_open(session, "hdf5", path="via_symlink.h5", ds_path="/data"), "ds_path", "innocent")
    _refused(_open(session, "hdf5", path="via_soft.h5", ds_path="/data"), "ds_path", "secret.h5")
    _refused(_open(session, "hdf5", path="missing.h5", ds_path="/data"), "ds_path", "nowhere.h5")
    # HDF5 reads "." as "this group": the walk does too, so it cannot hide a link
    _refused(_open(session, "hdf5", path="via_soft.h5", ds_path="/./ext/./data"), "ds_path",
             "secret.h5")  # fmt: skip
    # a linked file inside the root that is no HDF5 file: refused, not a crash
    (root / "sub" / "junk.h5").write_bytes(b"not hdf5" * 100)
    with h5py.File(root / "to_junk.h5", "w") as f:
        f["data"] = h5py.ExternalLink("sub/junk.h5", "/data")
    reply = _open(session, "hdf5", path="to_junk.h5", ds_path="/data")
    assert reply["type"] == "error" and reply["param"] == "ds_path"
    assert "could not be checked" in reply["message"], reply


def test_hdf5_search_prefixes_in_the_environment_refuse_links(
    tree: tuple[Path, Path], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = tree
    _inside_copy(root)
    with h5py.File(root / "linked.h5", "w") as f:
        f["data"] = h5py.ExternalLink("sub/real.h5", "/data")
    monkeypatch.setenv("HDF5_EXT_PREFIX", str(root.parent / "outside"))
    reply = _open(Session(ctx, root), "hdf5", path="linked.h5", ds_path="/data")
    assert reply["type"] == "error" and "HDF5_EXT_PREFIX" in reply["message"], reply


def test_hdf5_external_link_inside_the_root_opens(tree: tuple[Path, Path], ctx: Context) -> None:
    root, _ = tree
    data = _inside_copy(root)
    with h5py.File(root / "linked.h5", "w") as f:
        f["entry/data"] = h5py.ExternalLink("sub/real.h5", "/data")
        f["soft"] = h5py.SoftLink("/entry/data")
    session = Session(ctx, root)
    _opens_and_sums(ctx, session, _open(session, "hdf5", path="linked.h5", ds_path="/entry/data"),
                    data)  # fmt: skip
    _opens_and_sums(ctx, session, _open(session, "hdf5", path="linked.h5", ds_path="/soft"), data)


# -- HDF5 virtual datasets and external raw storage ---------------------------------------------
def _write_vds(path: Path, source_file: str) -> None:
    layout = h5py.VirtualLayout(shape=SECRET.shape, dtype=SECRET.dtype)
    half = SECRET.shape[0] // 2
    layout[:half] = h5py.VirtualSource(source_file, "data", shape=SECRET.shape)[:half]
    layout[half:] = h5py.VirtualSource(source_file, "data", shape=SECRET.shape)[half:]
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("vds", layout)


def test_hdf5_virtual_dataset_sources(tree: tuple[Path, Path], ctx: Context) -> None:
    root, outside = tree
    _write_vds(root / "out.h5", "../outside/secret.h5")
    _write_vds(root / "out_abs.h5", str(outside / "secret.h5"))
    session = Session(ctx, root)
    _refused(_open(session, "hdf5", path="out.h5", ds_path="/vds"), "ds_path", "secret.h5")
    _refused(_open(session, "hdf5", path="out_abs.h5", ds_path="/vds"), "ds_path", "secret.h5")
    # without ds_path the reader picks the largest dataset: the virtual one here
    _refused(_open(session, "hdf5", path="out.h5"), "path", "secret.h5")
    # a source inside the root whose own dataset links outside is followed and refused too
    with h5py.File(root / "sub" / "relay.h5", "w") as f:
        f["data"] = h5py.ExternalLink("../../outside/secret.h5", "/data")
    _write_vds(root / "relay_vds.h5", "sub/relay.h5")
    _refused(_open(session, "hdf5", path="relay_vds.h5", ds_path="/vds"), "ds_path", "secret.h5")

    data = _inside_copy(root)
    _write_vds(root / "in.h5", "sub/real.h5")
    _opens_and_sums(ctx, session, _open(session, "hdf5", path="in.h5", ds_path="/vds"), data)
    _opens_and_sums(ctx, session, _open(session, "hdf5", path="in.h5"), data)


def test_hdf5_external_raw_storage(tree: tuple[Path, Path], ctx: Context) -> None:
    root, outside = tree
    nbytes = SECRET.nbytes
    with h5py.File(root / "ext.h5", "w") as f:
        f.create_dataset("data", SECRET.shape, SECRET.dtype,
                         external=[(str(outside / "secret.bin"), 0, nbytes)])  # fmt: skip
    session = Session(ctx, root)
    _refused(_open(session, "hdf5", path="ext.h5", ds_path="/data"), "ds_path", "secret.bin")

    data = SECRET - 1000
    data.tofile(root / "sub" / "real.bin")
    with h5py.File(root / "ext_in.h5", "w") as f:
        f.create_dataset("data", data.shape, data.dtype,
                         external=[(str(root / "sub" / "real.bin"), 0, nbytes)])  # fmt: skip
    _opens_and_sums(ctx, session, _open(session, "hdf5", path="ext_in.h5", ds_path="/data"), data)


def test_arina_data_file_out_of_the_root_is_refused(tree: tuple[Path, Path], ctx: Context) -> None:
    root, _ = tree
    with h5py.File(root / "scan_master.h5", "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("../outside/secret.h5", "/data")
    session = Session(ctx, root)
    _refused(_open(session, "arina", path="scan_master.h5"), "path", "secret.h5")
    with pytest.raises(ProtocolError, match="outside the root"):
        session.detect({"path": "scan_master.h5"})


# -- Merlin: the files gathered beside the chosen one ---------------------------------------------
def _mib_data() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 60, size=(2, 3, 8, 8)).astype(np.uint8)


def test_mib_sibling_symlinked_out_of_the_root_is_refused(
    tree: tuple[Path, Path], ctx: Context
) -> None:
    root, outside = tree
    write_acquisition(outside, "other", _mib_data(), 6)
    write_acquisition(root, "scan", _mib_data(), 6)
    session = Session(ctx, root)
    # a .mib of the acquisition that is a symlink out of the root, found from the .hdr
    (root / "scan.mib").unlink()
    (root / "scan.mib").symlink_to(outside / "other.mib")
    _refused(_open(session, "mib", path="scan.hdr"), "path", "scan.mib")
    with pytest.raises(ProtocolError, match="outside the root"):
        session.detect({"path": "scan.hdr"})
    # the .hdr beside a .mib inside the root is a symlink out
    data = _mib_data()
    write_acquisition(root / "sub", "acq", data, 6)
    (root / "sub" / "acq.hdr").unlink()
    (root / "sub" / "acq.hdr").symlink_to(outside / "other.hdr")
    _refused(_open(session, "mib", path="sub/acq.mib"), "path", "acq.hdr")
    # the same acquisition with its own .hdr opens and sums as numpy does
    (root / "sub" / "acq.hdr").unlink()
    write_acquisition(root / "sub", "acq", data, 6)
    _opens_and_sums(ctx, session, _open(session, "mib", path="sub/acq.mib"), data)


# -- one file that finds a companion by name --------------------------------------------------
def test_companion_symlinked_out_of_the_root_is_refused(
    tree: tuple[Path, Path], ctx: Context
) -> None:
    """EMPAD's ``.xml`` names the ``.raw`` it reads; an MRC file reads the ``_info.txt`` beside
    it: either one a symlink out of the root is refused, a real one inside opens."""
    root, outside = tree
    frames = np.random.default_rng(7).random((2, 2, 128, 128)).astype(np.float32)
    write_empad(outside, "scan", frames)
    write_empad(root, "scan", frames)
    (root / "scan.raw").unlink()
    (root / "scan.raw").symlink_to(outside / "scan.raw")
    session = Session(ctx, root)
    _refused(_open(session, "empad", path="scan.xml"), "path", "scan.raw")
    (root / "scan.raw").unlink()
    write_empad(root, "scan", frames)
    _opens_and_sums(ctx, session, _open(session, "empad", path="scan.xml"), frames)

    stack = np.random.default_rng(8).integers(0, 500, (4, 6, 5)).astype(np.int16)
    write_mrc(root / "sub" / "stack.mrc", stack, 1)
    (outside / "stack_info.txt").write_text("Scan - Enable = Disable\n")
    (root / "sub" / "stack_info.txt").symlink_to(outside / "stack_info.txt")
    _refused(_open(session, "mrc", path="sub/stack.mrc"), "path", "stack_info.txt")
    (root / "sub" / "stack_info.txt").unlink()
    (root / "sub" / "stack_info.txt").write_text("Scan - Enable = Disable\n")
    _opens_and_sums(ctx, session, _open(session, "mrc", path="sub/stack.mrc"), stack)


# -- raw_csr: the files its descriptor names ------------------------------------------------------
def _frames() -> np.ndarray:
    rng = np.random.default_rng(5)
    return (rng.integers(0, 9, size=(3, 4, 6, 5)) * (rng.random((3, 4, 6, 5)) < 0.3)).astype(
        np.uint16
    )


def test_raw_csr_files_out_of_the_root_are_refused(tree: tuple[Path, Path], ctx: Context) -> None:
    root, outside = tree
    write_dense_as_csr(outside, "secret", _frames(), (3, 4), (6, 5))
    toml = write_dense_as_csr(root, "hostile", _frames(), (3, 4), (6, 5))
    text = toml.read_text().replace('data_file = "hostile.data"',
                                    'data_file = "../outside/secret.data"')  # fmt: skip
    toml.write_text(text)
    session = Session(ctx, root)
    _refused(_open(session, "raw_csr", path="hostile.toml"), "path", "secret.data")
    # a descriptor naming a file that is a symlink out of the root
    write_dense_as_csr(root / "sub", "linked", _frames(), (3, 4), (6, 5))
    (root / "sub" / "linked.indices").unlink()
    (root / "sub" / "linked.indices").symlink_to(outside / "secret.indices")
    _refused(_open(session, "raw_csr", path="sub/linked.toml"), "path", "linked.indices")


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_raw_csr_opens_in_the_gui_and_sums_as_numpy(tree: tuple[Path, Path], executor: str) -> None:
    root, _ = tree
    frames = _frames()
    write_dense_as_csr(root / "sub", "sparse", frames, (3, 4), (6, 5))
    ctx = Context.make_with(executor)
    session = Session(ctx, root)
    reply = _open(session, "raw_csr", path="sub/sparse.toml")
    assert reply["nav_shape"] == [3, 4] and reply["sig_shape"] == [6, 5], reply
    _opens_and_sums(ctx, session, reply, frames)


# -- the backstop after loading -------------------------------------------------------------------
class _Holds:
    def __init__(self, *files: Path):
        self.files = [str(f) for f in files]

    def _files_for_confinement(self) -> list[str]:
        return self.files


def test_check_after_load_refuses_any_file_outside(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "sub" / "ok.bin").write_bytes(b"1")
    check_after_load(root, _Holds(root / "sub" / "ok.bin"))
    with pytest.raises(PathOutsideRoot, match=r"outside the root"):
        check_after_load(root, _Holds(root / "sub" / "ok.bin", outside / "secret.bin"))
    (root / "sub" / "alias.bin").symlink_to(outside / "secret.bin")
    with pytest.raises(PathOutsideRoot, match=r"alias\.bin"):
        check_after_load(root, _Holds(root / "sub" / "alias.bin"))
    with pytest.raises(PathOutsideRoot, match="does not list its files"):
        check_after_load(root, object())

    class Broken:
        def _files_for_confinement(self) -> list[str]:
            raise AttributeError("_files")

    with pytest.raises(PathOutsideRoot, match="could not list its files"):
        check_after_load(root, Broken())


def test_datasets_list_the_files_they_read(tree: tuple[Path, Path], ctx: Context) -> None:
    root, _ = tree
    mibs = write_acquisition(root / "sub", "scan", _mib_data(), 6, files=2)
    ds = ctx.load("mib", path=str(root / "sub" / "scan.hdr"))
    assert set(ds._files_for_confinement()) == {str(root / "sub" / "scan.hdr"),
                                                 *map(str, mibs)}  # fmt: skip
    toml = write_dense_as_csr(root, "csr", _frames(), (3, 4), (6, 5))
    ds = ctx.load("raw_csr", path=str(toml))
    assert {Path(p).name for p in ds._files_for_confinement()} == {
        "csr.toml",
        "csr.indptr",
        "csr.indices",
        "csr.data",
    }


def test_multi_file_formats_list_every_file_they_read(tmp_path: Path, ctx: Context) -> None:
    """The backstop's lists, format by format: the files the writer wrote, no more."""
    from helpers.frms6_writer import write_acquisition as write_frms6
    from helpers.seq_writer import write_mrc as write_reference
    from helpers.seq_writer import write_seq
    from helpers.ser_writer import write_ser
    from helpers.tvips_writer import write_tvips

    def names(ds: Any) -> set[str]:
        return {Path(p).name for p in ds._files_for_confinement()}

    rng = np.random.default_rng(11)
    frames = rng.integers(0, 200, (6, 6, 7)).astype(np.uint8)
    tvips = write_tvips(tmp_path, "series", frames, split=[2, 4])
    assert names(ctx.load("tvips", path=str(tvips[1]), nav_shape=(6,))) == {
        "series_000.tvips", "series_001.tvips"
    }  # fmt: skip

    stored = rng.integers(100, 4000, (5, 3, 8)).astype(np.uint16)
    hdr = write_frms6(tmp_path, "pn", stored[:2], [stored[2:4], stored[4:]], 1, (2, 1))
    assert names(ctx.load("frms6", path=str(hdr))) == {
        "pn.hdr", "pn_000.frms6", "pn_001.frms6", "pn_002.frms6"
    }  # fmt: skip

    write_seq(tmp_path / "cam.seq", frames.astype(np.uint16))
    write_reference(tmp_path / "cam.seq.dark.mrc", np.zeros((6, 7), np.float32))
    seq = ctx.load("seq", path=str(tmp_path / "cam.seq"), nav_shape=(2, 3))
    assert names(seq) == {"cam.seq", "cam.seq.dark.mrc"}

    write_ser(tmp_path / "tia_1.ser", frames.reshape(2, 3, 6, 7).astype(np.uint16))
    assert names(ctx.load("ser", path=str(tmp_path / "tia_1.ser"))) == {"tia_1.ser"}
