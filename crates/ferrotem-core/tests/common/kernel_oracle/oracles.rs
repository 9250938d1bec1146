//! The float64 oracles of the native kernels.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: panics on setup failure

use super::tolerance::{any_order_sum_tol, two_sum, unit_roundoff, Sum64, ORACLE_REL};
use super::{Expected, KernelOracle, OracleContext};
use ferrotem_core::buffer::TypedVec;
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
