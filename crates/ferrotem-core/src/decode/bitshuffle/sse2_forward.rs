//! The forward transform with SSE2 (part of every x86-64 CPU), for writing: byte `j` of sixteen
//! consecutive elements is gathered into one vector (with packs for 1-, 2- and 4-byte elements,
//! element by element otherwise), then `movemask` takes bit 7 of each of the sixteen bytes —
//! two whole bytes of a bit row — and a byte-wise doubling brings the next bit up.

use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_and_si128, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi32,
    _mm_packus_epi16, _mm_set1_epi16, _mm_set1_epi32, _mm_srli_epi16, _mm_srli_epi32,
};

#[inline]
#[target_feature(enable = "sse2")]
fn load(data: &[u8], at: usize) -> __m128i {
    let bytes = &data[at..at + 16];
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "`_mm_loadu_si128` reads unaligned memory"
    )]
    let ptr = bytes.as_ptr().cast::<__m128i>();
    // SAFETY: `bytes` is 16 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(ptr) }
}

/// Byte `j` of the sixteen elements starting at element `first` (2-byte elements: the packs
/// saturate, so each lane is masked to its byte first; 4-byte lanes hold at most 255 after the
/// mask, which the signed pack keeps).
#[inline]
#[target_feature(enable = "sse2")]
fn gather(data: &[u8], elem_size: usize, first: usize, j: usize) -> __m128i {
    let at = first * elem_size;
    match elem_size {
        1 => load(data, at),
        2 => {
            let (a, b) = (load(data, at), load(data, at + 16));
            let mask = _mm_set1_epi16(0xFF);
            let a = _mm_and_si128(srl16(a, j), mask);
            let b = _mm_and_si128(srl16(b, j), mask);
            _mm_packus_epi16(a, b)
        }
        4 => {
            let mask = _mm_set1_epi32(0xFF);
            let part = |k: usize| _mm_and_si128(srl32(load(data, at + 16 * k), j), mask);
            let lo = _mm_packs_epi32(part(0), part(1));
            let hi = _mm_packs_epi32(part(2), part(3));
            _mm_packus_epi16(lo, hi)
        }
        _ => {
            let mut bytes = [0u8; 16];
            for (m, byte) in bytes.iter_mut().enumerate() {
                *byte = data[at + m * elem_size + j];
            }
            load(&bytes, 0)
        }
    }
}

/// Byte `byte` (0 or 1) of each 16-bit lane moved to its low byte (the shift intrinsics take
/// constant counts).
#[inline]
#[target_feature(enable = "sse2")]
fn srl16(v: __m128i, byte: usize) -> __m128i {
    if byte == 0 {
        v
    } else {
        _mm_srli_epi16::<8>(v)
    }
}

#[inline]
#[target_feature(enable = "sse2")]
fn srl32(v: __m128i, byte: usize) -> __m128i {
    match byte {
        0 => v,
        1 => _mm_srli_epi32::<8>(v),
        2 => _mm_srli_epi32::<16>(v),
        _ => _mm_srli_epi32::<24>(v),
    }
}

/// Transforms the elements of `data` in groups of sixteen into `out` (rows of
/// `data.len() / elem_size / 8` bytes); returns the number of row bytes done (two per group),
/// the rest is left to the scalar code.
#[target_feature(enable = "sse2")]
pub(super) fn transform(data: &[u8], out: &mut [u8], elem_size: usize) -> usize {
    let n = data.len() / elem_size;
    let row = n / 8;
    let groups = n / 16;
    for j in 0..elem_size {
        for g in 0..groups {
            let mut v = gather(data, elem_size, 16 * g, j);
            for b in (0..8).rev() {
                #[expect(
                    clippy::cast_sign_loss,
                    clippy::cast_possible_truncation,
                    reason = "movemask gives 16 bits"
                )]
                let bits = _mm_movemask_epi8(v) as u16;
                let at = (8 * j + b) * row + 2 * g;
                out[at..at + 2].copy_from_slice(&bits.to_le_bytes());
                v = _mm_add_epi8(v, v);
            }
        }
    }
    2 * groups
}
