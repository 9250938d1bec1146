"""Confining a dataset's files to the file browser's root, beyond the path the user picked.

A file under the root can name files elsewhere: an HDF5 file through external links, virtual
datasets and external raw storage; a Merlin ``.mib`` or a K2IS sector file through the siblings
its reader gathers (one of which may be a symlink out of the root); ``raw_csr``'s descriptor
through the three files it lists. The GUI checks all of them here, in two steps:

* :func:`check_before_load` finds the files a dataset *will* open from their names and from
  files already known to be inside the root, and refuses any outside it, before the reader reads
  a byte of them;
* :func:`check_after_load` asks the initialised dataset which files it holds
  (``DataSet._files_for_confinement``) and refuses the dataset if one is outside: the backstop
  for formats whose companions the first step does not know.

The readers themselves keep their freedom (the Python API may open any file); only requests
from the web GUI pass through here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ferrotem.gui.security import PathOutsideRoot

__all__ = ["check_after_load", "check_before_load", "require_inside"]

#: environment variables that make HDF5 search other folders for linked files first
_HDF5_PREFIX_VARIABLES = ("HDF5_EXT_PREFIX", "HDF5_VDS_PREFIX", "HDF5_EXTFILE_PREFIX")
#: how deep HDF5 links may chain (link to a file whose dataset is a VDS of files with links...)
_MAX_HDF5_DEPTH = 8


def _shown(root: Path, path: str | os.PathLike[str]) -> str:
    """``path`` as the user knows it: relative to the root when it is inside."""
    try:
        return Path(os.path.abspath(path)).relative_to(root).as_posix()
    except ValueError:
        return os.fspath(path)


def require_inside(root: Path, path: str | os.PathLike[str], param: str, why: str) -> Path:
    """``path`` resolved (symlinks followed); raises :class:`PathOutsideRoot` naming ``param``
    and ``why`` (which file names it) unless it is inside ``root`` (already resolved)."""
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise PathOutsideRoot(
            f"{param}: {why} {_shown(root, path)!r}, which leads outside the root; the GUI "
            "opens files inside the root only"
        )
    return resolved


# -- HDF5 ----------------------------------------------------------------------------------------
def _linked_file(root: Path, parent: Path, target: str, param: str, why: str) -> Path:
    """The file an external link or a virtual dataset names, as HDF5 finds it: an absolute
    name as it is, a relative one beside ``parent`` (the file that names it, as it was opened;
    beside the file a symlink ``parent`` points to as well). HDF5 falls back to other folders
    (the working directory) when that file is missing, so a missing one is refused too rather
    than left to HDF5's search."""
    prefixes = [v for v in _HDF5_PREFIX_VARIABLES if os.environ.get(v)]
    if prefixes:
        raise PathOutsideRoot(
            f"{param}: {why} {target!r}; HDF5 looks for it first in the folders of "
            f"{', '.join(prefixes)}, set in the server's environment, so the GUI cannot confine it"
        )
    if os.path.isabs(target):
        candidates = [Path(target)]
    else:
        candidates = [parent.parent / target, parent.resolve().parent / target]
    for candidate in candidates:
        if os.path.lexists(candidate):
            require_inside(root, candidate, param, why)
    if not candidates[0].is_file():
        raise PathOutsideRoot(
            f"{param}: {why} {target!r}, which does not exist beside {_shown(root, parent)!r}; "
            "HDF5 would look for it elsewhere, outside the root"
        )
    return Path(os.path.abspath(candidates[0]))


def _check_h5_dataset(root: Path, dset: Any, file: Path, param: str, depth: int) -> None:
    """Refuses a dataset whose data lives outside the root: a virtual dataset's source files
    (each checked down to its own source dataset) and external raw storage."""
    where = f"{_shown(root, file)}:{dset.name}"
    if dset.is_virtual:
        for source in dset.virtual_sources():
            name = source.file_name
            if name == ".":  # the source is in this very file
                _walk_h5(root, file, source.dset_name, param, depth + 1)
                continue
            if "%" in name:
                # printf-like patterns (%b, %d) name files HDF5 computes: not checkable here
                raise PathOutsideRoot(
                    f"{param}: the virtual dataset {where} maps files by the pattern {name!r}; "
                    "the GUI cannot confine them to the root"
                )
            src = _linked_file(root, file, name, param, f"the virtual dataset {where} reads")
            _walk_h5(root, src, source.dset_name, param, depth + 1)
    for entry in dset.external or ():
        name = os.fsdecode(entry[0])
        why = f"the dataset {where} stores its data in the external file"
        # HDF5 reads a relative name from the working directory unless a prefix is set: both
        # that and the file's own folder must stay inside the root
        require_inside(root, name, param, why)
        _linked_file(root, file, name, param, why)


def _walk_h5(root: Path, file: Path, ds_path: str, param: str, depth: int = 0) -> None:
    """Follows ``ds_path`` in ``file`` one link at a time without letting HDF5 follow an
    external link itself, refusing every file on the way that is outside the root."""
    from ferrotem.io.dataset._hdf5_layout import import_h5py

    h5py = import_h5py()
    if depth > _MAX_HDF5_DEPTH:
        raise PathOutsideRoot(f"{param}: HDF5 links nest deeper than {_MAX_HDF5_DEPTH} levels")
    try:
        f = h5py.File(file, "r")
    except OSError:
        if depth == 0:
            return  # not an HDF5 file: the reader says so, and follows no link in it
        raise
    with f:
        group: Any = f
        parts = [p for p in ds_path.split("/") if p not in ("", ".")]  # ".": HDF5's "here"
        for i, part in enumerate(parts):
            try:
                link = group.get(part, getlink=True)
            except (KeyError, RuntimeError, ValueError):
                link = None  # no such name: HDF5 cannot follow it either
            rest = "/".join(parts[i + 1 :])
            if link is None:
                return  # the reader reports the missing name itself
            if isinstance(link, h5py.ExternalLink):
                target = _linked_file(
                    root, file, link.filename, param,
                    f"{_shown(root, file)}:{group.name.rstrip('/')}/{part} links to",
                )  # fmt: skip
                _walk_h5(root, target, f"{link.path}/{rest}", param, depth + 1)
                return
            if isinstance(link, h5py.SoftLink):
                # a soft link's path may itself pass through external links: walk it too
                base = link.path if link.path.startswith("/") else f"{group.name}/{link.path}"
                _walk_h5(root, file, f"{base}/{rest}", param, depth + 1)
                return
            group = group[part]  # a hard link: in this file
            if isinstance(group, h5py.Dataset):
                if rest:
                    return  # a dataset has no members: the reader reports it
                _check_h5_dataset(root, group, file, param, depth)
                return


def _check_hdf5(root: Path, kwargs: dict[str, Any]) -> None:
    path = Path(kwargs["path"])
    ds_path = kwargs.get("ds_path")
    if isinstance(ds_path, str):
        _walk_h5(root, path, ds_path, "ds_path")
        return
    # no ds_path: the reader picks the largest of these, so each must stay inside the root
    from ferrotem.io.dataset._hdf5_layout import find_datasets, import_h5py

    try:
        f = import_h5py().File(path, "r")
    except OSError:
        return  # not an HDF5 file: the reader says so
    with f:
        names = [d.name for d in find_datasets(f)]
    for name in names:
        _walk_h5(root, path, name, "path")


def _check_arina(root: Path, kwargs: dict[str, Any]) -> None:
    """The master file's ``entry/data/data_NNNNNN`` links, as the Arina reader follows them."""
    from ferrotem.io.dataset._hdf5_layout import import_h5py
    from ferrotem.io.dataset.arina import _DATA_LINK

    path = Path(kwargs["path"])
    try:
        f = import_h5py().File(path, "r")
    except OSError:
        return  # not an HDF5 file: the reader says so
    with f:
        group = f.get("entry/data", getlink=False)
        names = sorted(k for k in (group or {}) if _DATA_LINK.match(k))
    for name in names:
        _walk_h5(root, path, f"entry/data/{name}", "path")


# -- formats that gather sibling files by name ---------------------------------------------------
def _mib_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import mib

    path = kwargs["path"]
    yield from mib.get_filenames(path, bool(kwargs.get("disable_glob", False)))
    hdr = mib._find_hdr(path) if not path.lower().endswith(".hdr") else None
    if hdr is not None:
        yield hdr


def _k2is_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import k2is

    yield from k2is.get_filenames(kwargs["path"])
    yield k2is._gtg_path(kwargs["path"])


def _tvips_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import tvips

    return tvips.get_filenames(kwargs["path"])


def _frms6_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import frms6

    yield from frms6.get_filenames(kwargs["path"])
    yield frms6._base_filename(kwargs["path"]) + ".hdr"


def _seq_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import seq

    return seq.companion_paths(kwargs["path"]).values()


def _ser_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import ser

    return [ser.emi_path_for(kwargs["path"])]


def _mrc_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset import mrc

    return [mrc.info_path_for(kwargs["path"])]


def _empad_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem import _core

    path = kwargs["path"]
    if not path.lower().endswith(".xml"):
        return []
    return [str(_core.empad_xml(path)["raw_path"])]


def _raw_csr_files(kwargs: dict[str, Any]) -> Iterable[str]:
    from ferrotem.io.dataset.raw_csr import get_descriptor

    d = get_descriptor(kwargs["path"])
    return [d.indptr_file, d.indices_file, d.data_file]


#: files a format opens besides ``path``, found from names (and files inside the root) only
_COMPANIONS: dict[str, Callable[[dict[str, Any]], Iterable[str]]] = {
    "mib": _mib_files,
    "k2is": _k2is_files,
    "tvips": _tvips_files,
    "frms6": _frms6_files,
    "seq": _seq_files,
    "ser": _ser_files,
    "mrc": _mrc_files,
    "empad": _empad_files,
    "raw_csr": _raw_csr_files,
}
#: formats whose files name further files inside them (HDF5 links, virtual datasets)
_HDF5_CHECKS: dict[str, Callable[[Path, dict[str, Any]], None]] = {
    "hdf5": _check_hdf5,
    "arina": _check_arina,
}


def check_before_load(root: Path, filetype: str, kwargs: dict[str, Any]) -> None:
    """Refuses (:class:`PathOutsideRoot`) a dataset whose reader would open a file outside
    ``root``; ``kwargs["path"]`` is already resolved inside it. Errors other than confinement
    (a missing companion, a malformed descriptor) are left for the reader to report."""
    path = kwargs.get("path")
    if not isinstance(path, str):
        return
    kind = filetype.lower()
    if kind in _HDF5_CHECKS:
        # refused when the check itself fails: a link left unchecked would be followed
        try:
            _HDF5_CHECKS[kind](root, kwargs)
        except PathOutsideRoot:
            raise
        except Exception as e:
            param = "ds_path" if kind == "hdf5" else "path"
            raise PathOutsideRoot(
                f"{param}: the links in {_shown(root, path)!r} could not be checked ({e}); the "
                "GUI opens HDF5 files only when every file they link stays inside the root"
            ) from None
        return
    try:
        companions = _COMPANIONS.get(kind)
        if companions is None:
            return
        for name in companions(kwargs):
            if os.path.lexists(name):
                require_inside(root, name, "path", f"{_shown(root, path)!r} opens")
    except PathOutsideRoot:
        raise
    except Exception:
        # a broken file or a missing companion: the reader reports it in its own words, and
        # check_after_load still checks whatever the reader opened after all
        return


def check_after_load(root: Path, dataset: Any) -> None:
    """Refuses an initialised dataset that holds a file outside ``root`` (the backstop: every
    file the dataset says it reads, ``DataSet._files_for_confinement()``)."""
    files = getattr(dataset, "_files_for_confinement", None)
    if files is None:
        raise PathOutsideRoot(
            f"filetype: {type(dataset).__name__} does not list its files; the GUI cannot "
            "confine it to the root"
        )
    try:
        names = list(files())
    except Exception as e:  # a dataset that cannot say what it reads is not trusted
        raise PathOutsideRoot(
            f"filetype: {type(dataset).__name__} could not list its files ({e}); the GUI "
            "cannot confine it to the root"
        ) from None
    for name in names:
        require_inside(root, name, "path", "the dataset reads")
