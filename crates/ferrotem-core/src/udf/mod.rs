//! The UDF trait (user-defined functions over frames) and the built-in native UDFs.
//!
//! A UDF sees the dataset tile by tile: a tile is `depth` consecutive frames (consecutive in the
//! ROI-compressed order) restricted to a range of flattened signal pixels. Each partition gets a
//! fresh partial result; partials are merged into one output per run.

mod sum;
mod sumsig;

pub use sum::SumUdf;
pub use sumsig::SumSigUdf;

use crate::buffer::InputKind;
use crate::partition::Partition;
use crate::shape::DatasetShape;
use num_complex::{Complex32, Complex64};
use std::any::Any;
use std::ops::Range;

/// Tile values in the run's input dtype.
#[derive(Debug, Clone, Copy)]
pub enum TileData<'a> {
    /// float32
    F32(&'a [f32]),
    /// float64
    F64(&'a [f64]),
    /// complex64
    C64(&'a [Complex32]),
    /// complex128
    C128(&'a [Complex64]),
}

/// A block of frames handed to [`Udf::process_tile`].
#[derive(Debug, Clone)]
pub struct Tile<'a> {
    /// Position of the first frame in the partition's ROI-compressed frame order.
    pub offset: usize,
    /// Number of frames in the tile.
    pub depth: usize,
    /// The flattened signal pixels covered (a frame is `0..sig_size`).
    pub pixels: Range<usize>,
    /// `depth * pixels.len()` values, frame after frame.
    pub data: TileData<'a>,
}

/// What a UDF knows about the run.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// Dataset shape.
    pub shape: &'a DatasetShape,
    /// Number of frames taking part (the ROI count, or all frames).
    pub n_frames: u64,
    /// The dtype tiles arrive in.
    pub input: InputKind,
}

/// What a UDF knows about the partition being processed or merged.
#[derive(Debug, Clone)]
pub struct PartitionInfo<'a> {
    /// The run.
    pub run: RunInfo<'a>,
    /// The partition.
    pub partition: &'a Partition,
    /// Frames of this partition taking part (ROI applied).
    pub n_frames: usize,
    /// Position of this partition's first frame in the run's ROI-compressed frame order.
    pub compressed_start: u64,
}

/// A user-defined function implemented in Rust.
///
/// `process_tile` may be called from several threads at once, each with its own partial.
pub trait Udf: Send + Sync {
    /// Per-partition intermediate result.
    type Partial: Send + 'static;
    /// The run's result.
    type Output: Send + 'static;

    /// A fresh partial for one partition.
    fn new_partial(&self, part: &PartitionInfo<'_>) -> Self::Partial;
    /// Accumulates one tile.
    fn process_tile(&self, partial: &mut Self::Partial, tile: &Tile<'_>);
    /// The empty result of a run.
    fn new_output(&self, run: &RunInfo<'_>) -> Self::Output;
    /// Folds a finished partition into the result. Partitions arrive in completion order.
    fn merge(&self, output: &mut Self::Output, part: &PartitionInfo<'_>, partial: Self::Partial);
}

/// Object-safe form of [`Udf`], so that one run can drive several UDFs of different types.
pub trait DynUdf: Send + Sync {
    /// See [`Udf::new_partial`].
    fn new_partial_dyn(&self, part: &PartitionInfo<'_>) -> Box<dyn Any + Send>;
    /// See [`Udf::process_tile`].
    fn process_tile_dyn(&self, partial: &mut (dyn Any + Send), tile: &Tile<'_>);
    /// See [`Udf::new_output`].
    fn new_output_dyn(&self, run: &RunInfo<'_>) -> Box<dyn Any + Send>;
    /// See [`Udf::merge`].
    fn merge_dyn(
        &self,
        output: &mut (dyn Any + Send),
        part: &PartitionInfo<'_>,
        partial: Box<dyn Any + Send>,
    );
}

impl<U: Udf> DynUdf for U {
    fn new_partial_dyn(&self, part: &PartitionInfo<'_>) -> Box<dyn Any + Send> {
        Box::new(self.new_partial(part))
    }

    fn process_tile_dyn(&self, partial: &mut (dyn Any + Send), tile: &Tile<'_>) {
        if let Some(p) = partial.downcast_mut::<U::Partial>() {
            self.process_tile(p, tile);
        }
    }

    fn new_output_dyn(&self, run: &RunInfo<'_>) -> Box<dyn Any + Send> {
        Box::new(self.new_output(run))
    }

    fn merge_dyn(
        &self,
        output: &mut (dyn Any + Send),
        part: &PartitionInfo<'_>,
        partial: Box<dyn Any + Send>,
    ) {
        if let (Some(o), Ok(p)) = (
            output.downcast_mut::<U::Output>(),
            partial.downcast::<U::Partial>(),
        ) {
            self.merge(o, part, *p);
        }
    }
}
