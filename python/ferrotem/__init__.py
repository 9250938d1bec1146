"""ferrotem: a Rust engine for pixelated STEM (4D-STEM) data, with LiberTEM's Python API.

Replace ``libertem`` by ``ferrotem`` in a LiberTEM script and it runs on ferrotem::

    from ferrotem.api import Context
    from ferrotem.udf.sum import SumUDF

    ctx = Context()
    ds = ctx.load("raw", path="scan.raw", nav_shape=(64, 64), sig_shape=(256, 256), dtype="u2")
    res = ctx.run_udf(dataset=ds, udf=SumUDF())
    mean_pattern = res["intensity"].data / 4096
"""

from ferrotem._core import __version__

__all__ = ["__version__"]
