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
from dataclasses import dataclass, field
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
# the analysis. Each GUI channel is read from the result set under the same name, unless the
# recipe's table gives another expression (channels the GUI derives, or names it renames).
@dataclass(frozen=True)
class Recipe:
    """How one analysis type is written: ``code(parameters)`` creates ``analysis``;
    ``channels`` maps GUI channel names to the expressions that compute them afterwards
    (``result``, ``ds``, ``analysis`` are defined there); ``after`` is code run before them."""

    code: Callable[[dict[str, Any]], str]
    channels: dict[str, str] = field(default_factory=dict)
    after: str = ""


def _create(method: str, renames: dict[str, str] | None = None) -> Callable[[dict[str, Any]], str]:
    """Code calling ``ctx.<method>(dataset=ds, ...)`` with the parameters (renamed)."""

    def write(parameters: dict[str, Any]) -> str:
        given = {(renames or {}).get(k, k): v for k, v in parameters.items()}
        return "analysis = " + _call(f"ctx.{method}", ["dataset=ds", *_kwargs(given, "parameter")])

    return write


def _registered(analysis_id: str) -> Callable[[dict[str, Any]], str]:
    """Code for analyses without a ``create_*`` method: the registered Analysis class."""

    def write(parameters: dict[str, Any]) -> str:
        return (
            "from ferrotem.analysis.base import Analysis\n\n"
            f"analysis_class = Analysis.get_analysis_by_type({analysis_id!r})\n"
            f"analysis = analysis_class(dataset=ds, parameters={parameters!r})"
        )

    return write


def _sum(parameters: dict[str, Any]) -> str:
    # a scan ROI is a parameter of the Analysis (create_sum_analysis takes none)
    return (
        _registered("SUM_FRAMES")(parameters)
        if parameters
        else _create("create_sum_analysis")(parameters)
    )


def _rectangle(parameters: dict[str, Any]) -> str:
    """A one-mask analysis over ``masks.rectangular`` (the GUI's rectangle detector)."""
    names = {"x": "X", "y": "Y", "width": "Width", "height": "Height"}
    unknown = sorted(set(parameters) - set(names))
    if unknown:
        raise NotebookError(f"parameter: {unknown[0]!r} is not a rectangle parameter")
    args = [f"{names[k]}={parameters[k]!r}" for k in names if k in parameters]
    shape = _call("masks.rectangular", [*args, "imageSizeX=fx", "imageSizeY=fy"])
    return (
        "from ferrotem import masks\n\n"
        "fy, fx = tuple(ds.shape.sig)\n\n\n"
        "def rectangle():\n"
        f"    return {shape}\n\n\n"
        "analysis = ctx.create_mask_analysis(\n"
        "    factories=[rectangle], dataset=ds, mask_count=1, mask_dtype=np.float32\n"
        ")"
    )


#: frames a sum ran over (its ROI's, or all): the GUI's mean frame divides by it
_FRAMES_SUMMED = (
    "roi = analysis.get_roi()\n"
    "n_frames = int(np.prod(tuple(ds.shape.nav))) if roi is None else int(np.count_nonzero(roi))"
)

RECIPES: dict[str, Recipe] = {
    "ring": Recipe(_create("create_ring_analysis")),
    "disk": Recipe(_create("create_disk_analysis")),
    # the GUI names the pixel like the Analysis class (cx, cy); the API method takes x, y
    "point": Recipe(_create("create_point_analysis", {"cx": "x", "cy": "y"})),
    "rectangle": Recipe(_rectangle, {"intensity": "result.mask_0.raw_data"}),
    "com": Recipe(
        _create("create_com_analysis", {"r": "mask_radius", "ri": "mask_radius_inner"}),
        # the field's direction in radians (0 = +x, pi/2 = +y), as the GUI's colour wheel
        {"direction": "np.arctan2(result.y.raw_data, result.x.raw_data)"},
    ),
    "radial_fourier": Recipe(_create("create_radial_fourier_analysis")),
    "sum": Recipe(_sum, {"mean": "result.intensity.raw_data / n_frames"}, _FRAMES_SUMMED),
    "std": Recipe(_registered("SD_FRAMES")),
    "sumsig": Recipe(
        _registered("SUM_SIG"),
        {"intensity": "np.asarray(result.intensity.raw_data).reshape(tuple(ds.shape.nav))"},
    ),
    "pick": Recipe(_create("create_pick_analysis")),
}


def _recipe(kind: str) -> Recipe:
    if kind in RECIPES:
        return RECIPES[kind]
    from ferrotem.gui.messages import ANALYSES

    entry: Any = ANALYSES.get(kind)
    # the server's table names the registered Analysis (a string, or an entry holding it)
    analysis_id = getattr(entry, "analysis_id", entry)
    if isinstance(analysis_id, str):
        return Recipe(_registered(analysis_id))
    raise NotebookError(f"analysis type: {kind!r} has no notebook recipe")


def _channel_expression(recipe: Recipe, name: str) -> str:
    if name in recipe.channels:
        return recipe.channels[name]
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
    recipe = _recipe(kind)
    analysis_code = recipe.code(parameters)
    base = str(Path(root).resolve()) if data_dir is None else data_dir
    load_args = [repr(result.dataset.filetype)]
    for key, value in result.dataset.parameters.items():
        _identifier(key, "dataset parameter")
        if key in _FILE_PARAMETERS and isinstance(value, str):
            load_args.append(f"{key}=str(DATA_DIR / {value!r})")
        else:
            load_args.append(f"{key}={value!r}")
    channels = sorted(result.channels)
    channel_lines = "".join(f"    {n!r}: {_channel_expression(recipe, n)},\n" for n in channels)
    after = recipe.after + "\n" if recipe.after else ""
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
                f"{after}# the images the GUI showed, by channel name\n"
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
