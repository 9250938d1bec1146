//! Data sources: where the bytes of a dataset come from.
//!
//! A source knows the stored element type and the dataset shape, and reads the stored bytes of a
//! run of frames (or of a range of pixels within each of those frames) into a caller-provided
//! buffer. Conversion to the UDF input dtype happens afterwards, in [`crate::convert`].
//!
//! Frame indices are *logical* flat navigation indices. `sync_offset` shifts logical frames
//! against stored ones: logical frame `f` is stored frame `f + sync_offset`; logical frames with
//! no stored counterpart read as zeros.

pub mod blo;
mod callback;
mod chunked;
mod csr;
pub mod dm;
pub mod empad;
mod fortran;
pub mod framed;
pub mod frms6;
mod guarded;
pub mod k2is;
pub mod listed;
mod memory;
pub mod mib;
pub mod mrc;
mod npy;
mod raw;
pub mod seq;
pub mod ser;
pub mod tvips;

pub use callback::{CallbackSource, ReadFrames};
pub use chunked::{ChunkLocation, ChunkedArray, ChunkedSource, MAX_CHUNKS};
pub use csr::{CsrFile, CsrRows, CsrScratch, CsrSource};
pub use fortran::{FortranFileSource, PREAD_WINDOW};
pub use framed::FramedSource;
pub use guarded::{GuardedFile, IoMode};
pub use memory::MemorySource;
pub use npy::{open_npy, NpyHeader};
pub use raw::RawFileSource;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::ops::Range;

/// Something a dataset's frames can be read from.
pub trait DataSource: Send + Sync {
    /// The stored element type (with byte order).
    fn dtype(&self) -> DType;

    /// The logical dataset shape.
    fn shape(&self) -> &DatasetShape;

    /// Reads stored bytes of logical frames `first .. first + count`, pixels `pixels` (a range of
    /// the flattened signal axes) of each frame, into `dst`, frame after frame.
    ///
    /// `dst.len()` must be `count * pixels.len() * itemsize`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the request lies outside the dataset or `dst` has the
    /// wrong length; [`Error::Io`] or [`Error::Truncated`] if a file cannot be read.
    fn read_raw(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
        dst: &mut [u8],
    ) -> Result<()>;

    /// A short description for messages and `repr`.
    fn describe(&self) -> String;

    /// The stored bytes that [`DataSource::read_raw`] would copy for the same request, borrowed
    /// in place, if the source holds them contiguously in memory; `None` otherwise (the default).
    ///
    /// The runner uses this to skip the copy for in-memory data. Returning `None` is always
    /// correct.
    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        let _ = (first, count, pixels);
        None
    }

    /// The stored bytes of a request borrowed in place like [`DataSource::stored_slice`], but
    /// with frames that need not follow each other: frame `i`'s bytes start `i * stride` bytes
    /// after the first's (a file with a header before each frame, say). `None` if the source
    /// cannot lend them; the default lends what [`DataSource::stored_slice`] lends.
    ///
    /// [`DataSource::check_stored`] confirms these bytes as it confirms `stored_slice`'s.
    fn stored_frames(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
    ) -> Option<StoredFrames<'_>> {
        let frame_len = pixels.len().checked_mul(self.dtype().itemsize())?;
        let bytes = self.stored_slice(first, count, pixels)?;
        StoredFrames::new(bytes, frame_len, frame_len, count)
    }

    /// Confirms that the bytes [`DataSource::stored_slice`] (or [`DataSource::stored_frames`])
    /// returned for the same request were the file's data; call it after consuming them, and discard what was computed from them
    /// if it fails. A memory-mapped file that shrank reads as zeros instead of faulting (see
    /// [`crate::sigbus`]); this reports that as [`Error::Truncated`]. The default (for sources
    /// whose slices cannot change) always succeeds.
    ///
    /// # Errors
    /// [`Error::Truncated`] as said; [`Error::Io`] if the file's length cannot be read.
    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        let _ = (first, count, pixels);
        Ok(())
    }

    /// How many frames deep tiles should be when a frame is larger than a tile, if this
    /// source has a wish (`None`, the default: one frame deep, as many pixels as fit).
    ///
    /// With a wish of `d` the runner cuts tiles `d` frames deep and `d` times fewer pixels wide
    /// (the tile's size unchanged). The accumulators of a tile's pixels then stay in cache
    /// while `d` frames are added into them, instead of a frame-sized accumulator streaming
    /// through memory once per frame; a source whose decoding makes its frames costly to read
    /// (K2IS's packed blocks) gains the most.
    fn deep_tile_frames(&self) -> Option<usize> {
        None
    }

    /// The source as sparse rows, if it stores its frames in compressed sparse row form
    /// (`'raw_csr'`): the runner then offers CSR tiles to the UDFs before densifying (see
    /// [`CsrSource`]). `None` (the default) for dense sources.
    fn as_csr(&self) -> Option<&CsrSource> {
        None
    }
}

/// Frames of a request borrowed in place, `stride` bytes apart (see
/// [`DataSource::stored_frames`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredFrames<'a> {
    bytes: &'a [u8],
    stride: usize,
    frame_len: usize,
    count: usize,
}

impl<'a> StoredFrames<'a> {
    /// `count` frames of `frame_len` bytes each, the first at the start of `bytes` and each next
    /// one `stride` bytes further on; `None` unless `bytes` holds exactly that
    /// (`(count - 1) * stride + frame_len` bytes, `stride >= frame_len`, `count >= 1`).
    #[must_use]
    pub fn new(bytes: &'a [u8], stride: usize, frame_len: usize, count: usize) -> Option<Self> {
        let span = (count.checked_sub(1)?)
            .checked_mul(stride)?
            .checked_add(frame_len)?;
        (stride >= frame_len && span == bytes.len()).then_some(StoredFrames {
            bytes,
            stride,
            frame_len,
            count,
        })
    }

    /// Number of frames.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes of each frame.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Bytes from one frame's start to the next's.
    #[must_use]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// All bytes from the first frame's first to the last frame's last, the gaps between frames
    /// included.
    #[must_use]
    pub fn span(&self) -> &'a [u8] {
        self.bytes
    }

    /// The frames as one slice, if they follow each other without gaps.
    #[must_use]
    pub fn contiguous(&self) -> Option<&'a [u8]> {
        (self.stride == self.frame_len || self.count == 1).then_some(self.bytes)
    }

    /// Frame `i`'s bytes.
    ///
    /// # Panics
    /// If `i >= count`.
    #[must_use]
    pub fn frame(&self, i: usize) -> &'a [u8] {
        let start = i * self.stride;
        &self.bytes[start..start + self.frame_len]
    }

    /// The frames in order.
    pub fn frames(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.count).map(|i| self.frame(i))
    }
}

/// Maps logical frames onto stored frames, given `sync_offset` and how many frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMap {
    /// Logical frame `f` is stored frame `f + sync_offset`.
    pub sync_offset: i64,
    /// Number of frames present in storage.
    pub stored_frames: u64,
}

/// A logical frame range split into the part that exists in storage and the parts that don't.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRuns {
    /// Logical frames before the stored part (read as zeros).
    pub zeros_before: usize,
    /// The stored frames to read, as stored indices.
    pub stored: Range<u64>,
    /// Logical frames after the stored part (read as zeros).
    pub zeros_after: usize,
}

impl FrameMap {
    /// Checks `sync_offset` against the number of stored frames (spec: it must lie strictly
    /// between `-stored_frames` and `stored_frames`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`sync_offset`) outside that range.
    pub fn new(sync_offset: i64, stored_frames: u64) -> Result<Self> {
        let limit = i64::try_from(stored_frames).unwrap_or(i64::MAX);
        if sync_offset <= -limit || sync_offset >= limit {
            return Err(Error::param(
                "sync_offset",
                sync_offset,
                format!("a value in ({}, {})", -limit, limit),
            ));
        }
        Ok(FrameMap {
            sync_offset,
            stored_frames,
        })
    }

    /// Splits logical frames `first .. first + count` into zeros / stored / zeros.
    #[must_use]
    #[expect(
        clippy::cast_sign_loss,
        reason = "`0 <= lo <= hi <= stored_frames` by the clamps; `zeros_before` and `hi - lo` \
                  lie in `0..=count`"
    )]
    pub fn split(&self, first: u64, count: usize) -> FrameRuns {
        let start = i128::from(first) + i128::from(self.sync_offset);
        let end = start + count as i128;
        let stored_end = i128::from(self.stored_frames);
        let lo = start.clamp(0, stored_end);
        let hi = end.clamp(0, stored_end).max(lo);
        let zeros_before = (lo - start).clamp(0, count as i128) as usize;
        let stored_len = (hi - lo) as usize;
        FrameRuns {
            zeros_before,
            stored: lo as u64..hi as u64,
            zeros_after: count - zeros_before - stored_len,
        }
    }
}

/// The common start of every [`DataSource::read_raw`]: checks the request, zero-fills the parts
/// of `dst` whose logical frames have no stored counterpart (`sync_offset`), and returns the
/// stored frames to read with the part of `dst` they go to — or `None` when nothing is stored.
pub(crate) fn prepare_read<'a>(
    shape: &DatasetShape,
    dtype: DType,
    frames: &FrameMap,
    first: u64,
    count: usize,
    pixels: &Range<usize>,
    dst: &'a mut [u8],
) -> Result<Option<(Range<u64>, &'a mut [u8])>> {
    check_request(shape, dtype, first, count, pixels, dst.len())?;
    if count == 0 || pixels.is_empty() {
        return Ok(None);
    }
    let per_frame = pixels.len() * dtype.itemsize();
    let runs = frames.split(first, count);
    let (before, rest) = dst.split_at_mut(runs.zeros_before * per_frame);
    before.fill(0);
    let stored_len = (runs.stored.end - runs.stored.start) as usize;
    let (stored, after) = rest.split_at_mut(stored_len * per_frame);
    after.fill(0);
    if stored_len == 0 {
        return Ok(None);
    }
    Ok(Some((runs.stored, stored)))
}

/// For sources that can hand out stored bytes in place: the first stored frame of a request
/// that is contiguous in storage (whole frames, or part of a single frame) and lies entirely in
/// the stored range; `None` otherwise (the caller then reads with `read_raw`).
pub(crate) fn contiguous_stored(
    shape: &DatasetShape,
    frames: &FrameMap,
    first: u64,
    count: usize,
    pixels: &Range<usize>,
) -> Option<u64> {
    let sig_size = shape.sig_size();
    let end = first.checked_add(count as u64)?;
    if count == 0 || end > shape.nav_size() || pixels.start >= pixels.end {
        return None;
    }
    if pixels.end > sig_size || (count > 1 && pixels.len() != sig_size) {
        return None;
    }
    let runs = frames.split(first, count);
    if runs.zeros_before != 0 || runs.zeros_after != 0 {
        return None;
    }
    Some(runs.stored.start)
}

/// Checks a read request against the shape and the destination buffer; shared by all sources.
pub(crate) fn check_request(
    shape: &DatasetShape,
    dtype: DType,
    first: u64,
    count: usize,
    pixels: &Range<usize>,
    dst_len: usize,
) -> Result<()> {
    let end = first.checked_add(count as u64);
    if end.is_none_or(|e| e > shape.nav_size()) {
        return Err(Error::param(
            "frames",
            format!("{first}..{first}+{count}"),
            format!("frames within 0..{}", shape.nav_size()),
        ));
    }
    if pixels.start > pixels.end || pixels.end > shape.sig_size() {
        return Err(Error::param(
            "pixels",
            format!("{pixels:?}"),
            format!("a pixel range within 0..{}", shape.sig_size()),
        ));
    }
    let needed = count
        .checked_mul(pixels.len())
        .and_then(|n| n.checked_mul(dtype.itemsize()));
    if needed != Some(dst_len) {
        return Err(Error::param(
            "out",
            format!("a buffer of {dst_len} bytes"),
            format!(
                "{count} frames x {} pixels x {} bytes",
                pixels.len(),
                dtype.itemsize()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_without_offset() {
        let m = FrameMap::new(0, 10).unwrap();
        assert_eq!(
            m.split(2, 5),
            FrameRuns {
                zeros_before: 0,
                stored: 2..7,
                zeros_after: 0
            }
        );
    }

    #[test]
    fn split_with_offsets() {
        let m = FrameMap::new(3, 10).unwrap();
        let r = m.split(5, 5); // stored 8..13, only 8..10 exist
        assert_eq!(
            (r.zeros_before, r.stored.clone(), r.zeros_after),
            (0, 8..10, 3)
        );
        let m = FrameMap::new(-3, 10).unwrap();
        let r = m.split(0, 5); // stored -3..2
        assert_eq!(
            (r.zeros_before, r.stored.clone(), r.zeros_after),
            (3, 0..2, 0)
        );
        assert!(FrameMap::new(10, 10).is_err());
        assert!(FrameMap::new(-10, 10).is_err());
    }
}
