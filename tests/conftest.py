"""Shared fixtures and helpers for the ferrotem test suite.

numpy is the oracle everywhere: helpers here build small arrays and the plain-numpy results
that the engine's results are compared against.
"""

from __future__ import annotations

import numpy as np
import pytest
from ferrotem.api import Context
from ferrotem.executor.inline import InlineJobExecutor
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ferrotem",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ferrotem")

#: every dtype the readers must handle, including big-endian ones
ALL_DTYPES = ["u1", "u2", "u4", "i2", "i4", "f4", "f8", "c8", ">u2", ">f4"]
EXECUTORS = ["inline", "threads"]


@pytest.fixture(scope="session")
def contexts():
    """One Context per executor, shared by the whole session."""
    ctxs = {
        "inline": Context(executor=InlineJobExecutor()),
        "threads": Context(),
    }
    yield ctxs
    for c in ctxs.values():
        c.close()


@pytest.fixture(params=EXECUTORS)
def ctx(request, contexts):
    """A Context, once with the inline and once with the default threads executor."""
    return contexts[request.param]


@pytest.fixture
def inline_ctx(contexts):
    return contexts["inline"]


def make_data(seed: int, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Small, exactly representable values (so float32 sums stay exact) in ``dtype``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    hi = 4 if dtype.kind in "ui" else 50
    arr = rng.integers(0, hi, size=shape)
    if dtype.kind == "i":
        arr = arr - hi // 2
    if dtype.kind == "c":
        return (arr + 1j * rng.integers(-5, 5, size=shape)).astype(dtype)
    if dtype.kind == "f":
        return (arr + rng.integers(0, 4, size=shape) / 4).astype(dtype)
    return arr.astype(dtype)


def input_dtype_for(dataset_dtype, preferred=np.float32) -> np.dtype:
    """Spec §2.9: the UDF input dtype, numpy promotion with the dataset dtype, native order."""
    dt = np.result_type(preferred, np.dtype(dataset_dtype))
    return dt.newbyteorder("=") if dt.byteorder not in "=|" else dt


def flat_frames(data: np.ndarray, sig_dims: int) -> np.ndarray:
    """``data`` with the navigation axes flattened: ``(n_frames, *sig)``."""
    sig = data.shape[data.ndim - sig_dims :]
    return data.reshape((-1,) + sig)


def selected(data: np.ndarray, sig_dims: int, roi: np.ndarray | None) -> np.ndarray:
    """The frames a run processes, in flat navigation order."""
    frames = flat_frames(data, sig_dims)
    if roi is None:
        return frames
    return frames[np.asarray(roi, dtype=bool).reshape(-1)]


def expand_nav(values: np.ndarray, nav_shape, roi: np.ndarray | None, fill) -> np.ndarray:
    """Oracle for a nav-kind ``.data``: ``values`` (one per selected frame) placed into the
    full navigation shape, ``fill`` elsewhere."""
    extra = values.shape[1:]
    n = int(np.prod(nav_shape))
    full = np.full((n,) + extra, fill, dtype=values.dtype)
    mask = np.ones(n, dtype=bool) if roi is None else np.asarray(roi, dtype=bool).reshape(-1)
    full[mask] = values
    return full.reshape(tuple(nav_shape) + extra)


def assert_close(actual, expected, dtype=None) -> None:
    """Exact for integer dtypes; relative tolerance by precision for inexact ones."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    dt = np.dtype(dtype if dtype is not None else actual.dtype)
    if dt.kind in "fc":
        rtol = 1e-5 if dt.itemsize <= (8 if dt.kind == "c" else 4) else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(actual, expected)


# -- hypothesis strategies ----------------------------------------------------------------------
@st.composite
def dataset_shapes(draw, max_nav_dims: int = 3, max_sig_dims: int = 2):
    """(nav_shape, sig_shape): 1-D to 3-D navigation, 1-D or 2-D signal, tiny sizes."""
    nav_dims = draw(st.integers(1, max_nav_dims))
    sig_dims = draw(st.integers(1, max_sig_dims))
    nav = tuple(draw(st.lists(st.integers(1, 4), min_size=nav_dims, max_size=nav_dims)))
    sig = tuple(draw(st.lists(st.integers(1, 6), min_size=sig_dims, max_size=sig_dims)))
    return nav, sig


@st.composite
def rois(draw, nav_shape):
    """None, a random mask, an empty mask or a single position."""
    kind = draw(st.sampled_from(["none", "random", "empty", "single"]))
    n = int(np.prod(nav_shape))
    if kind == "none":
        return None
    if kind == "empty":
        return np.zeros(nav_shape, dtype=bool)
    if kind == "single":
        roi = np.zeros(n, dtype=bool)
        roi[draw(st.integers(0, n - 1))] = True
        return roi.reshape(nav_shape)
    bits = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(bits, dtype=bool).reshape(nav_shape)


@st.composite
def tileshapes(draw, sig_shape):
    """None or a ``(depth, *sig_part)`` tile shape (partial-signal tiles)."""
    if draw(st.booleans()):
        return None
    depth = draw(st.integers(1, 4))
    part = tuple(draw(st.integers(1, s)) for s in sig_shape)
    return (depth,) + part
