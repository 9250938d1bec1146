"""``Context``: the entry point of the API (load datasets, run UDFs), as in LiberTEM."""

from __future__ import annotations

import asyncio
import atexit
import weakref
from collections.abc import Coroutine, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ferrotem.common.exceptions import ExecutorSpecException
from ferrotem.executor.base import JobExecutor
from ferrotem.io.dataset import load
from ferrotem.io.dataset.base import DataSet, ensure_initialized
from ferrotem.udf.base import UDF
from ferrotem.udf.param_update import ParameterControl
from ferrotem.udf.runner import UDFResultDict, UDFResults

if TYPE_CHECKING:
    from ferrotem.analysis import (
        DiskMaskAnalysis,
        MasksAnalysis,
        PickFrameAnalysis,
        PointMaskAnalysis,
        RadialFourierAnalysis,
        RingMaskAnalysis,
        SumAnalysis,
    )
    from ferrotem.analysis.base import Analysis, AnalysisResultSet
    from ferrotem.analysis.com import COMAnalysis

__all__ = [
    "Context",
    "ExecutorSpecType",
    "IterableRoiT",
    "ResultAsyncGenerator",
    "ResultGenerator",
    "RoiT",
    "RunUDFAGenType",
    "RunUDFAGenTypeL",
    "RunUDFAsync",
    "RunUDFAsyncL",
    "RunUDFGenType",
    "RunUDFGenTypeL",
    "RunUDFResultType",
    "RunUDFSyncL",
]

# -- type aliases of LiberTEM's api module, for annotations in ported code ------------------------
#: the executor names :meth:`Context.make_with` accepts
ExecutorSpecType = Literal[
    "synchronous", "inline", "threads", "dask", "dask-integration", "dask-make-default", "delayed"
]
#: a ROI given as ``((y, x), True)`` pairs
IterableRoiT = Iterable[tuple[tuple[int, ...], bool]]
#: what ``roi=`` accepts: a bool array (dense or sparse), one coordinate, pairs, or None
RoiT = np.ndarray | Any | tuple[int, ...] | IterableRoiT | None
#: ``run_udf`` with one UDF, and with a list
RunUDFResultType = UDFResultDict
RunUDFSyncL = list[UDFResultDict]
#: ``run_udf(sync=False)`` with one UDF, and with a list
RunUDFAsync = Coroutine[None, None, UDFResultDict]
RunUDFAsyncL = Coroutine[None, None, list[UDFResultDict]]


def _threads_from_cpus(cpus: Any) -> int | None:
    if cpus is None:
        return None
    if isinstance(cpus, bool):
        raise ExecutorSpecException(f"cpus: got {cpus!r}, expected an int or an iterable of ids")
    if isinstance(cpus, int):
        if cpus < 1:
            raise ExecutorSpecException(f"cpus: got {cpus}, expected at least 1")
        return cpus
    try:
        n = len(list(cpus))
    except TypeError:
        raise ExecutorSpecException(
            f"cpus: got {cpus!r}, expected an int or an iterable of ids"
        ) from None
    if n < 1:
        raise ExecutorSpecException(f"cpus: got {cpus!r}, expected at least one id")
    return n


class Context:
    """Loads datasets and runs UDFs on an executor.

    ``Context()`` uses the embedded default: a :class:`ConcurrentJobExecutor`, in-process, on a
    Rust thread pool; it opens no ports and starts no cluster.
    """

    def __init__(self, executor: JobExecutor | None = None, plot_class: Any = None):
        if executor is None:
            from ferrotem.executor.concurrent import ConcurrentJobExecutor

            executor = ConcurrentJobExecutor.make_local()
        if not isinstance(executor, JobExecutor):
            raise TypeError(
                f"executor: got {type(executor).__name__}, expected a ferrotem JobExecutor "
                "(e.g. InlineJobExecutor())"
            )
        self.executor = executor
        self._plot_class = plot_class
        ref = weakref.ref(self)

        def close_at_exit() -> None:
            ctx = ref()
            if ctx is not None:
                ctx.close()

        self._atexit = close_at_exit
        atexit.register(self._atexit)

    @classmethod
    def make_with(
        cls,
        executor_spec: str = "threads",
        *,
        cpus: Any = None,
        gpus: Any = None,
        plot_class: Any = None,
        snooze_timeout: float | None = None,
        main_process_gpu: Any = None,
    ) -> Context:
        """A Context with the executor named by ``executor_spec``.

        ``'inline'``/``'synchronous'``: the calling thread. ``'threads'`` (default, like
        ``Context()``): the embedded thread-pool executor, ``cpus`` threads (an int, or an
        iterable whose length counts). ``'dask'``: a local Dask cluster with ``cpus`` workers.
        ``'dask-make-default'``: the same, set as Dask's default scheduler until ``close()``.
        ``'dask-integration'``: whatever Dask scheduler is current. ``'delayed'``: results as
        Dask arrays. Arguments an executor cannot use raise ``ExecutorSpecException``.
        """
        if snooze_timeout is not None:
            raise ExecutorSpecException(
                f"snooze_timeout: got {snooze_timeout!r}, but ferrotem clusters do not snooze "
                "(pass None)"
            )
        if main_process_gpu not in (None, False):
            raise ExecutorSpecException(
                f"main_process_gpu: got {main_process_gpu!r}, but no CUDA device is used on "
                "the main node (pass None or False)"
            )
        return cls._make_with(executor_spec, cpus=cpus, gpus=gpus, plot_class=plot_class)

    @classmethod
    def _make_with(cls, executor_spec: str, *, cpus: Any, gpus: Any, plot_class: Any) -> Context:
        """See :meth:`make_with`."""
        if not isinstance(executor_spec, str):
            raise ExecutorSpecException(
                f"executor_spec: got {executor_spec!r}, expected a string such as 'threads'"
            )
        spec = executor_spec.lower()
        if spec in ("inline", "synchronous"):
            _forbid(spec, cpus=cpus, gpus=gpus)
            from ferrotem.executor.inline import InlineJobExecutor

            return cls(executor=InlineJobExecutor(), plot_class=plot_class)
        if spec == "threads":
            _forbid(spec, gpus=gpus)
            from ferrotem.executor.concurrent import ConcurrentJobExecutor

            executor = ConcurrentJobExecutor.make_local(n_threads=_threads_from_cpus(cpus))
            return cls(executor=executor, plot_class=plot_class)
        if spec == "dask-integration":
            _forbid(spec, cpus=cpus, gpus=gpus)
            from ferrotem.executor.integration import get_dask_integration_executor

            return cls(executor=get_dask_integration_executor(), plot_class=plot_class)
        if spec in ("dask", "dask-make-default"):
            from ferrotem.executor.dask import DaskJobExecutor

            spec_dict = _worker_spec(cpus, gpus)
            client_kwargs = {"set_as_default": True} if spec == "dask-make-default" else None
            dask_executor = DaskJobExecutor.make_local(spec=spec_dict, client_kwargs=client_kwargs)
            return cls(executor=dask_executor, plot_class=plot_class)
        if spec == "delayed":
            _forbid(spec, cpus=cpus, gpus=gpus)
            from ferrotem.executor.delayed import DelayedJobExecutor

            return cls(executor=DelayedJobExecutor(), plot_class=plot_class)
        raise ExecutorSpecException(
            f"executor_spec: got {executor_spec!r}, expected one of 'inline', 'synchronous', "
            "'threads', 'dask', 'dask-integration', 'dask-make-default', 'delayed'"
        )

    # -- datasets ----------------------------------------------------------------------------
    def load(self, filetype: Any, *args: Any, io_backend: Any = None, **kwargs: Any) -> DataSet:
        """Loads a dataset: ``ctx.load('raw', path=..., nav_shape=..., sig_shape=..., dtype=...)``.

        ``filetype`` is a registered name, ``'auto'`` (detected from the file's content), or a
        ``DataSet`` subclass. Everything a user can get wrong is checked here, before any data
        is read.
        """
        if io_backend is not None:
            kwargs["io_backend"] = io_backend
        # synchronous, as LiberTEM's ctx.load; io.dataset.load(enable_async=True) is the other
        return load(filetype, *args, executor=self.executor, enable_async=False, **kwargs)

    # -- running UDFs --------------------------------------------------------------------------
    def _udf_list(self, udf: Any) -> tuple[list[UDF], bool]:
        if isinstance(udf, UDF):
            return [udf], True
        if isinstance(udf, str | bytes) or not isinstance(udf, Iterable):
            raise TypeError(f"udf: got {type(udf).__name__}, expected a UDF or a list of UDFs")
        udfs = list(udf)
        if not udfs:
            raise ValueError("empty list of UDFs - nothing to do!")
        for u in udfs:
            if not isinstance(u, UDF):
                raise TypeError(f"udf: got {type(u).__name__} in the list, expected UDF instances")
        return udfs, False

    def _prepare_dataset(self, dataset: Any) -> DataSet:
        """The dataset to run on: checked, and initialised on this Context's executor if it was
        built directly (``MemoryDataSet(data=...)``) rather than by :meth:`load`."""
        if not isinstance(dataset, DataSet):
            raise TypeError(
                f"dataset: got {type(dataset).__name__}, expected a dataset from ctx.load(...)"
            )
        return ensure_initialized(dataset, self.executor)

    def run_udf(
        self,
        dataset: DataSet,
        udf: UDF | Iterable[UDF],
        roi: Any = None,
        corrections: Any = None,
        progress: Any = False,
        backends: Any = None,
        plots: Any = None,
        sync: bool = True,
        *,
        plot_class: Any = None,
    ) -> Any:
        """Runs one UDF (returns its result dict) or several in one pass over the data
        (returns a tuple of result dicts, in order).

        ``plots``: live plots updated as partitions are merged (``True``: every 2-D result;
        one list of channels per UDF; or :class:`~ferrotem.viz.base.Live2DPlot` objects), of
        ``plot_class`` (default: this Context's :attr:`plot_class`); see
        ``docs/live-plots.md``. ``sync=False`` returns a coroutine with the same result.
        """
        steps = self._run_steps(
            dataset, udf, roi, corrections, progress, backends, plots, plot_class, iterate=False
        )
        single = isinstance(udf, UDF)
        if not sync:
            return _last_buffers(ResultAsyncGenerator(steps), single)
        last = None
        for step in steps:
            last = step
        assert last is not None
        return last.buffers[0] if single else tuple(last.buffers)

    def run_udf_iter(
        self,
        dataset: DataSet,
        udf: UDF | Iterable[UDF],
        roi: Any = None,
        corrections: Any = None,
        progress: Any = False,
        backends: Any = None,
        plots: Any = None,
        sync: bool = True,
        *,
        plot_class: Any = None,
    ) -> Any:
        """Runs like :meth:`run_udf`, yielding the merged state after every partition
        (``.buffers``: one result dict per UDF; ``.damage``: where frames were merged).

        Returns a :class:`ResultGenerator` (whose ``update_parameters_experimental`` changes
        UDF parameters for the partitions not started yet); ``sync=False`` a
        :class:`ResultAsyncGenerator` (``async for``)."""
        steps = self._run_steps(
            dataset, udf, roi, corrections, progress, backends, plots, plot_class, iterate=True
        )
        return steps if sync else ResultAsyncGenerator(steps)

    def _run_steps(
        self,
        dataset: DataSet,
        udf: UDF | Iterable[UDF],
        roi: Any,
        corrections: Any,
        progress: Any,
        backends: Any,
        plots: Any,
        plot_class: Any,
        iterate: bool,
    ) -> ResultGenerator:
        """Checks the arguments now and returns the generator of the run's steps (one per
        merged partition with ``iterate``, else only the last), which also feeds the plots."""
        from ferrotem.viz.live import check_plots

        dataset = self._prepare_dataset(dataset)
        udfs, _ = self._udf_list(udf)
        check_plots(plots, len(udfs))
        if plots and plot_class is None:
            plot_class = self.plot_class
        run = _Run(self.executor, dataset, udfs, roi, corrections, progress, backends)
        return ResultGenerator(run.steps(plots, plot_class, iterate), run.control)

    # -- inspecting --------------------------------------------------------------------------
    def display(self, dataset: DataSet, udf: UDF | None = None, roi: Any = None) -> Any:
        """What a run would see: an object that shows the dataset (type, shape, dtype,
        partitions, diagnostics) and, with ``udf``, that UDF's processing method, backends,
        preferred input dtype and result buffers (kind, extra shape, concrete shape, dtype).
        In a notebook it renders as HTML (``_repr_html_``), elsewhere as text (``repr``)."""
        from ferrotem.viz.info import RunInfo

        dataset = self._prepare_dataset(dataset)
        if udf is not None and not isinstance(udf, UDF):
            raise TypeError(f"udf: got {type(udf).__name__}, expected a UDF instance or None")
        return RunInfo.collect(dataset, udf, roi)

    def map(
        self,
        dataset: DataSet,
        f: Any,
        roi: Any = None,
        progress: Any = False,
        corrections: Any = None,
        backends: Any = None,
    ) -> Any:
        """Applies ``f`` to every frame; returns the nav-kind result buffer."""
        from ferrotem.udf.auto import AutoUDF

        return self.run_udf(
            dataset,
            AutoUDF(f=f),
            roi=roi,
            progress=progress,
            corrections=corrections,
            backends=backends,
        )["result"]

    # -- analyses (ferrotem.analysis) ----------------------------------------------------------
    def create_mask_analysis(
        self,
        factories: Any,
        dataset: DataSet,
        use_sparse: bool | str | None = None,
        mask_count: int | None = None,
        mask_dtype: Any = None,
        dtype: Any = None,
    ) -> MasksAnalysis:
        """An Analysis applying masks (``factories``: a function returning the stack, or a list
        of functions each returning one frame-shaped mask; numpy, ``scipy.sparse`` or pydata
        ``sparse``). Running it gives a :class:`~ferrotem.analysis.masks.MasksResultSet` with
        one nav-shaped result per mask, ``mask_0``, ``mask_1``, ... The other parameters are
        :class:`~ferrotem.udf.masks.ApplyMasksUDF`'s (``dtype``: the preferred input dtype)."""
        from ferrotem.analysis.masks import MasksAnalysis

        parameters = {
            "factories": factories,
            "use_sparse": use_sparse,
            "mask_count": mask_count,
            "mask_dtype": mask_dtype,
            "dtype": dtype,
        }
        return MasksAnalysis(dataset=self._prepare_dataset(dataset), parameters=parameters)

    def create_com_analysis(
        self,
        dataset: DataSet,
        cx: float | None = None,
        cy: float | None = None,
        mask_radius: float | None = None,
        flip_y: bool = False,
        mask_radius_inner: float | None = None,
        scan_rotation: float = 0.0,
    ) -> COMAnalysis:
        """A centre-of-mass (first moment) Analysis: the shift of each frame's centre of mass
        from ``(cy, cx)`` (default: the frame's centre), counting only the disk
        ``mask_radius`` around it, or the ring from ``mask_radius_inner`` to ``mask_radius``.
        ``flip_y`` flips the detector's y axis, ``scan_rotation`` (degrees, clockwise positive)
        rotates the shifts into scan coordinates. Needs 2-D navigation and signal. Running it
        gives a :class:`~ferrotem.analysis.com.COMResultSet`: ``field``, ``magnitude``,
        ``divergence``, ``curl``, ``x``, ``y``."""
        from ferrotem.analysis.com import COMAnalysis

        dataset = self._prepare_dataset(dataset)
        if dataset.shape.nav.dims != 2:
            raise ValueError(
                f"dataset: incompatible, need two navigation dimensions, got {dataset.shape.nav}"
            )
        if dataset.shape.sig.dims != 2:
            raise ValueError(
                f"dataset: incompatible, need two signal dimensions, got {dataset.shape.sig}"
            )
        given = {"cx": cx, "cy": cy, "flip_y": flip_y, "scan_rotation": scan_rotation}
        parameters = {k: v for k, v in given.items() if v is not None}
        if mask_radius is not None:
            parameters["r"] = mask_radius
        if mask_radius_inner is not None:
            if mask_radius is None:
                raise ValueError(
                    f"mask_radius_inner: got {mask_radius_inner!r} without mask_radius; pass "
                    "both for an annular centre of mass"
                )
            parameters["ri"] = mask_radius_inner
        return COMAnalysis(dataset=dataset, parameters=parameters)

    def create_radial_fourier_analysis(
        self,
        dataset: DataSet,
        cx: float | None = None,
        cy: float | None = None,
        ri: float | None = None,
        ro: float | None = None,
        n_bins: int | None = None,
        max_order: int | None = None,
        use_sparse: bool | str | None = None,
    ) -> RadialFourierAnalysis:
        """An Analysis of the angular Fourier coefficients (orders 0 to ``max_order``, default
        24) of each frame in ``n_bins`` rings (default 1) from ``ri`` (default 0) to ``ro``
        (default: covering the frame) around ``(cy, cx)`` (default: the frame's centre). Running
        it gives a :class:`~ferrotem.analysis.radialfourier.RadialFourierResultSet`."""
        from ferrotem.analysis.radialfourier import RadialFourierAnalysis

        given = {
            "cx": cx,
            "cy": cy,
            "ri": ri,
            "ro": ro,
            "n_bins": n_bins,
            "max_order": max_order,
            "use_sparse": use_sparse,
        }
        parameters = {k: v for k, v in given.items() if v is not None}
        return RadialFourierAnalysis(dataset=self._prepare_dataset(dataset), parameters=parameters)

    def create_disk_analysis(
        self,
        dataset: DataSet,
        cx: float | None = None,
        cy: float | None = None,
        r: float | None = None,
    ) -> DiskMaskAnalysis:
        """An Analysis summing each frame over the disk of radius ``r`` around ``(cy, cx)``.
        Running it gives a :class:`~ferrotem.analysis.masks.SingleMaskResultSet`
        (``intensity``, ``intensity_log``)."""
        from ferrotem.analysis.disk import DiskMaskAnalysis

        given = {"cx": cx, "cy": cy, "r": r}
        parameters = {k: v for k, v in given.items() if v is not None}
        return DiskMaskAnalysis(dataset=self._prepare_dataset(dataset), parameters=parameters)

    def create_ring_analysis(
        self,
        dataset: DataSet,
        cx: float | None = None,
        cy: float | None = None,
        ri: float | None = None,
        ro: float | None = None,
    ) -> RingMaskAnalysis:
        """An Analysis summing each frame over the ring from ``ri`` to ``ro`` around
        ``(cy, cx)``. Running it gives a :class:`~ferrotem.analysis.masks.SingleMaskResultSet`
        (``intensity``, ``intensity_log``)."""
        from ferrotem.analysis.ring import RingMaskAnalysis

        given = {"cx": cx, "cy": cy, "ri": ri, "ro": ro}
        parameters = {k: v for k, v in given.items() if v is not None}
        return RingMaskAnalysis(dataset=self._prepare_dataset(dataset), parameters=parameters)

    def create_point_analysis(
        self, dataset: DataSet, x: int | None = None, y: int | None = None
    ) -> PointMaskAnalysis:
        """An Analysis picking the pixel ``(y, x)`` of every frame. Running it gives a
        :class:`~ferrotem.analysis.masks.SingleMaskResultSet` (``intensity``,
        ``intensity_log``)."""
        from ferrotem.analysis.point import PointMaskAnalysis

        dataset = self._prepare_dataset(dataset)
        if dataset.shape.nav.dims > 2:
            raise ValueError(
                "dataset: incompatible, need at most two navigation dimensions, got "
                f"{dataset.shape.nav}"
            )
        parameters = {k: v for k, v in {"cx": x, "cy": y}.items() if v is not None}
        return PointMaskAnalysis(dataset=dataset, parameters=parameters)

    def create_sum_analysis(self, dataset: DataSet) -> SumAnalysis:
        """An Analysis summing all frames. Running it gives a
        :class:`~ferrotem.analysis.sum.SumResultSet` (``intensity``, ``intensity_lin``)."""
        from ferrotem.analysis.sum import SumAnalysis

        return SumAnalysis(dataset=self._prepare_dataset(dataset), parameters={})

    def create_pick_analysis(
        self, dataset: DataSet, x: int, y: int | None = None, z: int | None = None
    ) -> PickFrameAnalysis:
        """An Analysis picking the frame at ``(z, y, x)``: give one coordinate per navigation
        dimension (``x``; ``x, y``; ``x, y, z``). Running it gives a
        :class:`~ferrotem.analysis.raw.PickResultSet` (``intensity``, ``intensity_lin``)."""
        from ferrotem.analysis.raw import PickFrameAnalysis

        given = {"x": x, "y": y, "z": z}
        parameters = {k: v for k, v in given.items() if v is not None}
        return PickFrameAnalysis(dataset=self._prepare_dataset(dataset), parameters=parameters)

    def run(
        self,
        job: Analysis,
        roi: Any = None,
        progress: Any = False,
        corrections: Any = None,
    ) -> AnalysisResultSet:
        """Runs an Analysis (from a ``create_*_analysis`` method) and returns its
        :class:`~ferrotem.analysis.base.AnalysisResultSet`. ``roi``: as for :meth:`run_udf`
        (default: the Analysis' own, e.g. the picked frame); ``progress``, ``corrections``: as
        for :meth:`run_udf`."""
        from ferrotem.analysis.base import Analysis
        from ferrotem.common.roi import normalize_roi

        if not isinstance(job, Analysis):
            raise TypeError(
                f"job: got {type(job).__name__}, expected an Analysis (ctx.create_*_analysis); "
                "run UDFs with run_udf"
            )
        if roi is None:
            roi = job.get_roi()
        udf_results = self.run_udf(
            dataset=job.dataset,
            udf=job.get_udf(),
            roi=roi,
            corrections=corrections,
            progress=progress,
        )
        nav = tuple(job.dataset.shape.nav)
        mask = normalize_roi(roi, nav)
        damage: Any = True if mask is None else mask.reshape(nav)
        return job.get_udf_results(udf_results, roi, damage=damage)

    def export_dataset(
        self,
        dataset: DataSet,
        *,
        path: Any,
        progress: bool = False,
        overwrite: bool = False,
        roi: Any = None,
        format: str | None = None,
        dtype: Any = None,
        chunks: Any = None,
        compression: str | None = None,
        compression_level: int | None = None,
        ds_path: str = "/data",
    ) -> None:
        """Writes ``dataset`` to ``path`` with reshaping and ``sync_offset`` baked in.

        As LiberTEM: ``path`` ending in ``.npy`` writes a ``.npy`` file of the dataset's shape
        and dtype; an existing ``path`` raises ``FileExistsError`` unless ``overwrite``.
        Beyond LiberTEM:

        - ``format``: ``'npy'``, ``'raw'`` (C-ordered frames, no header), ``'hdf5'`` (one
          dataset at ``ds_path``) or ``'zarr'`` (a Zarr format 3 array); by default taken from
          the extension (``.npy``; ``.raw``/``.bin``; ``.h5``/``.hdf5``/``.hdf``/``.nxs``;
          ``.zarr``).
        - ``roi``: only the selected frames, as a flat ``(n_selected, *sig)`` array in flat
          navigation order.
        - ``dtype``: the output dtype (default: the stored dtype, in native byte order).
        - ``chunks`` (HDF5, Zarr): a chunk shape of the output array (``-1``: the whole axis),
          or a number of frames along the last scan axis; by default frames along the last
          scan axis up to about 1 MiB per chunk, whole frames.
        - ``compression`` (HDF5, Zarr): ``'bitshuffle-lz4'`` (the default; HDF5 filter 32008 as
          hdf5plugin writes it, Blosc in Zarr), ``'gzip'`` (at ``compression_level``, 4 by
          default) or ``'none'``.

        The frames are read by the Rust core and written from several threads on this process
        (HDF5: compressed in parallel, stored by one thread); the dataset's corrections are
        not applied (the file holds the frames as stored). Bad parameters raise ``ValueError``
        or ``TypeError`` naming the parameter, before anything is written; a failed export
        removes its partial output.
        """
        from ferrotem.export import export, plan_export

        dataset = self._prepare_dataset(dataset)
        options, roi_flat = plan_export(
            dataset,
            path,
            format=format,
            roi=roi,
            dtype=dtype,
            chunks=chunks,
            compression=compression,
            compression_level=compression_level,
            ds_path=ds_path,
            overwrite=overwrite,
        )
        export(dataset, options, roi_flat, progress=progress)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def plot_class(self) -> Any:
        """The plot class ``run_udf(..., plots=...)`` makes plots of: as given to the
        constructor or set here; by default :class:`~ferrotem.viz.mpl.MPLLive2DPlot`."""
        if self._plot_class is None:
            from ferrotem.viz.live import default_plot_class

            self._plot_class = default_plot_class()
        return self._plot_class

    @plot_class.setter
    def plot_class(self, value: Any) -> None:
        self._plot_class = value

    def close(self) -> None:
        """Shuts down what this Context's executor created."""
        self.executor.close()
        atexit.unregister(self._atexit)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Run:
    """One ``run_udf``/``run_udf_iter`` call: the runner's steps, with live plots fed."""

    def __init__(
        self,
        executor: JobExecutor,
        dataset: DataSet,
        udfs: list[UDF],
        roi: Any,
        corrections: Any,
        progress: Any,
        backends: Any,
    ):
        self.executor = executor
        self.dataset = dataset
        self.udfs = udfs
        self.roi = roi
        self.control = ParameterControl(udfs)
        self.kwargs = {
            "corrections": corrections,
            "progress": progress,
            "backends": backends,
            "control": self.control,
        }

    def steps(
        self, plots: Any, plot_class: Any, iterate: bool
    ) -> Generator[UDFResults, None, None]:
        """A generator: nothing runs before the first ``next``."""
        runner_cls = self.executor.get_udf_runner()
        if not plots:
            yield from runner_cls(self.udfs).run_for_dataset_sync(
                self.dataset, self.executor, roi=self.roi, iterate=iterate, **self.kwargs
            )
            return
        from ferrotem.viz.live import prepare_plots, update_plots

        live = prepare_plots(self.udfs, self.dataset, self.roi, plots, plot_class)
        udfs = self.udfs

        def feed(step: UDFResults, last: bool) -> None:
            update_plots(live, udfs, step.buffers, step.damage.data, force=last)

        if getattr(runner_cls, "updates_at_compute", False):
            # partial results exist only while the graph is computed: the runner calls back
            runner: Any = runner_cls(udfs)  # the delayed runner: it takes on_compute
            yield from runner.run_for_dataset_sync(
                self.dataset,
                self.executor,
                roi=self.roi,
                iterate=iterate,
                on_compute=feed,
                **self.kwargs,
            )
            return
        step = None
        # every merged partition is a step, also for run_udf: that is what the plots show
        for step in runner_cls(udfs).run_for_dataset_sync(
            self.dataset, self.executor, roi=self.roi, iterate=True, **self.kwargs
        ):
            feed(step, False)
            if iterate:
                yield step
        if step is not None:
            feed(step, True)
            if not iterate:
                yield step


class ResultGenerator:
    """What ``run_udf_iter`` returns: an iterator of :class:`UDFResults`, one per merged
    partition, that also controls the run.

    Nothing runs before the first ``next``. ``close()`` stops the run (tasks not started are
    dropped), ``throw(exc)`` raises ``exc`` inside it, and
    :meth:`update_parameters_experimental` changes UDF parameters while it runs.
    """

    def __init__(self, steps: Generator[UDFResults, None, None], control: ParameterControl):
        self._steps = steps
        self._control = control

    def __iter__(self) -> ResultGenerator:
        return self

    def __next__(self) -> UDFResults:
        return next(self._steps)

    def close(self) -> None:
        """Stops the run; the iterator is exhausted afterwards."""
        self._steps.close()

    def throw(self, exc: BaseException) -> UDFResults:
        """Raises ``exc`` where the run waits for its next partition (as ``generator.throw``):
        the run stops and ``exc`` propagates, unless the run handles it."""
        return self._steps.throw(exc)

    def update_parameters_experimental(self, parameters: list[dict[str, Any]]) -> None:
        """Changes UDF parameters while the UDFs run: ``parameters`` holds one dict per UDF
        of the run (in order), with only the parameters to change (``{}`` for none).

        The main-node UDFs take the new values at once (``merge``/``get_results`` see them);
        partitions whose tasks have not started yet run with them, those running or done keep
        the old ones. Before the first ``next`` the whole run uses the new values. A change
        that alters the UDF's result buffers (kind, dtype, shape) or the run's input dtype, or
        names a parameter the UDF does not have, raises and changes nothing. The delayed
        executor takes updates only before the first step (it builds its graph then).
        """
        self._control.update(parameters)


class ResultAsyncGenerator:
    """``run_udf_iter(..., sync=False)``: the steps of a run as an async iterator
    (``async for step in ...``). The run advances in a worker thread, one step per
    ``__anext__``, so the event loop stays free while partitions are processed."""

    def __init__(self, result_generator: Iterator[UDFResults]):
        from concurrent.futures import ThreadPoolExecutor

        self._gen = result_generator
        self._finished = False
        # one thread: a generator must not be resumed by two threads at once
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferrotem-async-run")

    def __aiter__(self) -> ResultAsyncGenerator:
        return self

    async def __anext__(self) -> UDFResults:
        if self._finished:
            raise StopAsyncIteration
        done = object()
        try:
            step = await self._call(next, self._gen, done)
        except BaseException:
            self._finish()
            raise
        if step is done:
            self._finish()
            raise StopAsyncIteration
        return step  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stops the run (as ``close()`` of the synchronous iterator)."""
        if self._finished:
            return
        close = getattr(self._gen, "close", None)
        if close is not None:
            await self._call(close)
        self._finish()

    async def athrow(self, exc: BaseException) -> UDFResults:
        """Raises ``exc`` inside the run (as ``throw()`` of the synchronous iterator)."""
        gen = self._gen
        if not hasattr(gen, "throw"):
            raise TypeError(f"athrow: {type(gen).__name__} does not take exceptions")
        if self._finished:
            raise exc
        try:
            return await self._call(gen.throw, exc)  # type: ignore[no-any-return]
        except BaseException:
            self._finish()
            raise

    async def update_parameters_experimental(self, parameters: list[dict[str, Any]]) -> None:
        """:meth:`ResultGenerator.update_parameters_experimental`, run in the thread that
        advances the run, so that it falls between two steps."""
        update = getattr(self._gen, "update_parameters_experimental", None)
        if update is None:
            raise TypeError(
                f"update_parameters_experimental: {type(self._gen).__name__} takes no updates"
            )
        await self._call(update, parameters)

    def _finish(self) -> None:
        self._finished = True
        self._pool.shutdown(wait=False)

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)


#: ``run_udf_iter``: a :class:`ResultGenerator` of :class:`UDFResults` (one UDF or a list),
#: and with ``sync=False`` a :class:`ResultAsyncGenerator`
RunUDFGenType = ResultGenerator
RunUDFGenTypeL = ResultGenerator
RunUDFAGenType = ResultAsyncGenerator
RunUDFAGenTypeL = ResultAsyncGenerator


async def _last_buffers(steps: ResultAsyncGenerator, single: bool) -> Any:
    """``run_udf(..., sync=False)``: the last step's result dict(s)."""
    last = None
    async for step in steps:
        last = step
    assert last is not None
    return last.buffers[0] if single else tuple(last.buffers)


def _forbid(spec: str, **kwargs: Any) -> None:
    for name, value in kwargs.items():
        if value is not None:
            raise ExecutorSpecException(
                f"{name}: got {value!r}, but the {spec!r} executor does not take {name}"
            )


def _worker_spec(cpus: Any, gpus: Any) -> dict[str, Any] | None:
    """The cluster spec for ``make_with('dask', cpus=..., gpus=...)``."""
    from ferrotem.executor.base import physical_cores
    from ferrotem.executor.dask import cluster_spec

    if gpus not in (None, 0) and not (isinstance(gpus, list | tuple) and not gpus):
        raise ExecutorSpecException(
            f"gpus: got {gpus!r}, but no CUDA device was detected on this machine"
        )
    if cpus is None:
        cpu_ids: Any = range(physical_cores())
    elif isinstance(cpus, bool):
        raise ExecutorSpecException(f"cpus: got {cpus!r}, expected an int or an iterable of ids")
    elif isinstance(cpus, int):
        if cpus < 0:
            raise ExecutorSpecException(f"cpus: got {cpus}, expected a count >= 0")
        cpu_ids = range(cpus)
    else:
        try:
            cpu_ids = [int(c) for c in cpus]
        except (TypeError, ValueError):
            raise ExecutorSpecException(
                f"cpus: got {cpus!r}, expected an int or an iterable of ids"
            ) from None
    return cluster_spec(cpus=cpu_ids, cudas=[], has_cupy=False)


# keep the type alias importable from here, as in LiberTEM
__all__ += ["UDFResultDict"]
