//! `ApplyMasksUDF`: one weighted sum per frame and mask (virtual detectors), result
//! `intensity` of kind `nav` with one entry per mask.
//!
//! Dense masks are a matrix product of each tile `(frames, pixels)` with the stack
//! `(masks, pixels)`, blocked by pixels (a block of every mask lies together, see
//! [`Stack::Dense`]): four frames' values of a block are converted from their stored dtype once,
//! into a small buffer in L1 (conversion fused, no converted tile), and each mask's block is
//! then multiplied with all four. With AVX (float32 results) two masks against four frames are
//! computed at a time in eight vector accumulators ([`avx`]), the pair's values interleaved in
//! one stream ([`stack_index`]); otherwise one mask against four frames, as the compiler
//! vectorises it. Sparse masks are runs of consecutive pixels per mask
//! ([`Runs`]), each a short vectorised dot product.
//!
//! Values are multiplied in the result dtype `R` (numpy's `result_type(input dtype, mask
//! dtype)`); each block's (or run's) products are summed in `R` over eight lanes, the blocks of
//! a tile are added in double precision, then rounded into the result once per tile. Every
//! path computes the same sums in the same order: the result does not depend on the
//! instruction set.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel and what it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use super::native::{ArrayData, NativeSpec, NativeUdf, ParamValue, ResultDecl, ResultKind};
use super::{
    CsrTile, DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile,
    TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::any::Any;
use std::ops::{Add, AddAssign, Mul, Range};
use std::sync::OnceLock;

/// Pixels per block: a block of 16 float32 masks is 64 KiB (in L2), four frames' converted
/// block 16 KiB (in L1). Each dot product ends in a chain of dependent additions of its lanes;
/// 1024 pixels amortise it. The accuracy the tests hold the kernel to (`gamma(BLOCK + 1)`)
/// rests on this length.
const BLOCK: usize = 1024;
/// Partial sums per dot product: one AVX2 vector of float32.
const LANES: usize = 8;

/// A result element: products are formed and summed per block in `Self`, blocks are added in
/// `Wide`.
pub(crate) trait MaskElem:
    Copy + Default + Send + Sync + Add<Output = Self> + Mul<Output = Self> + AddAssign + 'static
{
    /// The double-precision accumulator.
    type Wide: Copy + Default + AddAssign + Send;
    /// Whether the blocked stack interleaves pairs of masks (see [`stack_index`]).
    const PAIRED: bool = false;
    /// `self` in double precision.
    fn widen(self) -> Self::Wide;
    /// `self + total`, `total` rounded once.
    fn add_total(self, total: Self::Wide) -> Self;
    /// `acc[f * n + m] += x[f] . w.mask(m)` for the `F` frames `x` and every mask `m < n`.
    #[inline(always)]
    fn multiply<const F: usize>(
        acc: &mut [Self::Wide],
        x: [&[Self]; F],
        n: usize,
        w: &Weights<'_, Self>,
    ) {
        multiply_generic(acc, x, n, w);
    }
}

impl MaskElem for f32 {
    type Wide = f64;
    const PAIRED: bool = true;
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the one rounding to float32"
    )]
    fn add_total(self, total: f64) -> Self {
        self + total as f32
    }
    #[inline(always)]
    fn multiply<const F: usize>(acc: &mut [f64], x: [&[f32]; F], n: usize, w: &Weights<'_, f32>) {
        #[cfg(target_arch = "x86_64")]
        if avx::available() {
            // SAFETY: `available` checked that the CPU has AVX.
            unsafe { avx::multiply(acc, x, n, w) };
            return;
        }
        multiply_generic(acc, x, n, w);
    }
}
impl MaskElem for f64 {
    type Wide = f64;
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn add_total(self, total: f64) -> Self {
        self + total
    }
}
impl MaskElem for Complex32 {
    type Wide = Complex64;
    #[inline(always)]
    fn widen(self) -> Complex64 {
        Complex64::new(f64::from(self.re), f64::from(self.im))
    }
    #[inline(always)]
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the one rounding to complex64"
    )]
    fn add_total(self, total: Complex64) -> Self {
        self + Complex32::new(total.re as f32, total.im as f32)
    }
}
impl MaskElem for Complex64 {
    type Wide = Complex64;
    #[inline(always)]
    fn widen(self) -> Complex64 {
        self
    }
    #[inline(always)]
    fn add_total(self, total: Complex64) -> Self {
        self + total
    }
}

/// Sparse masks as runs of consecutive pixels: mask `m`'s runs are
/// `list[by_mask[m]..by_mask[m + 1]]`, in pixel order; run `r` covers pixels
/// `r.start..r.start + r.len` with the weights `weights[r.at..][..r.len]`. The product is then a
/// short dot product per run (vectorised, conversion fused) instead of an index lookup per
/// pixel: ring masks of 256x256 pixels are a few runs per row.
#[derive(Debug, Clone)]
struct Runs<R> {
    by_mask: Vec<usize>,
    list: Vec<Run>,
    weights: Vec<R>,
}

/// One run of [`Runs`]; at most [`BLOCK`] pixels, so that its sum in the result dtype stays
/// within the accuracy of a dense block.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    at: usize,
    len: usize,
}

impl<R: Copy> Runs<R> {
    /// The runs of the CSR matrix over pixels (rows `pixels`, strictly increasing; row `r`'s
    /// weights `data[ptr[r]..ptr[r + 1]]` for the masks `masks[..]` at the same positions) of
    /// `n` masks. A weight repeated for one pixel and mask starts a run of its own (both
    /// count, as in the matrix product).
    fn from_csr(n: usize, pixels: &[usize], ptr: &[usize], masks: &[usize], data: &[R]) -> Self {
        let mut per_mask: Vec<Vec<(usize, R)>> = vec![Vec::new(); n];
        for (r, &p) in pixels.iter().enumerate() {
            for k in ptr[r]..ptr[r + 1] {
                per_mask[masks[k]].push((p, data[k]));
            }
        }
        let mut out = Runs {
            by_mask: Vec::with_capacity(n + 1),
            list: Vec::new(),
            weights: Vec::with_capacity(data.len()),
        };
        for entries in per_mask {
            let first = out.list.len();
            out.by_mask.push(first);
            for (p, w) in entries {
                let this_mask = out.list.len() > first;
                match out.list.last_mut() {
                    Some(run) if this_mask && run.start + run.len == p && run.len < BLOCK => {
                        run.len += 1;
                    }
                    _ => out.list.push(Run {
                        start: p,
                        at: out.weights.len(),
                        len: 1,
                    }),
                }
                out.weights.push(w);
            }
        }
        out.by_mask.push(out.list.len());
        out
    }
}

/// Dense masks (mask after mask) in the blocked layout of [`Stack::Dense`].
fn blocked<R: MaskElem>(masks: &[R], n: usize, sig_size: usize) -> Vec<R> {
    let blocks = sig_size.div_ceil(BLOCK);
    let mut out = vec![R::default(); blocks * n * BLOCK];
    for (m, mask) in masks.chunks_exact(sig_size.max(1)).enumerate().take(n) {
        for (p, &v) in mask.iter().enumerate() {
            out[stack_index(R::PAIRED, n, m, p / BLOCK, p % BLOCK)] = v;
        }
    }
    out
}

/// Where pixel `i` of block `b` of mask `m` (of `n`) lies in the blocked stack: block `b` of
/// every mask lies together (`n * BLOCK` values from `b * n * BLOCK` on), mask `m` at `m * BLOCK`
/// in it. With `paired`, the masks `2p` and `2p + 1` share their `2 * BLOCK` values,
/// interleaved by groups of `LANES` pixels (`LANES` of mask `2p`, the same `LANES` of mask
/// `2p + 1`, the next `LANES` of `2p`, ...): the AVX product reads a pair as one sequential
/// stream, which the hardware prefetcher follows, instead of two a page apart (measured on a
/// block of 16 masks in L2: 2.34 -> 1.79 ns per step of eight pixels, four frames and two
/// masks, without software prefetches). A last odd mask keeps its plain `BLOCK` values.
#[inline(always)]
fn stack_index(paired: bool, n: usize, m: usize, b: usize, i: usize) -> usize {
    let base = b * n * BLOCK;
    if paired && m < n / 2 * 2 {
        base + (m - m % 2) * BLOCK + (i / LANES) * 2 * LANES + (m % 2) * LANES + i % LANES
    } else {
        base + m * BLOCK + i
    }
}

/// The stack in one result dtype.
#[derive(Debug, Clone)]
enum Stack<R> {
    /// Blocked: block `b` of every mask lies together, `blocked[stack_index(..)]` is pixel
    /// `b * BLOCK + i` of mask `m` (the last block padded with zeros). Stored mask after
    /// mask, the blocks of one block index would be a frame apart and alias in the L1 cache
    /// (16 masks of 256x256 pixels: a third of the speed).
    Dense(Vec<R>),
    Sparse(Runs<R>),
}

/// The stack in whichever result dtype the declaration chose.
#[derive(Debug, Clone)]
enum AnyStack {
    F32(Stack<f32>),
    F64(Stack<f64>),
    C64(Stack<Complex32>),
    C128(Stack<Complex64>),
}

/// Applies a stack of masks to every frame (LiberTEM's `ApplyMasksUDF`).
#[derive(Debug, Clone)]
pub struct ApplyMasksUdf {
    n_masks: usize,
    sig_size: usize,
    stack: AnyStack,
    /// The masks by pixel, for sparse tiles; made on the first one.
    by_pixel: OnceLock<AnyByPixel>,
}

/// The masks by pixel, for sparse (CSR) tiles: each stored entry `(pixel, value)` of a frame
/// adds `value * weight` to the frame's sum of every mask weighing that pixel, so the weights of
/// one pixel lie together. Made from [`Stack`] on the first sparse tile: dense masks as a
/// `(pixels, masks)` matrix (one cache line per pixel for 16 float32 masks), sparse masks as
/// CSR over pixels.
#[derive(Debug, Clone)]
enum ByPixel<R> {
    /// Pixel `p`'s weights of all masks at `p * n_masks ..`.
    Dense(Vec<R>),
    /// Pixel `p`'s weights at `ptr[p] .. ptr[p + 1]` of `masks` (which mask) and `weights`.
    Sparse {
        ptr: Vec<usize>,
        masks: Vec<u32>,
        weights: Vec<R>,
    },
}

/// [`ByPixel`] of the real result dtypes (sparse tiles hold real values; complex masks take
/// the dense path).
#[derive(Debug, Clone)]
enum AnyByPixel {
    F32(ByPixel<f32>),
    F64(ByPixel<f64>),
    Complex,
}

impl<R: MaskElem> ByPixel<R> {
    fn of(stack: &Stack<R>, n: usize, sig_size: usize) -> Self {
        match stack {
            Stack::Dense(blocked) => {
                let mut w = vec![R::default(); sig_size * n];
                for (p, row) in w.chunks_exact_mut(n.max(1)).enumerate().take(sig_size) {
                    let (block, at) = (p / BLOCK, p % BLOCK);
                    for (m, x) in row.iter_mut().enumerate() {
                        *x = blocked[stack_index(R::PAIRED, n, m, block, at)];
                    }
                }
                ByPixel::Dense(w)
            }
            Stack::Sparse(runs) => {
                let mut entries: Vec<(usize, u32, R)> = Vec::with_capacity(runs.weights.len());
                for m in 0..n {
                    for r in &runs.list[runs.by_mask[m]..runs.by_mask[m + 1]] {
                        for j in 0..r.len {
                            let mask = u32::try_from(m).unwrap_or(u32::MAX);
                            entries.push((r.start + j, mask, runs.weights[r.at + j]));
                        }
                    }
                }
                // Stable: a weight repeated for one pixel and mask keeps its place.
                entries.sort_by_key(|e| e.0);
                let mut ptr = vec![0usize; sig_size + 1];
                for e in &entries {
                    ptr[e.0 + 1] += 1;
                }
                for p in 0..sig_size {
                    ptr[p + 1] += ptr[p];
                }
                ByPixel::Sparse {
                    ptr,
                    masks: entries.iter().map(|e| e.1).collect(),
                    weights: entries.iter().map(|e| e.2).collect(),
                }
            }
        }
    }

    /// Adds every mask's sum over the stored entries of each row of a sparse tile (`indptr`,
    /// `pixels`, `values`) into `out` (`rows * n` results): products in `R`, each frame's sum
    /// in double precision, rounded once into `out`.
    fn apply_csr<S: CastTo<R> + Copy>(
        &self,
        n: usize,
        out: &mut [R],
        indptr: &[usize],
        pixels: &[u32],
        values: &[S],
    ) {
        let mut acc = vec![R::Wide::default(); n];
        for (o, w) in out.chunks_exact_mut(n.max(1)).zip(indptr.windows(2)) {
            acc.fill(R::Wide::default());
            for (&p, &v) in pixels[w[0]..w[1]].iter().zip(&values[w[0]..w[1]]) {
                let (p, v): (usize, R) = (p as usize, v.cast());
                match self {
                    ByPixel::Dense(weights) => {
                        for (a, &x) in acc.iter_mut().zip(&weights[p * n..(p + 1) * n]) {
                            *a += (v * x).widen();
                        }
                    }
                    ByPixel::Sparse {
                        ptr,
                        masks,
                        weights,
                    } => {
                        for j in ptr[p]..ptr[p + 1] {
                            acc[masks[j] as usize] += (v * weights[j]).widen();
                        }
                    }
                }
            }
            for (x, &a) in o.iter_mut().zip(&acc) {
                *x = x.add_total(a);
            }
        }
    }
}

/// Accumulator of one tile: `depth * n_masks` wide sums.
type TileAcc<R> = Vec<<R as MaskElem>::Wide>;

/// `acc[f * n + m] += sum_p x[f][p] * mask[m][p]` over one block of pixels, for every frame
/// `f` of a tile whose rows (`width` values, `stride` apart) are `data`.
struct DenseBlock<'a, S, R: MaskElem> {
    acc: &'a mut [R::Wide],
    data: &'a [S],
    width: usize,
    stride: usize,
    /// the masks, blocked (see [`Stack::Dense`])
    masks: &'a [R],
    n: usize,
    /// the tile's first pixel in the frame
    px0: usize,
}

impl<S: CastTo<R> + Copy, R: MaskElem> Kernel for DenseBlock<'_, S, R> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let mut skewed = Skewed {
            _skew: [0; SKEW],
            x: [[R::default(); BLOCK]; FRAMES],
        };
        let x = &mut skewed.x;
        let stride = self.stride.max(self.width);
        let rows = self.data.chunks(stride).filter_map(|c| c.get(..self.width));
        // Blocks are aligned to the frame (a tile may start anywhere in it).
        let (start, end) = (self.px0, self.px0 + self.width);
        let mut block = start / BLOCK;
        while block * BLOCK < end {
            let lo = start.max(block * BLOCK);
            let hi = end.min((block + 1) * BLOCK);
            let len = hi - lo;
            let in_block = lo - block * BLOCK;
            let weights = &self.masks[block * self.n * BLOCK..][..self.n * BLOCK];
            let mut rows = rows.clone().enumerate().peekable();
            while rows.peek().is_some() {
                // The next (up to) FRAMES frames' values of this block, converted once, in L1.
                let mut first = usize::MAX;
                let mut count = 0;
                for (buf, (f, row)) in x.iter_mut().zip(rows.by_ref()) {
                    first = first.min(f);
                    for (xi, &v) in buf[..len].iter_mut().zip(&row[lo - start..hi - start]) {
                        *xi = v.cast();
                    }
                    prefetch(&row[hi - start..row.len().min(hi - start + BLOCK)]);
                    count += 1;
                }
                let acc = &mut self.acc[first * self.n..][..count * self.n];
                let w = Weights {
                    block: weights,
                    n: self.n,
                    at: in_block,
                    len,
                };
                if count == FRAMES {
                    R::multiply::<FRAMES>(acc, array_of(x, len), self.n, &w);
                } else {
                    for (f, xf) in x[..count].iter().enumerate() {
                        let acc = &mut acc[f * self.n..][..self.n];
                        R::multiply::<1>(acc, [&xf[..len]], self.n, &w);
                    }
                }
            }
            block += 1;
        }
    }
}

/// Bytes between a page boundary and the converted frames' buffer: stored frames usually
/// start on a page (mapped files, page-aligned tiles), so a block's values and their copy at the
/// same offset in a page would alias in the L1 cache's store-to-load check ("4K aliasing") and
/// stall every load after a store; half a page plus a line apart they do not.
const SKEW: usize = 2048 + 64;

/// The converted frames' buffer at [`SKEW`] bytes past a page boundary.
#[repr(C, align(4096))]
struct Skewed<R> {
    _skew: [u8; SKEW],
    x: [[R; BLOCK]; FRAMES],
}

/// Asks the CPU to bring `values` into the cache: the next block of a frame, read after the
/// current block's products, which take long enough that the hardware prefetcher does not
/// keep ahead (measured: 1 and 16 masks 10-30 % more per CPU second, 64 masks unchanged).
#[inline(always)]
fn prefetch<S>(values: &[S]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(values);
        let base = values.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: SSE is part of every x86-64 CPU; a prefetch reads nothing and cannot
            // fault (the address lies inside `values` anyway).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(offset)) };
        }
    }
}

/// From this many dense masks on, tiles of [`MANY_MASKS_TILE_BYTES`] (see
/// [`ApplyMasksUdf::min_tile_bytes`](Udf::min_tile_bytes)).
const MANY_MASKS: usize = 32;
/// Sixteen 256x256 float32 frames.
const MANY_MASKS_TILE_BYTES: usize = 4 << 20;

/// Frames converted and multiplied together: each load of a mask's values serves four frames.
const FRAMES: usize = 4;

/// One pixel block of the `n` blocked masks (see [`stack_index`]): the pixels
/// `at..at + len` of the block.
pub(crate) struct Weights<'a, R> {
    block: &'a [R],
    n: usize,
    at: usize,
    len: usize,
}

impl<R: MaskElem> Weights<'_, R> {
    /// Mask `m`'s values, contiguous: a slice of the block, or (interleaved pairs) gathered
    /// into `buf`.
    #[inline(always)]
    fn mask<'b>(&'b self, m: usize, buf: &'b mut [R; BLOCK]) -> &'b [R] {
        if R::PAIRED && m < self.n / 2 * 2 {
            let out = &mut buf[..self.len];
            for (j, v) in out.iter_mut().enumerate() {
                *v = self.block[stack_index(true, self.n, m, 0, self.at + j)];
            }
            out
        } else {
            self.plain(m)
        }
    }

    /// The values of a mask stored plain (not in an interleaved pair).
    #[inline(always)]
    fn plain(&self, m: usize) -> &[R] {
        &self.block[m * BLOCK + self.at..][..self.len]
    }

    /// The interleaved values of the pair of masks `2p`, `2p + 1` from the group of `LANES`
    /// pixels holding `at` on (see [`stack_index`]).
    #[inline(always)]
    fn pair(&self, p: usize) -> &[R] {
        &self.block[2 * p * BLOCK + self.at / LANES * 2 * LANES..(2 * p + 2) * BLOCK]
    }
}

/// The array of the first `len` values of every frame buffer.
#[inline(always)]
fn array_of<R, const F: usize>(x: &[[R; BLOCK]; F], len: usize) -> [&[R]; F] {
    std::array::from_fn(|f| &x[f][..len])
}

/// `acc[f * n + m] += x[f] . w.mask(m)` for the `F` frames `x` and every mask `m < n`, one
/// mask at a time (the compiler vectorises one mask against `F` frames, not more).
#[inline(always)]
fn multiply_generic<R: MaskElem, const F: usize>(
    acc: &mut [R::Wide],
    x: [&[R]; F],
    n: usize,
    w: &Weights<'_, R>,
) {
    let mut add = |m: usize, d: [[R; 1]; F]| {
        for (f, row) in d.iter().enumerate() {
            acc[f * n + m] += row[0].widen();
        }
    };
    if R::PAIRED && n >= 2 {
        let mut buf = [R::default(); BLOCK];
        for m in 0..n {
            add(m, micro::<R, F, 1>(x, [w.mask(m, &mut buf)]));
        }
    } else {
        for m in 0..n {
            add(m, micro::<R, F, 1>(x, [w.plain(m)]));
        }
    }
}

/// The `F x M` dot products of the frames `x` with the masks `w` (all slices of one length),
/// each in `LANES` partial sums across the block, products rounded before they are added; at
/// the end the products past the last whole group of lanes, then the lanes in order, are added
/// to zero. [`avx`] computes the same sums in the same order, so every instruction set gives
/// the same bits.
#[inline(always)]
fn micro<R: MaskElem, const F: usize, const M: usize>(x: [&[R]; F], w: [&[R]; M]) -> [[R; M]; F] {
    std::array::from_fn(|f| std::array::from_fn(|k| dot(x[f], w[k])))
}

/// One dot product of [`micro`] (one accumulator array: the form the compiler vectorises).
#[inline(always)]
fn dot<R: MaskElem>(x: &[R], w: &[R]) -> R {
    let whole = x.len().min(w.len()) / LANES * LANES;
    let mut lanes = [R::default(); LANES];
    for (xc, wc) in x[..whole]
        .chunks_exact(LANES)
        .zip(w[..whole].chunks_exact(LANES))
    {
        for l in 0..LANES {
            lanes[l] += xc[l] * wc[l];
        }
    }
    fold(&lanes, x, w, whole)
}

/// The products of `x` and `w` from `whole` on, then `lanes` in order, added to zero.
#[inline(always)]
fn fold<R: MaskElem>(lanes: &[R; LANES], x: &[R], w: &[R], whole: usize) -> R {
    let mut t = R::default();
    for (&a, &b) in x[whole..].iter().zip(&w[whole..]) {
        t += a * b;
    }
    for &l in lanes {
        t += l;
    }
    t
}

/// The float32 product with AVX intrinsics, two masks against `F` frames at a time (the
/// compiler's vectoriser does not keep more than one mask's accumulators in registers): four
/// frames by two masks is eight vector accumulators and six loaded vectors, within the sixteen
/// registers. Multiplications and additions stay separate (no FMA), as in [`micro`], for the
/// same bits on every instruction set; on AMD Zen they issue on separate pipes and measured as
/// fast as FMA here.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{fold, Weights, BLOCK, LANES};
    #[allow(
        clippy::wildcard_imports,
        reason = "the intrinsics, by their Intel names"
    )]
    use std::arch::x86_64::*;

    /// Masks multiplied together.
    const MASKS: usize = 2;

    /// True if the CPU has AVX and `FERROTEM_SIMD` does not rule it out.
    pub(super) fn available() -> bool {
        matches!(crate::simd::instruction_set(), "avx" | "avx2" | "avx512")
    }

    /// See [`super::MaskElem::multiply`].
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn multiply<const F: usize>(
        acc: &mut [f64],
        frames: [&[f32]; F],
        n_masks: usize,
        weights: &Weights<'_, f32>,
    ) {
        let mut add = |first: usize, sums: &[[f32; MASKS]; F], count: usize| {
            for (f, row) in sums.iter().enumerate() {
                for (k, &v) in row[..count].iter().enumerate() {
                    acc[f * n_masks + first + k] += f64::from(v);
                }
            }
        };
        for pair in 0..n_masks / MASKS {
            let sums = if weights.at % LANES == 0 {
                micro_pair::<F>(frames, weights.pair(pair))
            } else {
                // a tile that starts inside a group of LANES pixels: the pair's values
                // gathered, the same products (the buffers only here: zeroing them for every
                // call cost a sixth of the time with one mask)
                let [b0, b1] = &mut [[0.0f32; super::BLOCK]; MASKS];
                let masks = [
                    weights.mask(MASKS * pair, b0),
                    weights.mask(MASKS * pair + 1, b1),
                ];
                micro_avx::<F, MASKS>(frames, masks)
            };
            add(MASKS * pair, &sums, MASKS);
        }
        if n_masks % MASKS == 1 {
            let last = n_masks - 1;
            let sums = micro_avx::<F, 1>(frames, [weights.plain(last)]);
            let sums: [[f32; MASKS]; F] = std::array::from_fn(|f| [sums[f][0], 0.0]);
            add(last, &sums, 1);
        }
    }

    /// [`micro_avx`] of the two masks of `pair`, their values interleaved by groups of LANES
    /// pixels from the start of `pair` on (see [`super::stack_index`]).
    #[inline]
    #[target_feature(enable = "avx")]
    #[allow(
        clippy::needless_range_loop,
        reason = "`k` is the mask's place in the stream and in the accumulators"
    )]
    fn micro_pair<const F: usize>(x: [&[f32]; F], pair: &[f32]) -> [[f32; MASKS]; F] {
        let len = x.first().map_or(0, |s| s.len());
        assert!(
            x.iter().all(|s| s.len() == len) && pair.len() >= MASKS * len.div_ceil(LANES) * LANES,
            "slices of one length, and a pair's values for each"
        );
        let whole = len / LANES * LANES;
        let mut acc = [[_mm256_setzero_ps(); MASKS]; F];
        let mut i = 0;
        while i < whole {
            let xv: [__m256; F] = std::array::from_fn(|f| {
                let at = x[f].as_ptr().wrapping_add(i);
                // SAFETY: `i + LANES <= whole <= len`, the length of every slice: `at` points
                // at LANES readable float32; the load has no alignment requirement.
                unsafe { _mm256_loadu_ps(at) }
            });
            // The line of the stream one pair on (the next pair's, or after the last pair the
            // next block's), one per step (a step reads one line of the pair): a stack of many
            // masks does not stay in L2, and the hardware prefetcher alone falls behind (a
            // prefetch reads nothing and cannot fault).
            _mm_prefetch::<_MM_HINT_T0>(pair.as_ptr().wrapping_add(MASKS * (i + BLOCK)).cast());
            for k in 0..MASKS {
                let at = pair.as_ptr().wrapping_add(MASKS * i + k * LANES);
                // SAFETY: `MASKS * i + k * LANES + LANES <= MASKS * whole <= pair.len()`.
                let wv = unsafe { _mm256_loadu_ps(at) };
                for f in 0..F {
                    acc[f][k] = _mm256_add_ps(acc[f][k], _mm256_mul_ps(xv[f], wv));
                }
            }
            i += LANES;
        }
        std::array::from_fn(|f| {
            std::array::from_fn(|k| {
                let mut lanes = [0.0f32; LANES];
                // SAFETY: `lanes` is LANES writable float32; unaligned store.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[f][k]) };
                // the products past the last whole group: mask k's part of the next group
                let tail = match len - whole {
                    0 => &[],
                    rest => &pair[MASKS * whole + k * LANES..][..rest],
                };
                fold(&lanes, &x[f][whole..], tail, 0)
            })
        })
    }

    /// [`super::micro`] for float32, in AVX registers.
    #[inline]
    #[target_feature(enable = "avx")]
    fn micro_avx<const F: usize, const M: usize>(x: [&[f32]; F], w: [&[f32]; M]) -> [[f32; M]; F] {
        let len = x.first().map_or(0, |s| s.len());
        assert!(
            x.iter().all(|s| s.len() == len) && w.iter().all(|s| s.len() == len),
            "slices of one length"
        );
        let whole = len / LANES * LANES;
        let mut acc = [[_mm256_setzero_ps(); M]; F];
        let mut i = 0;
        while i < whole {
            let xv: [__m256; F] = std::array::from_fn(|f| {
                let at = x[f].as_ptr().wrapping_add(i);
                // SAFETY: `i + LANES <= whole <= len`, the length of every slice: `at` points
                // at LANES readable float32; the load has no alignment requirement.
                unsafe { _mm256_loadu_ps(at) }
            });
            for k in 0..M {
                let at = w[k].as_ptr().wrapping_add(i);
                // SAFETY: as above.
                let wv = unsafe { _mm256_loadu_ps(at) };
                for f in 0..F {
                    acc[f][k] = _mm256_add_ps(acc[f][k], _mm256_mul_ps(xv[f], wv));
                }
            }
            i += LANES;
        }
        std::array::from_fn(|f| {
            std::array::from_fn(|k| {
                let mut lanes = [0.0f32; LANES];
                // SAFETY: `lanes` is LANES writable float32; unaligned store.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[f][k]) };
                fold(&lanes, x[f], w[k], whole)
            })
        })
    }
}

/// The sparse product over the tile's rows (`width` values, `stride` apart, of the frame's
/// `pixels`): `acc[f * n + m] += x[f] . mask m` over the runs inside `pixels`, each run summed
/// in the result dtype and added in double precision.
struct SparseRuns<'a, S, R: MaskElem> {
    acc: &'a mut [R::Wide],
    data: &'a [S],
    width: usize,
    stride: usize,
    runs: &'a Runs<R>,
    n: usize,
    pixels: &'a Range<usize>,
}

impl<S: CastTo<R> + Copy, R: MaskElem> Kernel for SparseRuns<'_, S, R> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let (start, end) = (self.pixels.start, self.pixels.end);
        let rows = self
            .data
            .chunks(self.stride.max(self.width))
            .filter_map(|c| c.get(..self.width));
        for (f, row) in rows.enumerate() {
            for m in 0..self.n {
                let runs = &self.runs.list[self.runs.by_mask[m]..self.runs.by_mask[m + 1]];
                // Runs end in increasing order: the first that reaches into the tile.
                let first = runs.partition_point(|r| r.start + r.len <= start);
                let mut total = R::Wide::default();
                for r in runs[first..].iter().take_while(|r| r.start < end) {
                    let lo = r.start.max(start);
                    let hi = (r.start + r.len).min(end);
                    let w = &self.runs.weights[r.at + lo - r.start..][..hi - lo];
                    total += dot_cast(&row[lo - start..hi - start], w).widen();
                }
                self.acc[f * self.n + m] += total;
            }
        }
    }
}

/// The dot product of stored values `x` (converted on the fly) and weights `w` (the same
/// length), in `LANES` partial sums as [`dot`].
#[inline(always)]
fn dot_cast<S: CastTo<R> + Copy, R: MaskElem>(x: &[S], w: &[R]) -> R {
    let whole = x.len().min(w.len()) / LANES * LANES;
    let mut lanes = [R::default(); LANES];
    for (xc, wc) in x[..whole]
        .chunks_exact(LANES)
        .zip(w[..whole].chunks_exact(LANES))
    {
        for l in 0..LANES {
            lanes[l] += xc[l].cast() * wc[l];
        }
    }
    let mut t = R::default();
    for (&a, &b) in x[whole..].iter().zip(&w[whole..]) {
        t += a.cast() * b;
    }
    for l in lanes {
        t += l;
    }
    t
}

impl ApplyMasksUdf {
    /// Builds the UDF from its declaration: either `masks`, a dense `(n_masks, sig_size)`
    /// array, or a CSR matrix over pixels (`pixels`, `indptr`, `indices`, `data`) with
    /// `n_masks` and `sig_size`; the masks' dtype is the result dtype.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter for a missing, ill-typed or
    /// inconsistent one.
    pub fn from_spec(spec: &NativeSpec) -> Result<Box<dyn NativeUdf>> {
        if spec.get("masks").is_some() {
            spec.only(&["masks"])?;
            let a = spec.array("masks")?;
            let [n_masks, sig_size] = a.shape[..] else {
                return Err(Error::param(
                    "masks",
                    format!("shape {:?}", a.shape),
                    "a 2-D (masks, pixels) array",
                ));
            };
            let ArrayData::Typed(v) = &a.data else {
                return Err(Error::param(
                    "masks",
                    "integers",
                    "float or complex weights",
                ));
            };
            return Ok(Box::new(Self::dense(v.clone(), n_masks, sig_size)?));
        }
        spec.only(&["pixels", "indptr", "indices", "data", "n_masks", "sig_size"])?;
        let count = |name: &str| match spec.get(name) {
            Some(ParamValue::Int(v)) if *v >= 0 => usize::try_from(*v)
                .map_err(|_| Error::param(name, v, "a count that fits this machine")),
            other => Err(Error::param(name, format!("{other:?}"), "an integer >= 0")),
        };
        let n_masks = count("n_masks")?;
        let sig_size = count("sig_size")?;
        let indices = |name: &str, below: usize| -> Result<Vec<usize>> {
            match &spec.array(name)?.data {
                ArrayData::I64(v) => v
                    .iter()
                    .map(|&i| {
                        usize::try_from(i)
                            .ok()
                            .filter(|&u| u < below)
                            .ok_or_else(|| Error::param(name, i, format!("indices in 0..{below}")))
                    })
                    .collect(),
                ArrayData::Typed(_) => Err(Error::param(name, "floats", "int64 indices")),
            }
        };
        let pixels = indices("pixels", sig_size)?;
        let masks = indices("indices", n_masks)?;
        let ptr = indices("indptr", masks.len() + 1)?;
        let ordered = pixels.windows(2).all(|w| w[0] < w[1])
            && ptr.len() == pixels.len() + 1
            && ptr.first() == Some(&0)
            && ptr.last() == Some(&masks.len())
            && ptr.windows(2).all(|w| w[0] <= w[1]);
        if !ordered {
            return Err(Error::param(
                "pixels/indptr",
                "inconsistent",
                "strictly increasing pixels and an indptr of one more entry, from 0 to the \
                 number of weights, non-decreasing",
            ));
        }
        let ArrayData::Typed(data) = &spec.array("data")?.data else {
            return Err(Error::param("data", "integers", "float or complex weights"));
        };
        if data.len() != masks.len() {
            return Err(Error::param(
                "data",
                format!("{} weights", data.len()),
                format!("one per index ({})", masks.len()),
            ));
        }
        let stack = match data.clone() {
            TypedVec::F32(v) => AnyStack::F32(Stack::Sparse(Runs::from_csr(
                n_masks, &pixels, &ptr, &masks, &v,
            ))),
            TypedVec::F64(v) => AnyStack::F64(Stack::Sparse(Runs::from_csr(
                n_masks, &pixels, &ptr, &masks, &v,
            ))),
            TypedVec::C64(v) => AnyStack::C64(Stack::Sparse(Runs::from_csr(
                n_masks, &pixels, &ptr, &masks, &v,
            ))),
            TypedVec::C128(v) => AnyStack::C128(Stack::Sparse(Runs::from_csr(
                n_masks, &pixels, &ptr, &masks, &v,
            ))),
        };
        Ok(Box::new(ApplyMasksUdf {
            n_masks,
            sig_size,
            stack,
            by_pixel: OnceLock::new(),
        }))
    }

    /// Dense masks: `masks` holds `n_masks * sig_size` weights, mask after mask, in the result
    /// dtype.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`masks`) if the number of weights is not
    /// `n_masks * sig_size`.
    pub fn dense(masks: TypedVec, n_masks: usize, sig_size: usize) -> Result<Self> {
        if Some(masks.len()) != n_masks.checked_mul(sig_size) {
            return Err(Error::param(
                "masks",
                format!("{} weights", masks.len()),
                format!("{n_masks} masks of {sig_size} pixels"),
            ));
        }
        let stack = match masks {
            TypedVec::F32(v) => AnyStack::F32(Stack::Dense(blocked(&v, n_masks, sig_size))),
            TypedVec::F64(v) => AnyStack::F64(Stack::Dense(blocked(&v, n_masks, sig_size))),
            TypedVec::C64(v) => AnyStack::C64(Stack::Dense(blocked(&v, n_masks, sig_size))),
            TypedVec::C128(v) => AnyStack::C128(Stack::Dense(blocked(&v, n_masks, sig_size))),
        };
        Ok(ApplyMasksUdf {
            n_masks,
            sig_size,
            stack,
            by_pixel: OnceLock::new(),
        })
    }

    fn result_kind(&self) -> InputKind {
        match self.stack {
            AnyStack::F32(_) => InputKind::F32,
            AnyStack::F64(_) => InputKind::F64,
            AnyStack::C64(_) => InputKind::C64,
            AnyStack::C128(_) => InputKind::C128,
        }
    }

    /// Applies `stack` to the rows of one tile and adds the results into `out` (the tile's
    /// frames' entries, `depth * n_masks`).
    #[allow(clippy::too_many_arguments, reason = "one tile's geometry, spelt out")]
    fn apply<S: CastTo<R> + Copy, R: MaskElem>(
        &self,
        stack: &Stack<R>,
        out: &mut [R],
        data: &[S],
        depth: usize,
        pixels: &Range<usize>,
        stride: usize,
    ) -> Result<()> {
        let n = self.n_masks;
        let width = pixels.len();
        if pixels.end > self.sig_size || out.len() != depth * n {
            return Err(Error::udf_internal(
                self.name(),
                format!(
                    "a tile of pixels {pixels:?} and {depth} frames for masks of {} pixels",
                    self.sig_size
                ),
            ));
        }
        let mut acc: TileAcc<R> = vec![R::Wide::default(); depth * n];
        match stack {
            Stack::Dense(masks) => dispatch(DenseBlock {
                acc: &mut acc,
                data,
                width,
                stride,
                masks,
                n,
                px0: pixels.start,
            }),
            Stack::Sparse(runs) => dispatch(SparseRuns {
                acc: &mut acc,
                data,
                width,
                stride,
                runs,
                n,
                pixels,
            }),
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = o.add_total(a);
        }
        Ok(())
    }

    /// Applies the masks to stored real values (maybe byte-swapped, maybe `stride` apart);
    /// `false` for complex values or a complex result (those take the converted path).
    fn apply_stored(
        &self,
        partial: &mut TypedVec,
        data: StoredData<'_>,
        swapped: bool,
        at: (usize, usize, &Range<usize>, usize),
    ) -> Result<bool> {
        let (offset, depth, pixels, stride) = at;
        let rows = offset * self.n_masks..(offset + depth) * self.n_masks;
        let mut result = Ok(());
        let took = match (&self.stack, partial) {
            (AnyStack::F32(s), TypedVec::F32(out)) => crate::for_real_stored!(data, swapped, |d| {
                result = self.apply(s, &mut out[rows], d, depth, pixels, stride);
            }),
            (AnyStack::F64(s), TypedVec::F64(out)) => crate::for_real_stored!(data, swapped, |d| {
                result = self.apply(s, &mut out[rows], d, depth, pixels, stride);
            }),
            _ => false,
        };
        result.map(|()| took)
    }
}

impl Udf for ApplyMasksUdf {
    type Partial = TypedVec;
    type Output = TypedVec;

    fn name(&self) -> &'static str {
        "ApplyMasksUDF"
    }

    /// Many dense masks: tiles of at least sixteen frames, so that a block of every mask is
    /// read from memory once per sixteen frames rather than four (a stack of 32 or more masks
    /// of 256x256 float32 values does not stay in the cache between tiles). Measured with 64
    /// masks (`examples/masks_speed`, `TILE_BYTES`): float32 +55 %, uint16 +5 %; with 16 masks
    /// no change, so fewer masks keep the default.
    fn min_tile_bytes(&self) -> Option<usize> {
        let dense = matches!(
            self.stack,
            AnyStack::F32(Stack::Dense(_))
                | AnyStack::F64(Stack::Dense(_))
                | AnyStack::C64(Stack::Dense(_))
                | AnyStack::C128(Stack::Dense(_))
        );
        (dense && self.n_masks >= MANY_MASKS).then_some(MANY_MASKS_TILE_BYTES)
    }

    fn process_csr_tile(&self, partial: &mut TypedVec, tile: &CsrTile<'_>) -> Result<bool> {
        let n = self.n_masks;
        if tile.sig_size != self.sig_size {
            return Err(Error::udf_internal(
                self.name(),
                format!(
                    "a tile of frames of {} pixels for masks of {} pixels",
                    tile.sig_size, self.sig_size
                ),
            ));
        }
        let rows = tile.offset * n..(tile.offset + tile.depth()) * n;
        let by_pixel = self.by_pixel.get_or_init(|| match &self.stack {
            AnyStack::F32(s) => AnyByPixel::F32(ByPixel::of(s, n, self.sig_size)),
            AnyStack::F64(s) => AnyByPixel::F64(ByPixel::of(s, n, self.sig_size)),
            AnyStack::C64(_) | AnyStack::C128(_) => AnyByPixel::Complex,
        });
        let bad = || Error::udf_internal("ApplyMasksUDF", "a sparse tile outside the partial");
        let (ptr, px) = (tile.rows.indptr, tile.rows.indices);
        Ok(match (by_pixel, partial) {
            (AnyByPixel::F32(b), TypedVec::F32(out)) => {
                let out = out.get_mut(rows).ok_or_else(bad)?;
                crate::for_real_stored!(tile.rows.data, false, |d| b.apply_csr(n, out, ptr, px, d))
            }
            (AnyByPixel::F64(b), TypedVec::F64(out)) => {
                let out = out.get_mut(rows).ok_or_else(bad)?;
                crate::for_real_stored!(tile.rows.data, false, |d| b.apply_csr(n, out, ptr, px, d))
            }
            _ => false,
        })
    }

    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(self.result_kind(), part.n_frames * self.n_masks)
    }

    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) -> Result<()> {
        let (depth, px) = (tile.depth, &tile.pixels);
        let rows = tile.offset * self.n_masks..(tile.offset + depth) * self.n_masks;
        let w = px.len();
        match (&self.stack, partial, tile.data) {
            (AnyStack::F32(s), TypedVec::F32(o), TileData::F32(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::F64(s), TypedVec::F64(o), TileData::F32(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::F64(s), TypedVec::F64(o), TileData::F64(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C64(s), TypedVec::C64(o), TileData::F32(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C64(s), TypedVec::C64(o), TileData::C64(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C128(s), TypedVec::C128(o), TileData::F32(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C128(s), TypedVec::C128(o), TileData::F64(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C128(s), TypedVec::C128(o), TileData::C64(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (AnyStack::C128(s), TypedVec::C128(o), TileData::C128(d)) => {
                self.apply(s, &mut o[rows], d, depth, px, w)
            }
            (_, partial, data) => Err(Error::udf_internal(
                self.name(),
                format!(
                    "a {:?} tile for a {:?} result (the result dtype is at least the input's)",
                    data.kind(),
                    partial.kind()
                ),
            )),
        }
    }

    fn process_stored_tile(&self, partial: &mut TypedVec, tile: &StoredTile<'_>) -> bool {
        let at = (tile.offset, tile.depth, &tile.pixels, tile.pixels.len());
        // An error here (a tile outside the masks) is met again, and reported, on the
        // converted path.
        self.apply_stored(partial, tile.data, false, at)
            .unwrap_or(false)
    }

    fn process_stored_frames(&self, partial: &mut TypedVec, tile: &StoredFramesTile<'_>) -> bool {
        let at = (tile.offset, tile.depth, &tile.pixels, tile.stride);
        self.apply_stored(partial, tile.data, tile.swapped, at)
            .unwrap_or(false)
    }

    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        TypedVec::zeros(self.result_kind(), run.n_frames as usize * self.n_masks)
    }

    fn merge(
        &self,
        output: &mut TypedVec,
        part: &PartitionInfo<'_>,
        partial: TypedVec,
    ) -> Result<()> {
        output
            .copy_into(part.compressed_start as usize * self.n_masks, &partial)
            .map_err(|e| Error::udf_internal(self.name(), format!("merge: {e}")))
    }
}

/// numpy's `result_type` of two input kinds.
fn promote(a: InputKind, b: InputKind) -> InputKind {
    use InputKind::{C128, C64, F32, F64};
    let complex = matches!(a, C64 | C128) || matches!(b, C64 | C128);
    let double = matches!(a, F64 | C128) || matches!(b, F64 | C128);
    match (complex, double) {
        (false, false) => F32,
        (false, true) => F64,
        (true, false) => C64,
        (true, true) => C128,
    }
}

impl NativeUdf for ApplyMasksUdf {
    fn udf(&self) -> &dyn DynUdf {
        self
    }

    /// The result dtype is numpy's promotion of the input and mask dtypes; the caller passes
    /// masks already in it, so a declaration with masks of a narrower dtype than the input
    /// differs from this and is refused.
    fn results(&self, input: InputKind) -> Vec<ResultDecl> {
        vec![ResultDecl {
            name: "intensity".into(),
            kind: ResultKind::Nav,
            dtype: promote(input, self.result_kind()),
            extra_shape: vec![self.n_masks],
        }]
    }

    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>> {
        super::native::single_result(self, output)
    }
}

#[cfg(test)]
mod tests {
    use super::{AnyStack, ApplyMasksUdf, Runs, Stack, BLOCK};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A CSR stack over `sig_size` pixels: per pixel, the (mask, weight) pairs drawn (a mask
    /// may repeat within a pixel: both weights count). Weights are multiples of 1/4.
    fn csr_stack(
        n: usize,
        sig_size: usize,
    ) -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<f32>)> {
        let entry = (0..n, -3i8..8).prop_map(|(m, w)| (m, f32::from(w) / 4.0));
        proptest::collection::vec(proptest::collection::vec(entry, 0..3), sig_size).prop_map(
            |rows| {
                let (mut pixels, mut ptr, mut masks, mut data) = (vec![], vec![0], vec![], vec![]);
                for (p, row) in rows.into_iter().enumerate() {
                    if row.is_empty() {
                        continue;
                    }
                    pixels.push(p);
                    for (m, w) in row {
                        masks.push(m);
                        data.push(w);
                    }
                    ptr.push(masks.len());
                }
                (pixels, ptr, masks, data)
            },
        )
    }

    /// Runs are cut at a block's length; a weight given twice for one pixel (pixel 5) ends
    /// the run and starts the next, and both count.
    #[test]
    fn long_runs_are_cut_at_a_block_and_repeats_count() {
        let pixels: Vec<usize> = (0..3000).collect();
        let mut ptr = vec![0];
        let (mut masks, mut data) = (vec![], vec![]);
        for p in 0..3000 {
            masks.push(0);
            data.push(1.0f32);
            if p == 5 {
                masks.push(0);
                data.push(0.5);
            }
            ptr.push(masks.len());
        }
        let runs = Runs::from_csr(1, &pixels, &ptr, &masks, &data);
        let lens: Vec<usize> = runs.list.iter().map(|r| r.len).collect();
        assert_eq!(lens, [6, 1024, 1024, 947]);
        let udf = ApplyMasksUdf {
            n_masks: 1,
            sig_size: 3000,
            stack: AnyStack::F32(Stack::Sparse(runs)),
            by_pixel: OnceLock::new(),
        };
        let AnyStack::F32(stack) = &udf.stack else {
            unreachable!()
        };
        let values: Vec<u16> = (0..3000u16).collect();
        let mut out = [0.0f32];
        udf.apply(stack, &mut out, &values, 1, &(0..3000), 3000)
            .unwrap();
        // Integers below 2^24 and a half: every partial sum is exact in float32.
        assert_eq!(out[0].to_bits(), 4_498_502.5f32.to_bits());
    }

    /// Tiles of sixteen frames are asked for from 32 dense masks on, not for sparse ones.
    #[test]
    fn many_dense_masks_ask_for_larger_tiles() {
        use super::super::Udf;
        let dense = |n: usize| {
            ApplyMasksUdf::dense(super::TypedVec::F32(vec![1.0; n * 16]), n, 16).unwrap()
        };
        assert_eq!(dense(31).min_tile_bytes(), None);
        assert_eq!(dense(32).min_tile_bytes(), Some(4 << 20));
        let runs = Runs::from_csr(40, &[0], &[0, 1], &[39], &[1.0f32]);
        let sparse = ApplyMasksUdf {
            n_masks: 40,
            sig_size: 16,
            stack: AnyStack::F32(Stack::Sparse(runs)),
            by_pixel: OnceLock::new(),
        };
        assert_eq!(sparse.min_tile_bytes(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The AVX product (pairs of masks, interleaved) gives the same bits as the generic
        /// one, for four frames and for one, an odd number of masks (a pair and a single
        /// one), any length up to a block (products past the last whole group of lanes) and
        /// any start in the block (a group's first pixel, or inside one: the pair gathered);
        /// values whose float32 sums round.
        #[cfg(target_arch = "x86_64")]
        #[test]
        fn avx_product_has_the_generic_bits(
            n in 1usize..6,
            (at, len) in (0..BLOCK, any::<bool>())
                .prop_map(|(at, aligned)| if aligned { at / 8 * 8 } else { at })
                .prop_flat_map(|at| (Just(at), prop_oneof![Just(BLOCK - at), 1..=BLOCK - at])),
            seed in any::<u64>(),
        ) {
            use super::{multiply_generic, Weights};
            if !super::avx::available() {
                // nothing to compare below AVX (FERROTEM_SIMD=baseline): the case passes
                // rather than being rejected, which proptest would count as a failure
                return Ok(());
            }
            let mut state = seed | 1;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                #[allow(clippy::cast_precision_loss, reason = "24-bit values, exact")]
                let v = (state >> 40) as f32;
                v / 4096.0 - 2000.0
            };
            let frames: Vec<Vec<f32>> = (0..4).map(|_| (0..len).map(|_| next()).collect()).collect();
            let block: Vec<f32> = (0..n * BLOCK).map(|_| next()).collect();
            let w = Weights { block: &block, n, at, len };
            let x4: [&[f32]; 4] = std::array::from_fn(|f| &frames[f][..]);
            let (mut avx, mut generic) = (vec![0.0f64; 4 * n], vec![0.0f64; 4 * n]);
            // SAFETY: `available` checked that the CPU has AVX.
            unsafe { super::avx::multiply(&mut avx, x4, n, &w) };
            multiply_generic(&mut generic, x4, n, &w);
            let (mut avx1, mut generic1) = (vec![0.0f64; n], vec![0.0f64; n]);
            // SAFETY: as above.
            unsafe { super::avx::multiply(&mut avx1, [&frames[0][..]], n, &w) };
            multiply_generic(&mut generic1, [&frames[0][..]], n, &w);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&avx), bits(&generic));
            prop_assert_eq!(bits(&avx1), bits(&generic1));
        }

        /// Sparse runs against a float64 product over the CSR entries, on tiles that start
        /// anywhere in the frame, with rows apart, and frames large enough for runs longer
        /// than a block.
        #[test]
        fn sparse_runs_match_the_csr_product(
            (n, sig_size, stack, frames, tile) in (1usize..5, 1usize..2600).prop_flat_map(
                |(n, sig)| (
                    Just(n),
                    Just(sig),
                    csr_stack(n, sig),
                    1usize..6,
                    (0..sig, 0..sig, 0usize..3),
                ),
            ),
            seed in any::<u64>(),
        ) {
            let (pixels, ptr, masks, data) = stack;
            let (a, b, gap) = tile;
            let range = a.min(b)..a.max(b) + 1;
            let stride = range.len() + gap;
            let mut state = seed | 1;
            let values: Vec<u16> = (0..frames * stride)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    u16::try_from(state % 4096).unwrap_or(0)
                })
                .collect();
            let runs = Runs::from_csr(n, &pixels, &ptr, &masks, &data);
            prop_assert!(runs.list.iter().all(|r| r.len <= BLOCK));
            let udf = ApplyMasksUdf {
                n_masks: n,
                sig_size,
                stack: AnyStack::F32(Stack::Sparse(runs)),
                by_pixel: OnceLock::new(),
            };
            let AnyStack::F32(stack) = &udf.stack else { unreachable!() };
            let mut out = vec![0.0f32; frames * n];
            udf.apply(stack, &mut out, &values, frames, &range, stride).unwrap();
            for f in 0..frames {
                let mut want = vec![0.0f64; n];
                let mut scale = vec![0.0f64; n];
                for (r, &p) in pixels.iter().enumerate() {
                    if !range.contains(&p) {
                        continue;
                    }
                    let x = f64::from(values[f * stride + p - range.start]);
                    for k in ptr[r]..ptr[r + 1] {
                        want[masks[k]] += x * f64::from(data[k]);
                        scale[masks[k]] += (x * f64::from(data[k])).abs();
                    }
                }
                for m in 0..n {
                    // A run's sum in float32 (at most BLOCK terms), then float64: within
                    // gamma(BLOCK + 1) of the sum of magnitudes, plus the final rounding.
                    let u = f64::from(f32::EPSILON) / 2.0;
                    let tol = (1025.0 * u / (1.0 - 1025.0 * u) + u) * scale[m];
                    let got = f64::from(out[f * n + m]);
                    prop_assert!(
                        (got - want[m]).abs() <= tol,
                        "frame {} mask {}: {} vs {} (tolerance {})", f, m, got, want[m], tol
                    );
                }
            }
        }
    }
}
