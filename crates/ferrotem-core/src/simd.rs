//! Runtime choice of the instruction set for the hot loops (conversion, sums).
//!
//! The crate is compiled for the baseline of its target (SSE2 on x86-64), so that one binary
//! runs everywhere. A hot loop is written once, as a [`Kernel`] whose `run` is
//! `#[inline(always)]`; [`dispatch`] inlines it into a copy compiled with AVX-512, AVX2 or AVX
//! when the CPU has them (checked once by the standard library and cached), so the compiler's
//! auto-vectoriser can use the wider registers. Results are the same on every path: the
//! kernels only add and convert element-wise, in the order the source code gives.

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

/// Runs `kernel` compiled for the best instruction set available on this CPU.
#[inline]
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { x86::avx512(kernel) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { x86::avx2(kernel) };
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: as above.
            return unsafe { x86::avx(kernel) };
        }
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
