//! Deflate (HDF5 filter 1): a zlib stream, inflated with `flate2` (zlib-rs backend).

use super::DecodeError;
use flate2::{Decompress, FlushDecompress, Status};

/// Inflates the zlib stream `input` into `out`, which it must fill exactly.
///
/// # Errors
/// [`DecodeError`] if the stream is invalid, ends early, or holds more or fewer bytes than
/// `out`.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    let mut inflater = Decompress::new(true);
    let status = inflater
        .decompress(input, out, FlushDecompress::Finish)
        .map_err(|e| DecodeError::new(format!("invalid deflate stream ({e})")))?;
    let produced = usize::try_from(inflater.total_out()).unwrap_or(usize::MAX);
    match status {
        Status::StreamEnd if produced == out.len() => Ok(()),
        Status::StreamEnd => Err(DecodeError::new(format!(
            "the deflate stream holds {produced} bytes, expected {}",
            out.len()
        ))),
        Status::Ok | Status::BufError if produced == out.len() => Err(DecodeError::new(format!(
            "the deflate stream holds more than the {} bytes expected",
            out.len()
        ))),
        Status::Ok | Status::BufError => Err(DecodeError::new(format!(
            "the deflate stream ends early, after {produced} of {} bytes",
            out.len()
        ))),
    }
}

/// Compresses `data` as a zlib stream at `level` (0–9), as HDF5's deflate filter writes it.
#[must_use]
pub fn encode(data: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level.min(9)));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_sizes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let stored = encode(&data, 1);
        let mut out = vec![0u8; data.len()];
        decode(&stored, &mut out).unwrap();
        assert_eq!(out, data);
        let mut short = vec![0u8; data.len() - 1];
        assert!(decode(&stored, &mut short)
            .unwrap_err()
            .0
            .contains("more than"));
        let mut long = vec![0u8; data.len() + 1];
        assert!(decode(&stored, &mut long).is_err());
        assert!(decode(&stored[..stored.len() / 2], &mut out).is_err());
        assert!(decode(b"not zlib at all", &mut out).is_err());
    }
}
