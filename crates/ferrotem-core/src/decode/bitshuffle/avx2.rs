//! The inverse transform with AVX2, for 2- and 4-byte elements (most detector data): one
//! 32-byte `movemask` gathers two whole 2-byte elements, or one whole 4-byte element, so the
//! output is written in wide stores of whole elements.

use super::sse2::{load_rows, transpose_8x16, unpack};
use std::arch::x86_64::{
    __m128i, _mm256_add_epi8, _mm256_movemask_epi8, _mm256_set_m128i, _mm_add_epi8,
};

/// True if the CPU has AVX2 and `FERROTEM_SIMD` does not rule it out.
pub(super) fn available() -> bool {
    matches!(crate::simd::instruction_set(), "avx2" | "avx512")
}

/// For each of the 16 row bytes (groups of eight elements) from `at`: the 16 bytes of rows
/// `first .. first + 16` at that group.
#[inline]
#[target_feature(enable = "avx2")]
fn groups_of_16_rows(data: &[u8], first: usize, row: usize, at: usize) -> [__m128i; 16] {
    let low = transpose_8x16(load_rows(data, first, row, at));
    let high = transpose_8x16(load_rows(data, first + 8, row, at));
    std::array::from_fn(|c| unpack(64, c % 2 == 1, low[c / 2], high[c / 2]))
}

/// `movemask` of 32 bytes: bit 7 of each, as 32 bits.
#[inline]
#[target_feature(enable = "avx2")]
#[expect(
    clippy::cast_sign_loss,
    reason = "`movemask` of 32 bytes returns its 32 bits in an `i32`"
)]
fn mask(v: std::arch::x86_64::__m256i) -> u32 {
    _mm256_movemask_epi8(v) as u32
}

/// Inverse transform for `elem_size` 2 or 4; returns how many row bytes (groups of eight
/// elements) it did — the rest is left to the scalar code.
#[target_feature(enable = "avx2")]
pub(super) fn untransform(data: &[u8], out: &mut [u8], elem_size: usize) -> usize {
    let row = data.len() / elem_size / 8;
    let blocks = row / 16;
    for blk in 0..blocks {
        let at = 16 * blk;
        if elem_size == 2 {
            for (c, &w) in groups_of_16_rows(data, 0, row, at).iter().enumerate() {
                // Lane 1 reads bit 7 of each row byte, lane 0 bit 6: elements 8g+7 and 8g+6,
                // next to each other in the output. Then bits 5 and 4, and so on.
                let mut v = _mm256_set_m128i(w, _mm_add_epi8(w, w));
                let mut elements = 0u128;
                for q in 0..4 {
                    elements |= u128::from(mask(v)) << (32 * (3 - q));
                    v = _mm256_add_epi8(v, v);
                    v = _mm256_add_epi8(v, v);
                }
                let first = 16 * (at + c);
                out[first..first + 16].copy_from_slice(&elements.to_le_bytes());
            }
        } else {
            let low = groups_of_16_rows(data, 0, row, at);
            let high = groups_of_16_rows(data, 16, row, at);
            for c in 0..16 {
                // Rows 0-15 (bytes 0 and 1) and rows 16-31 (bytes 2 and 3): one element per
                // mask, bit 7 first.
                let mut v = _mm256_set_m128i(high[c], low[c]);
                let mut elements = [0u8; 32];
                for m in (0..8).rev() {
                    elements[4 * m..4 * m + 4].copy_from_slice(&mask(v).to_le_bytes());
                    v = _mm256_add_epi8(v, v);
                }
                let first = 32 * (at + c);
                out[first..first + 32].copy_from_slice(&elements);
            }
        }
    }
    blocks * 16
}
