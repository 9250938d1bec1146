"""``ferrotem demo --gui``: the demo's synthetic scan, opened in the web GUI.

The scan is written as a ``.npy`` file (the demo's raw frames after numpy's header), so the
page recognises its format, shape and dtype from the file itself; the server's root is the
demo's directory and the page opens the file as it loads (``--open-ds``).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

__all__ = ["DEMO_FILE", "add_demo_gui_arguments", "npy_header", "serve_demo"]

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


def serve_demo(out_dir: str, path: str, args: Any) -> int:
    """Serves ``out_dir`` with the demo file ``path`` opened as the page loads (the scan is
    written by ``ferrotem.cli``, a layer above); returns the server's exit code."""
    from ferrotem.gui.launch import run_server

    print("ferrotem demo: in the page, press Open, choose an analysis (e.g. ring) and Apply; "
          f"delete {out_dir} when done", flush=True)  # fmt: skip
    server_args = argparse.Namespace(
        host="127.0.0.1", port=args.port, cpus=None, open_ds=path, browser=args.browser,
        token_path=None, root=out_dir, insecure=False,
    )  # fmt: skip
    return run_server(server_args)
