"""``'seq'``: Norpix StreamPix ``.seq`` files as Direct Electron cameras write them, with the
dark and gain references and the bad-pixel map of the acquisition applied as the dataset's
corrections.

The header is parsed and the frame records (pixels, then a footer that is skipped) are read in
place by the Rust core (``ferrotem-core``'s framed source); the MRC references and the
``.metadata`` record are parsed there too. This module finds the companion files, builds the
bad-pixel map from the XML configuration, and checks the parameters.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

from ferrotem import _core
from ferrotem.common.exceptions import (
    CorruptFileError,
    DataSetTypeError,
    InvalidDataSetParameter,
)
from ferrotem.common.math import make_2D_square
from ferrotem.common.shape import Shape
from ferrotem.corrections import CorrectionSet
from ferrotem.io.dataset._framed import (
    IncompleteDataWarning,
    check_sig_size,
    files_key,
    warn_if_cut_short,
)
from ferrotem.io.dataset.base import DataSet, DataSetMeta, check_file, check_int, check_shape

__all__ = [
    "IncompleteDataWarning",
    "SEQDataSet",
    "bad_pixel_map",
    "companion_paths",
    "read_mrc_reference",
]


def _basename(path: str) -> str:
    """The acquisition's name: the path without ``.seq`` (or ``.seq.seq``, which exists in the
    wild), to which the companions' suffixes are added."""
    name, ext = os.path.splitext(path)
    name2, ext2 = os.path.splitext(name)
    if ext.lower() == ".seq" and ext2.lower() == ".seq":
        return name2
    if ext.lower() == ".seq":
        return name
    return path


def companion_paths(path: str) -> dict[str, str]:
    """Where the companions of the ``.seq`` file ``path`` are looked for: ``dark``, ``gain``
    (MRC), ``xml`` (the bad-pixel configuration) and ``metadata`` (DE's binary record)."""
    base = _basename(path) + ".seq"
    return {
        "dark": base + ".dark.mrc",
        "gain": base + ".gain.mrc",
        "xml": base + ".Config.Metadata.xml",
        "metadata": base + ".metadata",
    }


def read_mrc_reference(path: str) -> np.ndarray:
    """The single image of the MRC file ``path`` (a dark or gain reference) as float32."""
    shape, dtype, data = _core.mrc_reference(path)
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).astype(np.float32)


def _int_attr(element: ET.Element, name: str, path: str) -> int:
    value = element.attrib.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CorruptFileError(
            f"{path}: a <{element.tag}> has {name}={value!r}, expected an integer"
        ) from None


def _span(text: str, element: ET.Element, path: str) -> tuple[int, int]:
    """``'5'`` → (5, 5); ``'5-7'`` → (5, 7), inclusive as the XML means it."""
    parts = text.split("-")
    try:
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        raise CorruptFileError(
            f"{path}: a <{element.tag}> has {dict(element.attrib)!r}, expected numbers or "
            "ranges 'first-last'"
        ) from None
    if len(parts) > 2 or first < 0 or last < first:
        raise CorruptFileError(f"{path}: a <{element.tag}> has the bad range {text!r}")
    return first, last


def _choose_map(maps: list[ET.Element], binning: int, path: str) -> ET.Element:
    """The map for the hardware binning: among the maps made for it (no or a ``Binning`` below
    2 when unbinned, a ``Binning`` of 2 or more when binned) the one with the most columns."""
    candidates = []
    for m in maps:
        map_binning = _int_attr(m, "Binning", path) if "Binning" in m.attrib else 1
        if (binning < 2) == (map_binning < 2):
            candidates.append((_int_attr(m, "Columns", path), m))
    if not candidates:
        raise CorruptFileError(
            f"{path}: no <BadPixelMap> for hardware binning {binning} (found {len(maps)} maps)"
        )
    return max(candidates, key=lambda c: c[0])[1]


def bad_pixel_map(xml_path: str, metadata: dict[str, int]) -> np.ndarray:
    """The excluded pixels the DE configuration ``xml_path`` lists, as a boolean array.

    The map for the acquisition's ``HardwareBinning`` is chosen (see ``_choose_map``); its
    defects (single pixels, whole rows, whole columns, inclusive ranges ``first-last``) are
    marked on a ``Rows`` x ``Columns`` array, which is then cropped to the acquired region of
    the ``.metadata`` record (``UnbinnedFrameSize``, ``Offset``, divided by the binning) when
    that region lies within the map, as LiberTEM does.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise CorruptFileError(f"{xml_path}: not a readable XML file ({e})") from None
    maps = root.findall(".//BadPixelMap")
    binning = int(metadata["HardwareBinning"])
    chosen = _choose_map(maps, binning, xml_path)
    rows, cols = _int_attr(chosen, "Rows", xml_path), _int_attr(chosen, "Columns", xml_path)
    if rows < 1 or cols < 1:
        raise CorruptFileError(f"{xml_path}: a <BadPixelMap> of {rows} x {cols} pixels")
    marked = np.zeros((rows, cols), dtype=bool)
    for defect in chosen.findall("Defect"):
        attrs = defect.attrib
        if "Row" in attrs and "Column" in attrs:
            r, c = _int_attr(defect, "Row", xml_path), _int_attr(defect, "Column", xml_path)
            if not (0 <= r < rows and 0 <= c < cols):
                raise CorruptFileError(
                    f"{xml_path}: the defect at Row={r}, Column={c} lies outside the map of "
                    f"{rows} x {cols} pixels"
                )
            marked[r, c] = True
            continue
        if len(attrs) != 1 or next(iter(attrs)) not in ("Row", "Rows", "Column", "Columns"):
            raise CorruptFileError(
                f"{xml_path}: a <Defect> has {dict(attrs)!r}, expected Row and Column, or one "
                "of Row, Rows, Column, Columns"
            )
        key, value = next(iter(attrs.items()))
        first, last = _span(value, defect, xml_path)
        limit = rows if key.startswith("Row") else cols
        if last >= limit:
            raise CorruptFileError(
                f"{xml_path}: the defect {key}={value!r} lies outside the map of {rows} x "
                f"{cols} pixels"
            )
        if key.startswith("Row"):
            marked[first : last + 1, :] = True
        else:
            marked[:, first : last + 1] = True
    div = binning if binning > 1 else 1
    want = (int(metadata["UnbinnedFrameSizeY"]) // div, int(metadata["UnbinnedFrameSizeX"]) // div)
    at = (int(metadata["OffsetY"]) // div, int(metadata["OffsetX"]) // div)
    if at[0] + want[0] <= rows and at[1] + want[1] <= cols:
        marked = marked[at[0] : at[0] + want[0], at[1] : at[1] + want[1]]
    return marked


class SEQDataSet(DataSet):
    """A Norpix / DE ``.seq`` file: ``ctx.load('seq', path=..., nav_shape=...)``.

    ``path``: the ``.seq`` file (``name.seq`` or ``name.seq.seq``). ``nav_shape`` as LiberTEM
    takes it (``scan_size`` is its deprecated name); without one, the frames form a square scan
    if their number is square, else a line. ``sig_shape`` defaults to the header's frame
    ``(height, width)`` (any shape of as many pixels is allowed). Pixels are 8, 16, 32 or 64-bit
    unsigned, the frame footers are skipped, and uncompressed monochrome files only are read.

    Corrections, applied in every run that passes no ``corrections`` of its own (each optional,
    as in LiberTEM: a missing file means no such correction):

    - ``name.seq.dark.mrc`` is subtracted and ``name.seq.gain.mrc`` multiplied with;
    - the bad pixels of ``name.seq.Config.Metadata.xml`` are patched from their neighbours, with
      the map chosen for the hardware binning and cropped to the acquired region that
      ``name.seq.metadata`` records (both files are needed for this).

    A file cut short (fewer whole frames than the scan) loads with an ``IncompleteDataWarning``;
    its missing frames read as zeros.
    """

    def __init__(
        self,
        path: Any,
        scan_size: tuple[int, ...] | None = None,
        nav_shape: tuple[int, ...] | None = None,
        sig_shape: tuple[int, ...] | None = None,
        sync_offset: int = 0,
        io_backend: Any = None,
        num_partitions: int | None = None,
    ):
        super().__init__(io_backend=io_backend)
        if scan_size is not None:
            warnings.warn("scan_size is deprecated, use nav_shape", FutureWarning, stacklevel=2)
            if nav_shape is not None:
                raise InvalidDataSetParameter(
                    "scan_size: give either scan_size or nav_shape, not both"
                )
            nav_shape = scan_size
        self._path = path
        self._nav_shape = None if nav_shape is None else check_shape("nav_shape", nav_shape)
        self._sig_shape = None if sig_shape is None else check_shape("sig_shape", sig_shape)
        self._sync_offset = check_int("sync_offset", sync_offset)
        if num_partitions is not None:
            num_partitions = check_int("num_partitions", num_partitions, minimum=1)
        self._num_partitions = num_partitions
        self._header: dict[str, Any] = {}
        self._dark: np.ndarray | None = None
        self._gain: np.ndarray | None = None
        self._excluded: np.ndarray | None = None

    def _open(self) -> _core.DataSource:
        return _core.open_seq(
            self._path, list(self.shape.nav), list(self.shape.sig), self._sync_offset
        )

    def _source_key(self) -> Any:
        return (
            "seq",
            files_key([self._path]),
            tuple(self.shape),
            self._sync_offset,
            os.environ.get("FERROTEM_IO"),
        )

    @property
    def header(self) -> dict[str, Any]:
        """The file header's fields (after ``initialize``)."""
        return self._header

    def _reference(self, path: str, native_sig: tuple[int, int]) -> np.ndarray | None:
        if not os.path.exists(path):
            return None
        image = read_mrc_reference(path)
        if image.shape != native_sig:
            raise CorruptFileError(
                f"{path}: the reference image is {image.shape}, but the frames of "
                f"{self._path!r} are {native_sig}"
            )
        return image

    def _load_corrections(self, native_sig: tuple[int, int]) -> None:
        paths = companion_paths(self._path)
        self._dark = self._reference(paths["dark"], native_sig)
        self._gain = self._reference(paths["gain"], native_sig)
        self._excluded = None
        if os.path.exists(paths["xml"]) and os.path.exists(paths["metadata"]):
            meta = _core.seq_metadata(paths["metadata"])
            excluded = bad_pixel_map(paths["xml"], meta)
            if excluded.shape != native_sig:
                raise CorruptFileError(
                    f"{paths['xml']}: the bad-pixel map is {excluded.shape} after cropping to "
                    f"the region of {paths['metadata']}, but the frames of {self._path!r} are "
                    f"{native_sig}"
                )
            self._excluded = excluded

    def _files_for_confinement(self) -> list[str]:
        companions = companion_paths(self._path).values()
        return [self._path, *(p for p in companions if os.path.lexists(p))]

    def initialize(self, executor: Any) -> SEQDataSet:
        """Reads the header and the companions, and checks the parameters against them."""
        self._path = check_file("path", self._path)
        h = _core.seq_header(self._path)
        self._header = h
        native_sig = (int(h["height"]), int(h["width"]))
        frames = int(h["frames"])
        nav_shape = self._nav_shape
        if nav_shape is None:
            if frames < 1:
                raise DataSetTypeError(
                    f"nav_shape: missing, and {self._path!r} holds no whole frame to count"
                )
            nav_shape = make_2D_square((frames,))
        sig_shape = self._sig_shape or native_sig
        check_sig_size(sig_shape, native_sig, f"{self._path!r}")
        self._load_corrections(native_sig)
        self._meta = DataSetMeta(
            shape=Shape(nav_shape + sig_shape, sig_dims=len(sig_shape)),
            raw_dtype=h["dtype"],
            image_count=frames,
            sync_offset=self._sync_offset,
            metadata={"header": dict(h), "companions": companion_paths(self._path)},
        )
        self.get_source()
        warn_if_cut_short(f"the SEQ file {self._path!r}", frames, nav_shape)
        return self

    def get_correction_data(self) -> CorrectionSet | None:
        """The dark, gain and bad pixels of the acquisition's companion files, reshaped to
        ``sig_shape``; None when it has none."""
        if self._dark is None and self._gain is None and self._excluded is None:
            return None
        sig = tuple(self.shape.sig)

        def fit(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr.reshape(sig)

        return CorrectionSet(
            dark=fit(self._dark), gain=fit(self._gain), excluded_pixels=fit(self._excluded)
        )

    @classmethod
    def get_supported_extensions(cls) -> set[str]:
        """File name extensions of this format."""
        return {"seq"}

    @classmethod
    def detect_params(cls, path: str, executor: Any = None) -> dict[str, Any] | bool:
        """LiberTEM's parameter detection: the parameters that load ``path``, or False."""
        try:
            h = _core.seq_header(path)
        except Exception:
            return False
        frames = max(int(h["frames"]), 1)
        sig = (int(h["height"]), int(h["width"]))
        return {
            "parameters": {"path": path, "nav_shape": make_2D_square((frames,)), "sig_shape": sig},
            "info": {"image_count": frames, "native_sig_shape": sig},
        }

    def get_diagnostics(self) -> list[dict[str, str]]:
        """The header's fields and which corrections were found (LiberTEM's list)."""
        h = self._header
        skip = {"dtype", "frames", "file_size", "image_offset", "footer_size"}
        return [{"name": k, "value": str(v)} for k, v in h.items() if k not in skip] + [
            {"name": "Footer size", "value": str(h.get("footer_size"))},
            {"name": "Dark frame included", "value": str(self._dark is not None)},
            {"name": "Gain map included", "value": str(self._gain is not None)},
            {"name": "Excluded pixels included", "value": str(self._excluded is not None)},
            {"name": "Frames found", "value": str(h.get("frames"))},
        ]

    def __repr__(self) -> str:
        return f"<SEQDataSet of {self.dtype} shape={self.shape}>"
