"""Every public name of the LiberTEM modules ferrotem mirrors can be imported from the same path
(``libertem.x.y`` -> ``ferrotem.x.y``), or is written down below as a known exception with the
reason: a ported script or add-on must not stop at an import.

``LIBERTEM_0_16_NAMES`` is data, read from the LiberTEM 0.16.0 wheel on PyPI (never installed)
with Python's ``ast``: a module's ``__all__`` where it has one, else the classes, functions and
module-level names it defines that do not start with ``_``, leaving out loggers (``log``,
``logger``), OpenTelemetry tracers (``tracer``) and type variables (``T``). ``REEXPORTS`` adds
names LiberTEM defines elsewhere that its code imports from these paths.

The exceptions are checked too: a name listed as missing that becomes importable fails
``test_exception_is_still_missing``, so the list cannot go stale.
"""

from __future__ import annotations

import importlib

import pytest

LIBERTEM_0_16_NAMES: dict[str, tuple[str, ...]] = {
    "libertem.api": (
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
    ),
    "libertem.udf": (
        "AutoUDF",
        "UDF",
        "UDFData",
        "UDFFrameMixin",
        "UDFMeta",
        "UDFPartitionMixin",
        "UDFPostprocessMixin",
        "UDFPreprocessMixin",
        "UDFRunCancelled",
        "UDFTileMixin",
        "check_cast",
    ),
    "libertem.udf.base": (
        "BackendSpec",
        "DeviceClass",
        "ExecutionPlan",
        "GenericTask",
        "MergeAttrMapping",
        "NoOpUDF",
        "ResultsForDataSet",
        "TileConverter",
        "UDF",
        "UDFBase",
        "UDFData",
        "UDFFrameMixin",
        "UDFKwarg",
        "UDFKwargs",
        "UDFKwargsWrapper",
        "UDFMergeAllMixin",
        "UDFMeta",
        "UDFParams",
        "UDFPartRunner",
        "UDFPartitionMixin",
        "UDFPostprocessMixin",
        "UDFPreprocessMixin",
        "UDFResultDict",
        "UDFResults",
        "UDFResultsLazy",
        "UDFRunner",
        "UDFTask",
        "UDFTileMixin",
        "check_cast",
        "get_resources_for_backends",
    ),
    "libertem.udf.masks": ("ApplyMasksEngine", "ApplyMasksUDF"),
    "libertem.udf.com": (
        "CoMParams",
        "CoMUDF",
        "GuessResult",
        "RegressionOptions",
        "RegressionOptionsT",
        "apply_correction",
        "center_shifts",
        "com_masks_factory",
        "com_masks_generic",
        "coordinate_check",
        "curl_2d",
        "divergence",
        "guess_corrections",
        "magnitude",
    ),
    "libertem.udf.sum": ("SumUDF",),
    "libertem.udf.sumsigudf": (
        "SumSigUDF",
        "run_sumsig",
    ),
    "libertem.udf.auto": ("AutoUDF",),
    "libertem.udf.raw": ("PickUDF",),
    "libertem.udf.FEM": ("FEMUDF", "run_fem"),
    "libertem.udf.crystallinity": ("CrystallinityUDF", "run_analysis_crystall"),
    # 0.16's module only raises ImportError (moved to LiberTEM-holo); ferrotem keeps the
    # interface of LiberTEM <= 0.14.1, whose names tests/test_udf_holography.py checks
    "libertem.udf.holography": (),
    "libertem.udf.stddev": (
        "StdDevUDF",
        "consolidate_result",
        "merge",
        "merge_ndarray",
        "merge_single",
        "process_tile",
        "process_tile_ndarray",
        "run_stddev",
    ),
    "libertem.udf.logsum": ("LogsumUDF", "run_logsum"),
    "libertem.udf.record": ("RecordUDF",),
    "libertem.common": (
        "Shape",
        "Slice",
        "SliceUsageError",
    ),
    "libertem.common.container": (
        "FactoryT",
        "MaskContainer",
        "SparseSupportedT",
    ),
    "libertem.common.sparse": (
        "assert_sparse",
        "is_sparse",
        "sparse_to_coo",
        "to_dense",
        "to_sparse",
    ),
    "libertem.common.backend": (
        "get_device_class",
        "get_use_cpu",
        "get_use_cuda",
        "set_file_limit",
        "set_use_cpu",
        "set_use_cuda",
    ),
    "libertem.common.buffers": (
        "ArrayWithMask",
        "AuxBufferWrapper",
        "BufferKind",
        "BufferLocation",
        "BufferPool",
        "BufferSize",
        "BufferUse",
        "BufferWrapper",
        "InvalidMaskError",
        "ManagedBuffer",
        "PlaceholderBufferWrapper",
        "PreallocBufferWrapper",
        "bytes_aligned",
        "disjoint",
        "empty_aligned",
        "get_bbox",
        "get_bbox_2d",
        "get_bbox_slice",
        "get_inner_slice",
        "reshaped_view",
        "to_numpy",
        "zeros_aligned",
    ),
    "libertem.common.shape": (
        "NavOnlyShape",
        "Shape",
        "ShapeLike",
        "SigOnlyShape",
    ),
    "libertem.common.slice": (
        "Slice",
        "SliceUsageError",
    ),
    "libertem.common.math": (
        "ProdAccepted",
        "count_nonzero",
        "flat_nonzero",
        "make_2D_square",
        "ndenumerate",
        "prod",
    ),
    "libertem.common.exceptions": (
        "ExecutorSpecException",
        "UDFException",
        "UDFRunCancelled",
    ),
    "libertem.common.progress": (
        "CommsDispatcher",
        "PartitionProgressTracker",
        "PartitionTrackerNoOp",
        "ProgressManager",
        "ProgressReporter",
        "ProgressState",
        "TQDMProgressReporter",
        "get_time",
    ),
    "libertem.executor.base": (
        "AsyncAdapter",
        "BaseJobExecutor",
        "ResourceError",
        "make_canonical",
    ),
    "libertem.executor.inline": (
        "InlineJobExecutor",
        "InlineWorkerContext",
    ),
    "libertem.executor.concurrent": (
        "AsyncConcurrentJobExecutor",
        "ConcurrentJobExecutor",
        "ConcurrentWorkerContext",
    ),
    "libertem.executor.dask": (
        "AsyncDaskJobExecutor",
        "CommonDaskMixin",
        "DaskJobExecutor",
        "DaskWorkerContext",
        "cli_worker",
        "cluster_spec",
        "set_worker_log_level",
        "worker_setup",
    ),
    "libertem.executor.delayed": (
        "DelayedJobExecutor",
        "DelayedUDFRunner",
        "delayed_to_buffer_wrappers",
        "make_copy",
        "merge_wrap",
        "structure_from_task",
        "task_wrap",
    ),
    "libertem.executor.integration": ("get_dask_integration_executor",),
    "libertem.io.dataset": (
        "build_extension_map",
        "detect",
        "filetypes",
        "get_dataset_cls",
        "get_extensions",
        "get_search_order",
        "load",
        "register_dataset_cls",
        "unregister_dataset_cls",
    ),
    "libertem.common.udf": (
        "TileDepthEnum",
        "TileSizeEnum",
        "TilingPreferences",
        "UDFMethod",
        "UDFProtocol",
    ),
    "libertem.io.dataset.base": (
        "BasePartition",
        "BufferedBackend",
        "DataSet",
        "DataSetException",
        "DataSetMeta",
        "DataTile",
        "Decoder",
        "DirectBackend",
        "DtypeConversionDecoder",
        "File",
        "FileSet",
        "FileTree",
        "IOBackend",
        "MMapBackend",
        "Negotiator",
        "Partition",
        "PartitionStructure",
        "TilingScheme",
        "WritableDataSet",
        "WritablePartition",
        "decode_swap_2",
        "decode_swap_4",
        "default_get_read_ranges",
        "get_coordinates",
        "make_get_read_ranges",
    ),
    "libertem.io.dataset.memory": (
        "FakeMMapFile",
        "MemBackend",
        "MemBackendImpl",
        "MemDatasetParams",
        "MemPartition",
        "MemoryDataSet",
        "MemoryFile",
    ),
    "libertem.io.dataset.raw": (
        "RAWDatasetParams",
        "RawFile",
        "RawFileDataSet",
        "RawFileSet",
        "RawPartition",
    ),
    "libertem.io.dataset.hdf5": (
        "H5DataSet",
        "H5Partition",
        "H5Reader",
        "HDF5ArrayDescriptor",
        "HDF5DatasetParams",
    ),
    "libertem.io.dataset.npy": (
        "NPYDataSet",
        "NPYDatasetParams",
        "NPYInfo",
        "read_npy_info",
    ),
    "libertem.io.dataset.mib": (
        "HeaderDict",
        "MIBDataSet",
        "MIBDatasetParams",
        "MIBDecoder",
        "MIBFile",
        "MIBFileSet",
        "MIBHeaderReader",
        "MIBKind",
        "MIBPartition",
        "decode_r12_swap",
        "decode_r12_swap_2x2",
        "decode_r1_swap",
        "decode_r1_swap_2x2",
        "decode_r24_swap",
        "decode_r6_swap",
        "decode_r6_swap_2x2",
        "encode_r1",
        "encode_r12",
        "encode_r6",
        "encode_u1",
        "encode_u2",
        "get_filenames",
        "get_image_count_and_sig_shape",
        "is_valid_hdr",
        "mib_2x2_get_read_ranges",
        "mib_r24_get_read_ranges",
        "nav_shape_from_hdr",
        "read_hdr_file",
    ),
    "libertem.io.dataset.ser": (
        "SERDataSet",
        "SERDatasetParams",
        "SERFile",
        "SERFileSet",
        "SERPartition",
    ),
    "libertem.io.dataset.mrc": (
        "MRCBackend",
        "MRCBackendFile",
        "MRCBackendImpl",
        "MRCDataSet",
        "MRCDatasetParams",
        "MRCPartition",
    ),
    "libertem.io.dataset.blo": (
        "BLODatasetParams",
        "BloDataSet",
        "BloFileSet",
        "MAGIC_EXPECT",
        "get_header_dtype_list",
    ),
    "libertem.io.dataset.raw_csr": (
        "CSRDescriptor",
        "CSRTriple",
        "RawCSRDataSet",
        "RawCSRDatasetParams",
        "RawCSRPartition",
        "TOMLError",
        "can_use_numba",
        "check",
        "get_descriptor",
        "get_nav_size",
        "get_triple",
        "load_toml",
        "populate_tile",
        "populate_tile_numba",
        "read_tiles_straight",
        "read_tiles_with_roi",
        "sliced_indptr",
    ),
    "libertem.io.dataset.seq": (
        "DOUBLE",
        "DWORD",
        "HEADER_FIELDS",
        "HEADER_SIZE",
        "LONG",
        "SEQDataSet",
        "SEQDatasetParams",
        "SEQFileSet",
        "USHORT",
        "array_cropping",
        "bin_array2d",
        "xml_binned_map_maker",
        "xml_defect_coord_extractor",
        "xml_defect_data_extractor",
        "xml_generate_map_size",
        "xml_map_index_selector",
        "xml_map_sizes",
        "xml_processing",
        "xml_unbinned_map_maker",
    ),
    "libertem.io.dataset.frms6": (
        "FRMS6DataSet",
        "FRMS6DatasetParams",
        "FRMS6Decoder",
        "FRMS6FileSet",
        "FRMS6Partition",
        "GainMapCSVDialect",
        "READOUT_MODE_PAT",
        "decode_frms6_b1",
        "decode_frms6_b2",
        "decode_frms6_b4",
        "file_header_dtype",
        "frame_header_dtype",
        "frms6_get_read_ranges",
        "get_filenames",
        "log",
    ),
    "libertem.io.dataset.tvips": (
        "DetectionError",
        "MAX_SCAN_IDX",
        "SERIES_HEADER_SIZE",
        "SeriesHeader",
        "TVIPSDataSet",
        "TVIPSDatasetParams",
        "detect_shape",
        "frames_in_file",
        "get_filenames",
        "get_image_count_and_sig_shape",
        "image_header_v2_dtype",
        "read_series_header",
        "series_header_dtype",
    ),
    "libertem.io.dataset.empad": (
        "EMPADDataSet",
        "EMPADDatasetParams",
        "EMPADFileSet",
        "EMPAD_DETECTOR_SIZE",
        "EMPAD_DETECTOR_SIZE_RAW",
        "get_params_from_xml",
    ),
    "libertem.io.dataset.k2is": (
        "BLOCKS_PER_SECTOR_PER_FRAME",
        "BLOCK_SHAPE",
        "BLOCK_SIZE",
        "DATA_SIZE",
        "DataBlock",
        "FIRST_FRAME_SCAN_SIZE",
        "HEADER_SIZE",
        "K2FileSet",
        "K2ISDataSet",
        "K2ISDatasetParams",
        "K2ISDecoder",
        "K2ISFile",
        "K2ISPartition",
        "K2Syncer",
        "NUM_SECTORS",
        "SECTOR_SIZE",
        "SHUTTER_ACTIVE_MASK",
        "Sector",
        "decode_k2is",
        "decode_uint12_le",
        "get_filenames",
        "k2is_get_read_ranges",
    ),
    "libertem.io.dataset.dm": (
        "DMDataSet",
        "DMFileSet",
        "SingleDMDatasetParams",
        "StackedDMDataSet",
        "StackedDMDatasetParams",
        "StackedDMFile",
    ),
    "libertem.io.dataset.dm_single": ("DMFile", "DMPartition", "SingleDMDataSet"),
    "libertem.io.dataset.dask": (
        "DaskBackend",
        "DaskBackendImpl",
        "DaskDataSet",
        "DaskDatasetParams",
        "DaskFile",
        "DaskFileSet",
        "DaskPartition",
        "FakeDaskMMapFile",
        "array_mult",
        "findall",
        "get_chunksizes",
        "get_last_chunked_dim",
        "get_values",
        "merge_until_target",
        "min_neighbour",
        "min_with_min_neighbor",
        "modify_chunking",
        "neighbour_idxs",
    ),
    "libertem.contrib.daskadapter": ("make_dask_array",),
    "libertem.corrections": ("CorrectionSet",),
    "libertem.corrections.corrset": ("CorrectionSet",),
    "libertem.corrections.detector": (
        "RepairDescriptor",
        "RepairValueError",
        "correct",
        "correct_dot_masks",
    ),
    "libertem.corrections.coordinates": (
        "flip_x",
        "flip_y",
        "identity",
        "rotate",
        "rotate_deg",
        "scale",
        "scale_rotate_flip_y",
    ),
    "libertem.io.corrections": ("CorrectionSet",),
    "libertem.masks": (
        "MaskArrayType",
        "MaskFactoriesType",
        "background_subtraction",
        "balance",
        "bounding_radius",
        "circular",
        "gradient_x",
        "gradient_y",
        "polar_map",
        "radial_bins",
        "radial_gradient",
        "radial_gradient_background_subtraction",
        "rectangular",
        "ring",
        "sparse_circular_multi_stack",
        "sparse_template_multi_stack",
    ),
    "libertem.utils": (
        "calc_coords",
        "frame_peaks",
        "make_cartesian",
        "make_polar",
        "regularize_indices",
        "rotate_deg",
        "rotate_precalc",
        "rotate_rad",
        "within_frame",
    ),
    "libertem.utils.devices": ("DetectResult", "detect", "has_cupy"),
    "libertem.utils.generate": (
        "cbed_frame",
        "exclude_pixels",
        "gradient_data",
        "hologram_frame",
    ),
    "libertem.viz": (
        "encode_image",
        "get_plottable_2D_channels",
        "libertem_cyclic",
        "rgb_from_2dvector",
        "visualize_simple",
    ),
    "libertem.viz.base": (
        "Dummy2DPlot",
        "Live2DPlot",
        "cet_cyclic_isoluminant",
        "get_plottable_2D_channels",
        "libertem_cyclic",
        "make_colormap",
        "rgb_from_2dvector",
        "visualize_simple",
    ),
    "libertem.viz.bqp": ("BQLive2DPlot",),
    "libertem.viz.gms": ("GMSLive2DPlot",),
    "libertem.viz.mpl": ("MPLLive2DPlot",),
    "libertem.analysis": (
        "ApplyFFTMask",
        "COMAnalysis",
        "ClusterAnalysis",
        "DiskMaskAnalysis",
        "FEMAnalysis",
        "MasksAnalysis",
        "PickFFTFrameAnalysis",
        "PickFrameAnalysis",
        "PointMaskAnalysis",
        "RadialFourierAnalysis",
        "RingMaskAnalysis",
        "SDAnalysis",
        "SumAnalysis",
        "SumSigAnalysis",
        "SumfftAnalysis",
    ),
    "libertem.analysis.base": ("Analysis", "AnalysisResult", "AnalysisResultSet", "BaseAnalysis"),
    "libertem.analysis.masks": (
        "BaseMasksAnalysis",
        "MasksAnalysis",
        "MasksResultSet",
        "SingleMaskAnalysis",
        "SingleMaskResultSet",
    ),
    "libertem.analysis.disk": ("DiskMaskAnalysis", "DiskTemplate"),
    "libertem.analysis.ring": ("RingMaskAnalysis", "RingTemplate"),
    "libertem.analysis.point": ("PointMaskAnalysis", "PointTemplate"),
    "libertem.analysis.sum": ("SumAnalysis", "SumResultSet", "SumTemplate"),
    "libertem.analysis.sumsig": ("SumSigAnalysis", "SumSigTemplate"),
    "libertem.analysis.raw": ("PickFrameAnalysis", "PickResultSet", "PickTemplate"),
    "libertem.analysis.rawfft": ("PickFFTFrameAnalysis", "PickfftTemplate"),
    "libertem.analysis.sumfft": ("SumfftAnalysis", "SumfftTemplate"),
    "libertem.analysis.radialfourier": (
        "RadialFourierAnalysis",
        "RadialFourierResultSet",
        "RadialTemplate",
        "radial_mask_factory",
    ),
    "libertem.analysis.getroi": ("get_roi",),
    "libertem.analysis.fem": ("FEMAnalysis", "FEMTemplate"),
    "libertem.analysis.sd": ("SDAnalysis", "SDTemplate"),
    "libertem.analysis.com": ("COMAnalysis", "COMResultSet", "ComTemplate", "ParameterGuessProc"),
    "libertem.analysis.apply_fft_mask": ("ApplyFFTMask", "FFTMaskTemplate"),
    "libertem.common.analysis": ("AnalysisResult", "AnalysisResultSet"),
    "libertem.common.viz": ("encode_image",),
}

#: names defined elsewhere in LiberTEM that its code (add-ons, LiberTEM-live) imports from here
REEXPORTS: dict[str, tuple[str, ...]] = {
    # kept importable from here "for backwards compatibility" in LiberTEM
    "libertem.analysis.com": (
        "GuessResult",
        "apply_correction",
        "center_shifts",
        "com_masks_factory",
        "com_masks_generic",
        "coordinate_check",
        "curl_2d",
        "divergence",
        "guess_corrections",
        "magnitude",
    ),
    "libertem.masks": ("is_sparse", "to_dense", "to_sparse"),
    "libertem.common.container": ("is_sparse", "to_dense", "to_sparse"),
    "libertem.executor.base": ("Environment", "JobCancelledError", "JobExecutor"),
    "libertem.io.dataset.base": ("DataSetException",),
    "libertem.viz.base": ("encode_image",),
    "libertem.udf.base": ("UDFException", "UDFMethod"),
}

_INTERNAL_IO = (
    "LiberTEM's Python I/O layer (files, memory maps, decoders, read ranges, tiling "
    "negotiation); in ferrotem the Rust core reads, converts and tiles"
)
_INTERNAL_CHUNKING = "LiberTEM's own chunk-merging helpers; ferrotem's rule is adapt_chunks"
_WEB_PARAMS = "message converter of LiberTEM's web GUI (issue 11: ferrotem server)"
_WORKER_PLUMBING = (
    "LiberTEM's worker-side plumbing (task comms, progress messages from workers); ferrotem's "
    "tasks report completion to the main node, which counts progress"
)
_ASYNC = "LiberTEM's asyncio executors for its web GUI (issue 11: ferrotem server)"
_DELAYED_INTERNALS = (
    "internals of LiberTEM's graph building; ferrotem builds its graph in executor/delayed.py"
)

_TEMPLATE = (
    "notebook-code generator of LiberTEM's web GUI (GeneratorHelper); comes with the ferrotem "
    "server (issue 11), Analysis.get_template_helper is its hook"
)
_CLUSTER = (
    "LiberTEM's GUI clustering: a StdDevUDF pass, peak finding (scikit-image) and "
    "agglomerative clustering (scikit-learn), neither a ferrotem dependency"
)

#: (module, name) -> why ferrotem does not have it
EXCEPTIONS: dict[tuple[str, str], str] = {
    # libertem.analysis
    ("libertem.analysis.com", "ParameterGuessProc"): (
        "remote procedure of LiberTEM's web GUI (guess CoM corrections); comes with the ferrotem "
        "server (issue 11); the computation is ferrotem.udf.com.guess_corrections"
    ),
    ("libertem.analysis", "ClusterAnalysis"): _CLUSTER,
    # libertem.udf.base
    ("libertem.udf.base", "ExecutionPlan"): (
        "LiberTEM's per-backend UDF grouping; ferrotem chooses one backend per task "
        "(resolve_worker_backend)"
    ),
    ("libertem.udf.base", "GenericTask"): "LiberTEM's task protocol; ferrotem's task is UDFTask",
    ("libertem.udf.base", "ResultsForDataSet"): "typing alias of LiberTEM's runner internals",
    ("libertem.udf.base", "TileConverter"): (
        "LiberTEM's sparse/dense tile conversion; ferrotem delivers numpy (CuPy on CUDA) tiles"
    ),
    ("libertem.udf.masks", "ApplyMasksEngine"): (
        "LiberTEM's per-task choice among torch, scipy.sparse and pydata products; ferrotem's "
        "product runs in Rust (the Python path multiplies with MaskContainer.get)"
    ),
    ("libertem.udf.base", "UDFResultsLazy"): (
        "ferrotem's UDFResults computes its buffers lazily itself"
    ),
    # libertem.common.buffers
    ("libertem.common.buffers", "BufferPool"): _INTERNAL_IO,
    ("libertem.common.buffers", "ManagedBuffer"): _INTERNAL_IO,
    ("libertem.common.buffers", "get_bbox"): "private helper (':meta private:') of LiberTEM",
    ("libertem.common.buffers", "get_bbox_2d"): "private helper (':meta private:') of LiberTEM",
    ("libertem.common.buffers", "get_bbox_slice"): "private helper (':meta private:') of LiberTEM",
    ("libertem.common.buffers", "get_inner_slice"): (
        "private helper (':meta private:') of LiberTEM"
    ),
    # libertem.common.progress
    ("libertem.common.progress", "CommsDispatcher"): _WORKER_PLUMBING,
    ("libertem.common.progress", "PartitionProgressTracker"): _WORKER_PLUMBING,
    ("libertem.common.progress", "PartitionTrackerNoOp"): _WORKER_PLUMBING,
    ("libertem.common.progress", "get_time"): _WORKER_PLUMBING,
    # libertem.executor.*
    ("libertem.executor.base", "AsyncAdapter"): _ASYNC,
    ("libertem.executor.base", "make_canonical"): (
        "LiberTEM's GPU-spec normaliser; make_with validates cpus/gpus itself"
    ),
    ("libertem.executor.base", "Environment"): (
        "LiberTEM's per-task environment object (threads, device) of its UDFPartRunner; "
        "ferrotem's tasks carry threads_per_worker and resolve the device where they run"
    ),
    ("libertem.executor.inline", "InlineWorkerContext"): _WORKER_PLUMBING,
    ("libertem.executor.concurrent", "AsyncConcurrentJobExecutor"): _ASYNC,
    ("libertem.executor.concurrent", "ConcurrentWorkerContext"): _WORKER_PLUMBING,
    ("libertem.executor.dask", "AsyncDaskJobExecutor"): _ASYNC,
    ("libertem.executor.dask", "CommonDaskMixin"): "implementation mixin of LiberTEM's executors",
    ("libertem.executor.dask", "DaskWorkerContext"): _WORKER_PLUMBING,
    ("libertem.executor.dask", "cli_worker"): (
        "the libertem-worker command; ferrotem workers are plain `dask worker`s whose device "
        "is announced by cluster_spec"
    ),
    ("libertem.executor.dask", "set_worker_log_level"): "part of the libertem-worker command",
    ("libertem.executor.dask", "worker_setup"): "part of the libertem-worker command",
    ("libertem.executor.delayed", "delayed_to_buffer_wrappers"): _DELAYED_INTERNALS,
    ("libertem.executor.delayed", "make_copy"): _DELAYED_INTERNALS,
    ("libertem.executor.delayed", "merge_wrap"): _DELAYED_INTERNALS,
    ("libertem.executor.delayed", "structure_from_task"): _DELAYED_INTERNALS,
    ("libertem.executor.delayed", "task_wrap"): _DELAYED_INTERNALS,
    # libertem.io.dataset
    ("libertem.io.dataset", "build_extension_map"): "detection by file extension: issue 8",
    ("libertem.io.dataset", "get_extensions"): "detection by file extension: issue 8",
    ("libertem.io.dataset", "get_search_order"): "detection by file extension: issue 8",
    ("libertem.io.dataset.base", "DataTile"): (
        "LiberTEM's ndarray subclass carrying a tile's slice; ferrotem hands plain arrays and "
        "puts the slice in self.meta.slice"
    ),
    ("libertem.io.dataset.base", "WritableDataSet"): (
        "LiberTEM's in-place writable datasets (live data); no ferrotem equivalent yet"
    ),
    ("libertem.io.dataset.base", "WritablePartition"): (
        "LiberTEM's in-place writable datasets (live data); no ferrotem equivalent yet"
    ),
    ("libertem.io.dataset.base", "get_coordinates"): (
        "private helper behind UDFMeta.coordinates, which ferrotem computes itself"
    ),
    ("libertem.io.dataset.hdf5", "H5Partition"): (
        "internal: ferrotem's partitions are frame ranges of the one Partition class"
    ),
    ("libertem.io.dataset.hdf5", "H5Reader"): (
        "internal: chunks are read by the Rust chunk-table source (h5py only for metadata)"
    ),
    ("libertem.io.dataset.hdf5", "HDF5ArrayDescriptor"): (
        "internal: the datasets of a file are listed by get_diagnostics()"
    ),
    ("libertem.io.dataset.hdf5", "HDF5DatasetParams"): "web GUI message schema: issue 11",
    ("libertem.io.dataset.npy", "NPYInfo"): (
        "LiberTEM's header tuple; ferrotem reads .npy headers in Rust (dataset.meta has them)"
    ),
    ("libertem.io.dataset.npy", "read_npy_info"): (
        "LiberTEM's header reader; ferrotem reads .npy headers in Rust (dataset.meta has them)"
    ),
    ("libertem.io.dataset.memory", "MemPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.raw", "RawPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.mib", "MIBPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.mib", "MIBHeaderReader"): (
        "LiberTEM's header reader; ferrotem parses MIB headers in Rust "
        "(_core.mib_frame_header, dataset.meta['header'])"
    ),
    ("libertem.io.dataset.mib", "HeaderDict"): (
        "the fields of LiberTEM's header reader; ferrotem's are in dataset.meta['header']"
    ),
    ("libertem.io.dataset.ser", "SERPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.ser", "SERFile"): (
        "LiberTEM's ncempy file handle; ferrotem parses .ser in Rust (_core.ser_header, "
        "dataset.header)"
    ),
    ("libertem.io.dataset.ser", "SERFileSet"): (
        "LiberTEM's set of SERFile handles; ferrotem reads through _core.open_ser"
    ),
    ("libertem.io.dataset.mrc", "MRCPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.dm_single", "DMPartition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.blo", "get_header_dtype_list"): (
        "LiberTEM's numpy layout of the header; ferrotem parses it in Rust "
        "(_core.blo_header, dataset.header)"
    ),
    ("libertem.io.dataset.frms6", "FRMS6Partition"): (
        "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
    ),
    ("libertem.io.dataset.tvips", "series_header_dtype"): (
        "LiberTEM's numpy layout of the series header; ferrotem parses it in Rust "
        "(_core.tvips_scan, read_series_header)"
    ),
    ("libertem.io.dataset.tvips", "image_header_v2_dtype"): (
        "LiberTEM's numpy layout of the frame header; ferrotem reads the scan positions in Rust "
        "(ferrotem-core source::tvips)"
    ),
}
for _name in ("DOUBLE", "DWORD", "HEADER_FIELDS", "HEADER_SIZE", "LONG", "USHORT"):
    EXCEPTIONS[("libertem.io.dataset.seq", _name)] = (
        "LiberTEM's struct layout of the .seq header; ferrotem parses it in Rust "
        "(_core.seq_header, dataset.header)"
    )
for _name in (
    "array_cropping",
    "bin_array2d",
    "xml_binned_map_maker",
    "xml_defect_coord_extractor",
    "xml_defect_data_extractor",
    "xml_generate_map_size",
    "xml_map_index_selector",
    "xml_map_sizes",
    "xml_processing",
    "xml_unbinned_map_maker",
):
    EXCEPTIONS[("libertem.io.dataset.seq", _name)] = (
        "LiberTEM's steps of the bad-pixel XML reading; ferrotem's one function is "
        "ferrotem.io.dataset.seq.bad_pixel_map"
    )
for _name in (
    "FRMS6Decoder",
    "FRMS6FileSet",
    "decode_frms6_b1",
    "decode_frms6_b2",
    "decode_frms6_b4",
    "frms6_get_read_ranges",
):
    EXCEPTIONS[("libertem.io.dataset.frms6", _name)] = (
        "LiberTEM's numba decoders and read ranges of pnCCD frames; ferrotem unfolds them in "
        "Rust (ferrotem-core source::frms6)"
    )
for _name in (
    "DataBlock",
    "K2FileSet",
    "K2ISDecoder",
    "K2ISFile",
    "K2ISPartition",
    "K2Syncer",
    "Sector",
    "decode_k2is",
    "decode_uint12_le",
    "k2is_get_read_ranges",
):
    EXCEPTIONS[("libertem.io.dataset.k2is", _name)] = (
        "LiberTEM's numba decoders, sync classes and read ranges of K2IS blocks; ferrotem "
        "syncs and decodes in Rust (ferrotem-core source::k2is, _core.k2is_scan)"
    )
EXCEPTIONS[("libertem.io.dataset.k2is", "K2ISDatasetParams")] = _WEB_PARAMS
_RUST_DECODE = (
    "LiberTEM's numba decoders, encoders and read ranges of MIB frames; ferrotem decodes in "
    "Rust (ferrotem-core source::framed)"
)
for _name in (
    "MIBDecoder",
    "MIBFile",
    "MIBFileSet",
    "decode_r12_swap",
    "decode_r12_swap_2x2",
    "decode_r1_swap",
    "decode_r1_swap_2x2",
    "decode_r24_swap",
    "decode_r6_swap",
    "decode_r6_swap_2x2",
    "encode_r1",
    "encode_r12",
    "encode_r6",
    "encode_u1",
    "encode_u2",
    "mib_2x2_get_read_ranges",
    "mib_r24_get_read_ranges",
):
    EXCEPTIONS[("libertem.io.dataset.mib", _name)] = _RUST_DECODE
for _module, _names in {
    "libertem.io.dataset.base": (
        "BufferedBackend",
        "Decoder",
        "DirectBackend",
        "DtypeConversionDecoder",
        "File",
        "FileSet",
        "FileTree",
        "IOBackend",
        "MMapBackend",
        "Negotiator",
        "PartitionStructure",
        "TilingScheme",
        "decode_swap_2",
        "decode_swap_4",
        "default_get_read_ranges",
        "make_get_read_ranges",
    ),
    "libertem.io.dataset.memory": ("FakeMMapFile", "MemBackend", "MemBackendImpl", "MemoryFile"),
    "libertem.io.dataset.raw": ("RawFile", "RawFileSet"),
    "libertem.io.dataset.blo": ("BloFileSet",),
    "libertem.io.dataset.mrc": ("MRCBackend", "MRCBackendFile", "MRCBackendImpl"),
    "libertem.io.dataset.seq": ("SEQFileSet",),
    "libertem.io.dataset.empad": ("EMPADFileSet",),
    "libertem.io.dataset.dm": ("DMFileSet", "StackedDMFile"),
    "libertem.io.dataset.dm_single": ("DMFile",),
    "libertem.io.dataset.dask": (
        "DaskBackend",
        "DaskBackendImpl",
        "DaskFile",
        "DaskFileSet",
        "FakeDaskMMapFile",
    ),
}.items():
    for _name in _names:
        EXCEPTIONS[(_module, _name)] = _INTERNAL_IO
for _module, _name in (
    ("libertem.io.dataset.memory", "MemDatasetParams"),
    ("libertem.io.dataset.raw", "RAWDatasetParams"),
    ("libertem.io.dataset.npy", "NPYDatasetParams"),
    ("libertem.io.dataset.dask", "DaskDatasetParams"),
    ("libertem.io.dataset.mib", "MIBDatasetParams"),
    ("libertem.io.dataset.blo", "BLODatasetParams"),
    ("libertem.io.dataset.ser", "SERDatasetParams"),
    ("libertem.io.dataset.mrc", "MRCDatasetParams"),
    ("libertem.io.dataset.raw_csr", "RawCSRDatasetParams"),
    ("libertem.io.dataset.seq", "SEQDatasetParams"),
    ("libertem.io.dataset.frms6", "FRMS6DatasetParams"),
    ("libertem.io.dataset.tvips", "TVIPSDatasetParams"),
    ("libertem.io.dataset.empad", "EMPADDatasetParams"),
    ("libertem.io.dataset.dm", "SingleDMDatasetParams"),
    ("libertem.io.dataset.dm", "StackedDMDatasetParams"),
):
    EXCEPTIONS[(_module, _name)] = _WEB_PARAMS
EXCEPTIONS[("libertem.io.dataset.raw_csr", "RawCSRPartition")] = (
    "LiberTEM's per-format partition classes; ferrotem's partitions are Partition"
)
for _name in (
    "can_use_numba",
    "populate_tile",
    "populate_tile_numba",
    "read_tiles_straight",
    "read_tiles_with_roi",
    "sliced_indptr",
):
    EXCEPTIONS[("libertem.io.dataset.raw_csr", _name)] = (
        "LiberTEM's numba tile readers of CSR rows; ferrotem reads and checks them in Rust "
        "(ferrotem-core source::csr, _core.read_csr_rows)"
    )
for _name in (
    "array_mult",
    "findall",
    "get_chunksizes",
    "get_last_chunked_dim",
    "get_values",
    "merge_until_target",
    "min_neighbour",
    "min_with_min_neighbor",
    "modify_chunking",
    "neighbour_idxs",
):
    EXCEPTIONS[("libertem.io.dataset.dask", _name)] = _INTERNAL_CHUNKING

for _module, _name in (
    ("libertem.analysis.disk", "DiskTemplate"),
    ("libertem.analysis.ring", "RingTemplate"),
    ("libertem.analysis.point", "PointTemplate"),
    ("libertem.analysis.sum", "SumTemplate"),
    ("libertem.analysis.sumsig", "SumSigTemplate"),
    ("libertem.analysis.raw", "PickTemplate"),
    ("libertem.analysis.rawfft", "PickfftTemplate"),
    ("libertem.analysis.sumfft", "SumfftTemplate"),
    ("libertem.analysis.radialfourier", "RadialTemplate"),
    ("libertem.analysis.fem", "FEMTemplate"),
    ("libertem.analysis.sd", "SDTemplate"),
    ("libertem.analysis.com", "ComTemplate"),
    ("libertem.analysis.apply_fft_mask", "FFTMaskTemplate"),
):
    EXCEPTIONS[(_module, _name)] = _TEMPLATE

_TOOLKIT = "issue 9 (the microscopist's toolkit)"
#: LiberTEM modules with no ferrotem counterpart yet, and the issue that brings them
MISSING_MODULES: dict[str, str] = {
    "libertem.analysis.clust": _CLUSTER,
    "libertem.analysis.helper": _TEMPLATE,
    "libertem.web": "issue 11 (ferrotem server)",
}


def _ferrotem_path(libertem_path: str) -> str:
    return "ferrotem" + libertem_path[len("libertem") :]


def _expected() -> list[tuple[str, str]]:
    pairs = {(m, n) for m, names in LIBERTEM_0_16_NAMES.items() for n in names}
    pairs |= {(m, n) for m, names in REEXPORTS.items() for n in names}
    return sorted(pairs)


EXPECTED = [p for p in _expected() if p not in EXCEPTIONS]


@pytest.mark.parametrize(("module", "name"), EXPECTED, ids=[f"{m}.{n}" for m, n in EXPECTED])
def test_name_is_importable(module: str, name: str) -> None:
    mod = importlib.import_module(_ferrotem_path(module))
    assert hasattr(mod, name), f"{_ferrotem_path(module)} lacks {name!r} (LiberTEM has it)"


@pytest.mark.parametrize(
    ("module", "name"), sorted(EXCEPTIONS), ids=[f"{m}.{n}" for m, n in sorted(EXCEPTIONS)]
)
def test_exception_is_still_missing(module: str, name: str) -> None:
    assert (module, name) in set(_expected()), "an exception for a name LiberTEM does not have"
    mod = importlib.import_module(_ferrotem_path(module))
    assert not hasattr(mod, name), (
        f"{_ferrotem_path(module)}.{name} exists now: remove it from EXCEPTIONS"
    )


@pytest.mark.parametrize("module", sorted(MISSING_MODULES))
def test_missing_module_is_still_missing(module: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(_ferrotem_path(module))


def test_every_exception_has_a_reason() -> None:
    for key, reason in {**EXCEPTIONS, **{(m, ""): r for m, r in MISSING_MODULES.items()}}.items():
        assert isinstance(reason, str) and len(reason) > 10, key
