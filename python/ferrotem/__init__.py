"""ferrotem: a Rust engine for pixelated STEM (4D-STEM) data, with LiberTEM's Python API.

Replace ``libertem`` by ``ferrotem`` in a LiberTEM script and it runs on ferrotem::

    from ferrotem.api import Context
    from ferrotem.udf.sum import SumUDF

    ctx = Context()
    ds = ctx.load("raw", path="scan.raw", nav_shape=(64, 64), sig_shape=(256, 256), dtype="u2")
    res = ctx.run_udf(dataset=ds, udf=SumUDF())
    mean_pattern = res["intensity"].data / 4096
"""

from typing import Any

from ferrotem._core import __version__

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    """Submodules load on first attribute access (``ferrotem.udf`` after ``import ferrotem``):
    LiberTEM scripts reach them so after ``from libertem import api``, which imports them."""
    import importlib
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
