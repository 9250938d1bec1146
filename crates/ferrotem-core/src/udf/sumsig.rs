//! `SumSigUDF`: the sum over the signal pixels of each frame (one value per scan position).
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel and what it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use super::native::{single_result, NativeSpec, NativeUdf, ResultDecl, ResultKind};
use super::{
    CsrTile, DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile,
    TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::{CastTo, SwapBytes, Swapped};
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::any::Any;

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

/// `out[r] += sum(data[r * stride ..][..width] as T as f64)` for every row `r` of `out`
/// (`stride >= width`; rows follow each other when `stride == width`).
struct RowSums<'a, S, T> {
    out: &'a mut [T],
    data: &'a [S],
    width: usize,
    stride: usize,
}

impl<S: CastTo<T> + Copy, T: RealInput> Kernel for RowSums<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        if self.width == 0 {
            return;
        }
        let rows = self
            .data
            .chunks(self.stride.max(self.width))
            .filter_map(|c| c.get(..self.width));
        for (o, row) in self.out.iter_mut().zip(rows) {
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

/// [`RowSums`] for byte-swapped values: each block of a row is swapped into a small buffer in
/// native order first, so that the summing loop is the native one (the swap fused into it
/// vectorised poorly: a quarter slower).
struct RowSumsSwapped<'a, S, T> {
    out: &'a mut [T],
    data: &'a [Swapped<S>],
    width: usize,
    stride: usize,
}

impl<S: SwapBytes + CastTo<T> + Copy + Default, T: RealInput> Kernel for RowSumsSwapped<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        const BLOCK: usize = 512;
        if self.width == 0 {
            return;
        }
        let mut native = [S::default(); BLOCK];
        let rows = self
            .data
            .chunks(self.stride.max(self.width))
            .filter_map(|c| c.get(..self.width));
        for (o, row) in self.out.iter_mut().zip(rows) {
            let mut lanes = [0f64; LANES];
            let mut total = 0f64;
            for block in row.chunks(BLOCK) {
                for (n, v) in native.iter_mut().zip(block) {
                    *n = v.value();
                }
                let mut chunks = native[..block.len()].chunks_exact(LANES);
                for c in &mut chunks {
                    for k in 0..LANES {
                        lanes[k] += c[k].cast().into();
                    }
                }
                for &x in chunks.remainder() {
                    total += x.cast().into();
                }
            }
            for l in lanes {
                total += l;
            }
            *o = o.add_total(total);
        }
    }
}

fn row_sums_real<S: CastTo<T> + Copy, T: RealInput>(out: &mut [T], data: &[S], width: usize) {
    dispatch(RowSums {
        out,
        data,
        width,
        stride: width,
    });
}

/// Row sums of frames lent in place (`stride` values apart, maybe byte-swapped).
fn row_sums_frames<T: RealInput>(out: &mut [T], tile: &StoredFramesTile<'_>) -> bool
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
    let (width, stride) = (tile.pixels.len(), tile.stride);
    if tile.swapped {
        return row_sums_swapped(out, tile.data, width, stride);
    }
    crate::for_real_stored!(tile.data, false, |d| dispatch(RowSums {
        out,
        data: d,
        width,
        stride,
    }))
}

/// Row sums of byte-swapped frames ([`RowSumsSwapped`]); one-byte values need no swap.
fn row_sums_swapped<T: RealInput>(
    out: &mut [T],
    data: StoredData<'_>,
    width: usize,
    stride: usize,
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
    fn run<S: SwapBytes + CastTo<T> + Copy + Default, T: RealInput>(
        out: &mut [T],
        data: &[S],
        width: usize,
        stride: usize,
    ) {
        let data = Swapped::slice(data);
        dispatch(RowSumsSwapped {
            out,
            data,
            width,
            stride,
        });
    }
    match data {
        StoredData::U8(d) => dispatch(RowSums {
            out,
            data: d,
            width,
            stride,
        }),
        StoredData::I8(d) => dispatch(RowSums {
            out,
            data: d,
            width,
            stride,
        }),
        StoredData::U16(d) => run(out, d, width, stride),
        StoredData::U32(d) => run(out, d, width, stride),
        StoredData::U64(d) => run(out, d, width, stride),
        StoredData::I16(d) => run(out, d, width, stride),
        StoredData::I32(d) => run(out, d, width, stride),
        StoredData::I64(d) => run(out, d, width, stride),
        StoredData::F32(d) => run(out, d, width, stride),
        StoredData::F64(d) => run(out, d, width, stride),
        StoredData::C64(_) | StoredData::C128(_) => return false,
    }
    true
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

/// `out[r] += sum(values of row r as T as f64)` for the rows of a sparse tile (`indptr`), from
/// the stored values only.
fn csr_row_sums<S: CastTo<T> + Copy, T: RealInput>(out: &mut [T], indptr: &[usize], values: &[S]) {
    for (o, w) in out.iter_mut().zip(indptr.windows(2)) {
        let row = values.get(w[0]..w[1]).unwrap_or_default();
        let total: f64 = row.iter().map(|&v| v.cast().into()).sum();
        *o = o.add_total(total);
    }
}

/// Row sums of a CSR tile of any real kind into a real output of kind `T`.
fn row_sums_csr<T: RealInput>(out: &mut [T], tile: &CsrTile<'_>) -> bool
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
    let indptr = tile.rows.indptr;
    crate::for_real_stored!(tile.rows.data, false, |d| csr_row_sums(out, indptr, d))
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

    fn process_stored_frames(&self, partial: &mut TypedVec, tile: &StoredFramesTile<'_>) -> bool {
        let rows = tile.offset..tile.offset + tile.depth;
        match partial {
            TypedVec::F32(out) => row_sums_frames(&mut out[rows], tile),
            TypedVec::F64(out) => row_sums_frames(&mut out[rows], tile),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        }
    }

    fn process_csr_tile(&self, partial: &mut TypedVec, tile: &CsrTile<'_>) -> Result<bool> {
        let rows = tile.offset..tile.offset + tile.depth();
        let bad = || {
            Error::udf_internal(
                "SumSigUDF",
                format!("frames {rows:?} of a tile outside the partial result"),
            )
        };
        Ok(match partial {
            TypedVec::F32(out) => row_sums_csr(out.get_mut(rows.clone()).ok_or_else(bad)?, tile),
            TypedVec::F64(out) => row_sums_csr(out.get_mut(rows.clone()).ok_or_else(bad)?, tile),
            TypedVec::C64(_) | TypedVec::C128(_) => false,
        })
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

impl SumSigUdf {
    /// Builds the UDF from its declaration (it takes no parameters).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for any parameter.
    pub fn from_spec(spec: &NativeSpec) -> Result<Box<dyn NativeUdf>> {
        spec.only(&[])?;
        Ok(Box::new(SumSigUdf))
    }
}

impl NativeUdf for SumSigUdf {
    fn udf(&self) -> &dyn DynUdf {
        self
    }

    fn results(&self, input: InputKind) -> Vec<ResultDecl> {
        vec![ResultDecl {
            name: "intensity".into(),
            kind: ResultKind::Nav,
            dtype: input,
            extra_shape: vec![],
        }]
    }

    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>> {
        single_result(self, output)
    }
}
