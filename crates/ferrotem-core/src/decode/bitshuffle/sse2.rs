//! The inverse transform with SSE2 (part of every x86-64 CPU): sixteen rows of sixteen bytes
//! are transposed with byte unpacks, then `movemask` collects one bit of each of sixteen
//! bytes — two whole output bytes — per instruction.

use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_setzero_si128,
    _mm_unpackhi_epi16, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpackhi_epi8,
    _mm_unpacklo_epi16, _mm_unpacklo_epi32, _mm_unpacklo_epi64, _mm_unpacklo_epi8,
};

/// Loads 16 bytes at `at` of each of eight rows `row` bytes apart, starting at row `first`.
#[inline]
#[target_feature(enable = "sse2")]
pub(super) fn load_rows(data: &[u8], first: usize, row: usize, at: usize) -> [__m128i; 8] {
    // Loops rather than `array::from_fn`: its closure is not inlined here (a closure does not
    // take on the function's target features), which cost a call per vector.
    let mut rows = [_mm_setzero_si128(); 8];
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
    rows
}

/// Interleaves `lo` and `hi` with the unpack of the given width: the low halves if
/// `upper` is false, the high halves otherwise.
#[inline]
#[target_feature(enable = "sse2")]
pub(super) fn unpack(width: u32, upper: bool, lo: __m128i, hi: __m128i) -> __m128i {
    match (width, upper) {
        (8, false) => _mm_unpacklo_epi8(lo, hi),
        (8, true) => _mm_unpackhi_epi8(lo, hi),
        (16, false) => _mm_unpacklo_epi16(lo, hi),
        (16, true) => _mm_unpackhi_epi16(lo, hi),
        (32, false) => _mm_unpacklo_epi32(lo, hi),
        (32, true) => _mm_unpackhi_epi32(lo, hi),
        (_, false) => _mm_unpacklo_epi64(lo, hi),
        (_, true) => _mm_unpackhi_epi64(lo, hi),
    }
}

/// Transposes eight rows of 16 bytes: result `p` holds byte `2p` of rows 0–7, then byte
/// `2p + 1` of rows 0–7.
#[inline]
#[target_feature(enable = "sse2")]
pub(super) fn transpose_8x16(rows: [__m128i; 8]) -> [__m128i; 8] {
    // pairs[2q + h]: rows 2q and 2q + 1 interleaved, bytes 8h .. 8h + 8.
    let mut pairs = [_mm_setzero_si128(); 8];
    for q in 0..4 {
        pairs[2 * q] = unpack(8, false, rows[2 * q], rows[2 * q + 1]);
        pairs[2 * q + 1] = unpack(8, true, rows[2 * q], rows[2 * q + 1]);
    }
    // quads[4 quad + k]: rows 4 quad .. 4 quad + 4 of bytes 4k .. 4k + 4.
    let mut quads = [_mm_setzero_si128(); 8];
    for quad in 0..2 {
        for k in 0..4 {
            let half = k / 2;
            quads[4 * quad + k] = unpack(
                16,
                k % 2 == 1,
                pairs[4 * quad + half],
                pairs[4 * quad + 2 + half],
            );
        }
    }
    let mut cols = [_mm_setzero_si128(); 8];
    for (p, col) in cols.iter_mut().enumerate() {
        *col = unpack(32, p % 2 == 1, quads[p / 2], quads[4 + p / 2]);
    }
    cols
}

/// Writes the eight output bytes pairs that `movemask` pulls out of `bits`, most
/// significant bit first; `store(m, pair)` receives element offset `m` (0–7) and 16 bits.
#[inline]
#[target_feature(enable = "sse2")]
#[expect(
    clippy::cast_sign_loss,
    reason = "`movemask` of 16 bytes returns a 16-bit value in an `i32`"
)]
pub(super) fn emit(mut bits: __m128i, mut store: impl FnMut(usize, u16)) {
    for m in (0..8).rev() {
        store(m, _mm_movemask_epi8(bits) as u16);
        bits = _mm_add_epi8(bits, bits);
    }
}

/// Inverse transform for an even `elem_size`, two bytes of each element at a time; returns
/// how many row bytes (groups of eight elements) it did — the rest is left to the scalar
/// code.
#[target_feature(enable = "sse2")]
pub(super) fn untransform_pairs(data: &[u8], out: &mut [u8], elem_size: usize) -> usize {
    let row = data.len() / elem_size / 8;
    let blocks = row / 16;
    for jp in (0..elem_size).step_by(2) {
        for blk in 0..blocks {
            let at = 16 * blk;
            let low = transpose_8x16(load_rows(data, 8 * jp, row, at));
            let high = transpose_8x16(load_rows(data, 8 * jp + 8, row, at));
            for p in 0..8 {
                // Column 2p, then 2p + 1: byte jp's bits 0–7, then byte jp + 1's.
                for (col, upper) in [(2 * p, false), (2 * p + 1, true)] {
                    let w = unpack(64, upper, low[p], high[p]);
                    let first = 8 * (at + col);
                    if elem_size == 2 {
                        // Whole elements, eight in a row: one 16-byte store.
                        let mut elements = 0u128;
                        emit(w, |m, bits| elements |= u128::from(bits) << (16 * m));
                        out[2 * first..2 * first + 16].copy_from_slice(&elements.to_le_bytes());
                    } else {
                        emit(w, |m, bits| {
                            let o = (first + m) * elem_size + jp;
                            out[o..o + 2].copy_from_slice(&bits.to_le_bytes());
                        });
                    }
                }
            }
        }
    }
    blocks * 16
}

/// Inverse transform for any `elem_size`, one byte of each element at a time (used for odd
/// sizes); returns how many row bytes it did.
#[target_feature(enable = "sse2")]
pub(super) fn untransform_single(data: &[u8], out: &mut [u8], elem_size: usize) -> usize {
    let row = data.len() / elem_size / 8;
    let blocks = row / 16;
    for j in 0..elem_size {
        for blk in 0..blocks {
            let at = 16 * blk;
            let cols = transpose_8x16(load_rows(data, 8 * j, row, at));
            for (p, &w) in cols.iter().enumerate() {
                let first = 8 * (at + 2 * p);
                emit(w, |m, bits| {
                    let [lo, hi] = bits.to_le_bytes();
                    out[(first + m) * elem_size + j] = lo;
                    out[(first + 8 + m) * elem_size + j] = hi;
                });
            }
        }
    }
    blocks * 16
}
