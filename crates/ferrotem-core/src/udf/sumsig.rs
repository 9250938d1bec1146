//! `SumSigUDF`: the sum over the signal pixels of each frame (one value per scan position).

use super::{PartitionInfo, RunInfo, Tile, TileData, Udf};
use crate::buffer::TypedVec;
use num_complex::{Complex32, Complex64};

/// Sums each frame (LiberTEM's `SumSigUDF`, result `intensity`, kind `nav`).
///
/// float32 frames are summed in float64 and rounded once, which is at least as accurate as
/// numpy's pairwise float32 summation and costs nothing on a memory-bound loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct SumSigUdf;

/// Sums each of `depth` rows of `data` (rows of `width`) into `out[i]`, via the accumulator
/// type `A`.
#[inline]
fn row_sums<T: Copy, A: Copy + Default + std::ops::Add<Output = A>>(
    out: &mut [T],
    data: &[T],
    width: usize,
    widen: impl Fn(T) -> A,
    narrow: impl Fn(A, T) -> T,
) {
    if width == 0 {
        return;
    }
    for (o, row) in out.iter_mut().zip(data.chunks_exact(width)) {
        // Eight independent lanes keep the loop vectorised and the error small.
        let mut lanes = [A::default(); 8];
        let mut chunks = row.chunks_exact(8);
        for c in &mut chunks {
            for k in 0..8 {
                lanes[k] = lanes[k] + widen(c[k]);
            }
        }
        let mut total = A::default();
        for x in chunks.remainder() {
            total = total + widen(*x);
        }
        for l in lanes {
            total = total + l;
        }
        *o = narrow(total, *o);
    }
}

impl Udf for SumSigUdf {
    type Partial = TypedVec;
    type Output = TypedVec;

    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(part.run.input, part.n_frames)
    }

    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) {
        let rows = tile.offset..tile.offset + tile.depth;
        let width = tile.pixels.len();
        match (partial, tile.data) {
            (TypedVec::F32(out), TileData::F32(d)) => {
                row_sums(&mut out[rows], d, width, f64::from, |t, o| o + t as f32)
            }
            (TypedVec::F64(out), TileData::F64(d)) => {
                row_sums(&mut out[rows], d, width, |x| x, |t, o| o + t)
            }
            (TypedVec::C64(out), TileData::C64(d)) => row_sums(
                &mut out[rows],
                d,
                width,
                |x| Complex64::new(f64::from(x.re), f64::from(x.im)),
                |t, o| o + Complex32::new(t.re as f32, t.im as f32),
            ),
            (TypedVec::C128(out), TileData::C128(d)) => {
                row_sums(&mut out[rows], d, width, |x| x, |t, o| o + t)
            }
            _ => debug_assert!(false, "tile kind differs from the partial's"),
        }
    }

    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        TypedVec::zeros(run.input, run.n_frames as usize)
    }

    fn merge(&self, output: &mut TypedVec, part: &PartitionInfo<'_>, partial: TypedVec) {
        output.copy_into(part.compressed_start as usize, &partial);
    }
}
