"""``ferrotem convert SRC DST``: any dataset ferrotem reads, written as raw, npy, HDF5 or Zarr
with a progress bar (the command-line face of :func:`ferrotem.export.export`)."""

from __future__ import annotations

import argparse
import ast
import pathlib
import sys
import time
from typing import Any

from ferrotem.export.options import COMPRESSIONS, FORMATS


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Adds the ``convert`` subcommand to the ``ferrotem`` parser's subparsers ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="convert a dataset to raw, npy, HDF5 or Zarr",
        description="Read SRC with ctx.load (the format detected from its content unless "
        "--filetype says otherwise) and write its frames to DST as raw, npy, HDF5 or Zarr, "
        "chunked and compressed as asked, with a progress bar. Reading and compression run in "
        "parallel. Dataset parameters a format needs (a raw file's shape and dtype, an HDF5 "
        "file's dataset path, ...) go in the options below or as --param KEY=VALUE.",
    )
    p.add_argument("src", metavar="SRC", help="the dataset to read (file, or .hdr/.xml/... )")
    p.add_argument("dst", metavar="DST", help="the file (or .zarr directory) to write")
    out = p.add_argument_group("output")
    out.add_argument(
        "--format", choices=sorted(FORMATS), default=None,
        help="output format (default: from DST's extension)",
    )  # fmt: skip
    out.add_argument(
        "--compression", choices=sorted(s for v in COMPRESSIONS.values() for s in v),
        default=None, help="HDF5/Zarr compression (default: bitshuffle-lz4)",
    )  # fmt: skip
    out.add_argument("--level", type=int, default=None, help="gzip level 0-9 (default: 4)")
    out.add_argument(
        "--chunks", default=None,
        help="HDF5/Zarr chunks: N frames along the last scan axis, or a full chunk shape "
        "such as 1,8,256,256 (-1: the whole axis); default: about 1 MiB of whole frames",
    )  # fmt: skip
    out.add_argument("--out-dtype", default=None, help="output dtype (default: the stored one)")
    out.add_argument(
        "--ds-path", default="/data", help="dataset path in the HDF5 output (default: /data)"
    )
    out.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument(
        "--threads", type=int, default=None, help="threads (default: one per available CPU)"
    )
    inp = p.add_argument_group("dataset parameters (as ctx.load takes them)")
    inp.add_argument(
        "--filetype", default="auto", help="format name as ctx.load takes it (default: auto)"
    )
    inp.add_argument("--nav-shape", default=None, help="scan shape, such as 128,128")
    inp.add_argument("--sig-shape", default=None, help="frame shape, such as 256,256")
    inp.add_argument("--dtype", default=None, help="stored dtype (raw files)")
    inp.add_argument("--sync-offset", type=int, default=None, help="frames to skip (or pad)")
    inp.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE",
        help="any other ctx.load parameter (a Python literal, else a string); repeatable",
    )  # fmt: skip
    return p


def _shape(text: str, name: str, parser: argparse.ArgumentParser) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        parser.error(f"{name}: got {text!r}, expected integers separated by commas")
    if not values:
        parser.error(f"{name}: got {text!r}, expected integers separated by commas")
    return values


def _load_params(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("nav_shape", "sig_shape"):
        value = getattr(args, name)
        if value is not None:
            params[name] = _shape(value, "--" + name.replace("_", "-"), parser)
    if args.dtype is not None:
        params["dtype"] = args.dtype
    if args.sync_offset is not None:
        params["sync_offset"] = args.sync_offset
    for entry in args.param:
        key, sep, text = entry.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"--param: got {entry!r}, expected KEY=VALUE")
        try:
            params[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[key] = text
    return params


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _size_on_disk(path: pathlib.Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Runs ``ferrotem convert`` with parsed ``args``; usage errors exit through ``parser``."""
    from ferrotem.api import Context
    from ferrotem.common.exceptions import DataSetException
    from ferrotem.export import export, plan_export

    chunks: Any = None
    if args.chunks is not None:
        shape = _shape(args.chunks, "--chunks", parser)
        chunks = shape[0] if len(shape) == 1 else shape
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads: got {args.threads}, expected a positive number")
    params = _load_params(args, parser)
    with Context.make_with("inline") as ctx:
        try:
            ds = ctx.load(args.filetype, path=args.src, **params)
            options, roi_flat = plan_export(
                ds,
                args.dst,
                format=args.format,
                dtype=args.out_dtype,
                chunks=chunks,
                compression=args.compression,
                compression_level=args.level,
                ds_path=args.ds_path,
                overwrite=args.overwrite,
            )
        except (DataSetException, ValueError, TypeError, OSError) as e:
            parser.error(str(e))
        nbytes = options.n_frames * options.frame_bytes
        print(
            f"ferrotem convert: {args.src} ({type(ds).__name__}, shape {tuple(ds.shape)}, "
            f"{ds.dtype}) -> {options.path} ({options.format}, {options.compression}, "
            f"chunks {options.chunks}, {options.dtype})",
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        export(ds, options, roi_flat, progress=not args.no_progress, threads=args.threads)
        dt = max(time.perf_counter() - t0, 1e-9)
    written = _size_on_disk(options.path)
    print(
        f"ferrotem convert: {_fmt_bytes(nbytes)} of frames in {dt:.2f} s "
        f"({nbytes / dt / 1e9:.2f} GB/s); {_fmt_bytes(written)} on disk",
        file=sys.stderr,
    )
    return 0
