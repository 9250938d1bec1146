//! Partitioning helpers exposed to Python.

use crate::errors::to_pyerr;
use pyo3::prelude::*;

/// Splits `n_frames` into `n_parts` contiguous partitions, on scan-row boundaries where the
/// scan allows; returns `[(start, stop), ...]`.
#[pyfunction]
pub fn split_frames(n_frames: u64, n_parts: usize, row_len: u64) -> PyResult<Vec<(u64, u64)>> {
    let parts =
        ferrotem_core::partition::split_frames(n_frames, n_parts, row_len).map_err(to_pyerr)?;
    Ok(parts
        .into_iter()
        .map(|p| (p.frames.start, p.frames.end))
        .collect())
}

/// LiberTEM's default partition count for a dataset of `n_pixels` elements on `cores` cores.
#[pyfunction]
pub fn default_partition_count(n_pixels: u64, cores: usize) -> usize {
    ferrotem_core::partition::default_partition_count(n_pixels, cores)
}
