//! `StdDevUDF`: per signal pixel, the number of frames, the sum of the frames and the sum of
//! squared deviations from the mean (`varsum`), from which variance and standard deviation
//! follow (LiberTEM's `StdDevUDF`, buffers `varsum`, `num_frames`, `sum`).
//!
//! # Algorithm, and why
//!
//! Deviations are accumulated from a **shift** `K`, the pixel's first value in the partition:
//! `s1 = Σ(x - K)`, `s2 = Σ(x - K)²`, one pass over the data; at the end `sum = s1 + n K` and
//! `varsum = s2 - s1² / n`. Because `K` is one of the samples, `|mean - K|` is of the order of
//! the standard deviation, so the final subtraction loses only a few bits however large the
//! common offset of the data is (the "shifted data" algorithm of Chan, Golub and Le Veque,
//! 1983), where the naive `Σx² - (Σx)² / n` loses them all. For integer data `s1` and the sum
//! are exact. Two partials combine exactly: the other's sums are re-expressed around this
//! one's shift (`x - Ka = (x - Kb) + (Kb - Ka)`), which is Chan et al.'s pairwise update in
//! shifted form; partitions merge this way.
//!
//! Compared with Welford's update per frame (a division per value and a dependency from frame
//! to frame) or Chan's merge per tile (divisions per pixel for every tile, and tiles of
//! 256x256 frames are only 4 frames deep), the loop is `d = x - K; s1 += d; s2 += d * d`,
//! independent per pixel, so it vectorises; each stored value is read and converted once
//! (conversion fused), and a block of `BLOCK` pixels' accumulators stays in L1 while the
//! tile's frames stream past.
//!
//! Everything is accumulated in float64 whatever the input dtype; results are rounded once to
//! the declared dtypes. Tiles of native-order `uint16` and `int16` values taken in their stored
//! dtype are the exception: their per-pixel `Σx` and `Σx²` are summed exactly in integers (see
//! [`super::stddev_exact`]: no conversion, no rounding, a column of pixels' sums in registers
//! over a tile's frames; measured on 256x256 frames, the CPU-time rate went from 11.4 to
//! 20.7 GB/s), and turned into shifted sums, with one rounding, when the results are read.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel inlined into its `#[target_feature]` \
              copies, or it runs on the baseline instruction set"
)]

use super::native::{NativeSpec, NativeUdf, ResultDecl, ResultKind};
use super::stddev_exact::{ExactSums, Shifted, Sixteen};
use super::{
    DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile, TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::any::Any;
use std::borrow::Cow;
use std::ops::Range;

/// Pixels whose accumulators (shift, `s1`, `s2`: 6 KiB in float64) stay in L1 over a tile.
const BLOCK: usize = 256;

/// Per-pixel shifted sums of the frames seen so far: a partition's partial, or the run's
/// output.
#[derive(Debug, Clone, PartialEq)]
pub struct StdDevMoments {
    /// The run's input dtype (the tiles' kind; with the base dtype, it decides the result
    /// dtypes).
    pub input: InputKind,
    /// Frames accumulated, per pixel (the same for every pixel once a partition is done;
    /// pixels of a frame cut into ranges receive them at different times).
    counts: Vec<u64>,
    /// The shift `K` per pixel: its first value (real part).
    shift: Vec<f64>,
    /// `Σ(x - K)` (real part).
    s1: Vec<f64>,
    /// `Σ|x - K|²`.
    s2: Vec<f64>,
    /// Imaginary parts of the shift and of `s1` (empty for real data).
    shift_im: Vec<f64>,
    s1_im: Vec<f64>,
    /// Exact integer sums of 16-bit integer tiles taken in their stored dtype, not yet in the
    /// shifted sums (see [`ExactSums`]); partials' add up exactly, and are folded into the
    /// shifted sums when the results are read.
    exact: Option<ExactSums>,
}

impl StdDevMoments {
    /// No frames yet over `sig_size` pixels, for a run in `input`.
    #[must_use]
    pub fn new(sig_size: usize, input: InputKind) -> Self {
        let complex = matches!(input, InputKind::C64 | InputKind::C128);
        let im = if complex { sig_size } else { 0 };
        StdDevMoments {
            input,
            counts: vec![0; sig_size],
            shift: vec![0.0; sig_size],
            s1: vec![0.0; sig_size],
            s2: vec![0.0; sig_size],
            shift_im: vec![0.0; im],
            s1_im: vec![0.0; im],
            exact: None,
        }
    }

    /// `self` with its exact sums folded into the shifted ones (borrowed if it has none).
    fn settled(&self) -> Cow<'_, StdDevMoments> {
        if self.exact.is_none() {
            return Cow::Borrowed(self);
        }
        let mut m = self.clone();
        m.settle();
        Cow::Owned(m)
    }

    /// Folds the exact sums into the shifted ones.
    fn settle(&mut self) {
        if let Some(exact) = self.exact.take() {
            self.add_exact(&exact);
        }
    }

    /// Adds the pixels' exact sums `exact` (of other frames) to the shifted sums.
    fn add_exact(&mut self, exact: &ExactSums) {
        for (p, shifted) in exact.all_shifted().enumerate() {
            if let Some(s) = shifted {
                self.add_real(p, s);
            }
        }
    }

    /// The exact sums of the frames' 16-bit values (`bias` as the stored dtype's), made on the
    /// first such tile.
    fn exact_sums(&mut self, bias: i64) -> &mut ExactSums {
        if self.exact.as_ref().is_some_and(|e| e.bias != bias) {
            self.settle();
        }
        let sig_size = self.counts.len();
        self.exact
            .get_or_insert_with(|| ExactSums::new(sig_size, bias))
    }

    /// Frames accumulated (those of the first pixel; 0 without pixels).
    #[must_use]
    pub fn num_frames(&self) -> u64 {
        self.settled().counts.first().copied().unwrap_or(0)
    }

    /// Per pixel, the sum of the frames: real parts, and imaginary parts (empty for real data).
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    pub fn sum(&self) -> (Vec<f64>, Vec<f64>) {
        let m = self.settled();
        let part = |s1: &[f64], shift: &[f64]| -> Vec<f64> {
            (s1.iter().zip(shift).zip(&m.counts))
                .map(|((&s, &k), &n)| s + n as f64 * k)
                .collect()
        };
        (part(&m.s1, &m.shift), part(&m.s1_im, &m.shift_im))
    }

    /// Per pixel, `Σ|x - mean|²` (0 without frames).
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    pub fn varsum(&self) -> Vec<f64> {
        let m = self.settled();
        (0..m.counts.len())
            .map(|p| {
                let n = m.counts[p];
                if n == 0 {
                    return 0.0;
                }
                let im = m.s1_im.get(p).copied().unwrap_or(0.0);
                let centre = (m.s1[p] * m.s1[p] + im * im) / n as f64;
                (m.s2[p] - centre).max(0.0)
            })
            .collect()
    }

    /// Adds `other` (sums of other frames over the same pixels) to `self`, re-expressing its
    /// sums around `self`'s shifts: with `c = Kb - Ka`, `Σ(x - Ka) = s1b + nb c` and
    /// `Σ|x - Ka|² = s2b + 2 Re(conj(c) s1b) + nb |c|²`.
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    fn merge_from(&mut self, other: &StdDevMoments) {
        let complex = !self.s1_im.is_empty();
        for p in 0..self.counts.len() {
            let nb = other.counts[p];
            if nb == 0 {
                continue;
            }
            if !complex {
                self.add_real(
                    p,
                    Shifted {
                        n: nb,
                        k: other.shift[p],
                        s1: other.s1[p],
                        s2: other.s2[p],
                    },
                );
                continue;
            }
            if self.counts[p] == 0 {
                self.counts[p] = nb;
                self.shift[p] = other.shift[p];
                self.s1[p] = other.s1[p];
                self.s2[p] = other.s2[p];
                self.shift_im[p] = other.shift_im[p];
                self.s1_im[p] = other.s1_im[p];
                continue;
            }
            let f = nb as f64;
            let c = other.shift[p] - self.shift[p];
            let ci = other.shift_im[p] - self.shift_im[p];
            let cross = c * other.s1[p] + ci * other.s1_im[p];
            self.s1[p] += other.s1[p] + f * c;
            self.s1_im[p] += other.s1_im[p] + f * ci;
            self.s2[p] += other.s2[p] + 2.0 * cross + f * (c * c + ci * ci);
            self.counts[p] += nb;
        }
        if let Some(exact) = &other.exact {
            // exact sums add exactly; they are folded in once, when the results are read
            self.exact_sums(exact.bias).add_sums(exact);
        }
    }

    /// Adds one pixel's real shifted sums `b` (of other frames) to pixel `p`'s, re-expressed
    /// around its shift as [`Self::merge_from`] says.
    #[allow(
        clippy::cast_precision_loss,
        reason = "frame counts far below 2^53 convert exactly"
    )]
    fn add_real(&mut self, p: usize, b: Shifted) {
        if self.counts[p] == 0 {
            self.counts[p] = b.n;
            self.shift[p] = b.k;
            self.s1[p] = b.s1;
            self.s2[p] = b.s2;
            return;
        }
        let f = b.n as f64;
        let c = b.k - self.shift[p];
        self.s1[p] += b.s1 + f * c;
        self.s2[p] += b.s2 + 2.0 * (c * b.s1) + f * (c * c);
        self.counts[p] += b.n;
    }
}

/// Accumulates `depth` frames of a range of real pixels into the shifted sums.
///
/// Frame `r` of the range is `data[r * stride ..][..width]`; the range starts at pixel
/// `first_pixel` of the frame.
struct RealShiftedSums<'a, S, T> {
    moments: &'a mut StdDevMoments,
    first_pixel: usize,
    data: &'a [S],
    width: usize,
    depth: usize,
    stride: usize,
    _input: std::marker::PhantomData<T>,
}

impl<S: CastTo<T> + Copy, T: Into<f64>> Kernel for RealShiftedSums<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let m = self.moments;
        let mut start = 0;
        while start < self.width {
            let b = (self.width - start).min(BLOCK);
            let px = self.first_pixel + start..self.first_pixel + start + b;
            let counts = &mut m.counts[px.clone()];
            let shift = &mut m.shift[px.clone()];
            let s1 = &mut m.s1[px.clone()];
            let s2 = &mut m.s2[px];
            // a pixel's first value becomes its shift; after a block's first tile no count
            // is 0, and this branch-free test (it vectorises) skips the per-pixel loop, which
            // cost about a fifth of the time when it ran for every tile
            #[allow(
                clippy::needless_bitwise_bool,
                reason = "`|`, not `||`: no branch per pixel, so the test vectorises"
            )]
            let unseen = counts.iter().fold(false, |any, &c| any | (c == 0));
            if unseen {
                for ((k, &c), &x) in shift.iter_mut().zip(&*counts).zip(&self.data[start..][..b]) {
                    if c == 0 {
                        *k = x.cast().into();
                    }
                }
            }
            // four frames at a time: the accumulators are loaded and stored once per four
            // values (they are in L1, but the loads and stores, not the arithmetic, bound it)
            let mut r = 0;
            while r + 4 <= self.depth {
                let at = |i: usize| &self.data[(r + i) * self.stride + start..][..b];
                let (r0, r1, r2, r3) = (at(0), at(1), at(2), at(3));
                // zipped iterators: no bounds checks in the loop, so that it vectorises
                let acc = s1.iter_mut().zip(s2.iter_mut()).zip(shift.iter());
                let rows = r0.iter().zip(r1).zip(r2.iter().zip(r3));
                for (((a1, a2), &k), ((&x0, &x1), (&x2, &x3))) in acc.zip(rows) {
                    let d0 = x0.cast().into() - k;
                    let d1 = x1.cast().into() - k;
                    let d2 = x2.cast().into() - k;
                    let d3 = x3.cast().into() - k;
                    *a1 += (d0 + d1) + (d2 + d3);
                    *a2 += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
                }
                r += 4;
            }
            for r in r..self.depth {
                let row = &self.data[r * self.stride + start..][..b];
                let acc = s1.iter_mut().zip(s2.iter_mut()).zip(shift.iter());
                for (((a1, a2), &k), &x) in acc.zip(row) {
                    let d = x.cast().into() - k;
                    *a1 += d;
                    *a2 += d * d;
                }
            }
            for c in counts {
                *c += self.depth as u64;
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
    dispatch(RealShiftedSums::<S, T> {
        moments,
        first_pixel: pixels.start,
        data,
        width: pixels.len(),
        depth,
        stride: stride.max(pixels.len()),
        _input: std::marker::PhantomData,
    });
}

/// Takes a tile of native-order 16-bit integers (`depth` frames of `pixels`, `stride` values
/// apart, 0 for contiguous) into the exact integer sums of a real run; `false` (nothing done)
/// for other data. Their conversion to the run's float input dtype is exact, so the sums are
/// those of the converted values.
fn exact_tile(
    partial: &mut StdDevMoments,
    data: StoredData<'_>,
    swapped: bool,
    pixels: &Range<usize>,
    depth: usize,
    stride: usize,
) -> bool {
    if swapped || !matches!(partial.input, InputKind::F32 | InputKind::F64) {
        return false;
    }
    let (first, width) = (pixels.start, pixels.len());
    match data {
        StoredData::U16(d) => {
            partial
                .exact_sums(u16::BIAS)
                .add_tile(first, d, width, depth, stride);
        }
        StoredData::I16(d) => {
            partial
                .exact_sums(i16::BIAS)
                .add_tile(first, d, width, depth, stride);
        }
        _ => return false,
    }
    true
}

/// Accumulates a complex tile (not dispatched: complex data is rare).
fn complex_tile<T: Copy>(
    m: &mut StdDevMoments,
    pixels: &Range<usize>,
    data: &[T],
    depth: usize,
    widen: impl Fn(T) -> Complex64,
) {
    let width = pixels.len();
    if depth == 0 || width == 0 {
        return;
    }
    for j in 0..width {
        let p = pixels.start + j;
        if m.counts[p] == 0 {
            let k = widen(data[j]);
            m.shift[p] = k.re;
            m.shift_im[p] = k.im;
        }
        let k = Complex64::new(m.shift[p], m.shift_im[p]);
        for r in 0..depth {
            let d = widen(data[r * width + j]) - k;
            m.s1[p] += d.re;
            m.s1_im[p] += d.im;
            m.s2[p] += d.norm_sqr();
        }
        m.counts[p] += depth as u64;
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
        if exact_tile(partial, tile.data, false, px, depth, 0) {
            return true;
        }
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
        if exact_tile(partial, tile.data, tile.swapped, px, depth, stride) {
            return true;
        }
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
        let mut m = output
            .downcast::<StdDevMoments>()
            .map_err(|_| Error::udf_internal(self.name(), "the output is not StdDev moments"))?;
        m.settle();
        let (sum, sum_im) = m.sum();
        Ok(vec![
            typed(self.base, &m.varsum(), &[]),
            TypedVec::F64(vec![m.num_frames() as f64]),
            typed(self.sum_kind(m.input), &sum, &sum_im),
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
        assert_close(&a.sum().0, &sum, 1e-13);
        assert_close(&a.varsum(), &var, 1e-12);
    }

    /// 16-bit integer tiles (exact sums, strided, cut into pixel ranges) and float tiles of
    /// the same run, in partials merged in either order, against the two-pass oracle; the
    /// extremes of both dtypes included.
    #[test]
    fn exact_and_float_tiles_merge_like_two_pass() {
        let (n, w) = (23, 40);
        let value = |f: usize, p: usize| match (f * w + p) % 11 {
            0 => 0,
            1 => 65535,
            _ => u16::try_from((f * 7919 + p * 104_729) % 65_536).unwrap(),
        };
        for signed in [false, true] {
            let frames: Vec<Vec<u16>> = (0..n)
                .map(|f| (0..w).map(|p| value(f, p)).collect())
                .collect();
            let as_f64 = |x: u16| {
                if signed {
                    f64::from(i16::from_ne_bytes(x.to_ne_bytes()))
                } else {
                    f64::from(x)
                }
            };
            let oracle_frames: Vec<Vec<f64>> = frames
                .iter()
                .map(|f| f.iter().map(|&x| as_f64(x)).collect())
                .collect();
            let mut exact = StdDevMoments::new(w, InputKind::F32);
            let mut float = StdDevMoments::new(w, InputKind::F32);
            // frames 0..15 in stored tiles of 4 (3 header values after each frame), as ranges
            // 0..17 and 17..40; frames 15.. converted, through the float loop
            for chunk in (0..15).collect::<Vec<_>>().chunks(4) {
                let stored: Vec<u16> = chunk
                    .iter()
                    .flat_map(|&f| frames[f].iter().copied().chain([1, 2, 3]))
                    .collect();
                for range in [0..17, 17..w] {
                    let data = &stored[range.start..];
                    let took = if signed {
                        let d: Vec<i16> = data
                            .iter()
                            .map(|&x| i16::from_ne_bytes(x.to_ne_bytes()))
                            .collect();
                        exact_tile(
                            &mut exact,
                            StoredData::I16(&d),
                            false,
                            &range,
                            chunk.len(),
                            w + 3,
                        )
                    } else {
                        exact_tile(
                            &mut exact,
                            StoredData::U16(data),
                            false,
                            &range,
                            chunk.len(),
                            w + 3,
                        )
                    };
                    assert!(took);
                }
            }
            let converted: Vec<f32> = oracle_frames[15..]
                .iter()
                .flatten()
                .map(|&x| x as f32)
                .collect();
            real_tile::<f32, f32>(&mut float, &(0..w), &converted, n - 15, 0);
            let (sum, var) = oracle(&oracle_frames);
            let mut ab = StdDevMoments::new(w, InputKind::F32);
            ab.merge_from(&exact);
            ab.merge_from(&float);
            let mut ba = StdDevMoments::new(w, InputKind::F32);
            ba.merge_from(&float);
            ba.merge_from(&exact);
            for m in [&ab, &ba, &{
                let mut e = exact.clone();
                e.merge_from(&float);
                e
            }] {
                assert_eq!(m.num_frames(), n as u64);
                assert_eq!(m.sum().0, sum); // integers: exact
                assert_close(&m.varsum(), &var, 1e-14);
            }
        }
        // byte-swapped and float data are not taken
        let mut m = StdDevMoments::new(4, InputKind::F32);
        assert!(!exact_tile(
            &mut m,
            StoredData::U16(&[1; 4]),
            true,
            &(0..4),
            1,
            0
        ));
        assert!(!exact_tile(
            &mut m,
            StoredData::F32(&[1.0; 4]),
            false,
            &(0..4),
            1,
            0
        ));
        assert!(m.exact.is_none());
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
        assert_eq!(m.sum().0, sum); // integers: exact
        assert_close(&m.varsum(), &var, 1e-14);
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
        assert_close(&m.varsum(), &var, 1e-9);
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
        // two partials, merged into an empty output (the runner's order)
        let mut parts = [
            StdDevMoments::new(5, InputKind::C128),
            StdDevMoments::new(5, InputKind::C128),
        ];
        for (i, chunk) in frames.chunks(4).enumerate() {
            let tile: Vec<Complex64> = chunk.iter().flatten().copied().collect();
            complex_tile(&mut parts[i % 2], &(0..5), &tile, chunk.len(), |x| x);
        }
        let mut m = StdDevMoments::new(5, InputKind::C128);
        m.merge_from(&parts[1]);
        m.merge_from(&parts[0]);
        assert_eq!(m.num_frames(), 9);
        for p in 0..5 {
            let mean: Complex64 = frames.iter().map(|f| f[p]).sum::<Complex64>() / 9.0;
            let var: f64 = frames.iter().map(|f| (f[p] - mean).norm_sqr()).sum();
            let (sum, sum_im) = m.sum();
            assert!((m.varsum()[p] - var).abs() <= 1e-13 * var);
            assert!((sum[p] - mean.re * 9.0).abs() <= 1e-13);
            assert!((sum_im[p] - mean.im * 9.0).abs() <= 1e-13);
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
