//! Unpacking runs of K2IS block rows (24 bytes: 16 little-endian 12-bit numbers) into native
//! `u16`, one 32-byte output row per block row: a scalar version and, on x86-64, SSE4.1 and AVX2
//! byte-shuffle versions chosen at run time (the crate's `simd` level, so `FERROTEM_SIMD` caps
//! them as it caps the other kernels). All give the same bits.
//!
//! Number `2 j` of a row is bytes `3 j` and the low nibble of `3 j + 1`; number `2 j + 1` is the
//! high nibble of byte `3 j + 1` and byte `3 j + 2`. A byte shuffle puts bytes `(3 j, 3 j + 1)`
//! into 16-bit lane `2 j` and `(3 j + 1, 3 j + 2)` into lane `2 j + 1`; the even lanes are then
//! masked to 12 bits and the odd ones shifted right by four.

use super::block::{BLOCK_COLS, ROW_BYTES};
use std::ops::Range;

/// Bytes of one unpacked block row.
pub const OUT_ROW_BYTES: usize = 2 * BLOCK_COLS;

/// Unpacks rows `rows` of blocks lying side by side: `cols[c]` holds the packed rows of the
/// block in column `c` (row `k` at bytes `24 k .. 24 k + 24`). Output row `k - rows.start`,
/// `cols.len()` times 16 native-endian `u16`, goes to `out` from byte `(k - rows.start) *
/// stride` on, the blocks' numbers next to each other.
///
/// Writing whole output rows (a sector row of 512 bytes for its 16 blocks) rather than one
/// block after the other matters: a block's rows are one frame row (4096 bytes) apart, so its
/// output all falls in one set of the L1 cache and every store missed it.
///
/// # Panics
/// If a column holds fewer than `rows.end` rows, `stride` is shorter than an output row, or
/// `out` is too short.
pub fn unpack_rows(cols: &[&[u8]], rows: Range<usize>, out: &mut [u8], stride: usize) {
    check(cols, &rows, out, stride);
    #[cfg(target_arch = "x86_64")]
    {
        match crate::simd::instruction_set() {
            // SAFETY: the level says the CPU has AVX2; `check` passed.
            "avx2" | "avx512" => return unsafe { x86::unpack_avx2(cols, rows, out, stride) },
            // SAFETY: the level says the CPU has AVX, hence SSE4.1; `check` passed.
            "avx" => return unsafe { x86::unpack_sse41(cols, rows, out, stride) },
            _ => {}
        }
    }
    unpack_scalar(cols, rows, out, stride);
}

/// Asks the CPU to bring `bytes` into its caches (a hint: nothing on other machines).
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints; the address is that of a live slice. SSE is part of
        // the x86-64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// The checks every version relies on.
fn check(cols: &[&[u8]], rows: &Range<usize>, out: &[u8], stride: usize) {
    let width = cols.len() * OUT_ROW_BYTES;
    assert!(
        stride >= width,
        "an output stride of {stride} bytes for rows of {width}"
    );
    for (c, col) in cols.iter().enumerate() {
        assert!(
            col.len() >= rows.end * ROW_BYTES,
            "column {c}: {} packed bytes, rows up to {} need {}",
            col.len(),
            rows.end,
            rows.end * ROW_BYTES
        );
    }
    if !rows.is_empty() {
        let need = (rows.len() - 1) * stride + width;
        assert!(
            out.len() >= need,
            "{} rows need {need} bytes of output, got {}",
            rows.len(),
            out.len()
        );
    }
}

/// The packed bytes of row `k` of `col`.
#[inline]
fn packed_row(col: &[u8], k: usize) -> &[u8] {
    &col[k * ROW_BYTES..(k + 1) * ROW_BYTES]
}

/// The portable version (any CPU, any byte order).
pub fn unpack_scalar(cols: &[&[u8]], rows: Range<usize>, out: &mut [u8], stride: usize) {
    check(cols, &rows, out, stride);
    for (i, k) in rows.enumerate() {
        for (c, col) in cols.iter().enumerate() {
            let mut row = [0u8; ROW_BYTES];
            row.copy_from_slice(packed_row(col, k));
            let at = i * stride + c * OUT_ROW_BYTES;
            out[at..at + OUT_ROW_BYTES].copy_from_slice(&unpack_row_bytes(&row));
        }
    }
}

/// Unpacks one block row into 16 numbers.
#[must_use]
pub fn unpack_row(src: &[u8; ROW_BYTES]) -> [u16; BLOCK_COLS] {
    std::array::from_fn(|k| {
        let j = 3 * (k / 2);
        let (lo, hi) = if k % 2 == 0 {
            (u16::from(src[j]), u16::from(src[j + 1]) & 0xF)
        } else {
            (u16::from(src[j + 1]) >> 4, u16::from(src[j + 2]))
        };
        if k % 2 == 0 {
            lo | hi << 8
        } else {
            lo | hi << 4
        }
    })
}

/// Unpacks one block row into its output bytes: 16 native-endian `u16`. On little-endian
/// machines the row is read as three 64-bit words holding one 192-bit number (number `k` is its
/// bits `12 k .. 12 k + 12`) and written as four words of four numbers.
#[inline]
fn unpack_row_bytes(src: &[u8; ROW_BYTES]) -> [u8; OUT_ROW_BYTES] {
    let mut out = [0u8; OUT_ROW_BYTES];
    if cfg!(target_endian = "little") {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&src[8 * i..8 * i + 8]);
            u64::from_le_bytes(w)
        };
        let (w0, w1, w2) = (word(0), word(1), word(2));
        let quad = |a: u64, b: u64, c: u64, d: u64| {
            (a & 0xFFF) | (b & 0xFFF) << 16 | (c & 0xFFF) << 32 | (d & 0xFFF) << 48
        };
        let words = [
            quad(w0, w0 >> 12, w0 >> 24, w0 >> 36),
            quad(w0 >> 48, w0 >> 60 | w1 << 4, w1 >> 8, w1 >> 20),
            quad(w1 >> 32, w1 >> 44, w1 >> 56 | w2 << 8, w2 >> 4),
            quad(w2 >> 16, w2 >> 28, w2 >> 40, w2 >> 52),
        ];
        for (o, w) in out.chunks_exact_mut(8).zip(words) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    } else {
        for (o, v) in out.chunks_exact_mut(2).zip(unpack_row(src)) {
            o.copy_from_slice(&v.to_ne_bytes());
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    //! The byte-shuffle versions. Each row is read as two overlapping 16-byte loads (bytes
    //! `0..16` for numbers 0..8, bytes `8..24` for numbers 8..16), so nothing past the row is
    //! read.
    #![allow(
        clippy::wildcard_imports,
        reason = "the intrinsics, by their Intel names"
    )]
    use super::{check, packed_row, OUT_ROW_BYTES};
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Lane `2 j` takes bytes `3 j, 3 j + 1`, lane `2 j + 1` bytes `3 j + 1, 3 j + 2` of the
    /// first 12 bytes of a 16-byte load.
    const SHUFFLE_LOW: [i8; 16] = [0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11];
    /// The same for the second load, whose numbers start at its byte 4.
    const SHUFFLE_HIGH: [i8; 16] = [4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14, 15];

    fn shuffle_mask(bytes: [i8; 16]) -> __m128i {
        // SAFETY: 16 bytes read from a 16-byte array; no alignment requirement.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    /// 16 bytes of `row` from `at` (`at + 16 <= 24`).
    #[inline]
    #[target_feature(enable = "sse4.1")]
    fn load16(row: &[u8], at: usize) -> __m128i {
        let bytes = &row[at..at + 16];
        // SAFETY: `bytes` is 16 readable bytes; the load has no alignment requirement.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    /// SSE4.1 (the `avx` level): two 16-byte results per block row.
    ///
    /// # Safety
    /// The CPU must support SSE4.1.
    #[target_feature(enable = "sse4.1")]
    pub unsafe fn unpack_sse41(cols: &[&[u8]], rows: Range<usize>, out: &mut [u8], stride: usize) {
        check(cols, &rows, out, stride);
        let (low, high) = (shuffle_mask(SHUFFLE_LOW), shuffle_mask(SHUFFLE_HIGH));
        let mask = _mm_set1_epi32(0x0000_0FFF);
        let finish =
            |v: __m128i| _mm_blend_epi16::<0xAA>(_mm_and_si128(v, mask), _mm_srli_epi16(v, 4));
        for (i, k) in rows.enumerate() {
            for (c, col) in cols.iter().enumerate() {
                let row = packed_row(col, k);
                let first = finish(_mm_shuffle_epi8(load16(row, 0), low));
                let second = finish(_mm_shuffle_epi8(load16(row, 8), high));
                let at = i * stride + c * OUT_ROW_BYTES;
                let dst = &mut out[at..at + OUT_ROW_BYTES];
                // SAFETY: `dst` is 32 writable bytes; the stores have no alignment requirement.
                unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), first) };
                // SAFETY: as above, its second half.
                unsafe { _mm_storeu_si128(dst[16..].as_mut_ptr().cast(), second) };
            }
        }
    }

    /// AVX2: one 32-byte result per block row.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn unpack_avx2(cols: &[&[u8]], rows: Range<usize>, out: &mut [u8], stride: usize) {
        check(cols, &rows, out, stride);
        let shuffle = _mm256_set_m128i(shuffle_mask(SHUFFLE_HIGH), shuffle_mask(SHUFFLE_LOW));
        let mask = _mm256_set1_epi32(0x0000_0FFF);
        for (i, k) in rows.enumerate() {
            for (c, col) in cols.iter().enumerate() {
                let row = packed_row(col, k);
                let v = _mm256_set_m128i(load16(row, 8), load16(row, 0));
                let v = _mm256_shuffle_epi8(v, shuffle);
                let v =
                    _mm256_blend_epi16::<0xAA>(_mm256_and_si256(v, mask), _mm256_srli_epi16(v, 4));
                let at = i * stride + c * OUT_ROW_BYTES;
                let dst = &mut out[at..at + OUT_ROW_BYTES];
                // SAFETY: `dst` is 32 writable bytes; the store has no alignment requirement.
                unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs 16 numbers below 4096 the way the detector does (the oracle: the packing rule).
    fn pack(values: &[u16]) -> Vec<u8> {
        values
            .chunks(2)
            .flat_map(|p| {
                let (a, b) = (u32::from(p[0]), u32::from(p[1]));
                let v = a | b << 12;
                [v as u8, (v >> 8) as u8, (v >> 16) as u8]
            })
            .collect()
    }

    fn as_u16(b: &[u8]) -> Vec<u16> {
        b.chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }

    /// Rows of pseudo-random 12-bit numbers, every bit pattern of the nibbles shared by two
    /// numbers included.
    fn numbers(rows: usize, seed: u64) -> Vec<u16> {
        let mut x = seed | 1;
        (0..rows * BLOCK_COLS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 20) as u16 & 0xFFF
            })
            .collect()
    }

    #[test]
    fn rows_unpack_to_what_was_packed() {
        let values = numbers(1, 3);
        let packed = pack(&values);
        assert_eq!(
            unpack_row(&packed.clone().try_into().unwrap())[..],
            values[..]
        );
        // bytes 0x01 0x23 0x45: the low nibble of the middle byte tops the first number
        let out = unpack_row(&[0x01, 0x23, 0x45].repeat(8).try_into().unwrap());
        assert_eq!(out, [0x301, 0x452].repeat(8)[..]);
    }

    /// Every version this CPU can run, with its name.
    type Version = (&'static str, fn(&[&[u8]], Range<usize>, &mut [u8], usize));
    fn versions() -> Vec<Version> {
        let mut v: Vec<Version> = vec![("scalar", unpack_scalar), ("dispatched", unpack_rows)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("sse4.1") {
                // SAFETY: the CPU has SSE4.1.
                v.push(("sse4.1", |c, r, o, s| unsafe {
                    x86::unpack_sse41(c, r, o, s);
                }));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                v.push(("avx2", |c, r, o, s| unsafe {
                    x86::unpack_avx2(c, r, o, s);
                }));
            }
        }
        v
    }

    #[test]
    fn every_version_unpacks_side_by_side_blocks_as_packed() {
        // (blocks side by side, rows packed, rows unpacked, output stride)
        for (n_cols, packed_rows, rows, stride) in [
            (1, 0, 0..0, 32),
            (1, 1, 0..1, 32),
            (1, 7, 2..7, 40),
            (3, 9, 4..9, 100),
            (16, 930, 0..930, 4096),
            (16, 12, 5..11, 512),
        ] {
            let seed = (n_cols * 1000 + packed_rows) as u64;
            // values[c][k * 16 + j]: number j of row k of column c
            let values: Vec<Vec<u16>> = (0..n_cols)
                .map(|c| numbers(packed_rows, seed + c as u64))
                .collect();
            let packed: Vec<Vec<u8>> = values.iter().map(|v| pack(v)).collect();
            let cols: Vec<&[u8]> = packed.iter().map(Vec::as_slice).collect();
            let width = n_cols * 32;
            for (name, f) in versions() {
                let len = if rows.is_empty() {
                    0
                } else {
                    (rows.len() - 1) * stride + width
                };
                let mut out = vec![0xA5u8; len + 3];
                f(&cols, rows.clone(), &mut out, stride);
                for (i, k) in rows.clone().enumerate() {
                    let line = &out[i * stride..i * stride + width];
                    for c in 0..n_cols {
                        assert_eq!(
                            as_u16(&line[c * 32..c * 32 + 32])[..],
                            values[c][k * 16..k * 16 + 16],
                            "{name}: column {c}, row {k}"
                        );
                    }
                    // between rows and after the last: untouched
                    let gap_end = if i + 1 < rows.len() {
                        (i + 1) * stride
                    } else {
                        out.len()
                    };
                    assert!(
                        out[i * stride + width..gap_end].iter().all(|&b| b == 0xA5),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "rows up to 2 need 48")]
    fn a_short_column_is_refused() {
        unpack_rows(&[&[0; 24], &[0; 47]], 0..2, &mut [0; 128], 64);
    }

    #[test]
    #[should_panic(expected = "2 rows need 96 bytes of output")]
    fn a_short_output_is_refused() {
        unpack_rows(&[&[0; 48]], 0..2, &mut [0; 95], 64);
    }
}
