"""``Context``: the entry point of the API (load datasets, run UDFs), as in LiberTEM."""

from __future__ import annotations

import asyncio
import atexit
import weakref
from collections.abc import Coroutine, Generator, Iterable, Iterator
from typing import Any, Literal

import numpy as np

from ferrotem.common.exceptions import ExecutorSpecException
from ferrotem.executor.base import JobExecutor
from ferrotem.io.dataset import load
from ferrotem.io.dataset.base import DataSet, ensure_initialized
from ferrotem.udf.base import UDF
from ferrotem.udf.param_update import ParameterControl
from ferrotem.udf.runner import UDFResultDict, UDFResults

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
