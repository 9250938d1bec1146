//! Chunk encoders for writing compressed chunked files (HDF5 through direct chunk writes): the
//! inverse of the HDF5 filters in [`crate::decode`], chosen by name.
//!
//! Encoding is sequential per call; callers that want several cores encode several runs of
//! chunks at once from their own threads (the core starts no threads outside the runner).

use crate::decode::{bitshuffle, deflate};
use crate::{Error, Result};

/// How chunks are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Bitshuffle with LZ4 compression (HDF5 filter 32008, compression 2), default block size.
    BitshuffleLz4,
    /// A zlib stream at `level` 0–9 (HDF5 filter 1, `gzip` in h5py).
    Deflate {
        /// Compression level, 0 (stored) to 9 (smallest).
        level: u32,
    },
}

impl Codec {
    /// The codec called `name` (`"bitshuffle-lz4"` or `"gzip"`), with `level` for gzip.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `codec` or `level`.
    pub fn from_name(name: &str, level: u32) -> Result<Codec> {
        match name {
            "bitshuffle-lz4" => Ok(Codec::BitshuffleLz4),
            "gzip" if level <= 9 => Ok(Codec::Deflate { level }),
            "gzip" => Err(Error::InvalidParameter {
                name: "level".into(),
                value: level.to_string(),
                expected: "a gzip level from 0 to 9".into(),
            }),
            other => Err(Error::InvalidParameter {
                name: "codec".into(),
                value: format!("{other:?}"),
                expected: "'bitshuffle-lz4' or 'gzip'".into(),
            }),
        }
    }

    /// One chunk encoded: `data` holds elements of `elem_size` bytes.
    #[must_use]
    pub fn encode(self, data: &[u8], elem_size: usize) -> Vec<u8> {
        match self {
            Codec::BitshuffleLz4 => bitshuffle::encode_lz4(data, elem_size, 0),
            Codec::Deflate { level } => deflate::encode(data, level),
        }
    }
}

/// Encodes `data`, chunks of `chunk_bytes` bytes back to back, each on its own.
///
/// # Errors
/// [`Error::InvalidParameter`] if `chunk_bytes` is 0 or no whole number of `elem_size`-byte
/// elements, or `data` is no whole number of chunks.
pub fn encode_chunks(
    data: &[u8],
    chunk_bytes: usize,
    elem_size: usize,
    codec: Codec,
) -> Result<Vec<Vec<u8>>> {
    if elem_size == 0 || chunk_bytes == 0 || chunk_bytes % elem_size != 0 {
        return Err(Error::InvalidParameter {
            name: "chunk_bytes".into(),
            value: chunk_bytes.to_string(),
            expected: format!("a positive multiple of the element size {elem_size}"),
        });
    }
    if data.len() % chunk_bytes != 0 {
        return Err(Error::InvalidParameter {
            name: "data".into(),
            value: format!("{} bytes", data.len()),
            expected: format!("a whole number of {chunk_bytes}-byte chunks"),
        });
    }
    Ok(data
        .chunks_exact(chunk_bytes)
        .map(|chunk| codec.encode(chunk, elem_size))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Filter, Pipeline};

    #[test]
    fn chunks_decode_through_the_hdf5_pipeline() {
        let data: Vec<u8> = (0..3 * 4096u32).map(|i| ((i * 7) % 13) as u8).collect();
        for (codec, filter) in [
            (
                Codec::BitshuffleLz4,
                Filter::from_hdf5(32008, &[0, 4, 2, 0, 2], 2).unwrap(),
            ),
            (
                Codec::Deflate { level: 4 },
                Filter::from_hdf5(1, &[4], 2).unwrap(),
            ),
        ] {
            let encoded = encode_chunks(&data, 4096, 2, codec).unwrap();
            assert_eq!(encoded.len(), 3);
            let pipeline = Pipeline::new(vec![filter]);
            let mut scratch = crate::decode::DecodeScratch::default();
            for (i, chunk) in encoded.iter().enumerate() {
                let mut out = vec![0u8; 4096];
                pipeline.decode(chunk, 0, &mut out, &mut scratch).unwrap();
                assert_eq!(out, data[i * 4096..(i + 1) * 4096]);
            }
        }
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let err = |r: Result<Vec<Vec<u8>>>| r.unwrap_err().to_string();
        assert!(err(encode_chunks(&[0; 10], 0, 2, Codec::BitshuffleLz4)).contains("chunk_bytes"));
        assert!(err(encode_chunks(&[0; 10], 3, 2, Codec::BitshuffleLz4)).contains("chunk_bytes"));
        assert!(err(encode_chunks(&[0; 10], 4, 2, Codec::BitshuffleLz4)).contains("data"));
        assert!(Codec::from_name("zstd", 0)
            .unwrap_err()
            .to_string()
            .contains("codec"));
        assert!(Codec::from_name("gzip", 10)
            .unwrap_err()
            .to_string()
            .contains("level"));
    }
}
