//! Exact integer sums of 16-bit integer frames for `StdDevUDF` (see [`super::stddev`]).
//!
//! For `uint16` and `int16` data each stored value `x` is first mapped to a signed 16-bit `y`
//! (`y = x - 32768` for `uint16`, `y = x` for `int16`, so `x = y + bias`), and per pixel the
//! count, `Σy` (in `i64`) and `Σy²` (in `u64`) are accumulated **exactly** in integer
//! arithmetic. Only when a partition's sums are merged are they turned into the shifted float64
//! sums of [`super::stddev`], around an integer shift `K` next to the mean, with one rounding
//! (see [`ExactSums::shifted`]). The float64 loop makes a rounding per four values, and its
//! loads and stores of the accumulators and its conversions bound it; here a column of sixteen
//! pixels keeps its sums in registers over all frames of a tile.
//!
//! The sums are exact, so every instruction set and every order of the frames gives the same
//! bits. They hold while `Σy²` fits `u64`: `y² <= 2^30`, so for at least `2^34` frames.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel inlined into its `#[target_feature]` \
              copies, or it runs on the baseline instruction set"
)]

use crate::simd::{dispatch, Kernel};
use std::ops::Range;

/// A stored 16-bit integer type whose values are summed exactly.
pub(crate) trait Sixteen: Copy + Send + Sync {
    /// `x = y + BIAS`.
    const BIAS: i64;
    /// The signed value `y` of `self`.
    fn y(self) -> i16;
}

impl Sixteen for u16 {
    const BIAS: i64 = 32768;
    #[inline(always)]
    fn y(self) -> i16 {
        // x - 32768: flipping the top bit, read as two's complement
        i16::from_ne_bytes((self ^ 0x8000).to_ne_bytes())
    }
}

impl Sixteen for i16 {
    const BIAS: i64 = 0;
    #[inline(always)]
    fn y(self) -> i16 {
        self
    }
}

/// Per pixel, the exact count, `Σy` and `Σy²` of the frames accumulated so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExactSums {
    /// `x = y + bias` (see [`Sixteen::BIAS`]).
    pub(crate) bias: i64,
    counts: Counts,
    sum: Vec<i64>,
    squares: Vec<u64>,
}

/// Frames counted per pixel. Tiles of a partition cover the same few pixel ranges over and
/// over, so a count per range is kept while they do (a count per pixel, updated for every
/// tile, would be as many memory writes as the sums); ranges that overlap otherwise switch to
/// a count per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counts {
    /// Disjoint pixel ranges and their frame counts (pixels outside them: none).
    Ranges(Vec<(Range<usize>, u64)>),
    /// A count per pixel.
    Pixels(Vec<u64>),
}

impl Counts {
    /// Counts `depth` more frames for the pixels `px`.
    fn add(&mut self, px: Range<usize>, depth: u64, sig_size: usize) {
        if let Counts::Ranges(ranges) = self {
            if let Some(entry) = ranges.iter_mut().find(|(r, _)| *r == px) {
                entry.1 += depth;
                return;
            }
            if !ranges
                .iter()
                .any(|(r, _)| r.start < px.end && px.start < r.end)
            {
                ranges.push((px, depth));
                return;
            }
            let mut pixels = vec![0; sig_size];
            for (r, n) in ranges.iter() {
                pixels[r.clone()].fill(*n);
            }
            *self = Counts::Pixels(pixels);
        }
        if let Counts::Pixels(pixels) = self {
            for c in &mut pixels[px] {
                *c += depth;
            }
        }
    }

    /// Adds the counts `other` (of other frames).
    fn add_counts(&mut self, other: &Counts, sig_size: usize) {
        match other {
            Counts::Ranges(ranges) => {
                for (r, n) in ranges {
                    self.add(r.clone(), *n, sig_size);
                }
            }
            Counts::Pixels(pixels) => {
                for (p, &n) in pixels.iter().enumerate() {
                    self.add(p..p + 1, n, sig_size);
                }
            }
        }
    }

    /// Frames counted for pixel `p`.
    #[cfg(test)]
    fn get(&self, p: usize) -> u64 {
        match self {
            Counts::Ranges(ranges) => ranges
                .iter()
                .find(|(r, _)| r.contains(&p))
                .map_or(0, |(_, n)| *n),
            Counts::Pixels(pixels) => pixels[p],
        }
    }
}

/// One pixel's sums in the shifted form of [`super::stddev`]: `n` frames, shift `k`,
/// `s1 = Σ(x - k)`, `s2 = Σ(x - k)²`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shifted {
    pub(crate) n: u64,
    pub(crate) k: f64,
    pub(crate) s1: f64,
    pub(crate) s2: f64,
}

impl ExactSums {
    /// No frames yet over `sig_size` pixels of values `y + bias`.
    pub(crate) fn new(sig_size: usize, bias: i64) -> Self {
        ExactSums {
            bias,
            counts: Counts::Ranges(Vec::new()),
            sum: vec![0; sig_size],
            squares: vec![0; sig_size],
        }
    }

    /// Adds `depth` frames of the pixels `first_pixel..first_pixel + width`; frame `r` is
    /// `data[r * stride..][..width]`.
    pub(crate) fn add_tile<S: Sixteen>(
        &mut self,
        first_pixel: usize,
        data: &[S],
        width: usize,
        depth: usize,
        stride: usize,
    ) {
        debug_assert_eq!(self.bias, S::BIAS, "one stored dtype per partial");
        let px = first_pixel..first_pixel + width;
        if depth == 0 || width == 0 {
            return;
        }
        dispatch(TileSums {
            sum: &mut self.sum[px.clone()],
            squares: &mut self.squares[px.clone()],
            data,
            depth,
            stride: stride.max(width),
        });
        self.counts.add(px, depth as u64, self.sum.len());
    }

    /// Adds `other`'s sums (of other frames over the same pixels, the same bias).
    pub(crate) fn add_sums(&mut self, other: &ExactSums) {
        debug_assert_eq!(self.bias, other.bias, "one stored dtype per run");
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.squares.iter_mut().zip(&other.squares) {
            *a += b;
        }
        self.counts.add_counts(&other.counts, self.sum.len());
    }

    /// The sums in shifted form, pixel after pixel (see [`Self::shifted`]).
    pub(crate) fn all_shifted(&self) -> impl Iterator<Item = Option<Shifted>> + '_ {
        let mut range = 0..0;
        let mut n = 0;
        (0..self.sum.len()).map(move |p| {
            // one look-up per range of counts, not per pixel
            if !range.contains(&p) {
                (range, n) = match &self.counts {
                    Counts::Ranges(ranges) => ranges
                        .iter()
                        .find(|(r, _)| r.contains(&p))
                        .map_or((p..p + 1, 0), |(r, n)| (r.clone(), *n)),
                    Counts::Pixels(pixels) => (p..p + 1, pixels[p]),
                };
            }
            self.shifted_with(p, n)
        })
    }

    /// Pixel `p`'s sums in shifted form around an integer `K` next to the mean (so that
    /// `|s1| < n` and `s2 - s1² / n` loses nothing): `s1` and `s2` are
    /// computed exactly and rounded once each to float64. `None` without frames.
    #[cfg(test)]
    pub(crate) fn shifted(&self, p: usize) -> Option<Shifted> {
        self.shifted_with(p, self.counts.get(p))
    }

    /// [`Self::shifted`] for pixel `p` of `n` frames.
    ///
    /// `s2 = Σ(y - k)² = Σy² - k (Σy + s1)` lies in `[0, n 2^32)`: for fewer than `2^31` frames it
    /// fits `i64`, so wrapping 64-bit arithmetic, whose intermediate terms may overflow, still
    /// gives it exactly.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "the one rounding to float64; `k` lies in the 16-bit range; wrapping                   arithmetic is exact for a result that fits (see above)"
    )]
    fn shifted_with(&self, p: usize, n: u64) -> Option<Shifted> {
        if n == 0 {
            return None;
        }
        let (sum, squares) = (self.sum[p], self.squares[p]);
        // any integer is exact; one next to the mean keeps s1 small (truncation: no call)
        let k = (sum as f64 / n as f64) as i64;
        let count = n as i64;
        let s1 = sum.wrapping_sub(count.wrapping_mul(k));
        let s2 = (squares as i64).wrapping_sub(k.wrapping_mul(sum.wrapping_add(s1)));
        Some(Shifted {
            n,
            k: (k + self.bias) as f64,
            s1: s1 as f64,
            s2: s2 as f64,
        })
    }
}

/// `sum[j] += Σ_r y(data[r * stride + j])`, `squares[j] += Σ_r y²` over a tile's `depth`
/// frames.
struct TileSums<'a, S> {
    sum: &'a mut [i64],
    squares: &'a mut [u64],
    data: &'a [S],
    depth: usize,
    stride: usize,
}

impl<S: Sixteen> Kernel for TileSums<'_, S> {
    type Output = ();

    #[inline(always)]
    fn run(mut self) {
        let width = self.sum.len();
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            // SAFETY: `available` checked that the CPU has AVX2.
            done = unsafe { avx2::columns(&mut self, width) };
        }
        // the rest of the pixels (or all, without AVX2), a row at a time
        for r in 0..self.depth {
            let row = &self.data[r * self.stride..][done..width];
            let acc = self.sum[done..].iter_mut().zip(&mut self.squares[done..]);
            for ((s, q), &x) in acc.zip(row) {
                let y = i32::from(x.y());
                *s += i64::from(y);
                *q += u64::from((y * y).unsigned_abs());
            }
        }
    }
}

/// The AVX2 columns of [`TileSums`]: sixteen pixels at a time, their sums in registers over
/// all frames of the tile. Two frames' values are interleaved (`a0 b0 a1 b1 ...`) so that
/// `vpmaddwd` forms `ya + yb` (against ones) and `ya² + yb²` (against themselves) per pixel in
/// 32 bits; the squares (up to `2^31`) are widened to 64 bits for every pair.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Sixteen, TileSums};
    #[allow(
        clippy::wildcard_imports,
        reason = "the intrinsics, by their Intel names"
    )]
    use std::arch::x86_64::*;

    /// Pixels per column: one vector of 16-bit values.
    const COLUMN: usize = 16;

    /// True if the CPU has AVX2 and `FERROTEM_SIMD` does not rule it out.
    pub(super) fn available() -> bool {
        matches!(crate::simd::instruction_set(), "avx2" | "avx512")
    }

    /// Accumulates the whole columns of sixteen pixels; returns how many pixels they cover.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,avx")]
    pub(super) unsafe fn columns<S: Sixteen>(t: &mut TileSums<'_, S>, width: usize) -> usize {
        let whole = width / COLUMN * COLUMN;
        if t.depth == 0 {
            return whole;
        }
        // every row holds `width` values: the last frame's row ends inside `data`
        assert!(
            t.data.len() >= (t.depth - 1) * t.stride + width,
            "a tile of {} frames of {width} values, {} apart, in {} values",
            t.depth,
            t.stride,
            t.data.len()
        );
        assert!(t.sum.len() >= whole && t.squares.len() >= whole);
        let flip = _mm256_set1_epi16(if S::BIAS == 0 { 0 } else { i16::MIN });
        let ones = _mm256_set1_epi16(1);
        let zero = _mm256_setzero_si256();
        let base = t.data.as_ptr().cast::<u8>();
        #[allow(
            clippy::cast_ptr_alignment,
            reason = "unaligned loads and stores (`loadu`, `storeu`)"
        )]
        let add_into = |at: *mut i64, v: __m256i| {
            let at = at.cast::<__m256i>();
            // SAFETY: the callers pass four i64 (or u64) inside `sum` (or `squares`): see
            // there.
            let old = unsafe { _mm256_loadu_si256(at) };
            let new = _mm256_add_epi64(old, v);
            // SAFETY: as above.
            unsafe { _mm256_storeu_si256(at, new) };
        };
        let row_bytes = t.stride * 2;
        let load = |r: usize, j: usize| {
            // SAFETY: `j + COLUMN <= whole <= width` and `r < depth`: 16 values of row `r`
            // inside `data` (asserted above); unaligned load.
            let v = unsafe { _mm256_loadu_si256(base.wrapping_add(r * row_bytes + j * 2).cast()) };
            _mm256_xor_si256(v, flip)
        };
        let mut j = 0;
        while j < whole {
            // pixels [0..4, 8..12] and [4..8, 12..16] of the column (`vpunpck*` work per
            // 128-bit half), and the squares of pixel pairs [0 1 | 8 9], [2 3 | 10 11],
            // [4 5 | 12 13], [6 7 | 14 15]
            let mut lin = [zero; 2];
            let mut sq = [zero; 4];
            let mut pair = |a: __m256i, b: __m256i| {
                let lo = _mm256_unpacklo_epi16(a, b);
                let hi = _mm256_unpackhi_epi16(a, b);
                lin[0] = _mm256_add_epi32(lin[0], _mm256_madd_epi16(lo, ones));
                lin[1] = _mm256_add_epi32(lin[1], _mm256_madd_epi16(hi, ones));
                // ya² + yb² <= 2^31: exact as unsigned 32 bits, widened with zeros
                let qlo = _mm256_madd_epi16(lo, lo);
                let qhi = _mm256_madd_epi16(hi, hi);
                sq[0] = _mm256_add_epi64(sq[0], _mm256_unpacklo_epi32(qlo, zero));
                sq[1] = _mm256_add_epi64(sq[1], _mm256_unpackhi_epi32(qlo, zero));
                sq[2] = _mm256_add_epi64(sq[2], _mm256_unpacklo_epi32(qhi, zero));
                sq[3] = _mm256_add_epi64(sq[3], _mm256_unpackhi_epi32(qhi, zero));
            };
            let mut r = 0;
            while r + 2 <= t.depth {
                pair(load(r, j), load(r + 1, j));
                r += 2;
            }
            if r < t.depth {
                // an odd frame, paired with y = 0
                pair(load(r, j), zero);
            }
            // back to pixel order: s 0..8 and 8..16, q 0..4, 4..8, 8..12, 12..16
            let lin_in_order = [
                _mm256_permute2x128_si256::<0x20>(lin[0], lin[1]),
                _mm256_permute2x128_si256::<0x31>(lin[0], lin[1]),
            ];
            let sq_in_order = [
                _mm256_permute2x128_si256::<0x20>(sq[0], sq[1]),
                _mm256_permute2x128_si256::<0x20>(sq[2], sq[3]),
                _mm256_permute2x128_si256::<0x31>(sq[0], sq[1]),
                _mm256_permute2x128_si256::<0x31>(sq[2], sq[3]),
            ];
            let sum = t.sum.as_mut_ptr().wrapping_add(j);
            let squares = t.squares.as_mut_ptr().wrapping_add(j);
            for (h, &v) in lin_in_order.iter().enumerate() {
                let wide = [
                    _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v)),
                ];
                for (i, w) in wide.into_iter().enumerate() {
                    // `j + 16 <= whole <= sum.len()`: four i64 inside `sum`
                    add_into(sum.wrapping_add(8 * h + 4 * i), w);
                }
            }
            for (i, &v) in sq_in_order.iter().enumerate() {
                // as above, inside `squares`
                add_into(squares.wrapping_add(4 * i).cast(), v);
            }
            j += COLUMN;
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
    use super::*;
    use proptest::prelude::*;

    /// The sums straight from the definition, in i128.
    fn direct<S: Sixteen>(
        data: &[S],
        width: usize,
        depth: usize,
        stride: usize,
    ) -> Vec<(i128, i128)> {
        (0..width)
            .map(|j| {
                (0..depth).fold((0, 0), |(s, q), r| {
                    let y = i128::from(data[r * stride + j].y());
                    (s + y, q + y * y)
                })
            })
            .collect()
    }

    fn check<S: Sixteen + std::fmt::Debug>(
        data: &[S],
        first: usize,
        width: usize,
        depth: usize,
        stride: usize,
    ) -> std::result::Result<(), TestCaseError> {
        let mut e = ExactSums::new(first + width + 3, S::BIAS);
        // twice: the second tile adds to the first
        e.add_tile(first, data, width, depth, stride);
        e.add_tile(first, data, width, depth, stride);
        let want = direct(data, width, depth, stride);
        for p in 0..e.sum.len() {
            let inside = (first..first + width).contains(&p);
            let (s, q) = if inside { want[p - first] } else { (0, 0) };
            prop_assert_eq!(i128::from(e.sum[p]), 2 * s, "pixel {}", p);
            prop_assert_eq!(i128::from(e.squares[p]), 2 * q, "pixel {}", p);
            let frames = if inside && width > 0 {
                2 * depth as u64
            } else {
                0
            };
            prop_assert_eq!(e.counts.get(p), frames);
        }
        Ok(())
    }

    /// The extremes: every value 0 (y = -32768, the largest square) or 65535, many frames.
    #[test]
    fn extreme_values_sum_exactly() {
        for v in [0u16, 65535, 32768] {
            let (width, depth) = (37, 9);
            let data = vec![v; width * depth];
            let mut e = ExactSums::new(width, u16::BIAS);
            e.add_tile(0, &data, width, depth, width);
            let y = i64::from(v) - 32768;
            assert!(e.sum.iter().all(|&s| s == 9 * y));
            assert!(e
                .squares
                .iter()
                .all(|&q| i128::from(q) == 9 * i128::from(y * y)));
            let s = e.shifted(0).unwrap();
            assert_eq!((s.n, s.k, s.s1, s.s2), (9, f64::from(v), 0.0, 0.0));
        }
    }

    /// Tiles of other pixel ranges that overlap switch to a count per pixel.
    #[test]
    fn overlapping_ranges_count_per_pixel() {
        let data = [7u16; 20];
        let mut e = ExactSums::new(20, u16::BIAS);
        e.add_tile(0, &data, 10, 1, 10);
        e.add_tile(10, &data, 10, 1, 10);
        e.add_tile(0, &data, 10, 1, 10);
        assert!(matches!(e.counts, Counts::Ranges(_)));
        e.add_tile(5, &data, 10, 1, 10);
        assert!(matches!(e.counts, Counts::Pixels(_)));
        let counts: Vec<u64> = (0..20).map(|p| e.counts.get(p)).collect();
        assert_eq!(counts, [[2; 5], [3; 5], [2; 5], [1; 5]].concat());
        let n: Vec<u64> = e.all_shifted().map(|s| s.unwrap().n).collect();
        assert_eq!(n, counts);
        assert!(e
            .all_shifted()
            .all(|s| s.unwrap().k.to_bits() == 7.0f64.to_bits()));
    }

    /// `2^30` frames of the value with the largest square: the intermediate products of
    /// `shifted` overflow 64 bits, the result does not.
    #[test]
    fn shifted_form_of_many_frames_is_exact() {
        let n = 1u64 << 30;
        let mut e = ExactSums::new(2, u16::BIAS);
        e.counts = Counts::Ranges(vec![(0..2, n)]);
        // pixel 0: every y = -32768; pixel 1: half of the frames -32768, half 32767
        e.sum = vec![-(1i64 << 45), -(1i64 << 44) + (1i64 << 29) * 32767];
        e.squares = vec![1u64 << 60, (1u64 << 59) + (1u64 << 29) * 32767 * 32767];
        let s = e.shifted(0).unwrap();
        assert_eq!((s.k, s.s1, s.s2), (0.0, 0.0, 0.0));
        let s = e.shifted(1).unwrap();
        // mean of y = -0.5: k = -1 or 0; each frame's y - k is ±32767.5 ∓ 0.5
        let k = s.k - 32768.0;
        let half = f64::from(1u32 << 29);
        let want_s1 = half * (-32768.0 - k) + half * (32767.0 - k);
        let want_s2 = half * (-32768.0 - k).powi(2) + half * (32767.0 - k).powi(2);
        assert!(k.abs() <= 1.0, "a shift next to the mean");
        assert_eq!((s.s1, s.s2), (want_s1, want_s2));
    }

    /// `shifted` is exact: s1 and s2 around the nearest integer to the mean, from the values.
    #[test]
    fn shifted_form_matches_the_values() {
        let frames: [u16; 5] = [0, 65535, 3, 65535, 1];
        let mut e = ExactSums::new(1, u16::BIAS);
        e.add_tile(0, &frames, 1, 5, 1);
        let s = e.shifted(0).unwrap();
        let mean = frames.iter().map(|&x| f64::from(x)).sum::<f64>() / 5.0;
        assert!(
            (s.k - mean).abs() < 1.0 && s.k.fract() == 0.0,
            "an integer next to the mean"
        );
        let s1: f64 = frames.iter().map(|&x| f64::from(x) - s.k).sum();
        let s2: f64 = frames.iter().map(|&x| (f64::from(x) - s.k).powi(2)).sum();
        assert_eq!((s.n, s.s1, s.s2), (5, s1, s2));
        assert_eq!(ExactSums::new(2, 0).shifted(1), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every instruction set's sums equal the direct i128 sums (this runs at the level
        /// `FERROTEM_SIMD` allows; the test suite runs it at each), for any width (whole
        /// columns and a rest), depth (odd: a frame paired with zeros), stride and start.
        #[test]
        fn tile_sums_are_exact(
            width in 0usize..70,
            depth in 0usize..7,
            gap in 0usize..5,
            first in 0usize..20,
            seed in any::<u64>(),
            signed in any::<bool>(),
        ) {
            let stride = width + gap;
            let mut state = seed | 1;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // extremes often
                match state % 5 {
                    0 => 0u16,
                    1 => u16::MAX,
                    _ => (state >> 20) as u16,
                }
            };
            let raw: Vec<u16> = (0..depth * stride).map(|_| next()).collect();
            if signed {
                let data: Vec<i16> = raw.iter().map(|&x| i16::from_ne_bytes(x.to_ne_bytes())).collect();
                check(&data, first, width, depth, stride)?;
            } else {
                check(&raw, first, width, depth, stride)?;
            }
        }
    }
}
