//! Chunk decoders: the HDF5 filters the chunk-table source undoes itself, one module per filter,
//! and the pipeline that chains them.
//!
//! A filter pipeline is listed in the order HDF5 applies it when *writing* (as `H5Pget_filter`
//! numbers it); a chunk is decoded by undoing the filters in reverse order, skipping those whose
//! bit is set in the chunk's filter mask. Every decoder works on untrusted bytes: a corrupt chunk
//! gives a [`DecodeError`] saying what is wrong, never a panic or an out-of-bounds access.
//!
//! | HDF5 filter id | filter | module |
//! |---|---|---|
//! | 1 | deflate (zlib stream) | [`deflate`] |
//! | 2 | byte shuffle | [`shuffle`] |
//! | 32004 | LZ4 (the HDF5 lz4 plugin's block framing) | [`lz4`] |
//! | 32008 | bitshuffle, with LZ4 or without compression | [`bitshuffle`] |

pub mod bitshuffle;
pub mod deflate;
pub mod lz4;
pub mod shuffle;

use std::fmt;

/// What is wrong with a chunk that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError(message.into())
    }
}

/// HDF5 filter id of deflate.
pub const FILTER_DEFLATE: u32 = 1;
/// HDF5 filter id of the byte shuffle.
pub const FILTER_SHUFFLE: u32 = 2;
/// Registered HDF5 filter id of the LZ4 plugin.
pub const FILTER_LZ4: u32 = 32004;
/// Registered HDF5 filter id of bitshuffle.
pub const FILTER_BITSHUFFLE: u32 = 32008;

/// One filter of a pipeline, with the parameters decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// zlib-wrapped deflate (filter 1).
    Deflate,
    /// Byte shuffle of elements of `elem_size` bytes (filter 2).
    Shuffle {
        /// Bytes per element.
        elem_size: usize,
    },
    /// HDF5's LZ4 plugin framing (filter 32004).
    Lz4,
    /// Bitshuffle (filter 32008), LZ4-compressed or not.
    Bitshuffle {
        /// Bytes per element.
        elem_size: usize,
        /// Elements per block when uncompressed (compressed chunks carry their own).
        block_size: usize,
        /// True if the blocks are LZ4-compressed (the chunk starts with bitshuffle's header).
        lz4: bool,
    },
}

impl Filter {
    /// The filter for HDF5 filter `id` with client data `cd_values`, for elements of `itemsize`
    /// bytes; `None` if ferrotem does not decode it (the caller reads through HDF5 instead).
    #[must_use]
    pub fn from_hdf5(id: u32, cd_values: &[u32], itemsize: usize) -> Option<Filter> {
        let param = |i: usize| cd_values.get(i).map(|&v| v as usize);
        match id {
            FILTER_DEFLATE => Some(Filter::Deflate),
            FILTER_SHUFFLE => {
                let elem_size = param(0).filter(|&e| e > 0).unwrap_or(itemsize);
                Some(Filter::Shuffle { elem_size })
            }
            FILTER_LZ4 => Some(Filter::Lz4),
            FILTER_BITSHUFFLE => {
                // cd_values: (major, minor, element size, block size, compression[, level]);
                // compression 0 = none, 2 = LZ4 (3 = zstd is not decoded here).
                let elem_size = param(2).filter(|&e| e > 0).unwrap_or(itemsize);
                let block_size = param(3).unwrap_or(0);
                let lz4 = match param(4).unwrap_or(0) {
                    0 => false,
                    2 => true,
                    _ => return None,
                };
                if block_size % 8 != 0 {
                    return None;
                }
                Some(Filter::Bitshuffle {
                    elem_size,
                    block_size,
                    lz4,
                })
            }
            _ => None,
        }
    }

    /// True if the filter keeps the length of its data (it only reorders bytes).
    fn keeps_length(self) -> bool {
        matches!(
            self,
            Filter::Shuffle { .. } | Filter::Bitshuffle { lz4: false, .. }
        )
    }

    /// Undoes this filter: `input` → `out`. `out` is as long as the input for length-keeping
    /// filters and as long as the decoded chunk for decompressors.
    fn undo(self, input: &[u8], out: &mut [u8], scratch: &mut Vec<u8>) -> Result<(), DecodeError> {
        match self {
            Filter::Deflate => deflate::decode(input, out),
            Filter::Shuffle { elem_size } => {
                shuffle::unshuffle(input, out, elem_size);
                Ok(())
            }
            Filter::Lz4 => lz4::decode(input, out),
            Filter::Bitshuffle {
                elem_size,
                block_size,
                lz4,
            } => {
                if lz4 {
                    bitshuffle::decode_lz4(input, out, elem_size, scratch)
                } else {
                    bitshuffle::decode_uncompressed(input, out, elem_size, block_size)
                }
            }
        }
    }
}

/// Buffers a decoding thread reuses from chunk to chunk.
#[derive(Debug, Default)]
pub struct DecodeScratch {
    stages: [Vec<u8>; 2],
    block: Vec<u8>,
}

/// A filter pipeline, in HDF5's (writing) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    filters: Vec<Filter>,
}

impl Pipeline {
    /// A pipeline of `filters`, in the order HDF5 lists them.
    #[must_use]
    pub fn new(filters: Vec<Filter>) -> Self {
        Pipeline { filters }
    }

    /// The filters, in HDF5's order.
    #[must_use]
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// True if a chunk with `filter_mask` is stored as plain bytes (every filter skipped).
    #[must_use]
    pub fn is_plain(&self, filter_mask: u32) -> bool {
        (0..self.filters.len()).all(|i| skipped(filter_mask, i))
    }

    /// Decodes the stored bytes of one chunk into `out`, which must be as long as the decoded
    /// chunk.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are not a valid encoding of a chunk of `out.len()` bytes.
    pub fn decode(
        &self,
        input: &[u8],
        filter_mask: u32,
        out: &mut [u8],
        scratch: &mut DecodeScratch,
    ) -> Result<(), DecodeError> {
        let active: Vec<Filter> = self
            .filters
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| !skipped(filter_mask, *i))
            .map(|(_, f)| *f)
            .collect();
        let Some((&last, rest)) = active.split_last() else {
            return copy_exact(input, out);
        };
        let [mut a, mut b] = std::mem::take(&mut scratch.stages);
        let result = (|| {
            // Where the current bytes are: the input (None), `a` (Some(true)) or `b`.
            let mut in_a: Option<bool> = None;
            for &filter in rest {
                let (src, dst): (&[u8], &mut Vec<u8>) = match in_a {
                    None => (input, &mut a),
                    Some(true) => (&a, &mut b),
                    Some(false) => (&b, &mut a),
                };
                let len = if filter.keeps_length() {
                    src.len()
                } else {
                    out.len()
                };
                dst.clear();
                dst.resize(len, 0);
                filter.undo(src, dst, &mut scratch.block)?;
                in_a = Some(in_a != Some(true));
            }
            let src: &[u8] = match in_a {
                None => input,
                Some(true) => &a,
                Some(false) => &b,
            };
            if last.keeps_length() && src.len() != out.len() {
                return Err(DecodeError::new(format!(
                    "the chunk decodes to {} bytes, expected {}",
                    src.len(),
                    out.len()
                )));
            }
            last.undo(src, out, &mut scratch.block)
        })();
        scratch.stages = [a, b];
        result
    }
}

/// True if bit `i` of `mask` says filter `i` was skipped for this chunk.
fn skipped(mask: u32, i: usize) -> bool {
    i < 32 && mask & (1 << i) != 0
}

fn copy_exact(input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    if input.len() != out.len() {
        return Err(DecodeError::new(format!(
            "the chunk holds {} bytes, expected {}",
            input.len(),
            out.len()
        )));
    }
    out.copy_from_slice(input);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_from_hdf5_ids() {
        assert_eq!(Filter::from_hdf5(1, &[4], 2), Some(Filter::Deflate));
        assert_eq!(
            Filter::from_hdf5(2, &[], 4),
            Some(Filter::Shuffle { elem_size: 4 })
        );
        assert_eq!(
            Filter::from_hdf5(32008, &[0, 3, 4, 0, 2], 4),
            Some(Filter::Bitshuffle {
                elem_size: 4,
                block_size: 0,
                lz4: true
            })
        );
        // zstd-compressed bitshuffle, and unknown filters, are left to HDF5.
        assert_eq!(Filter::from_hdf5(32008, &[0, 3, 4, 0, 3], 4), None);
        assert_eq!(Filter::from_hdf5(32001, &[], 4), None);
        assert_eq!(Filter::from_hdf5(3, &[], 4), None);
    }

    #[test]
    fn shuffle_then_deflate_round_trip() {
        let data: Vec<u8> = (0..4000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
        let shuffled = shuffle::shuffle(&data, 4);
        let stored = deflate::encode(&shuffled, 1);
        let pipeline = Pipeline::new(vec![Filter::Shuffle { elem_size: 4 }, Filter::Deflate]);
        let mut out = vec![0u8; data.len()];
        let mut scratch = DecodeScratch::default();
        pipeline.decode(&stored, 0, &mut out, &mut scratch).unwrap();
        assert_eq!(out, data);
        // A mask that skips the shuffle: only inflated.
        pipeline
            .decode(&deflate::encode(&data, 1), 0b01, &mut out, &mut scratch)
            .unwrap();
        assert_eq!(out, data);
        // Every filter skipped: plain bytes.
        assert!(pipeline.is_plain(0b11));
        pipeline
            .decode(&data, 0b11, &mut out, &mut scratch)
            .unwrap();
        assert_eq!(out, data);
        assert!(pipeline
            .decode(&data[1..], 0b11, &mut out, &mut scratch)
            .is_err());
    }
}
