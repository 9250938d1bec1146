//! `SumUDF`: the sum of all frames, one value per signal pixel, in the input dtype.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel inlined into its `#[target_feature]` \
              copies, or it runs on the baseline instruction set"
)]

use super::native::{single_result, NativeSpec, NativeUdf, ResultDecl, ResultKind};
use super::{
    CsrTile, DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile,
    TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use std::any::Any;
use std::ops::AddAssign;

/// Sums frames pixel by pixel (LiberTEM's `SumUDF`, result `intensity`, kind `sig`).
///
/// Integer data is summed in the run's input dtype (float32 by default), as LiberTEM does. For
/// data stored in native byte order the conversion is fused into the accumulation
/// ([`Udf::process_stored_tile`]), so each stored value is loaded once and never written back.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumUdf;

/// `acc[i] += data[r * stride + i] as T` for each of `depth` rows of `width = acc.len()`
/// (`stride >= width`; rows follow each other when `stride == width`).
struct SumRows<'a, S, T> {
    acc: &'a mut [T],
    data: &'a [S],
    depth: usize,
    stride: usize,
}

impl<S: CastTo<T> + Copy, T: Copy + AddAssign + Default> Kernel for SumRows<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        // Accumulators are loaded once per group of rows and kept in registers (`LANES` values)
        // while up to `GROUP` rows are added, then stored: memory traffic for the accumulators
        // drops by the group size, and each row is still read sequentially. Every accumulator
        // receives the rows in order, so results equal the simple loop's.
        const LANES: usize = 64;
        const GROUP: usize = 8;
        let width = self.acc.len();
        let stride = self.stride.max(width);
        if width == 0 || self.data.len() < width {
            return;
        }
        let depth = self.depth.min((self.data.len() - width) / stride + 1);
        let mut first = 0;
        while first < depth {
            let last = (first + GROUP).min(depth);
            if last - first == 1 {
                // One row (tiles one frame deep, as large frames give): nothing to keep in
                // registers across rows; adding in place avoids copying every accumulator
                // through `lanes` and back. Same additions in the same order.
                let row = &self.data[first * stride..first * stride + width];
                for (a, &x) in self.acc.iter_mut().zip(row) {
                    *a += x.cast();
                }
                first = last;
                continue;
            }
            let mut start = 0;
            // Whole blocks of `LANES` first: with a fixed length the copies in and out of
            // `lanes` compile to register moves (a variable length called `memcpy` twice per
            // block, a tenth of the kernel's time on deep tiles).
            while start + LANES <= width {
                let end = start + LANES;
                let mut lanes = [T::default(); LANES];
                lanes.copy_from_slice(&self.acc[start..end]);
                for r in first..last {
                    let row: &[S; LANES] = self.data[r * stride + start..r * stride + end]
                        .try_into()
                        .unwrap_or_else(|_| unreachable!("a slice of LANES values"));
                    for (a, &x) in lanes.iter_mut().zip(row) {
                        *a += x.cast();
                    }
                }
                self.acc[start..end].copy_from_slice(&lanes);
                start = end;
            }
            if start < width {
                let n = width - start;
                let mut lanes = [T::default(); LANES];
                lanes[..n].copy_from_slice(&self.acc[start..]);
                for r in first..last {
                    let row = &self.data[r * stride + start..r * stride + width];
                    for (a, &x) in lanes[..n].iter_mut().zip(row) {
                        *a += x.cast();
                    }
                }
                self.acc[start..].copy_from_slice(&lanes[..n]);
            }
            first = last;
        }
    }
}

/// Adds `depth` rows of `data` (each `acc.len()` long), cast to `T`, into `acc`.
#[inline]
pub(crate) fn sum_rows_into<S: CastTo<T> + Copy, T: Copy + AddAssign + Default>(
    acc: &mut [T],
    data: &[S],
    depth: usize,
) {
    let stride = acc.len();
    dispatch(SumRows {
        acc,
        data,
        depth,
        stride,
    });
}

/// Adds a tile of frames lent in place (`stride` values apart, maybe byte-swapped) into `acc`.
fn sum_frames_into<T: Copy + AddAssign + Default>(
    acc: &mut [T],
    tile: &StoredFramesTile<'_>,
) -> bool
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
{
    let (depth, stride) = (tile.depth, tile.stride);
    crate::for_real_stored!(tile.data, tile.swapped, |d| dispatch(SumRows {
        acc,
        data: d,
        depth,
        stride,
    }))
}

/// Adds a stored tile of any real kind into a real accumulator of kind `T`.
fn sum_stored_into<T: Copy + AddAssign + Default>(
    acc: &mut [T],
    data: StoredData<'_>,
    depth: usize,
) -> bool
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
{
    match data {
        StoredData::U8(d) => sum_rows_into(acc, d, depth),
        StoredData::U16(d) => sum_rows_into(acc, d, depth),
        StoredData::U32(d) => sum_rows_into(acc, d, depth),
        StoredData::U64(d) => sum_rows_into(acc, d, depth),
        StoredData::I8(d) => sum_rows_into(acc, d, depth),
        StoredData::I16(d) => sum_rows_into(acc, d, depth),
        StoredData::I32(d) => sum_rows_into(acc, d, depth),
        StoredData::I64(d) => sum_rows_into(acc, d, depth),
        StoredData::F32(d) => sum_rows_into(acc, d, depth),
        StoredData::F64(d) => sum_rows_into(acc, d, depth),
        StoredData::C64(_) | StoredData::C128(_) => return false,
    }
    true
}

/// `acc[p] += v as T` for each stored entry `(p, v)`: the sum of a sparse tile over its values
/// only.
fn scatter_add<S: CastTo<T> + Copy, T: Copy + AddAssign>(
    acc: &mut [T],
    pixels: &[u32],
    values: &[S],
) {
    for (&p, &v) in pixels.iter().zip(values) {
        if let Some(a) = acc.get_mut(p as usize) {
            *a += v.cast();
        }
    }
}

/// Adds a CSR tile of any real kind into a real accumulator of kind `T`.
fn sum_csr_into<T: Copy + AddAssign + Default>(acc: &mut [T], tile: &CsrTile<'_>) -> bool
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
{
    let pixels = tile.rows.indices;
    crate::for_real_stored!(tile.rows.data, false, |d| scatter_add(acc, pixels, d))
}

impl Udf for SumUdf {
    type Partial = TypedVec;
    type Output = TypedVec;

    fn name(&self) -> &'static str {
        "SumUDF"
    }

    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(part.run.input, part.run.shape.sig_size())
    }

    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) -> Result<()> {
        let px = tile.pixels.clone();
        match (partial, tile.data) {
            (TypedVec::F32(acc), TileData::F32(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::F64(acc), TileData::F64(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::C64(acc), TileData::C64(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::C128(acc), TileData::C128(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (partial, data) => {
                return Err(Error::udf_internal(
                    self.name(),
                    format!(
                        "a {:?} tile for a {:?} partial result",
                        data.kind(),
                        partial.kind()
                    ),
                ))
            }
        }
        Ok(())
    }

    fn process_stored_tile(&self, partial: &mut TypedVec, tile: &StoredTile<'_>) -> bool {
        let px = tile.pixels.clone();
        match partial {
            TypedVec::F32(acc) => sum_stored_into(&mut acc[px], tile.data, tile.depth),
            TypedVec::F64(acc) => sum_stored_into(&mut acc[px], tile.data, tile.depth),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        }
    }

    fn process_stored_frames(&self, partial: &mut TypedVec, tile: &StoredFramesTile<'_>) -> bool {
        let px = tile.pixels.clone();
        match partial {
            TypedVec::F32(acc) => sum_frames_into(&mut acc[px], tile),
            TypedVec::F64(acc) => sum_frames_into(&mut acc[px], tile),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        }
    }

    fn process_csr_tile(&self, partial: &mut TypedVec, tile: &CsrTile<'_>) -> Result<bool> {
        if partial.len() != tile.sig_size {
            return Err(Error::udf_internal(
                self.name(),
                format!(
                    "a tile of {} pixels for a partial of {}",
                    tile.sig_size,
                    partial.len()
                ),
            ));
        }
        Ok(match partial {
            TypedVec::F32(acc) => sum_csr_into(acc, tile),
            TypedVec::F64(acc) => sum_csr_into(acc, tile),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        })
    }

    fn partial_takes_any_frames(&self) -> bool {
        // A sig-sized sum, merged by adding.
        true
    }

    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        TypedVec::zeros(run.input, run.shape.sig_size())
    }

    fn merge(
        &self,
        output: &mut TypedVec,
        _part: &PartitionInfo<'_>,
        partial: TypedVec,
    ) -> Result<()> {
        output
            .add_assign(&partial)
            .map_err(|e| Error::udf_internal(self.name(), format!("merge: {e}")))
    }
}

impl SumUdf {
    /// Builds the UDF from its declaration (it takes no parameters).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for any parameter.
    pub fn from_spec(spec: &NativeSpec) -> Result<Box<dyn NativeUdf>> {
        spec.only(&[])?;
        Ok(Box::new(SumUdf))
    }
}

impl NativeUdf for SumUdf {
    fn udf(&self) -> &dyn DynUdf {
        self
    }

    fn results(&self, input: InputKind) -> Vec<ResultDecl> {
        vec![ResultDecl {
            name: "intensity".into(),
            kind: ResultKind::Sig,
            dtype: input,
            extra_shape: vec![],
        }]
    }

    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>> {
        single_result(self, output)
    }
}
