//! The float64 oracles of the native kernels.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: panics on setup failure

use super::tolerance::{any_order_sum_tol, two_sum, unit_roundoff, Sum64, ORACLE_REL};
use super::{Expected, KernelOracle, OracleContext};
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::udf::StdDevMoments;
use num_complex::{Complex32, Complex64};
use std::any::Any;

/// Sums per pixel over frames, structure of arrays so that the loop vectorises.
struct PixelSums {
    sum: Vec<f64>,
    err: Vec<f64>,
    abs: Vec<f64>,
}

impl PixelSums {
    fn new(n: usize) -> Self {
        PixelSums {
            sum: vec![0.0; n],
            err: vec![0.0; n],
            abs: vec![0.0; n],
        }
    }

    fn add(&mut self, frame: &[f64]) {
        for (((s, e), a), &x) in self
            .sum
            .iter_mut()
            .zip(&mut self.err)
            .zip(&mut self.abs)
            .zip(frame)
        {
            let (t, r) = two_sum(*s, x);
            *s = t;
            *e += r;
            *a += x.abs();
        }
    }
}

/// One compensated sum of a whole row, in eight independent lanes (so that it vectorises).
fn row_sum(row: &[f64]) -> Sum64 {
    let mut lanes = [Sum64::default(); 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            l.add(x);
        }
    }
    let mut total = Sum64::default();
    for &x in chunks.remainder() {
        total.add(x);
    }
    for l in &lanes {
        total.merge(l);
    }
    total
}

/// Oracle of `SumUdf`: per-pixel sums over the frames, in any order.
pub struct SumOracle {
    ctx: OracleContext,
    re: PixelSums,
    im: PixelSums,
}

impl SumOracle {
    /// A boxed oracle for one run.
    pub fn boxed(ctx: &OracleContext) -> Box<dyn KernelOracle> {
        let im = if ctx.complex() { ctx.sig_size } else { 0 };
        Box::new(SumOracle {
            ctx: *ctx,
            re: PixelSums::new(ctx.sig_size),
            im: PixelSums::new(im),
        })
    }
}

impl KernelOracle for SumOracle {
    fn frame(&mut self, re: &[f64], im: &[f64]) {
        self.re.add(re);
        if self.ctx.complex() {
            self.im.add(im);
        }
    }

    fn finish(self: Box<Self>) -> Expected {
        let u = unit_roundoff(self.ctx.input);
        let n = self.ctx.n_frames;
        let mut out = Expected::default();
        let parts: Vec<&PixelSums> = if self.ctx.complex() {
            vec![&self.re, &self.im]
        } else {
            vec![&self.re]
        };
        for i in 0..self.ctx.sig_size {
            for p in &parts {
                out.want.push(p.sum[i] + p.err[i]);
                out.tol.push(any_order_sum_tol(n, u, p.abs[i]));
            }
        }
        out
    }
}

/// Oracle of `SumSigUdf`: one sum per frame. The kernel accumulates in float64 (complex128) and
/// rounds to the input dtype once per pixel range, adding that into the frame's result: at most
/// `2 k - 1` roundings of size `u Σ|x|` for `k` ranges, after float64 accumulation of `n` terms.
pub struct SumSigOracle {
    ctx: OracleContext,
    want: Vec<f64>,
    tol: Vec<f64>,
}

impl SumSigOracle {
    /// A boxed oracle for one run.
    pub fn boxed(ctx: &OracleContext) -> Box<dyn KernelOracle> {
        Box::new(SumSigOracle {
            ctx: *ctx,
            want: Vec::new(),
            tol: Vec::new(),
        })
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "a count far below 2^53, converted exactly"
    )]
    fn tol(&self, abs_sum: f64) -> f64 {
        let n = self.ctx.sig_size.saturating_sub(1) as f64;
        let u64_ = f64::EPSILON / 2.0;
        let accumulate = n * u64_ / (1.0 - n * u64_);
        let roundings = (2 * self.ctx.pixel_pieces).saturating_sub(1) as f64;
        (accumulate + roundings * unit_roundoff(self.ctx.input) + ORACLE_REL) * abs_sum
    }
}

impl KernelOracle for SumSigOracle {
    fn frame(&mut self, re: &[f64], im: &[f64]) {
        let mut parts = vec![row_sum(re)];
        if self.ctx.complex() {
            parts.push(row_sum(im));
        }
        for p in parts {
            self.want.push(p.value());
            let t = self.tol(p.abs());
            self.tol.push(t);
        }
    }

    fn finish(self: Box<Self>) -> Expected {
        Expected {
            want: self.want,
            tol: self.tol,
        }
    }
}

/// Weight of pixel `p` in mask `m` of the kernel test stack: multiples of 1/4 in
/// `[-0.75, 1.75]`, exact in every dtype, different for every mask.
#[allow(
    clippy::cast_precision_loss,
    reason = "a value below 11, converted exactly"
)]
pub fn mask_weight(m: usize, p: usize) -> f64 {
    ((p * (2 * m + 3) + m) % 11) as f64 / 4.0 - 0.75
}

/// `n` masks over `sig_size` pixels (mask after mask) of [`mask_weight`], in the result dtype
/// `input` (the masks are real; the result dtype is the input's).
#[allow(
    clippy::cast_possible_truncation,
    reason = "multiples of 1/4 below 2, exact in float32"
)]
pub fn kernel_masks(input: InputKind, n: usize, sig_size: usize) -> TypedVec {
    let w = (0..n).flat_map(|m| (0..sig_size).map(move |p| mask_weight(m, p)));
    match input {
        InputKind::F32 => TypedVec::F32(w.map(|x| x as f32).collect()),
        InputKind::F64 => TypedVec::F64(w.collect()),
        InputKind::C64 => TypedVec::C64(w.map(|x| Complex32::new(x as f32, 0.0)).collect()),
        InputKind::C128 => TypedVec::C128(w.map(|x| Complex64::new(x, 0.0)).collect()),
    }
}

/// Oracle of `ApplyMasksUdf` over [`kernel_masks`]: per frame and mask, `Σ x w`, compensated.
/// The kernel multiplies in the input dtype and sums blocks of 1024 pixels in it (at most
/// `γ(1025) Σ|x w|`), adds the blocks in float64 and rounds twice per pixel range.
pub struct MasksOracle {
    ctx: OracleContext,
    /// the weights, mask after mask
    weights: Vec<f64>,
    /// scratch: one frame's products with one mask
    products: Vec<f64>,
    want: Vec<f64>,
    tol: Vec<f64>,
}

/// Masks of the kernel case: one group of four (the kernel's register block) and two more.
pub const KERNEL_MASKS: usize = 6;

impl MasksOracle {
    /// The oracle of [`KERNEL_MASKS`] masks.
    pub fn boxed(ctx: &OracleContext) -> Box<dyn KernelOracle> {
        let weights = (0..KERNEL_MASKS)
            .flat_map(|m| (0..ctx.sig_size).map(move |p| mask_weight(m, p)))
            .collect();
        Box::new(MasksOracle {
            ctx: *ctx,
            weights,
            products: vec![0.0; ctx.sig_size],
            want: Vec::new(),
            tol: Vec::new(),
        })
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "counts far below 2^53, converted exactly"
    )]
    fn tol(&self, abs_sum: f64) -> f64 {
        let u = unit_roundoff(self.ctx.input);
        let block = 1025.0 * u / (1.0 - 1025.0 * u);
        let n = self.ctx.sig_size as f64;
        let u64_ = f64::EPSILON / 2.0;
        let roundings = (2 * self.ctx.pixel_pieces) as f64 * u;
        (block + roundings + n * u64_ + ORACLE_REL) * abs_sum
    }
}

impl KernelOracle for MasksOracle {
    fn frame(&mut self, re: &[f64], im: &[f64]) {
        let parts: &[&[f64]] = if self.ctx.complex() { &[re, im] } else { &[re] };
        // Output order: per mask, `re` (and `im`) — the flat `(frames, masks)` result.
        for w in self.weights.chunks_exact(self.ctx.sig_size.max(1)) {
            for part in parts {
                for ((y, &x), &w) in self.products.iter_mut().zip(*part).zip(w) {
                    *y = x * w; // exact for float32 input; one float64 rounding (ORACLE_REL) else
                }
                let s = row_sum(&self.products);
                self.want.push(s.value());
                let t = self.tol(s.abs());
                self.tol.push(t);
            }
        }
    }

    fn finish(self: Box<Self>) -> Expected {
        Expected {
            want: self.want,
            tol: self.tol,
        }
    }
}

/// Components of a [`TypedVec`] output (`re, im` pairs for complex kinds).
pub fn typed_vec_components(out: &dyn Any) -> Vec<f64> {
    match out.downcast_ref::<TypedVec>().expect("a TypedVec output") {
        TypedVec::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TypedVec::F64(v) => v.clone(),
        TypedVec::C64(v) => v
            .iter()
            .flat_map(|x| [f64::from(x.re), f64::from(x.im)])
            .collect(),
        TypedVec::C128(v) => v.iter().flat_map(|x| [x.re, x.im]).collect(),
    }
}

/// Frame geometry of the `CoMUdf` kernel case: `(height, width)` with the smallest width at
/// least `√sig_size` that divides it (256x256 for 65536 pixels, 250x263 for 65750).
pub fn com_geometry(sig_size: usize) -> (usize, usize) {
    let width = (1..=sig_size.max(1))
        .find(|w| w * w >= sig_size && sig_size % w == 0)
        .unwrap_or(1);
    (sig_size / width, width)
}

/// Weights of the `CoMUdf` kernel case: [`mask_weight`] over 3 (not exact in binary, so that
/// the float64 sums round), zero in the first row and in the outer eighth of every row's
/// columns (so that row spans are exercised).
#[allow(
    clippy::cast_precision_loss,
    reason = "a small weight, converted exactly"
)]
pub fn com_mask(sig_size: usize) -> Vec<f64> {
    let (_, width) = com_geometry(sig_size);
    (0..sig_size)
        .map(|p| {
            let (y, x) = (p / width, p % width);
            if y == 0 || x < width / 8 || x >= width - width / 8 {
                0.0
            } else {
                mask_weight(1, p) / 3.0
            }
        })
        .collect()
}

/// Oracle of `CoMUdf` over [`com_mask`]: per frame `Σ v m`, `Σ v (y m)`, `Σ v (x m)`,
/// compensated. The kernel sums `v m` and `v (x m)` per row in float64 (products rounded as
/// here) and multiplies the row's first sum by `y`: at most `γ(n + 3)` in float64 on the sum of
/// the magnitudes.
pub struct CoMOracle {
    ctx: OracleContext,
    /// `m`, `y m`, `x m`, pixel after pixel for each
    weights: [Vec<f64>; 3],
    products: Vec<f64>,
    want: Vec<f64>,
    tol: Vec<f64>,
}

impl CoMOracle {
    /// A boxed oracle for one run.
    #[allow(
        clippy::cast_precision_loss,
        reason = "pixel coordinates far below 2^53"
    )]
    pub fn boxed(ctx: &OracleContext) -> Box<dyn KernelOracle> {
        let (_, width) = com_geometry(ctx.sig_size);
        let m = com_mask(ctx.sig_size);
        let ym = m
            .iter()
            .enumerate()
            .map(|(p, &w)| (p / width) as f64 * w)
            .collect();
        let xm = m
            .iter()
            .enumerate()
            .map(|(p, &w)| (p % width) as f64 * w)
            .collect();
        Box::new(CoMOracle {
            ctx: *ctx,
            weights: [m, ym, xm],
            products: vec![0.0; ctx.sig_size],
            want: Vec::new(),
            tol: Vec::new(),
        })
    }
}

impl KernelOracle for CoMOracle {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a count far below 2^53, converted exactly"
    )]
    fn frame(&mut self, re: &[f64], im: &[f64]) {
        let parts: &[&[f64]] = if self.ctx.complex() { &[re, im] } else { &[re] };
        let n = (self.ctx.sig_size + 3) as f64;
        let u = f64::EPSILON / 2.0;
        for w in &self.weights {
            for part in parts {
                for ((y, &x), &w) in self.products.iter_mut().zip(*part).zip(w) {
                    *y = x * w;
                }
                let s = row_sum(&self.products);
                self.want.push(s.value());
                self.tol
                    .push((n * u / (1.0 - n * u) + ORACLE_REL) * s.abs());
            }
        }
    }

    fn finish(self: Box<Self>) -> Expected {
        Expected {
            want: self.want,
            tol: self.tol,
        }
    }
}

/// `StdDevUdf`'s `varsum` (`Σ|x - mean|²` per pixel) as output components.
pub fn stddev_varsum(out: &dyn Any) -> Vec<f64> {
    out.downcast_ref::<StdDevMoments>()
        .expect("StdDev moments")
        .varsum()
}

/// Oracle of `StdDevUdf`'s `varsum`: Welford's update per frame in float64 (another algorithm
/// than the kernel's shifted tile moments), with each pixel's range `R` and largest magnitude
/// `M`. The kernel and the oracle each make a few float64 roundings per step of terms up to
/// `n R (R + M)` (a mean's rounding times the distance of two means), so both are within
/// `γ(4 n + 64) · 16 n (R² + R M)` of the exact value.
pub struct StdDevOracle {
    ctx: OracleContext,
    n: f64,
    mean_re: Vec<f64>,
    mean_im: Vec<f64>,
    m2: Vec<f64>,
    lo: [Vec<f64>; 2],
    hi: [Vec<f64>; 2],
    mag: Vec<f64>,
}

impl StdDevOracle {
    /// A boxed oracle for one run.
    pub fn boxed(ctx: &OracleContext) -> Box<dyn KernelOracle> {
        let w = ctx.sig_size;
        Box::new(StdDevOracle {
            ctx: *ctx,
            n: 0.0,
            mean_re: vec![0.0; w],
            mean_im: vec![0.0; w],
            m2: vec![0.0; w],
            lo: [vec![f64::INFINITY; w], vec![f64::INFINITY; w]],
            hi: [vec![f64::NEG_INFINITY; w], vec![f64::NEG_INFINITY; w]],
            mag: vec![0.0; w],
        })
    }
}

impl KernelOracle for StdDevOracle {
    fn frame(&mut self, re: &[f64], im: &[f64]) {
        self.n += 1.0;
        for p in 0..self.ctx.sig_size {
            let (x, y) = (re[p], im[p]);
            let (dx, dy) = (x - self.mean_re[p], y - self.mean_im[p]);
            self.mean_re[p] += dx / self.n;
            self.mean_im[p] += dy / self.n;
            self.m2[p] += dx * (x - self.mean_re[p]) + dy * (y - self.mean_im[p]);
            for (k, v) in [x, y].into_iter().enumerate() {
                self.lo[k][p] = self.lo[k][p].min(v);
                self.hi[k][p] = self.hi[k][p].max(v);
            }
            self.mag[p] = self.mag[p].max(x.hypot(y));
        }
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "a count far below 2^53, converted exactly"
    )]
    fn finish(self: Box<Self>) -> Expected {
        let n = self.ctx.n_frames as f64;
        let u = f64::EPSILON / 2.0;
        let m = 4.0 * n + 64.0;
        let gamma = m * u / (1.0 - m * u);
        let mut out = Expected::default();
        for p in 0..self.ctx.sig_size {
            let span = if self.n > 0.0 {
                (self.hi[0][p] - self.lo[0][p]).hypot(self.hi[1][p] - self.lo[1][p])
            } else {
                0.0
            };
            let rounding = n * u * self.mag[p];
            let scale = 16.0 * n * (span * span + span * self.mag[p] + rounding * rounding);
            out.want.push(self.m2[p]);
            out.tol.push((gamma + ORACLE_REL) * scale);
        }
        out
    }
}
