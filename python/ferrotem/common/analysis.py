"""Results of an Analysis: :class:`AnalysisResult` (one image) and :class:`AnalysisResultSet`.

``Context.run(analysis)`` returns a result set; its members are addressed by key as attributes
(``res.intensity``) or items (``res['intensity']``), by position (``res[0]``), or iterated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO
from typing import Any

import numpy as np

__all__ = ["AnalysisResult", "AnalysisResultSet"]


class ResultKeyError(KeyError, AttributeError):
    """No result with that key: a ``KeyError`` for ``res['x']`` and an ``AttributeError`` for
    ``res.x`` (LiberTEM raises ``AttributeError`` for both; either ``except`` works here)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AnalysisResult:
    """One result of an Analysis: the numbers and a picture of them.

    - ``raw_data``: the numerical result (usually nav- or sig-shaped).
    - ``visualized``: RGB(A) ``uint8`` image of it; may be given as a function without
      arguments, called on first access (visualisations cost more than the numbers).
    - ``title``, ``desc``: for a GUI; ``key``: the name in the result set.
    - ``include_in_download``: whether a GUI offers it for download.
    """

    def __init__(
        self,
        raw_data: Any,
        visualized: np.ndarray | Callable[[], np.ndarray],
        title: str,
        desc: str,
        key: str,
        include_in_download: bool = True,
    ):
        self.include_in_download = include_in_download
        self.raw_data = raw_data
        self._visualized = visualized
        self.title = title
        self.desc = desc
        self.key = key

    def __str__(self) -> str:
        return "".join(
            f"{name}: {getattr(self, name)}\n"
            for name in ("title", "desc", "key", "raw_data", "visualized")
        )

    def __repr__(self) -> str:
        return f"<AnalysisResult: {self.key}>"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = np.asarray(self.raw_data, dtype=dtype)
        return data.copy() if copy else data

    @property
    def visualized(self) -> np.ndarray:
        """The image (computed now if it was given as a function)."""
        if callable(self._visualized):
            self._visualized = self._visualized()
        return self._visualized

    def get_image(self, save_kwargs: dict[str, Any] | None = None) -> BytesIO:
        """:attr:`visualized` encoded as an image file in memory (PNG by default)."""
        from ferrotem.common.viz import encode_image

        return encode_image(self.visualized, save_kwargs=save_kwargs)


#: a list of results, or a function making it on first access
ResultsType = list[AnalysisResult] | Callable[[], list[AnalysisResult]]


class AnalysisResultSet:
    """The results of one Analysis run, in the Analysis' order.

    Access by key as attribute (``res.mask_0``) or item (``res['mask_0']``), by position
    (``res[0]``), by iteration, and :meth:`keys`. ``raw_results``: the underlying numbers where
    an Analysis provides them (e.g. the complex coefficients of a radial Fourier analysis).
    """

    def __init__(self, results: ResultsType, raw_results: Any = None):
        self._results = results
        self.raw_results = raw_results

    @property
    def results(self) -> list[AnalysisResult]:
        """The list of results (made now if it was given as a function)."""
        if callable(self._results):
            self._results = self._results()
        return self._results

    def __repr__(self) -> str:
        return repr(self.results)

    def __getattr__(self, key: str) -> AnalysisResult:
        if key.startswith("__") or key in ("_results", "raw_results"):
            # not a result key: keeps copy/pickle and half-built instances sane
            raise AttributeError(key)
        for result in self.results:
            if result.key == key:
                return result
        raise ResultKeyError(f"result with key {key!r} not found, have: {', '.join(self.keys())}")

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, str):
            return self.__getattr__(k)
        return self.results[k]

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[AnalysisResult]:
        return iter(self.results)

    def keys(self) -> list[str]:
        """The results' keys, in order."""
        return [r.key for r in self.results]
