//! `CoMUDF`'s per-frame moments: for a weight `m` per pixel (the disk or ring the centre of
//! mass is taken over), `Σ I·m`, `Σ y·I·m` and `Σ x·I·m` of each frame, result
//! `raw_mask_result` of kind `nav` with three entries per frame. Everything LiberTEM derives
//! from them (shifts, field, divergence, curl, regression) is computed in Python after merging.
//!
//! Per detector row `y`, only the columns between the row's first and last non-zero weight are
//! read (a disk of radius 64 on 256x256 frames covers a quarter of the pixels): each frame's
//! segment gives `Σ I·m` and `Σ I·x·m` in one pass (two accumulators), and `Σ y·I·m` is `y`
//! times the first. The row's weights (4 KiB at 256 pixels) stay in L1 while the frames of a
//! tile pass; stored values are converted inside the loop (no converted tile).
//!
//! Accumulation is float64 (complex128 for complex input), whatever the input dtype: at 256x256 uint16 frames `Σ x·I` reaches
//! `255 · 65535 · 65536 ≈ 1.1e12`, where float32 (24-bit mantissa) would lose about 1e5 and
//! the centre of mass its fourth digit; in float64 every product of an integer count with a 0/1
//! weight and its coordinate is exact, and so is every sum of them below `2^53`. Each stored
//! value is converted to the run's input dtype first, then widened, as [`crate::convert`] would.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel and what it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use super::native::{ArrayData, NativeSpec, NativeUdf, ResultDecl, ResultKind};
use super::{
    DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile, TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::Complex64;
use std::any::Any;
use std::marker::PhantomData;
use std::ops::Range;

/// Independent partial sums per moment.
const LANES: usize = 8;
/// Moments per frame: `Σ I·m`, `Σ y·I·m`, `Σ x·I·m`.
const MOMENTS: usize = 3;

/// The centre-of-mass moments of every frame over a weight per pixel (LiberTEM's `CoMUDF`,
/// mask stage).
#[derive(Debug, Clone)]
pub struct CoMUdf {
    sig_size: usize,
    /// Pixels per detector row.
    width: usize,
    /// The weight `m` of each pixel, row after row.
    mask: Vec<f64>,
    /// `x·m` of each pixel.
    mask_x: Vec<f64>,
    /// Per detector row, the columns `lo..hi` from its first to its last non-zero weight
    /// (`0..0` for a row without any).
    spans: Vec<Range<usize>>,
}

impl CoMUdf {
    /// The UDF for a frame of `height` rows of `width` pixels with `mask` (`height * width`
    /// weights, row after row); pixel `(y, x)` contributes with `mask`, `y·mask` and `x·mask`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`mask`) if the number of weights is not `height * width`.
    pub fn new(mask: &[f64], height: usize, width: usize) -> Result<Self> {
        let sig_size = height.checked_mul(width);
        if sig_size != Some(mask.len()) {
            return Err(Error::param(
                "mask",
                format!("{} weights", mask.len()),
                format!("one per pixel of a {height}x{width} frame"),
            ));
        }
        #[allow(
            clippy::cast_precision_loss,
            reason = "pixel coordinates are far below 2^53"
        )]
        let mask_x = mask
            .iter()
            .enumerate()
            .map(|(p, &m)| (p % width.max(1)) as f64 * m)
            .collect();
        let spans = mask
            .chunks(width.max(1))
            .take(height)
            .map(|row| {
                let lo = row.iter().position(|&m| m != 0.0);
                let hi = row.iter().rposition(|&m| m != 0.0);
                match (lo, hi) {
                    (Some(lo), Some(hi)) => lo..hi + 1,
                    _ => 0..0,
                }
            })
            .collect();
        Ok(CoMUdf {
            sig_size: mask.len(),
            width,
            mask: mask.to_vec(),
            mask_x,
            spans,
        })
    }

    /// The parts of detector rows a tile of pixels `pixels` needs: `(y, start..end)` in frame
    /// pixels, within the tile and the row's span.
    fn segments(&self, pixels: &Range<usize>) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        let width = self.width.max(1);
        let rows = if pixels.is_empty() {
            0..0
        } else {
            pixels.start / width..(pixels.end - 1) / width + 1
        };
        let (start, end) = (pixels.start, pixels.end);
        rows.filter_map(move |y| {
            let span = self.spans.get(y)?;
            let lo = (y * width + span.start).max(start);
            let hi = (y * width + span.end).min(end);
            (lo < hi).then_some((y, lo..hi))
        })
    }

    /// Builds the UDF from its declaration: `mask`, a 2-D `(height, width)` float array.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter for a missing, ill-typed or misshapen
    /// one, or any other parameter.
    pub fn from_spec(spec: &NativeSpec) -> Result<Box<dyn NativeUdf>> {
        spec.only(&["mask"])?;
        let a = spec.array("mask")?;
        let [height, width] = a.shape[..] else {
            return Err(Error::param(
                "mask",
                format!("shape {:?}", a.shape),
                "a 2-D (height, width) array",
            ));
        };
        let mask: Vec<f64> = match &a.data {
            ArrayData::Typed(TypedVec::F64(v)) => v.clone(),
            ArrayData::Typed(TypedVec::F32(v)) => v.iter().map(|&x| f64::from(x)).collect(),
            _ => {
                return Err(Error::param(
                    "mask",
                    "integer or complex weights",
                    "float32 or float64 weights",
                ))
            }
        };
        Ok(Box::new(Self::new(&mask, height, width)?))
    }

    /// Adds the moments of one tile's frames (`depth` rows of `pixels.len()` values, `stride`
    /// apart) into `out` (the tile's frames' entries, `depth * 3`), each value converted to the
    /// input dtype `T` first (as [`crate::convert`] would), then to float64.
    fn accumulate<S: CastTo<T> + Copy, T: Into<f64>>(
        &self,
        out: &mut [f64],
        data: &[S],
        depth: usize,
        pixels: &Range<usize>,
        stride: usize,
    ) -> Result<()> {
        self.check_tile(out.len(), depth, pixels)?;
        dispatch(MomentRows {
            acc: out,
            data,
            stride,
            udf: self,
            pixels: pixels.clone(),
            input: PhantomData::<T>,
        });
        Ok(())
    }

    /// The complex moments of a tile of complex input (real weights; not dispatched: complex
    /// data is rare).
    fn accumulate_complex<C: Copy>(
        &self,
        out: &mut [Complex64],
        data: &[C],
        depth: usize,
        pixels: &Range<usize>,
        widen: impl Fn(C) -> Complex64,
    ) -> Result<()> {
        self.check_tile(out.len(), depth, pixels)?;
        let width = pixels.len();
        if width == 0 {
            return Ok(());
        }
        for (acc, row) in out.chunks_exact_mut(MOMENTS).zip(data.chunks_exact(width)) {
            for (y, seg) in self.segments(pixels) {
                #[allow(clippy::cast_precision_loss, reason = "a row index, below 2^53")]
                let yf = y as f64;
                let mut sums = [Complex64::new(0.0, 0.0); 2];
                for p in seg {
                    let v = widen(row[p - pixels.start]);
                    sums[0] += v * self.mask[p];
                    sums[1] += v * self.mask_x[p];
                }
                acc[0] += sums[0];
                acc[1] += sums[0] * yf;
                acc[2] += sums[1];
            }
        }
        Ok(())
    }

    fn check_tile(&self, out_len: usize, depth: usize, pixels: &Range<usize>) -> Result<()> {
        if pixels.end > self.sig_size || out_len != depth * MOMENTS {
            return Err(Error::udf_internal(
                self.name(),
                format!(
                    "a tile of pixels {pixels:?} and {depth} frames for frames of {} pixels",
                    self.sig_size
                ),
            ));
        }
        Ok(())
    }

    /// [`CoMUdf::accumulate`] on stored real values (maybe byte-swapped) for real input;
    /// `false` for complex values or complex input (those take the converted path).
    fn accumulate_stored(
        &self,
        partial: &mut Moments,
        data: StoredData<'_>,
        swapped: bool,
        at: (usize, usize, &Range<usize>, usize),
    ) -> Result<bool> {
        let (offset, depth, pixels, stride) = at;
        let rows = offset * MOMENTS..(offset + depth) * MOMENTS;
        let input = partial.input;
        let TypedVec::F64(out) = &mut partial.values else {
            return Ok(false);
        };
        let Some(out) = out.get_mut(rows) else {
            return Ok(false);
        };
        let mut result = Ok(());
        let took = match input {
            InputKind::F32 => crate::for_real_stored!(data, swapped, |d| {
                result = self.accumulate::<_, f32>(out, d, depth, pixels, stride);
            }),
            InputKind::F64 => crate::for_real_stored!(data, swapped, |d| {
                result = self.accumulate::<_, f64>(out, d, depth, pixels, stride);
            }),
            InputKind::C64 | InputKind::C128 => false,
        };
        result.map(|()| took)
    }
}

/// `acc[f * 3 ..]` `+= [Σ v·m, Σ y·v·m, Σ x·v·m]` over the tile's pixels for every frame `f`
/// of a tile whose rows (`pixels.len()` values, `stride` apart) are `data`, detector row by
/// detector row; values are converted to `T` (the input dtype), then to float64.
struct MomentRows<'a, S, T> {
    acc: &'a mut [f64],
    data: &'a [S],
    stride: usize,
    udf: &'a CoMUdf,
    /// the tile's pixels in the frame
    pixels: Range<usize>,
    input: PhantomData<T>,
}

impl<S: CastTo<T> + Copy, T: Into<f64>> Kernel for MomentRows<'_, S, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let width = self.pixels.len();
        let start = self.pixels.start;
        let frames = self
            .data
            .chunks(self.stride.max(width))
            .filter_map(|c| c.get(..width));
        for (y, seg) in self.udf.segments(&self.pixels) {
            #[allow(clippy::cast_precision_loss, reason = "a row index, below 2^53")]
            let yf = y as f64;
            let mask = &self.udf.mask[seg.clone()];
            let mask_x = &self.udf.mask_x[seg.clone()];
            for (f, frame) in frames.clone().enumerate() {
                let values = &frame[seg.start - start..seg.end - start];
                let (sum, sum_x) = row_moments::<S, T>(values, mask, mask_x);
                let acc = &mut self.acc[f * MOMENTS..][..MOMENTS];
                acc[0] += sum;
                acc[1] += yf * sum;
                acc[2] += sum_x;
            }
        }
    }
}

/// `(Σ v·m, Σ v·mx)` over `values` and the weights (all of one length), `LANES` partial sums
/// each, in one pass.
#[inline(always)]
fn row_moments<S: CastTo<T> + Copy, T: Into<f64>>(
    values: &[S],
    mask: &[f64],
    mask_x: &[f64],
) -> (f64, f64) {
    let widen = |v: S| -> f64 { CastTo::<T>::cast(v).into() };
    let mut sum = [0f64; LANES];
    let mut sum_x = [0f64; LANES];
    let whole = values.len() - values.len() % LANES;
    let chunks = values[..whole]
        .chunks_exact(LANES)
        .zip(mask[..whole].chunks_exact(LANES))
        .zip(mask_x[..whole].chunks_exact(LANES));
    for ((vc, mc), mxc) in chunks {
        for k in 0..LANES {
            let v = widen(vc[k]);
            sum[k] += v * mc[k];
            sum_x[k] += v * mxc[k];
        }
    }
    let (mut total, mut total_x) = (0.0, 0.0);
    for p in whole..values.len() {
        let v = widen(values[p]);
        total += v * mask[p];
        total_x += v * mask_x[p];
    }
    for k in 0..LANES {
        total += sum[k];
        total_x += sum_x[k];
    }
    (total, total_x)
}

/// A partition's or a run's moments: float64 for real input, complex128 for complex input
/// (whose conversion the stored paths must know, so the input dtype travels along).
#[derive(Debug, Clone)]
pub struct Moments {
    input: InputKind,
    values: TypedVec,
}

impl Moments {
    /// The moments, frame after frame: `Σ I·m`, `Σ y·I·m`, `Σ x·I·m` (float64, or complex128
    /// for complex input).
    #[must_use]
    pub fn values(&self) -> &TypedVec {
        &self.values
    }

    fn zeros(input: InputKind, n_frames: usize) -> Self {
        Moments {
            input,
            values: TypedVec::zeros(moments_kind(input), n_frames * MOMENTS),
        }
    }
}

/// The dtype of the moments for an input dtype.
fn moments_kind(input: InputKind) -> InputKind {
    match input {
        InputKind::F32 | InputKind::F64 => InputKind::F64,
        InputKind::C64 | InputKind::C128 => InputKind::C128,
    }
}

impl Udf for CoMUdf {
    type Partial = Moments;
    type Output = Moments;

    fn name(&self) -> &'static str {
        "CoMUDF"
    }

    fn new_partial(&self, part: &PartitionInfo<'_>) -> Moments {
        Moments::zeros(part.run.input, part.n_frames)
    }

    fn process_tile(&self, partial: &mut Moments, tile: &Tile<'_>) -> Result<()> {
        let (depth, px) = (tile.depth, &tile.pixels);
        let rows = tile.offset * MOMENTS..(tile.offset + depth) * MOMENTS;
        let w = px.len();
        let short = |len: usize| {
            Error::udf_internal(
                "CoMUDF",
                format!("frames {rows:?} for a partial of {len} moments"),
            )
        };
        match (&mut partial.values, tile.data) {
            (TypedVec::F64(o), TileData::F32(d)) => {
                let len = o.len();
                let out = o.get_mut(rows.clone()).ok_or_else(|| short(len))?;
                self.accumulate::<f32, f32>(out, d, depth, px, w)
            }
            (TypedVec::F64(o), TileData::F64(d)) => {
                let len = o.len();
                let out = o.get_mut(rows.clone()).ok_or_else(|| short(len))?;
                self.accumulate::<f64, f64>(out, d, depth, px, w)
            }
            (TypedVec::C128(o), TileData::C64(d)) => {
                let len = o.len();
                let out = o.get_mut(rows.clone()).ok_or_else(|| short(len))?;
                self.accumulate_complex(out, d, depth, px, |v| {
                    Complex64::new(f64::from(v.re), f64::from(v.im))
                })
            }
            (TypedVec::C128(o), TileData::C128(d)) => {
                let len = o.len();
                let out = o.get_mut(rows.clone()).ok_or_else(|| short(len))?;
                self.accumulate_complex(out, d, depth, px, |v| v)
            }
            (values, data) => Err(Error::udf_internal(
                self.name(),
                format!(
                    "a {:?} tile for {:?} moments (complex input gives complex moments)",
                    data.kind(),
                    values.kind()
                ),
            )),
        }
    }

    fn process_stored_tile(&self, partial: &mut Moments, tile: &StoredTile<'_>) -> bool {
        let at = (tile.offset, tile.depth, &tile.pixels, tile.pixels.len());
        // An error here (a tile outside the frame) is met again, and reported, on the
        // converted path.
        self.accumulate_stored(partial, tile.data, false, at)
            .unwrap_or(false)
    }

    fn process_stored_frames(&self, partial: &mut Moments, tile: &StoredFramesTile<'_>) -> bool {
        let at = (tile.offset, tile.depth, &tile.pixels, tile.stride);
        self.accumulate_stored(partial, tile.data, tile.swapped, at)
            .unwrap_or(false)
    }

    fn new_output(&self, run: &RunInfo<'_>) -> Moments {
        Moments::zeros(run.input, run.n_frames as usize)
    }

    fn merge(
        &self,
        output: &mut Moments,
        part: &PartitionInfo<'_>,
        partial: Moments,
    ) -> Result<()> {
        output
            .values
            .copy_into(part.compressed_start as usize * MOMENTS, &partial.values)
            .map_err(|e| Error::udf_internal(self.name(), format!("merge: {e}")))
    }
}

impl NativeUdf for CoMUdf {
    fn udf(&self) -> &dyn DynUdf {
        self
    }

    /// float64 moments for real input of either precision, complex128 for complex input.
    fn results(&self, input: InputKind) -> Vec<ResultDecl> {
        vec![ResultDecl {
            name: "raw_mask_result".into(),
            kind: ResultKind::Nav,
            dtype: moments_kind(input),
            extra_shape: vec![MOMENTS],
        }]
    }

    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>> {
        output
            .downcast::<Moments>()
            .map(|m| vec![m.values])
            .map_err(|_| Error::udf_internal(self.name(), "the output is not CoMUDF's moments"))
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "small test indices and values, converted exactly"
)]
mod tests {
    use super::*;

    /// float64 oracle of the three moments of `frames` (row after row) over `mask`.
    fn oracle(frames: &[f64], mask: &[f64], width: usize) -> Vec<f64> {
        let n = mask.len();
        let mut out = Vec::new();
        for frame in frames.chunks(n) {
            let mut m = [0.0; 3];
            for (p, (&v, &w)) in frame.iter().zip(mask).enumerate() {
                let (y, x) = ((p / width) as f64, (p % width) as f64);
                m[0] += v * w;
                m[1] += y * v * w;
                m[2] += x * v * w;
            }
            out.extend(m);
        }
        out
    }

    fn disk(height: usize, width: usize, cy: f64, cx: f64, r: f64) -> Vec<f64> {
        (0..height * width)
            .map(|p| {
                let (y, x) = ((p / width) as f64 - cy, (p % width) as f64 - cx);
                f64::from(u8::from(y * y + x * x <= r * r))
            })
            .collect()
    }

    #[test]
    fn moments_of_u16_frames_are_exact_in_every_tile_cut() {
        // 3 frames of 37x53 (not a multiple of LANES), tiles cut at odd pixel ranges
        let (h, w) = (37, 53);
        let n = h * w;
        let mask = disk(h, w, 17.3, 25.8, 14.0);
        let udf = CoMUdf::new(&mask, h, w).unwrap();
        let frames: Vec<u16> = (0..3 * n).map(|i| ((i * 7919) % 65521) as u16).collect();
        let as_f64: Vec<f64> = frames.iter().map(|&v| f64::from(v)).collect();
        let want = oracle(&as_f64, &mask, w);
        for cut in [n, 1000, 1024, 1500, 7] {
            let mut out = vec![0.0; 3 * 3];
            let mut start = 0;
            while start < n {
                let end = (start + cut).min(n);
                let tile: Vec<u16> = frames
                    .chunks(n)
                    .flat_map(|f| f[start..end].iter().copied())
                    .collect();
                udf.accumulate::<u16, f32>(&mut out, &tile, 3, &(start..end), end - start)
                    .unwrap();
                start = end;
            }
            // integer counts with 0/1 weights: every product and partial sum is exact
            assert_eq!(out, want, "tiles of {cut} pixels");
        }
    }

    #[test]
    fn strided_f32_frames_match_the_oracle() {
        let (h, w) = (8, 130);
        let n = h * w;
        let mask: Vec<f64> = (0..n).map(|p| ((p % 11) as f64 - 3.0) / 4.0).collect();
        let udf = CoMUdf::new(&mask, h, w).unwrap();
        let stride = n + 5; // a header between frames, never read
        let data: Vec<f32> = (0..2 * stride)
            .map(|i| (i % 97) as f32 * 0.37 - 9.0)
            .collect();
        let frames: Vec<f64> = data
            .chunks(stride)
            .flat_map(|f| f[..n].iter().map(|&v| f64::from(v)))
            .collect();
        let want = oracle(&frames, &mask, w);
        let mut out = vec![0.0; 6];
        udf.accumulate::<f32, f32>(&mut out, &data[..stride + n], 2, &(0..n), stride)
            .unwrap();
        for (g, e) in out.iter().zip(&want) {
            assert!((g - e).abs() <= 1e-12 * e.abs().max(1.0), "{g} vs {e}");
        }
    }

    #[test]
    fn a_tile_beyond_the_frame_is_an_internal_error() {
        let udf = CoMUdf::new(&[1.0; 6], 2, 3).unwrap();
        let mut out = vec![0.0; 3];
        let err = udf
            .accumulate::<f32, f32>(&mut out, &[1.0f32; 4], 1, &(3..7), 4)
            .unwrap_err();
        assert!(err.to_string().contains("CoMUDF"), "{err}");
    }

    #[test]
    fn u32_values_are_rounded_to_float32_input_first() {
        // 2^24 + 1 is not a float32: with float32 input it counts as 2^24, as `convert` does
        let udf = CoMUdf::new(&[1.0, 1.0], 1, 2).unwrap();
        let mut out = vec![0.0; 3];
        udf.accumulate::<u32, f32>(&mut out, &[16_777_217u32, 0], 1, &(0..2), 2)
            .unwrap();
        assert_eq!(out, vec![16_777_216.0, 0.0, 0.0]);
        let mut out = vec![0.0; 3];
        udf.accumulate::<u32, f64>(&mut out, &[16_777_217u32, 0], 1, &(0..2), 2)
            .unwrap();
        assert_eq!(out, vec![16_777_217.0, 0.0, 0.0]);
    }

    #[test]
    fn complex_frames_give_complex_moments() {
        let (h, w) = (3, 5);
        let mask = disk(h, w, 1.0, 2.0, 1.5);
        let udf = CoMUdf::new(&mask, h, w).unwrap();
        let re: Vec<f64> = (0..h * w).map(|i| i as f64).collect();
        let im: Vec<f64> = (0..h * w).map(|i| 2.0 - i as f64 * 0.5).collect();
        let data: Vec<Complex64> = re
            .iter()
            .zip(&im)
            .map(|(&a, &b)| Complex64::new(a, b))
            .collect();
        let mut out = vec![Complex64::new(0.0, 0.0); 3];
        udf.accumulate_complex(&mut out, &data, 1, &(0..h * w), |v| v)
            .unwrap();
        let (want_re, want_im) = (oracle(&re, &mask, w), oracle(&im, &mask, w));
        for k in 0..3 {
            assert!((out[k].re - want_re[k]).abs() < 1e-12, "{k}");
            assert!((out[k].im - want_im[k]).abs() < 1e-12, "{k}");
        }
    }

    #[test]
    fn a_mask_of_the_wrong_size_names_the_parameter() {
        let err = CoMUdf::new(&[1.0; 5], 2, 3).unwrap_err();
        assert!(err.to_string().contains("mask"), "{err}");
    }
}
