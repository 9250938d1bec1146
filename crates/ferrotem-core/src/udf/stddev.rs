//! `StdDevUDF`: per signal pixel, the number of frames, the sum of the frames and the sum of
//! squared deviations from the mean (`varsum`), from which variance and standard deviation
//! follow (LiberTEM's `StdDevUDF`, buffers `varsum`, `num_frames`, `sum`).
//!
//! # Algorithm, and why
//!
//! Each tile is reduced to per-pixel moments in **one pass** over its values, then merged into
//! the partition's moments with the pairwise update of Chan, Golub and Le Veque (1979); the
//! partitions of a run merge the same way. Within a tile, deviations are taken from a shift
//! `K`, the pixel's value in the tile's first frame: `s1 = Σ(x - K)`, `s2 = Σ(x - K)²`, and
//! `M2 = s2 - s1² / n`. Because `K` is one of the samples, `|mean - K|` is of the order of the
//! standard deviation, so the subtraction loses only a few bits however large the common offset
//! of the data is (the "shifted data" algorithm; a naive `Σx² - (Σx)² / n` loses them all when
//! the offset dominates). The sum is `s1 + n K`, exact for integer data.
//!
//! Compared with Welford's update per frame (a division per value, and a dependency from frame
//! to frame) or a two-pass tile (mean, then deviations: each value read and converted twice),
//! this reads and converts each stored value once, and the loop over a block of pixels is
//! independent per pixel, so it vectorises: `d = x - K; s1 += d; s2 += d * d`. The block's
//! accumulators (`BLOCK` pixels) stay in L1 while the tile's frames stream past.
//!
//! Everything is accumulated in float64 (complex128 for the sum of complex data), whatever the
//! input dtype; results are rounded once to the declared dtypes.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel inlined into its `#[target_feature]` \
              copies, or it runs on the baseline instruction set"
)]

use super::native::{NativeSpec, NativeUdf, ResultDecl, ResultKind};
use super::{DynUdf, PartitionInfo, RunInfo, StoredFramesTile, StoredTile, Tile, TileData, Udf};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::any::Any;
use std::ops::Range;

/// Pixels whose accumulators (shift, `s1`, `s2`: 6 KiB in float64) stay in L1 over a tile.
const BLOCK: usize = 256;

/// Per-pixel moments of the frames seen so far: a partition's partial, or the run's output.
#[derive(Debug, Clone, PartialEq)]
pub struct StdDevMoments {
    /// The run's input dtype (the tiles' kind; with the base dtype, it decides the result
    /// dtypes).
    pub input: InputKind,
    /// Frames merged, per pixel (the same for every pixel once a partition is done; pixels of a
    /// frame cut into ranges receive them at different times).
    pub counts: Vec<u64>,
    /// Sum of the frames (real part for complex data).
    pub sum: Vec<f64>,
    /// Imaginary part of the sum (empty for real data).
    pub sum_im: Vec<f64>,
    /// Sum of squared deviations from the mean, `Σ|x - mean|²`.
    pub varsum: Vec<f64>,
}

impl StdDevMoments {
    /// No frames yet over `sig_size` pixels, for a run in `input`.
    #[must_use]
    pub fn new(sig_size: usize, input: InputKind) -> Self {
        let complex = matches!(input, InputKind::C64 | InputKind::C128);
        StdDevMoments {
            input,
            counts: vec![0; sig_size],
            sum: vec![0.0; sig_size],
            sum_im: if complex { vec![0.0; sig_size] } else { vec![] },
            varsum: vec![0.0; sig_size],
        }
    }

    /// Frames merged (those of the first pixel; 0 without pixels).
    #[must_use]
    pub fn num_frames(&self) -> u64 {
        self.counts.first().copied().unwrap_or(0)
    }

    /// Merges the moments `(n1, sum1, m2)` of some other frames into pixel `p` (Chan et al.):
    /// `varsum += m2 + |mean1 - mean0|² n0 n1 / n`.
    #[inline(always)]
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    fn merge_pixel(&mut self, p: usize, n1: u64, sum1: Complex64, m2: f64) {
        if n1 == 0 {
            return;
        }
        let n0 = self.counts[p];
        let complex = !self.sum_im.is_empty();
        if n0 > 0 {
            let (f0, f1) = (n0 as f64, n1 as f64);
            let dre = sum1.re / f1 - self.sum[p] / f0;
            let dim = if complex {
                sum1.im / f1 - self.sum_im[p] / f0
            } else {
                0.0
            };
            self.varsum[p] += m2 + (dre * dre + dim * dim) * (f0 * f1 / (f0 + f1));
        } else {
            self.varsum[p] = m2;
        }
        self.sum[p] += sum1.re;
        if complex {
            self.sum_im[p] += sum1.im;
        }
        self.counts[p] = n0 + n1;
    }

    /// Merges `other` (moments of other frames over the same pixels) into `self`.
    fn merge_from(&mut self, other: &StdDevMoments) {
        for p in 0..self.counts.len() {
            let im = other.sum_im.get(p).copied().unwrap_or(0.0);
            self.merge_pixel(
                p,
                other.counts[p],
                Complex64::new(other.sum[p], im),
                other.varsum[p],
            );
        }
    }
}

/// The shifted moments of one block of pixels over one tile's frames, then merged.
///
/// Frame `r` of the block is `data[r * stride ..][..width]`.
struct RealBlockMoments<'a, S, T> {
    moments: &'a mut StdDevMoments,
    /// Index of the block's first pixel in the frame.
    first_pixel: usize,
    data: &'a [S],
    width: usize,
    depth: usize,
    stride: usize,
    _input: std::marker::PhantomData<T>,
}

impl<S: CastTo<T> + Copy, T: Into<f64>> Kernel for RealBlockMoments<'_, S, T> {
    type Output = ();

    #[inline(always)]
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    fn run(self) {
        let mut start = 0;
        while start < self.width {
            let b = (self.width - start).min(BLOCK);
            let mut shift = [0f64; BLOCK];
            let mut s1 = [0f64; BLOCK];
            let mut s2 = [0f64; BLOCK];
            for (k, &x) in shift.iter_mut().zip(&self.data[start..start + b]) {
                *k = x.cast().into();
            }
            for r in 0..self.depth {
                let row = &self.data[r * self.stride + start..][..b];
                for j in 0..b {
                    let d = row[j].cast().into() - shift[j];
                    s1[j] += d;
                    s2[j] += d * d;
                }
            }
            let n1 = self.depth as f64;
            for j in 0..b {
                let m2 = (s2[j] - s1[j] * s1[j] / n1).max(0.0);
                let sum = s1[j] + n1 * shift[j];
                self.moments.merge_pixel(
                    self.first_pixel + start + j,
                    self.depth as u64,
                    Complex64::new(sum, 0.0),
                    m2,
                );
            }
            start += b;
        }
    }
}

/// Accumulates a real tile (`depth` frames of `pixels`, `stride` values apart) in input dtype
/// `T`, converting each stored value `S` on the way.
fn real_tile<S: CastTo<T> + Copy, T: Into<f64>>(
    moments: &mut StdDevMoments,
    pixels: &Range<usize>,
    data: &[S],
    depth: usize,
    stride: usize,
) {
    if depth == 0 || pixels.is_empty() {
        return;
    }
    dispatch(RealBlockMoments::<S, T> {
        moments,
        first_pixel: pixels.start,
        data,
        width: pixels.len(),
        depth,
        stride: stride.max(pixels.len()),
        _input: std::marker::PhantomData,
    });
}

/// Accumulates a complex tile (not dispatched: complex data is rare).
#[allow(
    clippy::cast_precision_loss,
    reason = "frame counts far below 2^53 convert exactly"
)]
fn complex_tile<T: Copy>(
    moments: &mut StdDevMoments,
    pixels: &Range<usize>,
    data: &[T],
    depth: usize,
    widen: impl Fn(T) -> Complex64,
) {
    let width = pixels.len();
    if depth == 0 || width == 0 {
        return;
    }
    let n1 = depth as f64;
    for j in 0..width {
        let shift = widen(data[j]);
        let (mut s1, mut s2) = (Complex64::new(0.0, 0.0), 0f64);
        for r in 0..depth {
            let d = widen(data[r * width + j]) - shift;
            s1 += d;
            s2 += d.norm_sqr();
        }
        let m2 = (s2 - s1.norm_sqr() / n1).max(0.0);
        moments.merge_pixel(pixels.start + j, depth as u64, s1 + shift * n1, m2);
    }
}

/// The base dtype of `varsum` (LiberTEM's `dtype` parameter; float64 by default).
fn base_kind(spec: &NativeSpec) -> Result<InputKind> {
    match spec.get("dtype") {
        None => Ok(InputKind::F64),
        Some(_) => match spec.str("dtype")? {
            "float32" => Ok(InputKind::F32),
            "float64" => Ok(InputKind::F64),
            other => Err(Error::param(
                "dtype",
                format!("{other:?}"),
                "'float32' or 'float64' (the base dtype of native StdDevUDF)",
            )),
        },
    }
}

/// Per-pixel sum and variance sum over the frames (LiberTEM's `StdDevUDF`).
#[derive(Debug, Clone, Copy)]
pub struct StdDevUdf {
    /// dtype of `varsum` (float32 or float64); `sum` is numpy's promotion of it with the input.
    base: InputKind,
}

impl Default for StdDevUdf {
    fn default() -> Self {
        StdDevUdf {
            base: InputKind::F64,
        }
    }
}

impl StdDevUdf {
    /// A UDF whose `varsum` has dtype `base` (float32 or float64).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`dtype`) for a complex `base`.
    pub fn new(base: InputKind) -> Result<Self> {
        match base {
            InputKind::F32 | InputKind::F64 => Ok(StdDevUdf { base }),
            other => Err(Error::param(
                "dtype",
                format!("{other:?}"),
                "float32 or float64",
            )),
        }
    }

    /// Builds the UDF from its declaration (parameter `dtype`: `'float32'` or `'float64'`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for another parameter or dtype.
    pub fn from_spec(spec: &NativeSpec) -> Result<Box<dyn NativeUdf>> {
        spec.only(&["dtype"])?;
        Ok(Box::new(StdDevUdf::new(base_kind(spec)?)?))
    }

    /// numpy's `result_type(input, base)`: the dtype of `sum`.
    fn sum_kind(self, input: InputKind) -> InputKind {
        let wide = matches!(input, InputKind::F64 | InputKind::C128) || self.base == InputKind::F64;
        match (input, wide) {
            (InputKind::F32 | InputKind::F64, false) => InputKind::F32,
            (InputKind::F32 | InputKind::F64, true) => InputKind::F64,
            (InputKind::C64 | InputKind::C128, false) => InputKind::C64,
            (InputKind::C64 | InputKind::C128, true) => InputKind::C128,
        }
    }
}

/// `values` (float64, or complex128 from `re`, `im`) rounded to `kind`.
#[allow(
    clippy::cast_possible_truncation,
    reason = "rounding to the declared float32 result is the point"
)]
fn typed(kind: InputKind, re: &[f64], im: &[f64]) -> TypedVec {
    let imag = |i: usize| im.get(i).copied().unwrap_or(0.0);
    match kind {
        InputKind::F32 => TypedVec::F32(re.iter().map(|&x| x as f32).collect()),
        InputKind::F64 => TypedVec::F64(re.to_vec()),
        InputKind::C64 => TypedVec::C64(
            re.iter()
                .enumerate()
                .map(|(i, &x)| Complex32::new(x as f32, imag(i) as f32))
                .collect(),
        ),
        InputKind::C128 => TypedVec::C128(
            re.iter()
                .enumerate()
                .map(|(i, &x)| Complex64::new(x, imag(i)))
                .collect(),
        ),
    }
}

impl Udf for StdDevUdf {
    type Partial = StdDevMoments;
    type Output = StdDevMoments;

    fn name(&self) -> &'static str {
        "StdDevUDF"
    }

    fn new_partial(&self, part: &PartitionInfo<'_>) -> StdDevMoments {
        StdDevMoments::new(part.run.shape.sig_size(), part.run.input)
    }

    fn process_tile(&self, partial: &mut StdDevMoments, tile: &Tile<'_>) -> Result<()> {
        let (px, depth) = (&tile.pixels, tile.depth);
        match (partial.input, tile.data) {
            (InputKind::F32, TileData::F32(d)) => real_tile::<f32, f32>(partial, px, d, depth, 0),
            (InputKind::F64, TileData::F64(d)) => real_tile::<f64, f64>(partial, px, d, depth, 0),
            (InputKind::C64, TileData::C64(d)) => complex_tile(partial, px, d, depth, |x| {
                Complex64::new(f64::from(x.re), f64::from(x.im))
            }),
            (InputKind::C128, TileData::C128(d)) => complex_tile(partial, px, d, depth, |x| x),
            (input, data) => {
                return Err(Error::udf_internal(
                    self.name(),
                    format!("a {:?} tile for a {input:?} partial result", data.kind()),
                ))
            }
        }
        Ok(())
    }

    fn process_stored_tile(&self, partial: &mut StdDevMoments, tile: &StoredTile<'_>) -> bool {
        let (px, depth) = (&tile.pixels, tile.depth);
        // the run's input kind decides the conversion: every stored value becomes `T` first,
        // exactly as `crate::convert` would, then float64
        match partial.input {
            InputKind::F32 => crate::for_real_stored!(tile.data, false, |d| {
                real_tile::<_, f32>(partial, px, d, depth, 0);
            }),
            InputKind::F64 => crate::for_real_stored!(tile.data, false, |d| {
                real_tile::<_, f64>(partial, px, d, depth, 0);
            }),
            InputKind::C64 | InputKind::C128 => false,
        }
    }

    fn process_stored_frames(
        &self,
        partial: &mut StdDevMoments,
        tile: &StoredFramesTile<'_>,
    ) -> bool {
        let (px, depth, stride) = (&tile.pixels, tile.depth, tile.stride);
        match partial.input {
            InputKind::F32 => crate::for_real_stored!(tile.data, tile.swapped, |d| {
                real_tile::<_, f32>(partial, px, d, depth, stride);
            }),
            InputKind::F64 => crate::for_real_stored!(tile.data, tile.swapped, |d| {
                real_tile::<_, f64>(partial, px, d, depth, stride);
            }),
            InputKind::C64 | InputKind::C128 => false,
        }
    }

    fn new_output(&self, run: &RunInfo<'_>) -> StdDevMoments {
        StdDevMoments::new(run.shape.sig_size(), run.input)
    }

    fn merge(
        &self,
        output: &mut StdDevMoments,
        _part: &PartitionInfo<'_>,
        partial: StdDevMoments,
    ) -> Result<()> {
        if output.counts.len() != partial.counts.len() || output.input != partial.input {
            return Err(Error::udf_internal(
                self.name(),
                "merge: a partial of another frame size or kind",
            ));
        }
        output.merge_from(&partial);
        Ok(())
    }
}

impl NativeUdf for StdDevUdf {
    fn udf(&self) -> &dyn DynUdf {
        self
    }

    fn results(&self, input: InputKind) -> Vec<ResultDecl> {
        let decl = |name: &str, kind, dtype| ResultDecl {
            name: name.into(),
            kind,
            dtype,
            extra_shape: vec![],
        };
        vec![
            decl("varsum", ResultKind::Sig, self.base),
            // LiberTEM's buffer is int64; native results travel as float64 (exact below 2^53)
            decl("num_frames", ResultKind::Single, InputKind::F64),
            decl("sum", ResultKind::Sig, self.sum_kind(input)),
        ]
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>> {
        let m = output
            .downcast::<StdDevMoments>()
            .map_err(|_| Error::udf_internal(self.name(), "the output is not StdDev moments"))?;
        Ok(vec![
            typed(self.base, &m.varsum, &[]),
            TypedVec::F64(vec![m.num_frames() as f64]),
            typed(self.sum_kind(m.input), &m.sum, &m.sum_im),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use super::*;
    use crate::convert::Swapped;

    /// Two-pass float64 oracle: `(sum, Σ|x - mean|²)` per pixel of `frames` (frame after frame).
    fn oracle(frames: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let n = frames.len() as f64;
        let w = frames[0].len();
        let sum: Vec<f64> = (0..w).map(|p| frames.iter().map(|f| f[p]).sum()).collect();
        let var = (0..w)
            .map(|p| {
                let mean = sum[p] / n;
                frames.iter().map(|f| (f[p] - mean).powi(2)).sum()
            })
            .collect();
        (sum, var)
    }

    /// Deterministic pseudo-random values in `[0, 1)`.
    fn noise(i: usize) -> f64 {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        x as f64 / (1u64 << 53) as f64
    }

    fn assert_close(got: &[f64], want: &[f64], rel: f64) {
        for (p, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= rel * w.abs(),
                "pixel {p}: got {g}, want {w}"
            );
        }
    }

    #[test]
    fn tiles_cut_into_pixel_ranges_and_merged_partials_match_two_pass() {
        // 37 frames of 300 pixels (more than one block), tiles of 5 frames, each frame cut into
        // the ranges 0..123 and 123..300, in two partials merged at the end
        let (n, w) = (37, 300);
        let frames: Vec<Vec<f64>> = (0..n)
            .map(|f| (0..w).map(|p| 1000.0 * noise(f * w + p) - 200.0).collect())
            .collect();
        let mut parts = [
            StdDevMoments::new(w, InputKind::F64),
            StdDevMoments::new(w, InputKind::F64),
        ];
        for (i, chunk) in frames.chunks(5).enumerate() {
            let part = &mut parts[usize::from(i >= 3)];
            for range in [0..123, 123..w] {
                let tile: Vec<f64> = chunk
                    .iter()
                    .flat_map(|f| f[range.clone()].to_vec())
                    .collect();
                real_tile::<f64, f64>(part, &range, &tile, chunk.len(), 0);
            }
        }
        let [mut a, b] = parts;
        a.merge_from(&b);
        let (sum, var) = oracle(&frames);
        assert_eq!(a.num_frames(), n as u64);
        assert_close(&a.sum, &sum, 1e-13);
        assert_close(&a.varsum, &var, 1e-12);
    }

    #[test]
    fn strided_byte_swapped_u16_converts_through_float32() {
        // 3 frames of 4 pixels, each frame followed by 2 header values
        let values: [[u16; 4]; 3] = [[1, 65535, 7, 300], [2, 0, 9, 301], [4, 1, 8, 299]];
        let stored: Vec<u16> = values
            .iter()
            .flat_map(|f| f.iter().copied().chain([0xAAAA, 0xBBBB]))
            .map(u16::swap_bytes)
            .collect();
        let mut m = StdDevMoments::new(4, InputKind::F32);
        real_tile::<_, f32>(&mut m, &(0..4), Swapped::slice(&stored), 3, 6);
        let frames: Vec<Vec<f64>> = values
            .iter()
            .map(|f| f.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let (sum, var) = oracle(&frames);
        assert_eq!(m.sum, sum); // integers: exact
        assert_close(&m.varsum, &var, 1e-14);
    }

    #[test]
    fn a_large_offset_keeps_the_variance() {
        // 20000 frames of 1e6 + noise in [0, 1): variance 1/12 beneath an offset 1e6 times larger
        let (n, w) = (20_000, 3);
        let frames: Vec<Vec<f64>> = (0..n)
            .map(|f| (0..w).map(|p| 1e6 + noise(f * w + p)).collect())
            .collect();
        let mut m = StdDevMoments::new(w, InputKind::F64);
        for chunk in frames.chunks(64) {
            let tile: Vec<f64> = chunk.iter().flatten().copied().collect();
            real_tile::<f64, f64>(&mut m, &(0..w), &tile, chunk.len(), 0);
        }
        let (_, var) = oracle(&frames);
        assert_close(&m.varsum, &var, 1e-9);
        // the naive formula loses it: Σx² - (Σx)²/n off by far more
        let naive: Vec<f64> = (0..w)
            .map(|p| {
                let s: f64 = frames.iter().map(|f| f[p]).sum();
                let s2: f64 = frames.iter().map(|f| f[p] * f[p]).sum();
                s2 - s * s / n as f64
            })
            .collect();
        assert!(naive
            .iter()
            .zip(&var)
            .any(|(g, w)| (g - w).abs() > 1e-3 * w));
    }

    #[test]
    fn complex_varsum_is_the_sum_of_squared_moduli() {
        let frames: Vec<Vec<Complex64>> = (0..9)
            .map(|f| {
                (0..5)
                    .map(|p| Complex64::new(noise(10 * f + p), -3.0 * noise(100 + 10 * f + p)))
                    .collect()
            })
            .collect();
        let mut m = StdDevMoments::new(5, InputKind::C128);
        for chunk in frames.chunks(4) {
            let tile: Vec<Complex64> = chunk.iter().flatten().copied().collect();
            complex_tile(&mut m, &(0..5), &tile, chunk.len(), |x| x);
        }
        for p in 0..5 {
            let mean: Complex64 = frames.iter().map(|f| f[p]).sum::<Complex64>() / 9.0;
            let var: f64 = frames.iter().map(|f| (f[p] - mean).norm_sqr()).sum();
            assert!((m.varsum[p] - var).abs() <= 1e-13 * var);
            assert!((m.sum[p] - mean.re * 9.0).abs() <= 1e-13);
            assert!((m.sum_im[p] - mean.im * 9.0).abs() <= 1e-13);
        }
    }

    #[test]
    fn result_dtypes_follow_numpy_promotion() {
        let f32udf = StdDevUdf::new(InputKind::F32).unwrap();
        let f64udf = StdDevUdf::default();
        assert_eq!(f32udf.sum_kind(InputKind::F32), InputKind::F32);
        assert_eq!(f32udf.sum_kind(InputKind::F64), InputKind::F64);
        assert_eq!(f32udf.sum_kind(InputKind::C64), InputKind::C64);
        assert_eq!(f64udf.sum_kind(InputKind::F32), InputKind::F64);
        assert_eq!(f64udf.sum_kind(InputKind::C64), InputKind::C128);
        assert!(StdDevUdf::new(InputKind::C64).is_err());
    }
}
