//! The HDF5 LZ4 plugin's framing (filter 32004).
//!
//! A chunk starts with the decoded size (8 bytes, big-endian) and the block size (4 bytes,
//! big-endian), followed by one record per block of up to that many decoded bytes: the record's
//! stored size (4 bytes, big-endian) and the block, LZ4-compressed — or stored as it is when its
//! stored size equals its decoded size (the plugin does that when compression does not help).

use super::DecodeError;

/// Reads a big-endian `u32` at `at`, if the input is long enough.
pub(crate) fn be_u32(input: &[u8], at: usize) -> Option<u32> {
    let bytes = input.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads a big-endian `u64` at `at`, if the input is long enough.
pub(crate) fn be_u64(input: &[u8], at: usize) -> Option<u64> {
    let bytes = input.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// LZ4-decompresses one block (the LZ4 block format: sequences of literals and back
/// references) into `out`, which it must fill exactly.
///
/// Our own decoder rather than `lz4_flex`'s: bitshuffled detector data compresses to long runs
/// of zeros, stored as one long match overlapping its own output (a few bytes back), which
/// `lz4_flex` copies byte by byte; here such a match is filled in doubling pieces. The tests
/// check it against `lz4_flex` on random and mutated blocks.
///
/// # Errors
/// [`DecodeError`] if the block is cut short, refers back before the start of the output, or
/// does not decode to exactly `out.len()` bytes.
pub(crate) fn decompress_block(block: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    let mut ip = 0usize;
    let mut op = 0usize;
    loop {
        let token = *block
            .get(ip)
            .ok_or_else(|| DecodeError::new("an LZ4 block ends before its last sequence"))?;
        ip += 1;
        let mut literals = usize::from(token >> 4);
        if literals == 15 {
            literals += extra_length(block, &mut ip)?;
        }
        let (lit_in, lit_out) = (ip + literals, op + literals);
        if lit_in > block.len() || lit_out > out.len() {
            return Err(DecodeError::new(format!(
                "an LZ4 block's literals run past its end or past the {} bytes expected",
                out.len()
            )));
        }
        out[op..lit_out].copy_from_slice(&block[ip..lit_in]);
        (ip, op) = (lit_in, lit_out);
        if ip == block.len() {
            break;
        }
        let offset = block
            .get(ip..ip + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| DecodeError::new("an LZ4 block is cut inside a match offset"))?;
        ip += 2;
        if offset == 0 || offset > op {
            return Err(DecodeError::new(format!(
                "an LZ4 match refers {offset} bytes back from output byte {op}"
            )));
        }
        let mut length = usize::from(token & 15) + 4;
        if token & 15 == 15 {
            length += extra_length(block, &mut ip)?;
        }
        if op + length > out.len() {
            return Err(DecodeError::new(format!(
                "an LZ4 block decodes to more than the {} bytes expected",
                out.len()
            )));
        }
        copy_match(out, op, offset, length);
        op += length;
    }
    if op != out.len() {
        return Err(DecodeError::new(format!(
            "an LZ4 block decodes to {op} bytes, expected {}",
            out.len()
        )));
    }
    Ok(())
}

/// Reads the bytes that extend a literal or match length (each 255 continues, the sum is added).
fn extra_length(block: &[u8], ip: &mut usize) -> Result<usize, DecodeError> {
    let mut total = 0usize;
    loop {
        let byte = *block
            .get(*ip)
            .ok_or_else(|| DecodeError::new("an LZ4 block is cut inside a length"))?;
        *ip += 1;
        // A length past any block's size: corrupt (and no overflow below).
        total = total
            .checked_add(usize::from(byte))
            .filter(|&t| t <= 1 << 31)
            .ok_or_else(|| DecodeError::new("an LZ4 length is impossibly large"))?;
        if byte != 255 {
            return Ok(total);
        }
    }
}

/// Copies `length` bytes from `offset` bytes before `at` to `at`, as a byte-by-byte forward copy
/// would (the source may overlap what is being written: a repeating pattern).
fn copy_match(out: &mut [u8], at: usize, offset: usize, length: usize) {
    let start = at - offset;
    if offset >= length {
        out.copy_within(start..start + length, at);
    } else if offset == 1 {
        let byte = out[start];
        out[at..at + length].fill(byte);
    } else {
        // The pattern of `offset` bytes repeats: copy what is already there, doubling each
        // time; every piece ends before its destination begins, and keeps the period.
        let mut done = 0;
        while done < length {
            let n = (offset + done).min(length - done);
            out.copy_within(start..start + n, at + done);
            done += n;
        }
    }
}

/// Decodes a chunk in the plugin's framing into `out`, which it must fill exactly.
///
/// # Errors
/// [`DecodeError`] if the header disagrees with `out`'s length, a record runs past the end of
/// the input, or a block does not decode to its size.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    let total = be_u64(input, 0)
        .ok_or_else(|| DecodeError::new("the LZ4 header is cut short (12 bytes expected)"))?;
    let block_size = be_u32(input, 8)
        .ok_or_else(|| DecodeError::new("the LZ4 header is cut short (12 bytes expected)"))?;
    if total != out.len() as u64 {
        return Err(DecodeError::new(format!(
            "the LZ4 header says {total} bytes, expected {}",
            out.len()
        )));
    }
    if block_size == 0 && !out.is_empty() {
        return Err(DecodeError::new("the LZ4 header gives a block size of 0"));
    }
    let block_size = block_size as usize;
    let mut pos = 12usize;
    for block_out in out.chunks_mut(block_size.max(1)) {
        let stored = be_u32(input, pos).ok_or_else(|| {
            DecodeError::new(format!("an LZ4 record header at byte {pos} is cut short"))
        })? as usize;
        pos += 4;
        let block = pos
            .checked_add(stored)
            .and_then(|end| input.get(pos..end))
            .ok_or_else(|| {
                DecodeError::new(format!(
                    "an LZ4 block of {stored} bytes at byte {pos} runs past the chunk's {} bytes",
                    input.len()
                ))
            })?;
        if stored == block_out.len() {
            block_out.copy_from_slice(block);
        } else {
            decompress_block(block, block_out)?;
        }
        pos += stored;
    }
    Ok(())
}

/// Encodes `data` in the plugin's framing with blocks of `block_size` bytes (what the plugin
/// writes; blocks that LZ4 does not shrink are stored as they are).
#[must_use]
pub fn encode(data: &[u8], block_size: usize) -> Vec<u8> {
    let block_size = block_size.max(1);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(&u32::try_from(block_size).unwrap_or(u32::MAX).to_be_bytes());
    for block in data.chunks(block_size) {
        let compressed = lz4_flex::block::compress(block);
        let stored: &[u8] = if compressed.len() >= block.len() {
            block
        } else {
            &compressed
        };
        out.extend_from_slice(
            &u32::try_from(stored.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(stored);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Data with runs of every length and period, the patterns LZ4 turns into overlapping
    /// matches.
    fn runs(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let period = 1 + (x % 20) as usize;
            let repeat = (x >> 8) % 300;
            let pattern: Vec<u8> = (0..period).map(|i| (x >> (i % 8)) as u8).collect();
            for i in 0..repeat as usize * period {
                out.push(pattern[i % period]);
            }
            out.push((x >> 40) as u8);
        }
        out.truncate(len);
        out
    }

    proptest! {
        #[test]
        fn blocks_decode_as_lz4_flex_decodes_them(seed in any::<u64>(), len in 0usize..20_000) {
            let data = runs(seed, len);
            let block = lz4_flex::block::compress(&data);
            let mut out = vec![0u8; len];
            decompress_block(&block, &mut out).unwrap();
            prop_assert_eq!(&out, &data);
            let mut short = vec![0u8; len.saturating_sub(1)];
            prop_assert!(len == 0 || decompress_block(&block, &mut short).is_err());
        }

        #[test]
        fn mutated_blocks_agree_with_lz4_flex(seed in any::<u64>(), len in 1usize..3000,
                                               flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut block = lz4_flex::block::compress(&runs(seed, len));
            for (at, v) in flips {
                let i = at % block.len();
                block[i] ^= v;
            }
            let mut ours = vec![0u8; len];
            let mut theirs = vec![0u8; len];
            let a = decompress_block(&block, &mut ours);
            let b = lz4_flex::block::decompress_into(&block, &mut theirs);
            if let (Ok(()), Ok(n)) = (&a, &b) {
                prop_assert_eq!(*n, len);
                prop_assert_eq!(&ours, &theirs);
            }
        }
    }

    #[test]
    fn round_trip_with_compressed_and_stored_blocks() {
        // First half compresses well, second half is noise (stored as is).
        let mut data: Vec<u8> = vec![7; 5000];
        let mut x = 12345u32;
        data.extend((0..5000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        }));
        let stored = encode(&data, 1024);
        let mut out = vec![0u8; data.len()];
        decode(&stored, &mut out).unwrap();
        assert_eq!(out, data);
        let mut wrong = vec![0u8; data.len() + 1];
        assert!(decode(&stored, &mut wrong)
            .unwrap_err()
            .0
            .contains("header says"));
        assert!(decode(&stored[..stored.len() - 3], &mut out).is_err());
        assert!(decode(&stored[..5], &mut out).is_err());
    }
}
