//! The inverse transform with AVX2, for 2- and 4-byte elements (most detector data): one
//! 32-byte `movemask` gathers two whole 2-byte elements, or one whole 4-byte element, so the
//! output is written in wide stores of whole elements.

use super::sse2::{transpose_8x16, unpack};
use std::arch::x86_64::{
    __m128i, _mm256_add_epi8, _mm256_movemask_epi8, _mm256_set_m128i, _mm256_slli_epi16,
    _mm_add_epi8, _mm_loadu_si128, _mm_set_epi32, _mm_setzero_si128, _mm_storeu_si128,
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
    // The loads here rather than through `sse2::load_rows`, which was not inlined (a call
    // per eight rows).
    let mut rows = [_mm_setzero_si128(); 16];
    for (r, out) in rows.iter_mut().enumerate() {
        let start = (first + r) * row + at;
        let bytes = &data[start..start + 16];
        #[expect(
            clippy::cast_ptr_alignment,
            reason = "`_mm_loadu_si128` reads unaligned memory"
        )]
        let ptr = bytes.as_ptr().cast::<__m128i>();
        // SAFETY: `bytes` is 16 readable bytes; the load has no alignment requirement.
        *out = unsafe { _mm_loadu_si128(ptr) };
    }
    let (first_eight, last_eight) = rows.split_at(8);
    let low = transpose_8x16(first_eight.try_into().unwrap_or([_mm_setzero_si128(); 8]));
    let high = transpose_8x16(last_eight.try_into().unwrap_or([_mm_setzero_si128(); 8]));
    let mut groups = [_mm_setzero_si128(); 16];
    for (c, group) in groups.iter_mut().enumerate() {
        *group = unpack(64, c % 2 == 1, low[c / 2], high[c / 2]);
    }
    groups
}

/// Stores 16 bytes into `out`, which must be 16 bytes long.
#[inline]
#[target_feature(enable = "avx2")]
fn store16(out: &mut [u8], value: __m128i) {
    assert_eq!(out.len(), 16, "a 16-byte store into {} bytes", out.len());
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "`_mm_storeu_si128` writes unaligned memory"
    )]
    let ptr = out.as_mut_ptr().cast::<__m128i>();
    // SAFETY: `out` is 16 writable bytes; the store has no alignment requirement.
    unsafe { _mm_storeu_si128(ptr, value) };
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
                let mut words = [0u32; 4];
                for q in 0..4 {
                    words[3 - q] = mask(v);
                    // Two bits on; shifting 16-bit lanes is fine, as only bit 7 of each byte
                    // is read and no bit crosses from one lane's high byte to another's.
                    v = _mm256_slli_epi16(v, 2);
                }
                let first = 16 * (at + c);
                #[expect(
                    clippy::cast_possible_wrap,
                    reason = "the bits of each word are moved, not their value"
                )]
                let elements = _mm_set_epi32(
                    words[3] as i32,
                    words[2] as i32,
                    words[1] as i32,
                    words[0] as i32,
                );
                store16(&mut out[first..first + 16], elements);
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
