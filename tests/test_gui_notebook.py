"""The notebook generator: for each analysis type the GUI offers, a notebook is generated from
the tab's complete result, its code cells are run in a fresh Python process, and the arrays it
saves are compared with the ones the server computed. Also: the notebook route, and that
nothing from a request can become code in the notebook."""

from __future__ import annotations

import ast
import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.gui.messages import ANALYSES, Session, stream_run
from ferrotem.gui.notebook import NotebookError, make_notebook, notebook_json
from ferrotem.gui.results import CompletedResult, DatasetSpec
from helpers.gui import RING, ServerThread, write_raw
from helpers.gui_client import OPEN_RAW, ask, connect, http_get, run_to_end
from helpers.notebooks import run_code_cells

TOKEN = "notebook-token-0123456789"
#: parameters of each analysis type (those the server does not offer yet are skipped)
PARAMETERS: dict[str, dict[str, Any]] = {
    "ring": RING,
    "disk": {"cx": 9.2, "cy": 6.7, "r": 4.1},
    "point": {"cx": 5, "cy": 11},
    "sum": {},
    "std": {},
    "pick": {"x": 3, "y": 7},
    "com": {"cx": 8.2, "cy": 7.4, "r": 5.5},
    "radial_fourier": {"cx": 8.0, "cy": 8.0, "ri": 1.0, "ro": 7.0, "n_bins": 2, "max_order": 4},
    "rectangle": {"x": 3, "y": 2.5, "width": 6, "height": -2},
    "sumsig": {},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("notebook") / "root"
    (base / "data").mkdir(parents=True)
    write_raw(base / "data" / "scan.raw", seed=9)
    return base.resolve()


#: a scan ROI (frame-shaped analyses restricted to part of the scan)
ROI = {"roi": {"shape": "rect", "x": 2, "y": 3, "width": 5, "height": 4}}


def _gui_result(
    root: Path, kind: str, executor: str = "inline", parameters: dict[str, Any] | None = None
) -> CompletedResult:
    """The analysis run as the server runs it (a session, streamed), and what it keeps."""
    with Context.make_with(executor) as ctx:
        session = Session(ctx, root)
        opened = session.open(OPEN_RAW)
        assert opened["type"] == "opened", opened
        request = {"dataset": opened["dataset"], "analysis_id": "nb",
                   "analysis": {"type": kind,
                                "parameters": PARAMETERS[kind] if parameters is None
                                else parameters}}  # fmt: skip
        assert stream_run(ctx, session.prepare_run(request), lambda header, image: None)
        return session.results["nb"]


def _check_structure(notebook: dict[str, Any]) -> None:
    """What nbformat 4 requires of a notebook and its cells."""
    assert notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 4
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    for cell in notebook["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["metadata"], dict)
        assert all(isinstance(line, str) for line in cell["source"])
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize(
    ("kind", "executor", "parameters"),
    [(kind, "inline", None) for kind in sorted(PARAMETERS)]
    + [("ring", "threads", None), ("sum", "threads", None)]
    + [("sum", "inline", ROI), ("std", "inline", ROI)],
)
def test_the_notebook_reproduces_the_gui_result(
    root: Path, tmp_path: Path, kind: str, executor: str, parameters: dict[str, Any] | None
) -> None:
    if kind not in ANALYSES:
        pytest.skip(f"the server offers no {kind!r} analysis yet")
    if parameters is not None and not set(parameters) <= set(
        getattr(ANALYSES[kind], "parameters", ())
    ):
        pytest.skip(f"the server's {kind!r} takes no {sorted(parameters)} yet")
    result = _gui_result(root, kind, executor, parameters)
    assert result.channels
    # the notebook runs elsewhere, finding the data through a relative DATA_DIR
    data_dir = os.path.relpath(root, tmp_path)
    notebook = json.loads(notebook_json(make_notebook(result, root, data_dir=data_dir)))
    _check_structure(notebook)
    (tmp_path / f"{kind}.ipynb").write_text(notebook_json(notebook))
    run_code_cells(notebook, tmp_path)
    with np.load(tmp_path / "result.npz") as saved:
        assert sorted(saved.files) == sorted(result.channels)
        for name, image in result.channels.items():
            np.testing.assert_allclose(saved[name], image, rtol=1e-6, err_msg=name)


def test_every_offered_analysis_has_parameters_here() -> None:
    # a new analysis type must get a case above, so that its notebook is run too
    assert set(ANALYSES) <= set(PARAMETERS)


def test_nothing_from_a_request_becomes_code(root: Path) -> None:
    sneaky = "x'); import os; os.system('true'); ('"
    spec = DatasetSpec("raw", {"path": sneaky, "dtype": sneaky, "nav_shape": [1]})
    result = CompletedResult("d", spec, {"type": "ring", "parameters": {"cx": sneaky}},
                             {"intensity": np.zeros(1)})  # fmt: skip
    code_cells = [c for c in make_notebook(result, root)["cells"] if c["cell_type"] == "code"]
    trees = [ast.parse("".join(c["source"])) for c in code_cells]
    # the only imports are the notebook's own, in its first code cell
    for tree in trees[1:]:
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    strings = {n.value for t in trees for n in ast.walk(t) if isinstance(n, ast.Constant)}
    assert sneaky in strings  # there, but only as a string literal
    for bad in ({"cx": 1, "os.system('x') or cx": 2}, {"class": 1}):
        wrong = CompletedResult("d", spec, {"type": "ring", "parameters": bad}, {})
        with pytest.raises(NotebookError, match="not a Python identifier"):
            make_notebook(wrong, root)
    with pytest.raises(NotebookError, match="no notebook recipe"):
        make_notebook(CompletedResult("d", spec, {"type": "nope"}, {}), root)


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ServerThread]:
    ctx = Context.make_with("threads", cpus=2)
    srv = ServerThread(root, TOKEN, ctx)
    yield srv
    srv.stop()
    ctx.close()


def test_the_notebook_route_serves_the_tab_s_notebook(server: ServerThread, root: Path) -> None:
    async def go() -> tuple[int, bytes, Any, CompletedResult]:
        conn = await connect(server)
        try:
            sid = (await ask(conn, {"type": "session"}))["session"]
            opened = await ask(conn, OPEN_RAW)
            await run_to_end(conn, opened["dataset"], {"type": "ring", "parameters": RING}, "a 1")
            got = http_get(f"{server.http}/notebook/{sid}/a%201.ipynb?token={TOKEN}")
            return (*got, server.state.tabs.get(sid).results["a 1"])
        finally:
            conn.close()

    status, body, headers, result = asyncio.run(go())
    assert status == 200 and 'filename="a_1.ipynb"' in headers["Content-Disposition"]
    notebook = json.loads(body)
    assert notebook == make_notebook(result, root)
    # served notebooks find the data by its absolute path under the server's root
    assert f"DATA_DIR = Path({str(root)!r})" in "".join(notebook["cells"][2]["source"])
