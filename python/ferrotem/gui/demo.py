"""``ferrotem demo --gui``: the demo's synthetic scan, opened in the web GUI.

The scan is written as a ``.npy`` file (the demo's raw frames after numpy's header), so the
page recognises its format, shape and dtype from the file itself; the server's root is the
demo's directory and the page opens the file as it loads (``--open-ds``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

import numpy as np

__all__ = ["add_demo_gui_arguments", "npy_header", "run_demo_gui"]

#: the file the demo writes for the GUI
DEMO_FILE = "scan.npy"


def add_demo_gui_arguments(parser: argparse.ArgumentParser) -> None:
    """``--gui`` and the server options it takes, on ``ferrotem demo``."""
    parser.add_argument(
        "--gui",
        action="store_true",
        help="write the scan as scan.npy and open it in the web GUI (ferrotem server)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="with --gui: the server's port (default 9000)"
    )
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --gui: open the page in a web browser (default: yes)",
    )


def npy_header(shape: tuple[int, ...], dtype: Any) -> bytes:
    """The ``.npy`` header (format 1.0) of a C-ordered array: the bytes numpy writes before
    the data."""
    import io

    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(shape)}  # fmt: skip
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def run_demo_gui(scan: tuple[int, int], frame: tuple[int, int], args: Any) -> int:
    """Writes the demo scan and serves it; returns the server's exit code."""
    from ferrotem.cli import synthesize
    from ferrotem.gui.launch import run_server

    out_dir = args.dir if args.dir is not None else tempfile.mkdtemp(prefix="ferrotem-demo-")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, DEMO_FILE)
    nbytes = scan[0] * scan[1] * frame[0] * frame[1] * 2
    print(f"ferrotem demo: writing a {scan[0]}x{scan[1]} scan of {frame[0]}x{frame[1]} frames "
          f"({nbytes / 2**20:.1f} MiB) to {path}", flush=True)  # fmt: skip
    header = npy_header((*scan, *frame), np.uint16)  # the byte order synthesize writes
    synthesize(path, scan, frame, seed=args.seed, threads=min(2, os.cpu_count() or 1),
               header=header)  # fmt: skip
    print("ferrotem demo: in the page, press Open, choose an analysis (e.g. ring) and Apply; "
          f"delete {out_dir} when done", flush=True)  # fmt: skip
    server_args = argparse.Namespace(
        host="127.0.0.1", port=args.port, cpus=None, open_ds=path, browser=args.browser,
        token_path=None, root=out_dir, insecure=False,
    )  # fmt: skip
    return run_server(server_args)
