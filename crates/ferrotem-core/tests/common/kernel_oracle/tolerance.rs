//! Tolerances of sums (reasoning in the parent module's docs) and the compensated float64
//! accumulator the oracles sum with.
#![allow(
    clippy::inline_always,
    reason = "the oracle adds hundreds of millions of values per test: keep its adds inlined"
)]

use ferrotem_core::buffer::InputKind;

/// `λ` of the probabilistic bound.
pub const LAMBDA: f64 = 10.0;

/// Unit roundoff of the dtype `input` computes in.
pub fn unit_roundoff(input: InputKind) -> f64 {
    match input {
        InputKind::F32 | InputKind::C64 => f64::from(f32::EPSILON) / 2.0,
        InputKind::F64 | InputKind::C128 => f64::EPSILON / 2.0,
    }
}

/// Tolerance of a sum of `n` terms of magnitude sum `abs_sum`, computed in unit roundoff `u` in
/// any order (see the module docs), plus the oracle's own error.
#[allow(
    clippy::cast_precision_loss,
    reason = "a count far below 2^53, converted exactly"
)]
pub fn any_order_sum_tol(n: usize, u: f64, abs_sum: f64) -> f64 {
    let m = n.saturating_sub(1) as f64;
    let worst = if m * u < 0.5 {
        m * u / (1.0 - m * u)
    } else {
        f64::INFINITY
    };
    let likely = LAMBDA * m.sqrt() * u + m * m * u * u;
    (worst.min(likely) + ORACLE_REL) * abs_sum
}

/// Relative error of the compensated float64 oracle (a generous `4 · 2^-53`).
pub const ORACLE_REL: f64 = 4.0 * f64::EPSILON / 2.0;

/// A float64 sum with its exact rounding error carried along (TwoSum), and `Σ|x|`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum64 {
    sum: f64,
    err: f64,
    abs: f64,
}

impl Sum64 {
    /// Adds `x`.
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        let (s, e) = two_sum(self.sum, x);
        self.sum = s;
        self.err += e;
        self.abs += x.abs();
    }
    /// Adds another sum.
    pub fn merge(&mut self, other: &Sum64) {
        let (s, e) = two_sum(self.sum, other.sum);
        self.sum = s;
        self.err += e + other.err;
        self.abs += other.abs;
    }
    /// The sum.
    pub fn value(&self) -> f64 {
        self.sum + self.err
    }
    /// `Σ|x|`.
    pub fn abs(&self) -> f64 {
        self.abs
    }
}

/// `a + b` and its exact rounding error (Knuth), without branches.
#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}
