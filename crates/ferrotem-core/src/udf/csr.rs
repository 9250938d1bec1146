//! Tiles of sparse sources as the UDFs' CSR fast path ([`super::Udf::process_csr_tile`]) sees
//! them.

use crate::source::CsrRows;

/// Whole frames of a sparse source (see [`crate::source::CsrSource`]), as stored: frame `r` of
/// the tile holds the values `rows.data[rows.indptr[r] .. rows.indptr[r + 1]]` at the pixels
/// `rows.indices[..]` (the same entries), every other pixel is zero. Entries are in file order:
/// a pixel may appear more than once (its values then add up, as in `scipy.sparse`), and
/// indices need not be sorted. Indices are checked to lie below `sig_size` before the tile is
/// handed out.
#[derive(Debug, Clone, Copy)]
pub struct CsrTile<'a> {
    /// Position of the first frame in the partition's ROI-compressed frame order.
    pub offset: usize,
    /// Pixels of a frame (the flattened signal size).
    pub sig_size: usize,
    /// The frames' entries.
    pub rows: CsrRows<'a>,
}

impl CsrTile<'_> {
    /// Number of frames in the tile.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.rows.indptr.len().saturating_sub(1)
    }
}
