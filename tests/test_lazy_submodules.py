"""Submodules reachable as attributes, as in LiberTEM scripts that write
``libertem.udf.masks.ApplyMasksUDF(...)`` after ``import libertem`` and ``from libertem import
api`` (LiberTEM's api imports them). Each case runs in a fresh interpreter, so that no other
test has imported the submodule already."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_udf_submodule_as_attribute_after_api_import():
    code = (
        "import sys, numpy as np\n"
        "import ferrotem\n"
        "from ferrotem import api\n"
        "assert 'ferrotem.udf.masks' not in sys.modules\n"
        "udf = ferrotem.udf.masks.ApplyMasksUDF(mask_factories=[lambda: np.ones((4, 5))])\n"
        "ctx = api.Context.make_with('inline')\n"
        "data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)\n"
        "res = ctx.run_udf(ctx.load('memory', data=data), udf)\n"
        "assert np.allclose(res['intensity'].data[..., 0], data.sum(axis=(2, 3)))\n"
        "print(ferrotem.masks.circular.__name__)\n"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "circular"


@pytest.mark.parametrize("expr", ["ferrotem.udf.no_such_module", "ferrotem.no_such_module"])
def test_unknown_attribute_is_an_attribute_error(expr):
    done = _run(
        f"import ferrotem, ferrotem.udf\ntry:\n    {expr}\nexcept AttributeError as e:\n"
        "    print('AttributeError', e)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("AttributeError") and "no_such_module" in done.stdout
