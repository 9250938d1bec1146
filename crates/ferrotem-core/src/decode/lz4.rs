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

/// LZ4-decompresses one block into `out`, which it must fill exactly.
pub(crate) fn decompress_block(block: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    match lz4_flex::block::decompress_into(block, out) {
        Ok(n) if n == out.len() => Ok(()),
        Ok(n) => Err(DecodeError::new(format!(
            "an LZ4 block decodes to {n} bytes, expected {}",
            out.len()
        ))),
        Err(e) => Err(DecodeError::new(format!("invalid LZ4 block ({e})"))),
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
