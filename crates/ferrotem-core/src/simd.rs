//! Runtime choice of the instruction set for the hot loops (conversion, sums).
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so that one binary
//! runs everywhere. A hot loop is written once, as a `Kernel` whose `run` is
//! `#[inline(always)]`; `dispatch` inlines it into a copy compiled with AVX-512, AVX2 or AVX
//! when the CPU has them (checked once and cached), so the compiler's auto-vectoriser can use
//! the wider registers. Results are the same on every path: the kernels only add and convert
//! element-wise, in the order the source code gives.
//!
//! The environment variable `FERROTEM_SIMD` (`avx512`, `avx2`, `avx` or `baseline`, read once
//! per process) caps the choice, so that every compiled path can be checked on one machine (the
//! tests do) and a suspected vectorisation problem can be ruled out; any other value is ignored.

use std::sync::OnceLock;

/// A loop body to be compiled for several instruction sets.
///
/// Implementations must mark `run` `#[inline(always)]`, otherwise it is compiled only once, for
/// the baseline, and the dispatch gains nothing.
pub(crate) trait Kernel {
    /// What the loop returns.
    type Output;
    /// Runs the loop.
    fn run(self) -> Self::Output;
}

/// The compiled copies of a kernel, from the least to the most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Baseline,
    Avx,
    Avx2,
    Avx512,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx => "avx",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The best level this CPU supports.
    fn detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
            if std::arch::is_x86_feature_detected!("avx") {
                return Level::Avx;
            }
        }
        Level::Baseline
    }

    /// The cap `FERROTEM_SIMD` asks for, if it names a level.
    fn cap_from_env() -> Option<Level> {
        let value = std::env::var("FERROTEM_SIMD").ok()?;
        [Level::Baseline, Level::Avx, Level::Avx2, Level::Avx512]
            .into_iter()
            .find(|l| value.eq_ignore_ascii_case(l.name()))
    }

    /// The level [`dispatch`] uses, decided once per process.
    fn active() -> Level {
        static ACTIVE: OnceLock<Level> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let detected = Level::detected();
            Level::cap_from_env().map_or(detected, |cap| cap.min(detected))
        })
    }
}

/// The instruction set the hot loops run with in this process: `"avx512"`, `"avx2"`, `"avx"` or
/// `"baseline"` (the best the CPU supports, capped by `FERROTEM_SIMD`).
#[must_use]
pub fn instruction_set() -> &'static str {
    Level::active().name()
}

/// Runs `kernel` compiled for the instruction set [`instruction_set`] names.
#[inline]
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    match Level::active() {
        // SAFETY: `Level::active` is at most `Level::detected`: the CPU supports the features
        // each function is compiled for.
        Level::Avx512 => return unsafe { x86::avx512(kernel) },
        // SAFETY: as above.
        Level::Avx2 => return unsafe { x86::avx2(kernel) },
        // SAFETY: as above.
        Level::Avx => return unsafe { x86::avx(kernel) },
        Level::Baseline => {}
    }
    kernel.run()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Kernel;

    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw,avx2,avx")]
    pub(super) unsafe fn avx512<K: Kernel>(kernel: K) -> K::Output {
        kernel.run()
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,avx")]
    pub(super) unsafe fn avx2<K: Kernel>(kernel: K) -> K::Output {
        kernel.run()
    }

    /// # Safety
    /// The CPU must support AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn avx<K: Kernel>(kernel: K) -> K::Output {
        kernel.run()
    }
}
