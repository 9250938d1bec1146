"""A Jupyter notebook (nbformat 4, written as plain JSON) that reproduces a GUI analysis with
the Python API: it opens the dataset with ``ctx.load(filetype, **parameters)`` as the tab
opened it, runs the same analysis (``ctx.create_*_analysis`` + ``ctx.run``), saves every
channel the GUI showed into an ``.npz`` file and plots them.

Everything the browser sent ends up in the notebook's code only as Python literals
(``repr`` of JSON values) or as keyword names that must be plain identifiers, so a request
cannot smuggle code into a notebook the user will run.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferrotem.gui.results import CompletedResult

__all__ = ["NotebookError", "make_notebook", "notebook_json"]

#: parameters of ``ctx.load`` that name files (relative to the server's root in a request)
_FILE_PARAMETERS = ("path", "gain_map_path")


class NotebookError(ValueError):
    """A result that cannot be written as a notebook (an unknown analysis type, a parameter
    name that is not a Python identifier)."""


def _identifier(name: str, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise NotebookError(f"{what}: {name!r} is not a Python identifier")
    return name


def _kwargs(values: dict[str, Any], what: str) -> list[str]:
    """``name=literal`` for each item, in the given order."""
    return [f"{_identifier(k, what)}={v!r}" for k, v in values.items()]


def _call(function: str, args: list[str]) -> str:
    """``function(a, b, ...)``, one argument per line when it gets long."""
    one_line = f"{function}({', '.join(args)})"
    if len(one_line) <= 88:
        return one_line
    return f"{function}(\n" + "".join(f"    {a},\n" for a in args) + ")"


# -- how each analysis type is written ----------------------------------------------------------
# A recipe turns the analysis parameters (as the server got them) into the lines that create
# the analysis; each GUI channel is read from the result set under the same name unless the
# recipe's channel table says otherwise.
Recipe = Callable[[dict[str, Any]], str]


def _create(method: str, renames: dict[str, str] | None = None) -> Recipe:
    """A recipe calling ``ctx.<method>(dataset=ds, ...)`` with the parameters (renamed)."""

    def write(parameters: dict[str, Any]) -> str:
        given = {(renames or {}).get(k, k): v for k, v in parameters.items()}
        return "analysis = " + _call(f"ctx.{method}", ["dataset=ds", *_kwargs(given, "parameter")])

    return write


def _registered(analysis_id: str) -> Recipe:
    """A recipe for analyses without a ``create_*`` method: the registered Analysis class."""

    def write(parameters: dict[str, Any]) -> str:
        return (
            "from ferrotem.analysis.base import Analysis\n\n"
            f"analysis_class = Analysis.get_analysis_by_type({analysis_id!r})\n"
            f"analysis = analysis_class(dataset=ds, parameters={parameters!r})"
        )

    return write


RECIPES: dict[str, Recipe] = {
    "ring": _create("create_ring_analysis"),
    "disk": _create("create_disk_analysis"),
    # the GUI names the pixel like the Analysis class (cx, cy); the API method takes x, y
    "point": _create("create_point_analysis", {"cx": "x", "cy": "y"}),
    "sum": _create("create_sum_analysis"),
    "pick": _create("create_pick_analysis"),
    "com": _create("create_com_analysis", {"r": "mask_radius", "ri": "mask_radius_inner"}),
    "radial_fourier": _create("create_radial_fourier_analysis"),
    "std": _registered("SD_FRAMES"),
}


def _recipe(kind: str) -> Recipe:
    if kind in RECIPES:
        return RECIPES[kind]
    from ferrotem.gui.messages import ANALYSES

    analysis_id: Any = ANALYSES.get(kind)
    if isinstance(analysis_id, str):
        return _registered(analysis_id)
    raise NotebookError(f"analysis type: {kind!r} has no notebook recipe")


def _channel_expression(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"result.{name}.raw_data"
    return f"getattr(result, {name!r}).raw_data"


# -- the notebook -------------------------------------------------------------------------------
def _cell(kind: str, source: str) -> dict[str, Any]:
    lines = source.splitlines(keepends=True)
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": lines}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def make_notebook(
    result: CompletedResult,
    root: Path | str,
    data_dir: str | None = None,
    output: str = "result.npz",
) -> dict[str, Any]:
    """The notebook (a JSON-ready dict, nbformat 4.4) that reproduces ``result``.

    File parameters are relative to the server's ``root`` in the request; the notebook joins
    them to ``DATA_DIR``, which is ``root`` made absolute unless ``data_dir`` gives another
    base (e.g. a path relative to where the notebook will run). ``output``: the ``.npz`` file
    the notebook writes its channels to."""
    kind = result.analysis.get("type")
    parameters = dict(result.analysis.get("parameters", {}))
    if not isinstance(kind, str):
        raise NotebookError(f"analysis type: got {kind!r}")
    analysis_code = _recipe(kind)(parameters)
    base = str(Path(root).resolve()) if data_dir is None else data_dir
    load_args = [repr(result.dataset.filetype)]
    for key, value in result.dataset.parameters.items():
        _identifier(key, "dataset parameter")
        if key in _FILE_PARAMETERS and isinstance(value, str):
            load_args.append(f"{key}=str(DATA_DIR / {value!r})")
        else:
            load_args.append(f"{key}={value!r}")
    channels = sorted(result.channels)
    channel_lines = "".join(f"    {n!r}: {_channel_expression(n)},\n" for n in channels)
    cells = [
        _cell(
            "markdown",
            (
                f"# ferrotem: {kind} analysis\n\n"
                f"Reproduces the GUI's `{kind}` analysis with the Python API: it opens the dataset "
                "as the GUI did, runs the same analysis, saves the images the GUI showed "
                f"(channels {', '.join(f'`{c}`' for c in channels)}) to `{output}` and plots them."
            ),
        ),
        _cell(
            "code",
            (
                "from pathlib import Path\n\n"
                "import matplotlib.pyplot as plt\n"
                "import numpy as np\n"
                "from ferrotem.api import Context"
            ),
        ),
        _cell(
            "code",
            (
                "# the directory the GUI's file paths are relative to (its --root):\n"
                "# change it if the data moved\n"
                f"DATA_DIR = Path({base!r})"
            ),
        ),
        _cell("code", "ctx = Context()\nds = " + _call("ctx.load", load_args) + "\nds"),
        _cell("code", analysis_code + "\nresult = ctx.run(analysis)"),
        _cell(
            "code",
            (
                "# the images the GUI showed, by channel name\n"
                f"channels = {{\n{channel_lines}}}\n"
                f"np.savez({output!r}, **channels)"
            ),
        ),
        _cell(
            "code",
            (
                "for name, image in channels.items():\n"
                "    image = np.asarray(image)\n"
                "    if np.iscomplexobj(image):\n"
                "        image = np.abs(image)\n"
                "    if image.ndim == 1:\n"
                "        image = image[np.newaxis]\n"
                "    if image.ndim != 2:\n"
                "        continue\n"
                "    fig, ax = plt.subplots()\n"
                "    shown = ax.imshow(image, cmap='viridis')\n"
                "    ax.set_title(name)\n"
                "    fig.colorbar(shown, ax=ax)"
            ),
        ),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,  # 4.4: cells need no ids, and every reader accepts it
    }


def notebook_json(notebook: dict[str, Any]) -> str:
    """The notebook as ``.ipynb`` text (one-space indent, as Jupyter writes it)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
