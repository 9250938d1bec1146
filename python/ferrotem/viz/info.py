"""``Context.display(dataset, udf=None, roi=None)``: what a run would see, as an object that a
notebook renders as HTML tables (``_repr_html_``) and a terminal prints as text (``repr``).

The dataset part lists type, shapes, dtype, partitions and the dataset's own diagnostics; the
UDF part (LiberTEM's ``display``) lists its processing method, backends, preferred input dtype
and result buffers with their concrete shapes for this dataset and ROI, from a dry run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ferrotem.udf.runner import UDFRunner

if TYPE_CHECKING:
    from ferrotem.io.dataset.base import DataSet
    from ferrotem.udf.base import UDF

__all__ = ["RunInfo"]

Rows = list[tuple[str, str]]


def _dataset_rows(dataset: DataSet) -> Rows:
    shape = dataset.shape
    parts = list(dataset.get_partitions())
    sizes = [p.stop - p.start for p in parts]
    per_part = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}-{max(sizes)}"
    return [
        ("Type", type(dataset).__name__),
        ("Shape", str(tuple(shape))),
        ("Navigation shape", str(tuple(shape.nav))),
        ("Signal shape", str(tuple(shape.sig))),
        ("dtype", str(np.dtype(dataset.dtype))),
        ("Partitions", f"{len(parts)} ({per_part} frames each)"),
    ]


def _diagnostics(dataset: DataSet) -> Rows:
    # the property: by default it calls ``get_diagnostics``, and a dataset may override either
    items = dataset.diagnostics
    return [(str(d.get("name", "")), str(d.get("value", ""))) for d in items or []]


def _udf_rows(udf: UDF) -> Rows:
    backends = udf.get_backends()
    backends = (backends,) if isinstance(backends, str) else tuple(backends)
    return [
        ("Processing method", str(udf.get_method())),
        ("Compute backends", ", ".join(backends)),
        ("Preferred input dtype", str(np.dtype(udf.get_preferred_input_dtype()))),
    ]


def _buffer_rows(udf: UDF) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, buf in udf._buffers.items():
        if buf.use == "private":
            continue
        shape = "set by get_results()" if buf.use == "result_only" else str(buf.data.shape)
        rows.append((name, str(buf.kind), str(buf.extra_shape), shape, str(buf.dtype)))
    return rows


@dataclass
class RunInfo:
    """The tables of ``Context.display``; ``udf_title`` is empty without a UDF."""

    dataset: Rows
    diagnostics: Rows
    udf_title: str = ""
    udf: Rows = field(default_factory=list)
    buffers: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    @classmethod
    def collect(cls, dataset: DataSet, udf: UDF | None = None, roi: Any = None) -> RunInfo:
        """Reads the tables from ``dataset`` (and ``udf`` on ``roi``, by a dry run)."""
        info = cls(_dataset_rows(dataset), _diagnostics(dataset))
        if udf is not None:
            UDFRunner.dry_run([udf], dataset, roi)
            info.udf_title = type(udf).__name__
            info.udf = _udf_rows(udf)
            info.buffers = _buffer_rows(udf)
        return info

    def _repr_html_(self) -> str:
        def table(rows: Rows) -> str:
            body = "".join(
                f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
            )
            return f"<table><tbody>{body}</tbody></table>"

        out = ["<h3>Dataset</h3>", table(self.dataset)]
        if self.diagnostics:
            out += ["<h4>Diagnostics</h4>", table(self.diagnostics)]
        if self.udf_title:
            head = "".join(
                f"<th>{h}</th>" for h in ("Name", "Kind", "Extra shape", "Concrete shape", "dtype")
            )
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in self.buffers
            )
            out += [
                f"<h3>{html.escape(self.udf_title)}</h3>",
                table(self.udf),
                "<h4>Result buffers</h4>",
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
            ]
        return "\n".join(out)

    def __repr__(self) -> str:
        def lines(rows: Rows) -> list[str]:
            width = max((len(k) for k, _ in rows), default=0)
            return [f"  {k:<{width}}  {v}" for k, v in rows]

        out = ["Dataset", *lines(self.dataset)]
        if self.diagnostics:
            out += ["Diagnostics", *lines(self.diagnostics)]
        if self.udf_title:
            out += [self.udf_title, *lines(self.udf), "Result buffers"]
            out += [
                f"  {name}: kind={kind} extra_shape={extra} shape={shape} dtype={dtype}"
                for name, kind, extra, shape, dtype in self.buffers
            ]
        return "\n".join(out)
