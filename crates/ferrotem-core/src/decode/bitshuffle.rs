//! Bitshuffle (HDF5 filter 32008), written from the algorithm's description.
//!
//! **The transform.** A block of `size` elements (`size` a multiple of 8) of `elem_size` bytes is
//! stored as `8 * elem_size` bit rows of `size / 8` bytes each: row `8 * j + b` holds bit `b` of
//! byte `j` of every element, element `i` at bit `i % 8` of the row's byte `i / 8`. Decoding
//! gathers each output byte from eight rows — an 8×8 bit transpose per eight elements.
//!
//! **The blocks.** A chunk of `n` elements is cut into blocks of `block_size` elements (a
//! multiple of 8). After the whole blocks comes one shorter block of the remaining elements
//! rounded down to a multiple of 8; the last `n % 8` elements are stored untransformed at the
//! very end.
//!
//! **LZ4 framing** (compression 2 in the filter's parameters). The chunk starts with the decoded
//! size in bytes (8 bytes, big-endian) and the block size *in bytes* (4 bytes, big-endian); each
//! block is then stored as its compressed size (4 bytes, big-endian) followed by the LZ4 block of
//! the transformed bytes; the untransformed tail follows the last block. Without compression
//! (compression 0) there is no header: the transformed blocks and the tail, back to back, with
//! the block size taken from the filter's parameters.

use super::lz4::{be_u32, be_u64, decompress_block};
use super::DecodeError;

/// The block size bitshuffle chooses when the parameters give 0: about 8 KiB of data, a multiple
/// of 8 elements, at least 128 elements.
#[must_use]
pub fn default_block_size(elem_size: usize) -> usize {
    let block = 8192 / elem_size.max(1);
    (block / 8 * 8).max(128)
}

/// Transposes an 8×8 bit matrix held in a `u64` (row `r` = byte `r`, column `c` = bit `c`):
/// bit `c` of byte `r` becomes bit `r` of byte `c`.
#[inline]
#[must_use]
pub fn transpose_8x8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^= t ^ (t << 28);
    x
}

/// Applies the transform to one block: `size * elem_size` bytes of `data` (`size` a multiple of
/// 8) into `out`, of the same length.
///
/// # Panics
/// If the lengths disagree or `size` is not a multiple of 8 (a caller's bug, not bad data).
pub fn transform_block(data: &[u8], out: &mut [u8], elem_size: usize) {
    assert!(data.len() == out.len() && elem_size > 0 && data.len() % (8 * elem_size) == 0);
    let row = data.len() / elem_size / 8;
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
    #[cfg(target_arch = "x86_64")]
    let done = unsafe { sse2_forward::transform(data, out, elem_size) };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    transform_scalar(data, out, elem_size, done..row);
}

/// The scalar transform, for the row bytes `groups` (each group = eight elements).
fn transform_scalar(data: &[u8], out: &mut [u8], elem_size: usize, groups: std::ops::Range<usize>) {
    let row = data.len() / elem_size / 8;
    for j in 0..elem_size {
        for g in groups.clone() {
            let mut x = 0u64;
            for m in 0..8 {
                x |= u64::from(data[(8 * g + m) * elem_size + j]) << (8 * m);
            }
            let t = transpose_8x8(x).to_le_bytes();
            for (b, &byte) in t.iter().enumerate() {
                out[(8 * j + b) * row + g] = byte;
            }
        }
    }
}

/// Undoes the transform of one block: the inverse of [`transform_block`].
///
/// # Panics
/// As [`transform_block`].
pub fn untransform_block(data: &[u8], out: &mut [u8], elem_size: usize) {
    assert!(data.len() == out.len() && elem_size > 0 && data.len() % (8 * elem_size) == 0);
    let row = data.len() / elem_size / 8;
    #[cfg(target_arch = "x86_64")]
    let done = if matches!(elem_size, 2 | 4) && avx2::available() {
        // SAFETY: `available` checked that the CPU has AVX2.
        unsafe { avx2::untransform(data, out, elem_size) }
    } else if elem_size % 2 == 0 {
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
        unsafe { sse2::untransform_pairs(data, out, elem_size) }
    } else {
        // SAFETY: as above.
        unsafe { sse2::untransform_single(data, out, elem_size) }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    untransform_scalar(data, out, elem_size, done..row);
}

/// The scalar inverse transform, for the row bytes `groups` (each group = eight elements).
fn untransform_scalar(
    data: &[u8],
    out: &mut [u8],
    elem_size: usize,
    groups: std::ops::Range<usize>,
) {
    let row = data.len() / elem_size / 8;
    for j in 0..elem_size {
        let rows = &data[8 * j * row..8 * (j + 1) * row];
        for g in groups.clone() {
            let mut x = 0u64;
            for b in 0..8 {
                x |= u64::from(rows[b * row + g]) << (8 * b);
            }
            let t = transpose_8x8(x).to_le_bytes();
            for (m, &byte) in t.iter().enumerate() {
                out[(8 * g + m) * elem_size + j] = byte;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod sse2;
#[cfg(target_arch = "x86_64")]
mod sse2_forward;

/// Splits `n` elements into the bitshuffle blocks: `(whole blocks, size of the short block)`;
/// the `n % 8` elements after them are stored untransformed.
fn block_layout(n: usize, block_size: usize) -> (usize, usize) {
    let whole = n / block_size;
    let rest = n % block_size;
    (whole, rest - rest % 8)
}

/// Decodes an LZ4-compressed bitshuffle chunk into `out`, which it must fill exactly; `scratch`
/// holds one decompressed block.
///
/// # Errors
/// [`DecodeError`] if the header disagrees with `out` or with `elem_size`, a block runs past the
/// end of the input or does not decompress to its size.
pub fn decode_lz4(
    input: &[u8],
    out: &mut [u8],
    elem_size: usize,
    scratch: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let cut = || DecodeError::new("the bitshuffle header is cut short (12 bytes expected)");
    let total = be_u64(input, 0).ok_or_else(cut)?;
    let block_bytes = be_u32(input, 8).ok_or_else(cut)? as usize;
    if total != out.len() as u64 {
        return Err(DecodeError::new(format!(
            "the bitshuffle header says {total} bytes, expected {}",
            out.len()
        )));
    }
    if elem_size == 0 || out.len() % elem_size != 0 {
        return Err(DecodeError::new(format!(
            "{} bytes are not a whole number of {elem_size}-byte elements",
            out.len()
        )));
    }
    let block_size = block_bytes / elem_size;
    if block_bytes % elem_size != 0 || block_size == 0 || block_size % 8 != 0 {
        return Err(DecodeError::new(format!(
            "the bitshuffle header gives a block of {block_bytes} bytes, not a positive multiple \
             of 8 elements of {elem_size} bytes"
        )));
    }
    let n = out.len() / elem_size;
    let (whole, short) = block_layout(n, block_size);
    let mut pos = 12usize;
    let mut at = 0usize;
    let sizes = std::iter::repeat_n(block_size, whole).chain((short > 0).then_some(short));
    for elems in sizes {
        let len = elems * elem_size;
        let stored = be_u32(input, pos).ok_or_else(|| {
            DecodeError::new(format!(
                "a bitshuffle block header at byte {pos} is cut short"
            ))
        })? as usize;
        pos += 4;
        let block = pos
            .checked_add(stored)
            .and_then(|end| input.get(pos..end))
            .ok_or_else(|| {
                DecodeError::new(format!(
                    "a bitshuffle block of {stored} bytes at byte {pos} runs past the chunk's {} \
                     bytes",
                    input.len()
                ))
            })?;
        // Grown once, never cleared: `decompress_block` fills it or fails.
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let decompressed = &mut scratch[..len];
        decompress_block(block, decompressed)?;
        untransform_block(decompressed, &mut out[at..at + len], elem_size);
        pos += stored;
        at += len;
    }
    copy_tail(input, pos, &mut out[at..])
}

/// Decodes an uncompressed bitshuffle chunk (no header) with blocks of `block_size` elements
/// (0: the default) into `out`, as long as the input.
///
/// # Errors
/// [`DecodeError`] if the lengths disagree or the block size is not a multiple of 8.
pub fn decode_uncompressed(
    input: &[u8],
    out: &mut [u8],
    elem_size: usize,
    block_size: usize,
) -> Result<(), DecodeError> {
    if input.len() != out.len() {
        return Err(DecodeError::new(format!(
            "the chunk holds {} bytes, expected {}",
            input.len(),
            out.len()
        )));
    }
    let block_size = if block_size == 0 {
        default_block_size(elem_size)
    } else {
        block_size
    };
    if elem_size == 0 || block_size % 8 != 0 {
        return Err(DecodeError::new(format!(
            "bitshuffle block size {block_size} is not a multiple of 8"
        )));
    }
    let n = out.len() / elem_size;
    let (whole, short) = block_layout(n, block_size);
    let mut at = 0usize;
    let sizes = std::iter::repeat_n(block_size, whole).chain((short > 0).then_some(short));
    for elems in sizes {
        let len = elems * elem_size;
        untransform_block(&input[at..at + len], &mut out[at..at + len], elem_size);
        at += len;
    }
    out[at..].copy_from_slice(&input[at..]);
    Ok(())
}

/// Copies the untransformed tail stored at `pos` into `tail`.
fn copy_tail(input: &[u8], pos: usize, tail: &mut [u8]) -> Result<(), DecodeError> {
    let stored = pos
        .checked_add(tail.len())
        .and_then(|end| input.get(pos..end))
        .ok_or_else(|| {
            DecodeError::new(format!(
                "the chunk ends before its last {} bytes (at byte {pos} of {})",
                tail.len(),
                input.len()
            ))
        })?;
    tail.copy_from_slice(stored);
    Ok(())
}

/// Applies the transform to a whole chunk in blocks of `block_size` elements (0: the default),
/// as the filter does without compression.
#[must_use]
pub fn encode_uncompressed(data: &[u8], elem_size: usize, block_size: usize) -> Vec<u8> {
    let block_size = if block_size == 0 {
        default_block_size(elem_size)
    } else {
        block_size
    };
    let mut out = data.to_vec();
    let (whole, short) = block_layout(data.len() / elem_size, block_size);
    let mut at = 0;
    for elems in std::iter::repeat_n(block_size, whole).chain((short > 0).then_some(short)) {
        let len = elems * elem_size;
        transform_block(&data[at..at + len], &mut out[at..at + len], elem_size);
        at += len;
    }
    out
}

/// Encodes a chunk as the filter does with LZ4 compression (blocks of `block_size` elements, 0:
/// the default): the inverse of [`decode_lz4`].
#[must_use]
pub fn encode_lz4(data: &[u8], elem_size: usize, block_size: usize) -> Vec<u8> {
    let block_size = if block_size == 0 {
        default_block_size(elem_size)
    } else {
        block_size
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(block_size * elem_size)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let (whole, short) = block_layout(data.len() / elem_size, block_size);
    let mut at = 0;
    let mut transformed = Vec::new();
    for elems in std::iter::repeat_n(block_size, whole).chain((short > 0).then_some(short)) {
        let len = elems * elem_size;
        transformed.resize(len, 0);
        transform_block(&data[at..at + len], &mut transformed, elem_size);
        // Compressed straight behind its size field: no allocation and no copy per block.
        let size_at = out.len();
        out.resize(
            size_at + 4 + lz4_flex::block::get_maximum_output_size(len),
            0,
        );
        let written = lz4_flex::block::compress_into(&transformed, &mut out[size_at + 4..])
            .unwrap_or_else(|_| unreachable!("the output has the maximum compressed size"));
        out[size_at..size_at + 4]
            .copy_from_slice(&u32::try_from(written).unwrap_or(u32::MAX).to_be_bytes());
        out.truncate(size_at + 4 + written);
        at += len;
    }
    out.extend_from_slice(&data[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The transform straight from its definition, bit by bit.
    fn transform_by_definition(data: &[u8], elem_size: usize) -> Vec<u8> {
        let n = data.len() / elem_size;
        let row = n / 8;
        let mut out = vec![0u8; data.len()];
        for i in 0..n {
            for j in 0..elem_size {
                for b in 0..8 {
                    let bit = (data[i * elem_size + j] >> b) & 1;
                    out[(8 * j + b) * row + i / 8] |= bit << (i % 8);
                }
            }
        }
        out
    }

    #[test]
    fn transpose_is_a_transpose() {
        let x = 0x0123_4567_89AB_CDEFu64;
        let t = transpose_8x8(x);
        for r in 0..8 {
            for c in 0..8 {
                assert_eq!((x >> (8 * r + c)) & 1, (t >> (8 * c + r)) & 1);
            }
        }
    }

    proptest! {
        #[test]
        fn transform_matches_definition_and_inverts(
            groups in 1usize..70,
            elem_size in prop::sample::select(vec![1usize, 2, 3, 4, 8]),
            seed in any::<u64>(),
        ) {
            let len = groups * 8 * elem_size;
            let mut x = seed;
            let data: Vec<u8> = (0..len).map(|_| {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                x as u8
            }).collect();
            let mut forward = vec![0u8; len];
            transform_block(&data, &mut forward, elem_size);
            prop_assert_eq!(&forward, &transform_by_definition(&data, elem_size));
            // The SIMD forward path against the scalar one, over all groups.
            let mut scalar_forward = vec![0u8; len];
            transform_scalar(&data, &mut scalar_forward, elem_size, 0..groups);
            prop_assert_eq!(&scalar_forward, &forward);
            let mut back = vec![0u8; len];
            untransform_block(&forward, &mut back, elem_size);
            prop_assert_eq!(&back, &data);
            // The SIMD paths against the scalar one, over all groups.
            let mut scalar = vec![0u8; len];
            untransform_scalar(&forward, &mut scalar, elem_size, 0..groups);
            prop_assert_eq!(&scalar, &data);
        }

        #[test]
        fn chunks_round_trip(
            n in 0usize..3000,
            elem_size in prop::sample::select(vec![1usize, 2, 4, 8]),
            block in prop::sample::select(vec![0usize, 8, 64, 256]),
        ) {
            let data: Vec<u8> = (0..n * elem_size).map(|i| ((i * 37) % 13) as u8).collect();
            let mut out = vec![0u8; data.len()];
            let mut scratch = Vec::new();
            decode_lz4(&encode_lz4(&data, elem_size, block), &mut out, elem_size, &mut scratch)
                .unwrap();
            prop_assert_eq!(&out, &data);
            let mut out2 = vec![0u8; data.len()];
            decode_uncompressed(&encode_uncompressed(&data, elem_size, block), &mut out2,
                                elem_size, block).unwrap();
            prop_assert_eq!(&out2, &data);
        }
    }
}
