//! Checking native kernels against a float64 oracle at real sizes.
//!
//! [`check_kernel_against_f64`] runs [`KernelCase`]s (a native UDF and its float64 oracle) over
//! generated data through the public [`Runner`], from memory and from raw / `.npy` files, and
//! compares every output element with the oracle within a stated tolerance. A new native kernel
//! plugs in with one line in [`native_kernel_cases`] (its oracle written once, in `oracles.rs`,
//! with the tolerance functions of `tolerance.rs`); every test in `tests/kernels.rs` then checks
//! it at every size, dtype, byte order, source, partitioning, tile size and instruction set those
//! tests cover.
//!
//! # How wrong may a float32 sum be?
//!
//! The oracle sums the frames, cast to the input dtype exactly as numpy's `astype` would, in
//! float64 with compensation (Knuth's TwoSum), so its own error is about `2^-52 * Σ|x|`, far
//! below the kernel's. The kernel's error is bounded as follows, with `u` the unit roundoff of
//! the input dtype (`2^-24` for float32, `2^-53` for float64), `n` the number of terms and
//! `Σ|x|` the sum of their magnitudes:
//!
//! - A sum of `n` terms in any order makes `n - 1` roundings; each is at most `u` times the
//!   partial result, itself at most `Σ|x|`. So `|error| <= γ(n-1) Σ|x|` with
//!   `γ(m) = m u / (1 - m u)`, for every order (Higham, *Accuracy and Stability of Numerical
//!   Algorithms*, 2nd ed., §4.2). This holds always, but at 4096 float32 terms it allows
//!   `2.4e-4 Σ|x|`, as much as one whole frame: too loose to see a frame dropped or counted twice.
//! - The error is `Σ δ_k s_k` (`δ_k` the relative rounding errors, `|δ_k| <= u`, `s_k` the
//!   partial results). If the `δ_k` behave as independent zero-mean variables, as Higham & Mary
//!   ("A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41, 2019)
//!   find describes real sums well, the Azuma–Hoeffding inequality gives
//!   `|error| <= λ √(n-1) u Σ|x|` except with probability `2 exp(-λ²/2)`. With `λ = 10` that is
//!   `4e-22` per element, and 4096 float32 terms allow `3.9e-5 Σ|x|`: a frame dropped or added
//!   twice moves a sum of similar terms by `Σ|x| / 4096 = 2.4e-4 Σ|x|`, six times more.
//!
//! `tolerance::any_order_sum_tol` is the smaller of the two (plus the second-order term
//! `(n-1)² u²`); a kernel that states a tighter bound is held to that: `SumSigUdf` accumulates in
//! float64 and rounds to float32 once (per tile of a frame), so its bound is the worst case of
//! those few roundings, which positive data come close to. Every check also reports how close the kernel came to its tolerance, and the wide tests
//! assert that float32 results did round somewhere, so that the data really exercise rounding.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: panics on setup failure

mod data;
mod oracles;
mod sources;
mod tolerance;

// Only tests/kernels.rs uses these; the other test binaries compile `common` too.
#[allow(unused_imports)]
pub use data::{random_roi, TestData};
#[allow(unused_imports)]
pub use sources::{RunConfig, SourceKind};

use data::splitmix64;
use oracles::{
    com_geometry, com_mask, kernel_masks, stddev_varsum, typed_vec_components, CoMOracle,
    MasksOracle, StdDevOracle, SumOracle, SumSigOracle, KERNEL_MASKS,
};

use ferrotem_core::buffer::InputKind;
use ferrotem_core::partition::split_frames;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::udf::{ApplyMasksUdf, CoMUdf, DynUdf, Moments, StdDevUdf, SumSigUdf, SumUdf};
use sources::Sources;
use std::any::Any;

/// Every native kernel with its oracle. A new native UDF adds its line here.
pub fn native_kernel_cases() -> Vec<KernelCase> {
    vec![
        KernelCase::new("SumUdf", SumUdf, SumOracle::boxed, typed_vec_components),
        KernelCase::new(
            "SumSigUdf",
            SumSigUdf,
            SumSigOracle::boxed,
            typed_vec_components,
        ),
        KernelCase::built(
            "ApplyMasksUdf(dense)",
            |input, sig| {
                let masks = kernel_masks(input, KERNEL_MASKS, sig);
                Box::new(ApplyMasksUdf::dense(masks, KERNEL_MASKS, sig).unwrap())
            },
            MasksOracle::boxed,
            typed_vec_components,
        ),
        KernelCase::built(
            "CoMUdf",
            |_, sig| {
                let (height, width) = com_geometry(sig);
                Box::new(CoMUdf::new(&com_mask(sig), height, width).unwrap())
            },
            CoMOracle::boxed,
            |out| typed_vec_components(out.downcast_ref::<Moments>().expect("moments").values()),
        ),
        KernelCase::new(
            "StdDevUdf",
            StdDevUdf::default(),
            StdDevOracle::boxed,
            stddev_varsum,
        ),
    ]
}

// --- cases and oracles ----------------------------------------------------------------------

/// A native UDF, how to read its output as numbers, and its float64 oracle.
pub struct KernelCase {
    /// Name for messages.
    pub name: &'static str,
    /// Makes the UDF under test for a run in an input dtype over frames of so many pixels.
    pub make: Box<dyn Fn(InputKind, usize) -> Box<dyn DynUdf>>,
    /// Makes the oracle for one run.
    pub oracle: fn(&OracleContext) -> Box<dyn KernelOracle>,
    /// The UDF's output as components: real values, or `re, im` pairs for complex outputs.
    pub components: fn(&dyn Any) -> Vec<f64>,
}

impl KernelCase {
    /// A case for `udf`, the same in every run.
    pub fn new(
        name: &'static str,
        udf: impl DynUdf + Clone + 'static,
        oracle: fn(&OracleContext) -> Box<dyn KernelOracle>,
        components: fn(&dyn Any) -> Vec<f64>,
    ) -> Self {
        Self::built(name, move |_, _| Box::new(udf.clone()), oracle, components)
    }

    /// A case whose UDF depends on the run's input dtype and frame size (`make(input,
    /// sig_size)`), as one with parameters (masks) does.
    pub fn built(
        name: &'static str,
        make: impl Fn(InputKind, usize) -> Box<dyn DynUdf> + 'static,
        oracle: fn(&OracleContext) -> Box<dyn KernelOracle>,
        components: fn(&dyn Any) -> Vec<f64>,
    ) -> Self {
        KernelCase {
            name,
            make: Box::new(make),
            oracle,
            components,
        }
    }
}

/// What an oracle may know about the run it predicts.
#[derive(Debug, Clone, Copy)]
pub struct OracleContext {
    /// The dtype the kernel computes in.
    pub input: InputKind,
    /// Pixels per frame.
    pub sig_size: usize,
    /// Frames taking part (ROI applied).
    pub n_frames: usize,
    /// At most how many pixel ranges the runner cuts one frame into (1 unless a frame in the
    /// input dtype is larger than a tile); a per-frame result may round once per range.
    pub pixel_pieces: usize,
}

impl OracleContext {
    /// Whether the input is complex (outputs are `re, im` pairs).
    pub fn complex(&self) -> bool {
        matches!(self.input, InputKind::C64 | InputKind::C128)
    }
}

/// The float64 model of one kernel, fed the run's frames in order.
pub trait KernelOracle {
    /// The next frame taking part, cast to the input dtype: real and imaginary parts (zeros for
    /// real input).
    fn frame(&mut self, re: &[f64], im: &[f64]);
    /// The expected output components and the tolerance of each.
    fn finish(self: Box<Self>) -> Expected;
}

/// Expected output components with their tolerances.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Expected values.
    pub want: Vec<f64>,
    /// Largest allowed `|got - want|`, element for element.
    pub tol: Vec<f64>,
}

// --- checking ------------------------------------------------------------------------------

/// How close one check came to its tolerances.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Per case: the largest `|got - want| / tol` over all runs (0 where `tol` is 0 and the
    /// result exact).
    pub worst_ratio: Vec<f64>,
    /// Per case: whether some result differed from the oracle at all (it rounded).
    pub rounded: Vec<bool>,
    /// A hash of the output bits of the single-threaded runs, whose summation order is fixed
    /// (with more threads, partials merge in completion order): the same on every instruction
    /// set, since the kernels add in the order their source gives.
    pub digest: u64,
}

/// What each case's oracle expects over `data` (cast to `input`, frames selected by `roi`),
/// for runs that cut frames into at most `pixel_pieces` pixel ranges.
pub fn oracle_expected(
    data: &TestData,
    input: InputKind,
    roi: Option<&[bool]>,
    pixel_pieces: usize,
    cases: &[KernelCase],
) -> Vec<Expected> {
    let sig_size = data.sig_size();
    let frames: Vec<usize> = (0..data.n_frames())
        .filter(|&f| roi.is_none_or(|m| m[f]))
        .collect();
    let ctx = OracleContext {
        input,
        sig_size,
        n_frames: frames.len(),
        pixel_pieces,
    };
    let mut oracles: Vec<Box<dyn KernelOracle>> = cases.iter().map(|c| (c.oracle)(&ctx)).collect();
    let (mut re, mut im) = (vec![0f64; sig_size], vec![0f64; sig_size]);
    for f in frames {
        data.input_frame(f, input, &mut re, &mut im);
        for o in &mut oracles {
            o.frame(&re, &im);
        }
    }
    oracles.into_iter().map(KernelOracle::finish).collect()
}

/// Runs every case over `data` (cast to `input`, frames selected by `roi`) once per config,
/// all cases in one run, and asserts every output component within the oracle's tolerance.
pub fn check_kernel_against_f64(
    data: &TestData,
    input: InputKind,
    roi: Option<&[bool]>,
    configs: &[RunConfig],
    cases: &[KernelCase],
) -> CheckReport {
    let pixel_pieces = configs
        .iter()
        .map(|c| c.pixel_pieces(data.sig_size(), input))
        .max()
        .unwrap_or(1);
    let expected = oracle_expected(data, input, roi, pixel_pieces, cases);
    let n_all = data.n_frames();

    let roi = roi.map(|m| Roi::new(m.to_vec(), n_all as u64).unwrap());
    let built: Vec<Box<dyn DynUdf>> = cases
        .iter()
        .map(|c| (c.make)(input, data.sig_size()))
        .collect();
    let udfs: Vec<&dyn DynUdf> = built.iter().map(AsRef::as_ref).collect();
    let mut sources = Sources::new(data);
    let mut report = CheckReport {
        worst_ratio: vec![0.0; cases.len()],
        rounded: vec![false; cases.len()],
        digest: 0,
    };
    for config in configs {
        let source = sources.get(config.source);
        let parts = split_frames(n_all as u64, config.partitions, data.shape().row_len()).unwrap();
        let opts = RunOptions {
            tile_bytes: config.tile_bytes,
            task_bytes: config.task_bytes,
            ..RunOptions::new(input)
        };
        let out = Runner::new(config.threads)
            .unwrap()
            .run(source, &parts, roi.as_ref(), &udfs, &opts, &|_| {})
            .unwrap_or_else(|e| panic!("{config:?}: {e}"));
        for (i, ((case, exp), got)) in cases.iter().zip(&expected).zip(&out).enumerate() {
            let got = (case.components)(got.as_ref());
            if config.threads == 1 {
                for x in &got {
                    report.digest = splitmix64(report.digest ^ x.to_bits());
                }
            }
            let what = format!(
                "{} over {} {:?}x{:?} as {:?}, {:?}, roi {}",
                case.name,
                data.dtype,
                data.nav,
                data.sig,
                input,
                config,
                if roi.is_some() { "yes" } else { "no" }
            );
            let (worst, rounded) = compare(&got, exp, &what);
            eprintln!("{what}: worst |error| / tolerance {worst:.3}");
            report.worst_ratio[i] = report.worst_ratio[i].max(worst);
            report.rounded[i] |= rounded;
        }
    }
    report
}

/// Asserts `got` within `exp`; returns the worst error/tolerance ratio and whether any result
/// differed from the oracle.
fn compare(got: &[f64], exp: &Expected, what: &str) -> (f64, bool) {
    assert_eq!(got.len(), exp.want.len(), "{what}: output length");
    let mut bad = Vec::new();
    let mut worst = 0f64;
    let mut rounded = false;
    for (i, ((&g, &w), &t)) in got.iter().zip(&exp.want).zip(&exp.tol).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > t {
            bad.push((i, g, w, t));
        }
        rounded |= err > 0.0;
        if t > 0.0 {
            worst = worst.max(err / t);
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad
            .iter()
            .take(8)
            .map(|(i, g, w, t)| format!("[{i}] got {g}, want {w} ± {t:.3e}"))
            .collect();
        panic!(
            "{what}: {} of {} components outside tolerance, e.g.\n  {}",
            bad.len(),
            got.len(),
            shown.join("\n  ")
        );
    }
    (worst, rounded)
}
