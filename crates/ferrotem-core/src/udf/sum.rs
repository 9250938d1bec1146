//! `SumUDF`: the sum of all frames, one value per signal pixel, in the input dtype.

use super::{PartitionInfo, RunInfo, Tile, TileData, Udf};
use crate::buffer::TypedVec;
use std::ops::AddAssign;

/// Sums frames pixel by pixel (LiberTEM's `SumUDF`, result `intensity`, kind `sig`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SumUdf;

/// Adds `depth` rows of `data` (each `acc.len()` long) into `acc`.
#[inline]
pub fn sum_rows_into<T: Copy + AddAssign>(acc: &mut [T], data: &[T], depth: usize) {
    let width = acc.len();
    if width == 0 {
        return;
    }
    for row in data.chunks_exact(width).take(depth) {
        for (a, &x) in acc.iter_mut().zip(row) {
            *a += x;
        }
    }
}

impl Udf for SumUdf {
    type Partial = TypedVec;
    type Output = TypedVec;

    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(part.run.input, part.run.shape.sig_size())
    }

    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) {
        let px = tile.pixels.clone();
        match (partial, tile.data) {
            (TypedVec::F32(acc), TileData::F32(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::F64(acc), TileData::F64(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::C64(acc), TileData::C64(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            (TypedVec::C128(acc), TileData::C128(d)) => sum_rows_into(&mut acc[px], d, tile.depth),
            _ => debug_assert!(false, "tile kind differs from the partial's"),
        }
    }

    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        TypedVec::zeros(run.input, run.shape.sig_size())
    }

    fn merge(&self, output: &mut TypedVec, _part: &PartitionInfo<'_>, partial: TypedVec) {
        output.add_assign(&partial);
    }
}
