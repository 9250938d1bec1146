//! Headerless files of C-ordered frames (`'raw'`), and the data part of C-ordered `.npy` files.
//!
//! Two ways of reading, chosen per source by [`IoMode`] (environment variable `FERROTEM_IO`,
//! default [`IoMode::Mmap`]):
//!
//! - [`IoMode::Pread`]: positioned reads (`pread`) into the caller's buffer. A file that shrinks
//!   while a run is going gives [`crate::Error::Truncated`] from the short read.
//! - [`IoMode::Mmap`]: the file is mapped read-only when the source opens and
//!   [`DataSource::stored_slice`] hands out the mapped bytes, so the runner processes the page
//!   cache in place without the kernel's copy. [`DataSource::check_stored`], called after each
//!   tile, reports a file that shrank under the map as [`crate::Error::Truncated`]; the map and
//!   its `SIGBUS` guard are [`GuardedFile`]'s, which also says when the source falls back to
//!   `pread`.
//!
//! [`DataSource::read_raw`] always uses `pread`.

use super::{contiguous_stored, prepare_read, DataSource, FrameMap, GuardedFile, IoMode};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::ops::Range;
use std::path::Path;

/// A file holding frames one after the other, each in C order, after an optional header.
#[derive(Debug)]
pub struct RawFileSource {
    file: GuardedFile,
    dtype: DType,
    shape: DatasetShape,
    header_bytes: u64,
    frame_bytes: u64,
    frames: FrameMap,
}

impl RawFileSource {
    /// Opens `path` and checks that it holds at least `shape.nav_size()` frames after
    /// `header_bytes`; reads as [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`RawFileSource::open_with`].
    pub fn open(
        path: impl AsRef<Path>,
        dtype: DType,
        shape: DatasetShape,
        header_bytes: u64,
        sync_offset: i64,
    ) -> Result<Self> {
        Self::open_with(
            path,
            dtype,
            shape,
            header_bytes,
            sync_offset,
            IoMode::from_env(),
        )
    }

    /// Like [`RawFileSource::open`], reading in `io` mode (where the map's guard is available).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::InvalidParameter`] (`sig_shape`,
    /// `nav_shape`) if the data's size overflows `u64`, (`sync_offset`) if it is out of range;
    /// [`Error::Truncated`] if the file is too short for the shape.
    pub fn open_with(
        path: impl AsRef<Path>,
        dtype: DType,
        shape: DatasetShape,
        header_bytes: u64,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        let file = GuardedFile::open(path, io)?;
        let frame_bytes = (shape.sig_size() as u64)
            .checked_mul(dtype.itemsize() as u64)
            .ok_or_else(|| {
                Error::param("sig_shape", format!("{:?}", shape.sig()), "a smaller frame")
            })?;
        let needed = shape
            .nav_size()
            .checked_mul(frame_bytes)
            .and_then(|n| n.checked_add(header_bytes))
            .ok_or_else(|| {
                Error::param("nav_shape", format!("{:?}", shape.nav()), "a smaller scan")
            })?;
        let actual = file.len();
        if actual < needed {
            return Err(file.truncated(
                needed,
                actual,
                format!(
                    "nav_shape {:?} x sig_shape {:?} of {} needs {} bytes of data",
                    shape.nav(),
                    shape.sig(),
                    dtype,
                    needed - header_bytes
                ),
            ));
        }
        let stored_frames = (actual - header_bytes) / frame_bytes;
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        Ok(RawFileSource {
            file,
            dtype,
            shape,
            header_bytes,
            frame_bytes,
            frames,
        })
    }

    /// The mode this source reads in: [`IoMode::Pread`] if a map was asked for but could not be
    /// guarded.
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.file.io_mode()
    }

    /// Byte offset in the file of stored frame `stored`, pixel `pixel`.
    fn offset_of(&self, stored: u64, pixel: usize) -> Option<u64> {
        stored
            .checked_mul(self.frame_bytes)?
            .checked_add(self.header_bytes)?
            .checked_add((pixel as u64).checked_mul(self.dtype.itemsize() as u64)?)
    }

    /// The file range `stored_slice` covers for a request, if the request lies in storage and is
    /// contiguous there (whole frames, or part of a single frame).
    fn stored_range(&self, first: u64, count: usize, pixels: &Range<usize>) -> Option<Range<u64>> {
        let stored_first = contiguous_stored(&self.shape, &self.frames, first, count, pixels)?;
        let start = self.offset_of(stored_first, pixels.start)?;
        let len = (count as u64)
            .checked_mul(pixels.len() as u64)?
            .checked_mul(self.dtype.itemsize() as u64)?;
        Some(start..start.checked_add(len)?)
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl DataSource for RawFileSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &DatasetShape {
        &self.shape
    }

    fn read_raw(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
        dst: &mut [u8],
    ) -> Result<()> {
        let prepared = prepare_read(
            &self.shape,
            self.dtype,
            &self.frames,
            first,
            count,
            &pixels,
            dst,
        )?;
        let Some((stored_frames, stored)) = prepared else {
            return Ok(());
        };
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let base = self.header_bytes + stored_frames.start * self.frame_bytes;
        if pixels.len() == self.shape.sig_size() {
            // Whole frames: one read for the whole run.
            self.file.read_at(stored, base)
        } else {
            let px_offset = (pixels.start * item) as u64;
            for (i, chunk) in stored.chunks_exact_mut(per_frame).enumerate() {
                self.file
                    .read_at(chunk, base + i as u64 * self.frame_bytes + px_offset)?;
            }
            Ok(())
        }
    }

    fn describe(&self) -> String {
        format!("raw file {} ({})", self.path().display(), self.dtype)
    }

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        self.file.mapped(self.stored_range(first, count, &pixels)?)
    }

    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        let end = self
            .stored_range(first, count, &pixels)
            .map_or(0, |r| r.end);
        self.file.confirm(end)
    }
}
