//! The UDF trait (user-defined functions over frames) and the built-in native UDFs.
//!
//! A UDF sees the dataset tile by tile: a tile is `depth` consecutive frames (consecutive in the
//! ROI-compressed order) restricted to a range of flattened signal pixels. Each partition gets a
//! fresh partial result; partials are merged into one output per run.

mod com;
mod csr;
mod masks;
pub mod native;
mod stddev;
mod stddev_exact;
mod sum;
mod sumsig;

pub use com::{CoMUdf, Moments};
pub use csr::CsrTile;
pub use masks::ApplyMasksUdf;
pub use native::{build, NativeSpec, NativeUdf};
pub use stddev::{StdDevMoments, StdDevUdf};
pub use sum::SumUdf;
pub use sumsig::SumSigUdf;

use crate::buffer::InputKind;
use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
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

impl TileData<'_> {
    /// The element kind of the values.
    #[must_use]
    pub fn kind(&self) -> InputKind {
        match self {
            TileData::F32(_) => InputKind::F32,
            TileData::F64(_) => InputKind::F64,
            TileData::C64(_) => InputKind::C64,
            TileData::C128(_) => InputKind::C128,
        }
    }
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

/// Tile values as stored, before conversion: native byte order, one variant per stored kind.
///
/// The runner offers these to [`Udf::process_stored_tile`] when the stored bytes need no byte
/// swap, so that a UDF can fuse conversion into its own loop and skip a pass over the tile.
#[derive(Debug, Clone, Copy)]
pub enum StoredData<'a> {
    /// uint8
    U8(&'a [u8]),
    /// uint16
    U16(&'a [u16]),
    /// uint32
    U32(&'a [u32]),
    /// uint64
    U64(&'a [u64]),
    /// int8
    I8(&'a [i8]),
    /// int16
    I16(&'a [i16]),
    /// int32
    I32(&'a [i32]),
    /// int64
    I64(&'a [i64]),
    /// float32
    F32(&'a [f32]),
    /// float64
    F64(&'a [f64]),
    /// complex64
    C64(&'a [Complex32]),
    /// complex128
    C128(&'a [Complex64]),
}

impl<'a> StoredData<'a> {
    /// Views `bytes` (elements of `dtype`) as typed values, if that needs no copy: the dtype must
    /// be in native byte order and `bytes` aligned for it. `None` otherwise.
    #[must_use]
    pub fn from_bytes(bytes: &'a [u8], dtype: DType) -> Option<Self> {
        if dtype.needs_swap() {
            return None;
        }
        Self::view(bytes, dtype.kind)
    }

    /// Views `bytes` as values of `kind` whatever their byte order (byte-swapped values read as
    /// their swapped bit patterns), if `bytes` is aligned for it and a whole number of values.
    #[must_use]
    pub fn view(bytes: &'a [u8], kind: ScalarKind) -> Option<Self> {
        fn view<T: Copy>(bytes: &[u8]) -> Option<&[T]> {
            // SAFETY: only used with primitive numeric types (and complex pairs of them), for
            // which every bit pattern is a valid value.
            let (head, body, tail) = unsafe { bytes.align_to::<T>() };
            (head.is_empty() && tail.is_empty()).then_some(body)
        }
        Some(match kind {
            ScalarKind::U8 => StoredData::U8(bytes),
            ScalarKind::U16 => StoredData::U16(view(bytes)?),
            ScalarKind::U32 => StoredData::U32(view(bytes)?),
            ScalarKind::U64 => StoredData::U64(view(bytes)?),
            ScalarKind::I8 => StoredData::I8(view(bytes)?),
            ScalarKind::I16 => StoredData::I16(view(bytes)?),
            ScalarKind::I32 => StoredData::I32(view(bytes)?),
            ScalarKind::I64 => StoredData::I64(view(bytes)?),
            ScalarKind::F32 => StoredData::F32(view(bytes)?),
            ScalarKind::F64 => StoredData::F64(view(bytes)?),
            ScalarKind::C64 => StoredData::C64(view(bytes)?),
            ScalarKind::C128 => StoredData::C128(view(bytes)?),
        })
    }
}

/// A block of frames in their stored dtype, offered to [`Udf::process_stored_tile`].
///
/// Same geometry as [`Tile`]; only the values differ (not yet converted to the input dtype).
#[derive(Debug, Clone)]
pub struct StoredTile<'a> {
    /// Position of the first frame in the partition's ROI-compressed frame order.
    pub offset: usize,
    /// Number of frames in the tile.
    pub depth: usize,
    /// The flattened signal pixels covered (a frame is `0..sig_size`).
    pub pixels: Range<usize>,
    /// `depth * pixels.len()` stored values, frame after frame.
    pub data: StoredData<'a>,
}

/// Frames in their stored dtype lent in place where they are not one contiguous block (a file
/// with a header before each frame) or not in native byte order (big-endian detector data),
/// offered to [`Udf::process_stored_frames`].
///
/// Frame `r` of the tile is `data[r * stride ..][..pixels.len()]`; the values between frames
/// are not pixels (they are the file's headers, viewed as numbers) and must not be read. With
/// `swapped`, each value's bytes are reversed: read it through [`crate::convert::Swapped`]
/// (which [`for_real_stored!`](crate::for_real_stored) does).
#[derive(Debug, Clone)]
pub struct StoredFramesTile<'a> {
    /// Position of the first frame in the partition's ROI-compressed frame order.
    pub offset: usize,
    /// Number of frames in the tile.
    pub depth: usize,
    /// The flattened signal pixels covered (a frame is `0..sig_size`).
    pub pixels: Range<usize>,
    /// Values from one frame's first pixel to the next frame's (at least `pixels.len()`).
    pub stride: usize,
    /// `(depth - 1) * stride + pixels.len()` stored values.
    pub data: StoredData<'a>,
    /// True when the values are stored in the other byte order than this machine's.
    pub swapped: bool,
}

/// Evaluates `$body` with `$d` bound to the values of a [`StoredData`] of a real kind as a typed
/// slice — of [`crate::convert::Swapped`] values when `$swapped` — and gives `true`; gives
/// `false` (without evaluating `$body`) for complex data. `$body` is generic code over the
/// slice's element type `S: CastTo<T> + Copy`.
#[macro_export]
macro_rules! for_real_stored {
    ($data:expr, $swapped:expr, |$d:ident| $body:expr) => {{
        use $crate::udf::StoredData as SD;
        match $data {
            SD::U8($d) => {
                $body;
                true
            }
            SD::I8($d) => {
                $body;
                true
            }
            SD::U16(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::U32(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::U64(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::I16(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::I32(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::I64(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::F32(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::F64(x) => $crate::for_real_stored!(@swap x, $swapped, $d, $body),
            SD::C64(_) | SD::C128(_) => false,
        }
    }};
    (@swap $x:ident, $swapped:expr, $d:ident, $body:expr) => {{
        if $swapped {
            let $d = $crate::convert::Swapped::slice($x);
            $body;
        } else {
            let $d = $x;
            $body;
        }
        true
    }};
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
///
/// `process_tile` and `merge` return [`Error::Internal`] (see [`Error::udf_internal`]) when
/// they meet something the runner promised could not happen, such as a tile of another kind
/// than the partial: checked in release builds too, so that a bug fails the run instead of
/// returning zeros.
pub trait Udf: Send + Sync {
    /// Per-partition intermediate result.
    type Partial: Send + 'static;
    /// The run's result.
    type Output: Send + 'static;

    /// The name errors give for this UDF; the type's path unless overridden.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
    /// A fresh partial for one partition.
    fn new_partial(&self, part: &PartitionInfo<'_>) -> Self::Partial;
    /// Accumulates one tile.
    ///
    /// # Errors
    /// [`Error::Internal`] for a tile the runner should not have sent (see the trait docs), or
    /// any error of the UDF's own computation, which fails the run.
    fn process_tile(&self, partial: &mut Self::Partial, tile: &Tile<'_>) -> Result<()>;
    /// Optional fast path: accumulates one tile straight from its stored values, converting
    /// each value to the run's input dtype itself (exactly as [`crate::convert`] would).
    ///
    /// Return `true` if the tile was processed; return `false` without touching `partial` to
    /// receive the same tile, converted, through [`Udf::process_tile`] instead. The default
    /// returns `false`, so a UDF only implements `process_tile`.
    fn process_stored_tile(&self, partial: &mut Self::Partial, tile: &StoredTile<'_>) -> bool {
        let _ = (partial, tile);
        false
    }
    /// Optional fast path for frames lent in place with gaps between them or byte-swapped (see
    /// [`StoredFramesTile`]): accumulates them straight from where they are stored.
    ///
    /// Return `true` if the tile was processed; return `false` without touching `partial` to
    /// receive the same frames gathered into one native-order tile, through
    /// [`Udf::process_stored_tile`] or [`Udf::process_tile`]. The default returns `false`.
    fn process_stored_frames(
        &self,
        partial: &mut Self::Partial,
        tile: &StoredFramesTile<'_>,
    ) -> bool {
        let _ = (partial, tile);
        false
    }
    /// Optional fast path for sparse sources ([`crate::source::CsrSource`]): accumulates a
    /// tile of whole frames from its stored entries only, without densifying.
    ///
    /// Return `Ok(true)` if the tile was processed; `Ok(false)` without touching `partial` to
    /// receive the same frames densified, through the dense paths. The default returns
    /// `Ok(false)`.
    ///
    /// # Errors
    /// As [`Udf::process_tile`].
    fn process_csr_tile(&self, partial: &mut Self::Partial, tile: &CsrTile<'_>) -> Result<bool> {
        let _ = (partial, tile);
        Ok(false)
    }
    /// True if a partial made by [`Udf::new_partial`] for one partition may also take the tiles
    /// of any other frames (of any partition) before it is merged: its layout does not depend
    /// on the partition's frames, and merging it adds what it took (a sum over frames). The
    /// runner then keeps one partial per thread across the pieces it processes and merges each
    /// once, instead of making and merging a partial per piece: for frame-sized partials of
    /// large frames that was a large part of the run. The default says no.
    fn partial_takes_any_frames(&self) -> bool {
        false
    }
    /// Tiles of at least this many bytes (in the input dtype) suit this UDF better than the
    /// run's default: the runner cuts tiles no smaller than the largest such wish of the run's
    /// UDFs (and [`crate::runner::RunOptions::tile_bytes`]). `None` (the default): no wish.
    fn min_tile_bytes(&self) -> Option<usize> {
        None
    }
    /// The empty result of a run.
    fn new_output(&self, run: &RunInfo<'_>) -> Self::Output;
    /// Folds a finished partition into the result. Partitions arrive in completion order.
    ///
    /// # Errors
    /// [`Error::Internal`] for a partial that does not fit the output (see the trait docs).
    fn merge(
        &self,
        output: &mut Self::Output,
        part: &PartitionInfo<'_>,
        partial: Self::Partial,
    ) -> Result<()>;
}

/// Object-safe form of [`Udf`], so that one run can drive several UDFs of different types.
///
/// Partials and outputs travel as `dyn Any`; one of another type than the UDF's own (a bug in
/// the caller, e.g. partials of two UDFs swapped) is [`Error::Internal`] naming the UDF, never
/// silently skipped.
pub trait DynUdf: Send + Sync {
    /// See [`Udf::name`].
    fn name_dyn(&self) -> &str;
    /// See [`Udf::new_partial`].
    fn new_partial_dyn(&self, part: &PartitionInfo<'_>) -> Box<dyn Any + Send>;
    /// See [`Udf::process_tile`].
    ///
    /// # Errors
    /// As [`Udf::process_tile`]; [`Error::Internal`] if the partial is not of the UDF's own
    /// type.
    fn process_tile_dyn(&self, partial: &mut (dyn Any + Send), tile: &Tile<'_>) -> Result<()>;
    /// See [`Udf::process_stored_tile`].
    ///
    /// # Errors
    /// [`Error::Internal`] if the partial is not of the UDF's own type.
    fn process_stored_tile_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &StoredTile<'_>,
    ) -> Result<bool>;
    /// See [`Udf::process_stored_frames`]; the default declines (`Ok(false)`), so that an
    /// implementation of this trait written before it existed still works.
    ///
    /// # Errors
    /// [`Error::Internal`] if the partial is not of the UDF's own type.
    fn process_stored_frames_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &StoredFramesTile<'_>,
    ) -> Result<bool> {
        let _ = (partial, tile);
        Ok(false)
    }
    /// See [`Udf::process_csr_tile`]; the default declines (`Ok(false)`).
    ///
    /// # Errors
    /// As [`Udf::process_csr_tile`]; [`Error::Internal`] if the partial is not of the UDF's own
    /// type.
    fn process_csr_tile_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &CsrTile<'_>,
    ) -> Result<bool> {
        let _ = (partial, tile);
        Ok(false)
    }
    /// See [`Udf::min_tile_bytes`]; the default has no wish.
    fn min_tile_bytes_dyn(&self) -> Option<usize> {
        None
    }
    /// See [`Udf::partial_takes_any_frames`]; the default says no.
    fn partial_takes_any_frames_dyn(&self) -> bool {
        false
    }
    /// See [`Udf::new_output`].
    fn new_output_dyn(&self, run: &RunInfo<'_>) -> Box<dyn Any + Send>;
    /// See [`Udf::merge`].
    ///
    /// # Errors
    /// As [`Udf::merge`]; [`Error::Internal`] if a partial or output is not of the UDF's own
    /// type.
    fn merge_dyn(
        &self,
        output: &mut (dyn Any + Send),
        part: &PartitionInfo<'_>,
        partial: Box<dyn Any + Send>,
    ) -> Result<()>;
}

/// The error for a partial or output that is not of the type `U` works with.
fn wrong_type<U: Udf, T>(udf: &U, what: &str) -> Error {
    Error::udf_internal(
        udf.name(),
        format!(
            "{what} is not of the UDF's own type {}",
            std::any::type_name::<T>()
        ),
    )
}

impl<U: Udf> DynUdf for U {
    fn name_dyn(&self) -> &str {
        self.name()
    }

    fn new_partial_dyn(&self, part: &PartitionInfo<'_>) -> Box<dyn Any + Send> {
        Box::new(self.new_partial(part))
    }

    fn process_tile_dyn(&self, partial: &mut (dyn Any + Send), tile: &Tile<'_>) -> Result<()> {
        let p = partial
            .downcast_mut::<U::Partial>()
            .ok_or_else(|| wrong_type::<U, U::Partial>(self, "the partial result"))?;
        self.process_tile(p, tile)
    }

    fn process_stored_tile_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &StoredTile<'_>,
    ) -> Result<bool> {
        let p = partial
            .downcast_mut::<U::Partial>()
            .ok_or_else(|| wrong_type::<U, U::Partial>(self, "the partial result"))?;
        Ok(self.process_stored_tile(p, tile))
    }

    fn process_stored_frames_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &StoredFramesTile<'_>,
    ) -> Result<bool> {
        let p = partial
            .downcast_mut::<U::Partial>()
            .ok_or_else(|| wrong_type::<U, U::Partial>(self, "the partial result"))?;
        Ok(self.process_stored_frames(p, tile))
    }

    fn min_tile_bytes_dyn(&self) -> Option<usize> {
        self.min_tile_bytes()
    }

    fn partial_takes_any_frames_dyn(&self) -> bool {
        self.partial_takes_any_frames()
    }

    fn process_csr_tile_dyn(
        &self,
        partial: &mut (dyn Any + Send),
        tile: &CsrTile<'_>,
    ) -> Result<bool> {
        let p = partial
            .downcast_mut::<U::Partial>()
            .ok_or_else(|| wrong_type::<U, U::Partial>(self, "the partial result"))?;
        self.process_csr_tile(p, tile)
    }

    fn new_output_dyn(&self, run: &RunInfo<'_>) -> Box<dyn Any + Send> {
        Box::new(self.new_output(run))
    }

    fn merge_dyn(
        &self,
        output: &mut (dyn Any + Send),
        part: &PartitionInfo<'_>,
        partial: Box<dyn Any + Send>,
    ) -> Result<()> {
        let o = output
            .downcast_mut::<U::Output>()
            .ok_or_else(|| wrong_type::<U, U::Output>(self, "the output"))?;
        let p = partial
            .downcast::<U::Partial>()
            .map_err(|_| wrong_type::<U, U::Partial>(self, "the partial result"))?;
        self.merge(o, part, *p)
    }
}
