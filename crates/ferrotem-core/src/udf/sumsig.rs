//! `SumSigUDF`: the sum over the signal pixels of each frame (one value per scan position).
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel and what it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use super::{PartitionInfo, RunInfo, StoredData, StoredTile, Tile, TileData, Udf};
use crate::buffer::TypedVec;
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};

/// Sums each frame (LiberTEM's `SumSigUDF`, result `intensity`, kind `nav`).
///
/// float32 frames are summed in float64 and rounded once, which is at least as accurate as
/// numpy's pairwise float32 summation and costs nothing on a memory-bound loop. Each value is
/// first converted to the run's input dtype (as [`crate::convert`] does), then widened.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumSigUdf;

/// Independent float64 accumulators per row: enough to keep the wide vector units busy and the
/// rounding error small.
const LANES: usize = 16;

/// A real input dtype whose row sums are accumulated in float64.
trait RealInput: Copy + Into<f64> {
    /// `self + total`, with `total` rounded once to `Self`.
    fn add_total(self, total: f64) -> Self;
}
impl RealInput for f32 {
    #[inline(always)]
    fn add_total(self, total: f64) -> Self {
        self + total as f32
    }
}
impl RealInput for f64 {
    #[inline(always)]
    fn add_total(self, total: f64) -> Self {
        self + total
    }
}

/// `out[r] += sum(data[r * width ..][..width] as T as f64)` for every row `r` of `out`.
struct RowSums<'a, S, T> {
    out: &'a mut [T],
    data: &'a [S],
    width: usize,
}

impl<S: CastTo<T> + Copy, T: RealInput> Kernel for RowSums<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        if self.width == 0 {
            return;
        }
        for (o, row) in self.out.iter_mut().zip(self.data.chunks_exact(self.width)) {
            let mut lanes = [0f64; LANES];
            let mut chunks = row.chunks_exact(LANES);
            for c in &mut chunks {
                for k in 0..LANES {
                    lanes[k] += c[k].cast().into();
                }
            }
            let mut total = 0f64;
            for &x in chunks.remainder() {
                total += x.cast().into();
            }
            for l in lanes {
                total += l;
            }
            *o = o.add_total(total);
        }
    }
}

fn row_sums_real<S: CastTo<T> + Copy, T: RealInput>(out: &mut [T], data: &[S], width: usize) {
    dispatch(RowSums { out, data, width });
}

/// Row sums of a stored tile of any real kind into a real output of kind `T`.
fn row_sums_stored<T: RealInput>(out: &mut [T], data: StoredData<'_>, width: usize) -> bool
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
        StoredData::U8(d) => row_sums_real(out, d, width),
        StoredData::U16(d) => row_sums_real(out, d, width),
        StoredData::U32(d) => row_sums_real(out, d, width),
        StoredData::U64(d) => row_sums_real(out, d, width),
        StoredData::I8(d) => row_sums_real(out, d, width),
        StoredData::I16(d) => row_sums_real(out, d, width),
        StoredData::I32(d) => row_sums_real(out, d, width),
        StoredData::I64(d) => row_sums_real(out, d, width),
        StoredData::F32(d) => row_sums_real(out, d, width),
        StoredData::F64(d) => row_sums_real(out, d, width),
        StoredData::C64(_) | StoredData::C128(_) => return false,
    }
    true
}

/// Complex row sums in complex128, eight lanes (not dispatched: complex data is rare).
fn row_sums_complex<T: Copy>(
    out: &mut [T],
    data: &[T],
    width: usize,
    widen: impl Fn(T) -> Complex64,
    narrow: impl Fn(Complex64, T) -> T,
) {
    if width == 0 {
        return;
    }
    for (o, row) in out.iter_mut().zip(data.chunks_exact(width)) {
        let mut lanes = [Complex64::new(0.0, 0.0); 8];
        let mut chunks = row.chunks_exact(8);
        for c in &mut chunks {
            for k in 0..8 {
                lanes[k] += widen(c[k]);
            }
        }
        let mut total = Complex64::new(0.0, 0.0);
        for x in chunks.remainder() {
            total += widen(*x);
        }
        for l in lanes {
            total += l;
        }
        *o = narrow(total, *o);
    }
}

impl Udf for SumSigUdf {
    type Partial = TypedVec;
    type Output = TypedVec;

    fn name(&self) -> &'static str {
        "SumSigUDF"
    }

    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(part.run.input, part.n_frames)
    }

    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) -> Result<()> {
        let rows = tile.offset..tile.offset + tile.depth;
        let width = tile.pixels.len();
        match (partial, tile.data) {
            (TypedVec::F32(out), TileData::F32(d)) => row_sums_real(&mut out[rows], d, width),
            (TypedVec::F64(out), TileData::F64(d)) => row_sums_real(&mut out[rows], d, width),
            (TypedVec::C64(out), TileData::C64(d)) => row_sums_complex(
                &mut out[rows],
                d,
                width,
                |x| Complex64::new(f64::from(x.re), f64::from(x.im)),
                |t, o| o + Complex32::new(t.re as f32, t.im as f32),
            ),
            (TypedVec::C128(out), TileData::C128(d)) => {
                row_sums_complex(&mut out[rows], d, width, |x| x, |t, o| o + t);
            }
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
        let rows = tile.offset..tile.offset + tile.depth;
        let width = tile.pixels.len();
        match partial {
            TypedVec::F32(out) => row_sums_stored(&mut out[rows], tile.data, width),
            TypedVec::F64(out) => row_sums_stored(&mut out[rows], tile.data, width),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        }
    }

    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        TypedVec::zeros(run.input, run.n_frames as usize)
    }

    fn merge(
        &self,
        output: &mut TypedVec,
        part: &PartitionInfo<'_>,
        partial: TypedVec,
    ) -> Result<()> {
        output
            .copy_into(part.compressed_start as usize, &partial)
            .map_err(|e| Error::udf_internal(self.name(), format!("merge: {e}")))
    }
}
