"""What the single-file formats whose header the core parses (``'mrc'``, ``'ser'``) share: the
shape and sync parameters, the source key, the header property and the detection answer."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ferrotem.io.dataset._framed import files_key
from ferrotem.io.dataset.base import DataSet, check_int, check_shape

__all__ = ["SingleFileDataSet"]


class SingleFileDataSet(DataSet):
    """A dataset read from one file by the core: ``path``, optional ``nav_shape`` /
    ``sig_shape`` (defaults from the header), ``sync_offset`` and ``num_partitions``.
    Subclasses name their ``filetype`` and file ``extension`` and implement ``initialize``
    (which fills ``_header`` and the meta) and ``_open``."""

    #: the name ``ctx.load`` knows the format by (also the source key's first entry)
    filetype: ClassVar[str]
    #: the file name extension ``detect_params`` accepts (lower case, without the dot)
    extension: ClassVar[str]

    def __init__(
        self,
        path: Any,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._header: dict[str, Any] = {}

    def _source_key(self) -> Any:
        return (
            self.filetype,
            files_key([self._path]),
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    @property
    def header(self) -> dict[str, Any]:
        """The file header's fields (after ``initialize``)."""
        return self._header

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """The format's file name extension."""
        return {cls.extension}

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """The parameters to load ``path`` with, if its extension is the format's; ``False``
        if not. The header is read, so a damaged file raises here."""
        if not str(path).lower().endswith("." + cls.extension):
            return False
        ds = cls(path=path).initialize(executor)
        return {
            "parameters": {
                "path": path,
                "nav_shape": tuple(ds.shape.nav),
                "sig_shape": tuple(ds.shape.sig),
            },
            "info": {
                "image_count": cls._detected_image_count(ds),
                "native_sig_shape": tuple(ds.shape.sig),
            },
        }

    @classmethod
    def _detected_image_count(cls, ds: DataSet) -> int:
        """The frame count ``detect_params`` reports: the frames stored in the file."""
        return int(ds.meta.image_count)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self._path}>"
