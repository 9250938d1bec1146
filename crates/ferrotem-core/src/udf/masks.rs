//! `ApplyMasksUDF`: one weighted sum per frame and mask (virtual detectors), result
//! `intensity` of kind `nav` with one entry per mask.
//!
//! Dense masks are a matrix product of each tile `(frames, pixels)` with the stack
//! `(masks, pixels)`, blocked so that a block of every mask stays in cache (L2) while the
//! frames of the tile stream past it; each frame's block is converted from its stored dtype
//! once, into a small buffer, and then used by every mask (conversion fused, no converted
//! tile). Sparse masks are a
//! CSR matrix over the pixels that any mask touches, so that only those pixels are read.
//!
//! Values are multiplied in the result dtype `R` (numpy's `result_type(input dtype, mask
//! dtype)`); each block's products are summed in `R` over sixteen lanes and the blocks of a tile
//! are added in double precision, then rounded into the result once per tile.
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel and what it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use super::native::{ArrayData, NativeSpec, NativeUdf, ParamValue, ResultDecl, ResultKind};
use super::{
    DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile, TileData, Udf,
};
use crate::buffer::{InputKind, TypedVec};
use crate::convert::CastTo;
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::any::Any;
use std::ops::{Add, AddAssign, Mul, Range};

/// Pixels per block: a block of 16 float32 masks is 64 KiB (in L2). Each dot product ends in a
/// chain of dependent additions of its lanes; 1024 pixels amortise it (+15 % over 256 pixels
/// at 16 masks).
const BLOCK: usize = 1024;
/// Independent partial sums per dot product.
const LANES: usize = 16;

/// A result element: products are formed and summed per block in `Self`, blocks are added in
/// `Wide`.
pub(crate) trait MaskElem:
    Copy + Default + Send + Sync + Add<Output = Self> + Mul<Output = Self> + AddAssign + 'static
{
    /// The double-precision accumulator.
    type Wide: Copy + Default + AddAssign + Send;
    /// `self` in double precision.
    fn widen(self) -> Self::Wide;
    /// `self + total`, `total` rounded once.
    fn add_total(self, total: Self::Wide) -> Self;
}

impl MaskElem for f32 {
    type Wide = f64;
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

/// Sparse masks as a CSR matrix of shape `(pixels, masks)` restricted to the pixels with at
/// least one non-zero weight: row `r` is pixel `pixels[r]`, its weights `data[ptr[r]..ptr[r+1]]`
/// for the masks `masks[..]` at the same positions.
#[derive(Debug, Clone)]
struct Csr<R> {
    pixels: Vec<usize>,
    ptr: Vec<usize>,
    masks: Vec<usize>,
    data: Vec<R>,
}

/// Dense masks (mask after mask) in the blocked layout of [`Stack::Dense`].
fn blocked<R: Copy + Default>(masks: &[R], n: usize, sig_size: usize) -> Vec<R> {
    let blocks = sig_size.div_ceil(BLOCK);
    let mut out = vec![R::default(); blocks * n * BLOCK];
    for (m, mask) in masks.chunks_exact(sig_size.max(1)).enumerate().take(n) {
        for (b, part) in mask.chunks(BLOCK).enumerate() {
            out[(b * n + m) * BLOCK..][..part.len()].copy_from_slice(part);
        }
    }
    out
}

/// A CSR stack with the index arrays of `pixels`, `ptr` and `masks` and the weights `data`.
fn csr<R>(pixels: &[usize], ptr: &[usize], masks: &[usize], data: Vec<R>) -> Csr<R> {
    Csr {
        pixels: pixels.to_vec(),
        ptr: ptr.to_vec(),
        masks: masks.to_vec(),
        data,
    }
}

/// The stack in one result dtype.
#[derive(Debug, Clone)]
enum Stack<R> {
    /// Blocked: block `b` of every mask lies together, `blocked[(b * n + m) * BLOCK + i]` is
    /// pixel `b * BLOCK + i` of mask `m` (the last block padded with zeros). Stored mask after
    /// mask, the blocks of one block index would be a frame apart and alias in the L1 cache
    /// (16 masks of 256x256 pixels: a third of the speed).
    Dense(Vec<R>),
    Sparse(Csr<R>),
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
        let mut x = [R::default(); BLOCK];
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
            for (f, row) in rows.clone().enumerate() {
                for (xi, &v) in x[..len].iter_mut().zip(&row[lo - start..hi - start]) {
                    *xi = v.cast();
                }
                let acc = &mut self.acc[f * self.n..][..self.n];
                let mut m = 0;
                // Four masks at a time share each load of the frame's values.
                while m + 4 <= self.n {
                    let w = |k: usize| &weights[(m + k) * BLOCK + in_block..][..len];
                    let d = dot4(&x[..len], [w(0), w(1), w(2), w(3)]);
                    for k in 0..4 {
                        acc[m + k] += d[k].widen();
                    }
                    m += 4;
                }
                while m < self.n {
                    let w = &weights[m * BLOCK + in_block..][..len];
                    acc[m] += dot(&x[..len], w).widen();
                    m += 1;
                }
            }
            block += 1;
        }
    }
}

/// Four dot products of `x` with `w[k]` (all of `x`'s length). (Interleaving the four in one
/// loop, so that each load of `x` serves four masks, measured no faster.)
#[inline(always)]
fn dot4<R: MaskElem>(x: &[R], w: [&[R]; 4]) -> [R; 4] {
    [dot(x, w[0]), dot(x, w[1]), dot(x, w[2]), dot(x, w[3])]
}

/// The dot product of `x` and `w` (the same length), `LANES` partial sums.
#[inline(always)]
fn dot<R: MaskElem>(x: &[R], w: &[R]) -> R {
    let mut lanes = [R::default(); LANES];
    let mut xs = x.chunks_exact(LANES);
    let mut ws = w.chunks_exact(LANES);
    for (xc, wc) in (&mut xs).zip(&mut ws) {
        for k in 0..LANES {
            lanes[k] += xc[k] * wc[k];
        }
    }
    let mut t = R::default();
    for (&a, &b) in xs.remainder().iter().zip(ws.remainder()) {
        t += a * b;
    }
    for l in lanes {
        t += l;
    }
    t
}

/// The sparse product over the tile's rows: `acc[f * n + m] += x[f][p] * weight` for every
/// stored weight of a pixel `p` inside the tile's pixel range.
fn sparse_rows<S: CastTo<R> + Copy, R: MaskElem>(
    acc: &mut [R::Wide],
    data: &[S],
    width: usize,
    stride: usize,
    csr: &Csr<R>,
    n: usize,
    pixels: &Range<usize>,
) {
    let first = csr.pixels.partition_point(|&p| p < pixels.start);
    let last = csr.pixels.partition_point(|&p| p < pixels.end);
    let rows = data
        .chunks(stride.max(width))
        .filter_map(|c| c.get(..width));
    let mut sums = vec![R::default(); n];
    for (f, row) in rows.enumerate() {
        sums.fill(R::default());
        for r in first..last {
            let x: R = row[csr.pixels[r] - pixels.start].cast();
            for k in csr.ptr[r]..csr.ptr[r + 1] {
                sums[csr.masks[k]] += x * csr.data[k];
            }
        }
        for (a, s) in acc[f * n..][..n].iter_mut().zip(&sums) {
            *a += s.widen();
        }
    }
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
            TypedVec::F32(v) => AnyStack::F32(Stack::Sparse(csr(&pixels, &ptr, &masks, v))),
            TypedVec::F64(v) => AnyStack::F64(Stack::Sparse(csr(&pixels, &ptr, &masks, v))),
            TypedVec::C64(v) => AnyStack::C64(Stack::Sparse(csr(&pixels, &ptr, &masks, v))),
            TypedVec::C128(v) => AnyStack::C128(Stack::Sparse(csr(&pixels, &ptr, &masks, v))),
        };
        Ok(Box::new(ApplyMasksUdf {
            n_masks,
            sig_size,
            stack,
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
            Stack::Sparse(csr) => sparse_rows(&mut acc, data, width, stride, csr, n, pixels),
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
