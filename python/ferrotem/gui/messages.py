"""The message layer: what each request does, independent of the web framework.

A :class:`Session` belongs to one websocket connection; it holds the datasets that connection
opened and answers requests with plain dicts (sent as JSON). Running an analysis is split in
two: :meth:`Session.prepare_run` checks the request and builds the UDF (quick, errors go back
at once), and :func:`stream_run` iterates the run partition by partition in a worker thread,
handing each partial result to a callback. The server wires both to the event loop.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferrotem.gui.analyses import ANALYSES, Channels, build_analysis
from ferrotem.gui.confine import check_after_load, check_before_load
from ferrotem.gui.protocol import ProtocolError
from ferrotem.gui.results import CompletedResult, DatasetSpec
from ferrotem.gui.security import PathOutsideRoot, relative_to_root, resolve_in_root

__all__ = ["ANALYSES", "PreparedRun", "Session", "error_reply", "stream_run"]


#: filetypes that need in-memory objects, not a file: never opened from a request
_NOT_FROM_FILES = {"memory", "dask"}
#: "name: got ..." at the start of ferrotem's error messages names the parameter
_PARAM_PREFIX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")
#: dataset parameters that name files: resolved inside the root
FILE_PARAMETERS = frozenset({"path", "gain_map_path"})
#: parameters whose names sound like files but are not (HDF5's path inside the file)
NOT_FILE_PARAMETERS = frozenset({"ds_path"})
#: any other parameter named like this is refused: it might open a file outside the root
_FILE_LIKE = re.compile(r"path|file", re.IGNORECASE)


def error_reply(
    request: dict[str, Any] | None, message: str, param: str | None = None
) -> dict[str, Any]:
    """The answer to a request that failed: its ``id`` (when it had one), the text, and the
    parameter the text is about (shown next to that field)."""
    reply: dict[str, Any] = {"type": "error", "message": message}
    if request is not None and "id" in request:
        reply["id"] = request["id"]
    if param is not None:
        reply["param"] = param
    return reply


def _param_of(exc: BaseException, names: set[str]) -> str | None:
    """The parameter an exception's message starts with, when it is one of ``names``."""
    m = _PARAM_PREFIX.match(str(exc))
    return m.group(1) if m and m.group(1) in names else None


def _jsonable(value: Any) -> Any:
    """``value`` with tuples, numpy scalars and dtypes turned into JSON's types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype | type):
        return str(np.dtype(value))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class PreparedRun:
    """A checked analysis request: the UDF to run (over ``roi``) and how to read its channels
    (name -> image) from a partial or final result."""

    dataset: Any
    udf: Any
    read: Callable[[Any, np.ndarray], Channels]
    header: dict[str, Any]
    roi: np.ndarray | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: called with the final result's channels (name -> image) when the run completes
    on_complete: Callable[[Channels], None] | None = None


class Session:
    """One connection's state: its open datasets, addressed by ids this session hands out."""

    def __init__(self, ctx: Any, root: Path):
        self.ctx = ctx
        self.root = root.resolve()
        self.datasets: dict[str, Any] = {}
        #: how each open dataset was loaded (for notebooks and downloads)
        self.dataset_specs: dict[str, DatasetSpec] = {}
        #: the last complete result of each analysis id
        self.results: dict[str, CompletedResult] = {}
        self._ids = itertools.count(1)

    # -- files -------------------------------------------------------------------------------
    def list_dir(self, request: dict[str, Any]) -> dict[str, Any]:
        """The entries of a directory under the root: ``{"path": "sub/dir"}`` (``""``: root)."""
        path = self._path(request.get("path", ""))
        if not path.is_dir():
            raise ProtocolError(f"path: {request.get('path')!r} is not a directory")
        entries = []
        for entry in sorted(os.scandir(path), key=lambda e: e.name.lower()):
            try:
                target = resolve_in_root(self.root, relative_to_root(self.root, path / entry.name))
            except PathOutsideRoot:
                continue  # a symlink out of the root is not shown (and could not be opened)
            try:
                is_dir = target.is_dir()
                size = None if is_dir else target.stat().st_size
            except OSError:
                continue  # a dangling link or a file we may not read
            entries.append({"name": entry.name, "kind": "dir" if is_dir else "file", "size": size})
        rel = relative_to_root(self.root, path)
        parent = None if path == self.root else relative_to_root(self.root, path.parent)
        return {"type": "dir", "path": rel, "parent": parent, "entries": entries}

    def detect(self, request: dict[str, Any]) -> dict[str, Any]:
        """A file's format (``'auto'``: from its content) and the parameters that load it,
        as far as the file's own headers tell; paths in the answer are relative to the root."""
        from ferrotem.io.dataset import filetypes, get_dataset_cls
        from ferrotem.io.dataset.sniff import detect_filetype_of

        rel = request.get("path")
        path = self._path(rel)
        if not path.is_file():
            raise ProtocolError(f"path: {rel!r} is not a file")
        allowed = [t for t in filetypes() if t not in _NOT_FROM_FILES]
        try:
            filetype = detect_filetype_of(str(path), allowed)
        except (ValueError, OSError) as e:
            # raw files have no signature: the client asks the user for the parameters
            return {"type": "detected", "path": rel, "filetype": None, "parameters": {"path": rel},
                    "message": str(e)}  # fmt: skip
        params: dict[str, Any] = {"path": str(path)}
        info: dict[str, Any] = {}
        try:
            # detection reads the file's companions and links too: they must be inside the root
            check_before_load(self.root, filetype, dict(params))
        except PathOutsideRoot as e:
            raise ProtocolError(str(e), "path") from None
        detect_params = getattr(get_dataset_cls(filetype), "detect_params", None)
        if detect_params is not None:
            found = detect_params(str(path))
            if isinstance(found, dict):
                params = dict(found.get("parameters", params))
                info = dict(found.get("info", {}))
        params = {k: self._to_relative(k, v) for k, v in params.items()}
        return {"type": "detected", "path": rel, "filetype": filetype,
                "parameters": _jsonable(params), "info": _jsonable(info)}  # fmt: skip

    # -- datasets ----------------------------------------------------------------------------
    def open(self, request: dict[str, Any]) -> dict[str, Any]:
        """Loads a dataset: ``{"filetype": "raw", "parameters": {"path": ..., ...}}``; an
        error names the parameter it is about. File parameters are confined to the root."""
        filetype = request.get("filetype")
        parameters = request.get("parameters")
        if not isinstance(parameters, dict):
            raise ProtocolError(f"parameters: got {parameters!r}, expected an object")
        if not isinstance(filetype, str) or filetype.lower() in _NOT_FROM_FILES:
            raise ProtocolError(f"filetype: got {filetype!r}, expected a file format or 'auto'")
        if filetype.lower() == "auto" and isinstance(parameters.get("path"), str):
            from ferrotem.io.dataset import filetypes
            from ferrotem.io.dataset.sniff import detect_filetype_of

            try:
                filetype = detect_filetype_of(str(self._path(parameters["path"])), filetypes())
            except (ValueError, OSError) as e:
                return error_reply(request, str(e), "filetype")
        kwargs = {}
        for key, value in parameters.items():
            if key in FILE_PARAMETERS and value is not None:
                kwargs[key] = str(self._path(value))
            elif key not in NOT_FILE_PARAMETERS and _FILE_LIKE.search(key):
                raise ProtocolError(
                    f"{key}: file parameters other than {sorted(FILE_PARAMETERS)} cannot be "
                    "given through the GUI yet",
                    key,
                )
            else:
                kwargs[key] = value
        names = set(parameters) | {"filetype"}
        try:
            # the files the dataset names beyond `path` must stay inside the root too
            check_before_load(self.root, filetype, kwargs)
        except PathOutsideRoot as e:
            return error_reply(request, str(e), _param_of(e, names) or "path")
        try:
            ds = self.ctx.load(filetype, **kwargs)
        except Exception as e:  # every dataset error is the user's to correct
            return error_reply(request, str(e), _param_of(e, names))
        try:
            check_after_load(self.root, ds)
        except PathOutsideRoot as e:
            return error_reply(request, str(e), _param_of(e, names) or "path")
        ds_id = f"ds{next(self._ids)}"
        self.datasets[ds_id] = ds
        self.dataset_specs[ds_id] = DatasetSpec(filetype, dict(parameters))
        shape = ds.shape
        return {"type": "opened", "dataset": ds_id, "filetype": filetype,
                "nav_shape": list(shape.nav), "sig_shape": list(shape.sig),
                "dtype": str(np.dtype(ds.dtype))}  # fmt: skip

    def close_dataset(self, request: dict[str, Any]) -> dict[str, Any]:
        """Forgets a dataset this session opened."""
        ds_id = request.get("dataset")
        if self.datasets.pop(ds_id, None) is None:  # type: ignore[arg-type]
            raise ProtocolError(f"dataset: got {ds_id!r}, which is not open")
        self.dataset_specs.pop(ds_id, None)  # type: ignore[arg-type]
        self.results = {k: r for k, r in self.results.items() if r.dataset_id != ds_id}
        return {"type": "closed", "dataset": ds_id}

    # -- analyses ----------------------------------------------------------------------------
    def prepare_run(self, request: dict[str, Any]) -> PreparedRun:
        """Checks a ``run`` request (``dataset``, ``analysis``: ``{"type": "ring",
        "parameters": {...}}``) and builds its UDF; raises with the parameter named."""
        ds_id = request.get("dataset")
        if not isinstance(ds_id, str) or ds_id not in self.datasets:
            raise ProtocolError(f"dataset: got {ds_id!r}, which is not open")
        dataset = self.datasets[ds_id]
        spec = request.get("analysis")
        if not isinstance(spec, dict):
            raise ProtocolError(f"analysis: got {spec!r}, expected an object with a type")
        kind = spec.get("type")
        parameters = spec.get("parameters", {})
        built = build_analysis(kind, dataset, parameters)  # type: ignore[arg-type]
        analysis_id = str(request.get("analysis_id", "main"))
        header = {"type": "result", "analysis": analysis_id, "kind": kind,
                  "frame_shaped": ANALYSES[built.kind].frame_shaped}  # fmt: skip
        spec_copy = {"type": kind, "parameters": dict(parameters)}
        record = CompletedResult(ds_id, self.dataset_specs[ds_id], spec_copy)

        def complete(channels: Channels) -> None:
            record.channels = channels
            self.results[analysis_id] = record

        return PreparedRun(dataset, built.udf, built.read, header, built.roi, on_complete=complete)

    # -- helpers -----------------------------------------------------------------------------
    def _path(self, rel: Any) -> Path:
        try:
            return resolve_in_root(self.root, rel)
        except PathOutsideRoot as e:
            raise ProtocolError(str(e)) from None

    def _to_relative(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and key in FILE_PARAMETERS and os.path.isabs(value):
            try:
                return relative_to_root(self.root, Path(value).resolve())
            except ValueError:
                return value
        return value


def stream_run(
    ctx: Any, run: PreparedRun, emit: Callable[[dict[str, Any], np.ndarray], None]
) -> bool:
    """Runs ``run`` partition by partition; after each merge calls ``emit(header, image)`` once
    per channel (``header["channel"]``, ``header["channels"]``: all of this result's names)
    with a copy of the result so far; stops early (returns False) once ``run.cancelled`` is
    set. Meant for a worker thread: it blocks while partitions are processed."""
    if run.cancelled.is_set():  # replaced before a worker thread was free
        return False
    steps = ctx.run_udf_iter(run.dataset, run.udf, roi=run.roi)
    final: Channels | None = None
    try:
        for step in steps:
            if run.cancelled.is_set():
                return False
            damage = np.asarray(step.damage.data, dtype=bool)
            merged = damage if run.roi is None else damage[run.roi]
            done = bool(merged.all())
            channels = {
                k: np.array(v, copy=True) for k, v in run.read(step.buffers[0], damage).items()
            }
            header = {**run.header, "progress": float(merged.mean()) if merged.size else 1.0,
                      "final": done, "channels": list(channels)}  # fmt: skip
            for name, image in channels.items():
                emit({**header, "channel": name}, image)
            final = channels if done else None
    finally:
        steps.close()
    if run.cancelled.is_set():
        return False
    if run.on_complete is not None and final is not None:
        run.on_complete(final)
    return True
