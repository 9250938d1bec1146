"""``ferrotem.common.udf``: LiberTEM's ``libertem.common.udf`` (UDFMethod, the tiling sentinels,
UDFProtocol), shared with the UDF class, and sentinels that survive the trip to a worker."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.common.udf import TileDepthEnum, TileSizeEnum, UDFMethod, UDFProtocol
from ferrotem.udf import UDF
from ferrotem.udf.base import UDFMethod as BaseUDFMethod


class BestFitTileSum(UDF):
    """Per-frame sums from tiles, asking for the engine's default depth and best-fit size."""

    def get_result_buffers(self):
        return {"s": self.buffer(kind="nav", dtype="float64")}

    def get_preferred_input_dtype(self):
        return np.float64

    def get_tiling_preferences(self):
        return {"depth": self.TILE_DEPTH_DEFAULT, "total_size": self.TILE_SIZE_BEST_FIT}

    def process_tile(self, tile):
        self.results.s[:] += tile.reshape(tile.shape[0], -1).sum(axis=1)


def test_udf_class_uses_the_common_definitions():
    assert BaseUDFMethod is UDFMethod and UDF.UDF_METHOD is UDFMethod
    assert UDF.TILE_DEPTH_DEFAULT is TileDepthEnum.TILE_DEPTH_DEFAULT
    assert UDF.TILE_SIZE_BEST_FIT is TileSizeEnum.TILE_SIZE_BEST_FIT
    for name in ("TILE_SIZE_MAX", "TILE_DEPTH_MAX", "USE_NATIVE_DTYPE", "BACKEND_ALL"):
        assert getattr(UDFProtocol, name) == getattr(UDF, name)
    assert BestFitTileSum().get_method() is UDFMethod.TILE


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_sentinels_keep_their_identity_when_pickled(dumps):
    prefs = BestFitTileSum().get_tiling_preferences()
    back = pickle.loads(dumps(prefs))
    assert back["depth"] is UDF.TILE_DEPTH_DEFAULT
    assert back["total_size"] is UDF.TILE_SIZE_BEST_FIT


def test_best_fit_tiles_give_the_numpy_result_on_inline_and_threads():
    data = np.random.default_rng(4).random((6, 7, 40, 48))
    expected = data.sum(axis=(2, 3))
    for spec in ("inline", "threads"):
        ctx = Context.make_with(spec)
        try:
            ds = ctx.load("memory", data=data, num_partitions=3)
            result = ctx.run_udf(ds, BestFitTileSum())["s"].data
        finally:
            ctx.close()
        np.testing.assert_allclose(result, expected)
