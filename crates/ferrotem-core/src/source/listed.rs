//! Frames at listed offsets: one file whose frames (plain pixels of one element type, all of the
//! same size) start wherever a list of file offsets says, not necessarily evenly spaced — TIA
//! `.ser` files keep such a list (their data offset array), and an acquisition may leave gaps or
//! reorder its elements.
//!
//! Reading, as [`DataSource`] says:
//!
//! - **Mapped file**: [`DataSource::stored_frames`] lends a request in place when its frames lie
//!   evenly spaced in the file (the usual case: one element after the other), and
//!   [`DataSource::check_stored`] then confirms the map.
//! - Otherwise [`DataSource::read_raw`] copies each frame's pixels from the map, or `pread`s them.
//!
//! Frames may be stored bottom row first (TIA images are): with `bottom_up_rows` set, rows are
//! read in reverse order into the caller's buffer, so frames come out top row first; such
//! frames are never lent in place.
//!
//! Every frame's bytes are checked to lie within the file when it is opened, so a truncated
//! file is an error naming the first frame cut off, never a short read later.

use super::{prepare_read, DataSource, FrameMap, GuardedFile, IoMode, StoredFrames};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::ops::Range;
use std::path::Path;

/// A dataset whose stored frames start at listed offsets of one file. See the module docs.
#[derive(Debug)]
pub struct ListedFramesSource {
    format: String,
    file: GuardedFile,
    /// File offset of each stored frame's first pixel.
    offsets: Vec<u64>,
    dtype: DType,
    /// Pixels per stored row when the rows are stored bottom row first.
    bottom_up_rows: Option<usize>,
    shape: DatasetShape,
    frames: FrameMap,
}

impl ListedFramesSource {
    /// Opens `path`, whose stored frame `k` (pixels of `dtype`, as many as `shape`'s frames
    /// have) starts at file offset `offsets[k]`; reads in `io` mode. With `bottom_up_rows`
    /// (pixels per row), each frame's rows are stored bottom row first and read in reverse.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::InvalidParameter`] (`path`) for a
    /// directory or an empty offset list, (`sync_offset`) out of range, (`sig_shape`) for frames
    /// that are not whole rows of `bottom_up_rows`; [`Error::Truncated`] naming the first frame
    /// that does not lie within the file.
    #[allow(
        clippy::too_many_arguments,
        reason = "one plain description of the layout"
    )]
    pub fn open_with(
        format: &str,
        path: &Path,
        offsets: Vec<u64>,
        dtype: DType,
        bottom_up_rows: Option<usize>,
        shape: DatasetShape,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        if let Some(row) = bottom_up_rows {
            if row == 0 || shape.sig_size() % row != 0 {
                return Err(Error::param(
                    "sig_shape",
                    format!("{:?}", shape.sig()),
                    format!("frames of whole rows of {row} pixels"),
                ));
            }
        }
        if offsets.is_empty() {
            return Err(Error::param(
                "path",
                path.display(),
                format!("a {format} file with at least one frame"),
            ));
        }
        let file = GuardedFile::open(path, io)?;
        let frame_bytes = (shape.sig_size() as u64)
            .checked_mul(dtype.itemsize() as u64)
            .ok_or_else(|| {
                Error::param("sig_shape", format!("{:?}", shape.sig()), "a smaller frame")
            })?;
        for (k, &start) in offsets.iter().enumerate() {
            let end = start.checked_add(frame_bytes);
            if end.is_none_or(|e| e > file.len()) {
                return Err(file.truncated(
                    end.unwrap_or(u64::MAX),
                    file.len(),
                    format!(
                        "{format} frame {k} of {frame_bytes} bytes at offset {start} does not lie \
                         within the file"
                    ),
                ));
            }
        }
        let frames = FrameMap::new(sync_offset, offsets.len() as u64)?;
        Ok(ListedFramesSource {
            format: format.to_owned(),
            file,
            offsets,
            dtype,
            bottom_up_rows,
            shape,
            frames,
        })
    }

    /// Frames stored in the file.
    #[must_use]
    pub fn stored_frame_count(&self) -> u64 {
        self.frames.stored_frames
    }

    /// The mode the file is read in ([`IoMode::Pread`] if its map could not be made).
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.file.io_mode()
    }

    /// File offsets of the stored frames `stored`.
    fn starts(&self, stored: Range<u64>) -> &[u64] {
        // `stored` lies within `offsets`: `FrameMap::split` clamps it to the stored frames.
        &self.offsets[stored.start as usize..stored.end as usize]
    }

    /// The stored runs `(first stored pixel, pixels)` that make up the frame pixels `pixels`,
    /// in order.
    fn runs(&self, pixels: &Range<usize>) -> Vec<(usize, usize)> {
        let Some(row) = self.bottom_up_rows else {
            return vec![(pixels.start, pixels.len())];
        };
        let rows = self.shape.sig_size() / row;
        let mut out = Vec::new();
        let mut p = pixels.start;
        while p < pixels.end {
            let (r, c) = (p / row, p % row);
            let len = (row - c).min(pixels.end - p);
            out.push(((rows - 1 - r) * row + c, len));
            p += len;
        }
        out
    }

    /// Copies the stored bytes at `start` into `out`, from the map (returning the end offset
    /// to confirm) or by `pread`.
    fn copy(&self, start: u64, out: &mut [u8]) -> Result<Option<u64>> {
        let end = start + out.len() as u64;
        if let Some(bytes) = self.file.mapped(start..end) {
            out.copy_from_slice(bytes);
            return Ok(Some(end));
        }
        self.file.read_at(out, start)?;
        Ok(None)
    }

    /// The file range and stride of an in-place request: every logical frame stored and the
    /// frames evenly spaced (at least a frame apart) in the file.
    fn in_place(
        &self,
        first: u64,
        count: usize,
        pixels: &Range<usize>,
    ) -> Option<(Range<u64>, u64)> {
        let end = first.checked_add(count as u64)?;
        if self.bottom_up_rows.is_some()
            || count == 0
            || end > self.shape.nav_size()
            || pixels.start >= pixels.end
            || pixels.end > self.shape.sig_size()
        {
            return None;
        }
        let runs = self.frames.split(first, count);
        if runs.zeros_before != 0 || runs.zeros_after != 0 {
            return None;
        }
        let frame_len = (pixels.len() * self.dtype.itemsize()) as u64;
        let listed = &self.offsets[runs.stored.start as usize..runs.stored.end as usize];
        let stride = match listed {
            [] => return None,
            [_] => frame_len,
            [a, b, ..] => {
                // Whole frames apart, so that lent frames never overlap.
                let stride = b.checked_sub(*a)?;
                let frame_bytes = (self.shape.sig_size() * self.dtype.itemsize()) as u64;
                if stride < frame_bytes
                    || listed
                        .windows(2)
                        .any(|w| w[1].checked_sub(w[0]) != Some(stride))
                {
                    return None;
                }
                stride
            }
        };
        let start = listed[0] + (pixels.start * self.dtype.itemsize()) as u64;
        let span = (count as u64 - 1) * stride + frame_len;
        Some((start..start + span, stride))
    }
}

impl DataSource for ListedFramesSource {
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
        let Some((stored, dst)) = prepared else {
            return Ok(());
        };
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let mut furthest = None;
        // Runs of stored pixels, in the order the caller wants them: the whole range, or one
        // piece of each row when rows are stored bottom row first.
        let runs = self.runs(&pixels);
        for (&frame_start, out) in self
            .starts(stored)
            .iter()
            .zip(dst.chunks_exact_mut(per_frame))
        {
            let mut done = 0usize;
            for &(stored_pixel, len) in &runs {
                let start = frame_start + (stored_pixel * item) as u64;
                let piece = &mut out[done..done + len * item];
                if let Some(end) = self.copy(start, piece)? {
                    furthest = Some(furthest.map_or(end, |f: u64| f.max(end)));
                }
                done += len * item;
            }
        }
        if let Some(end) = furthest {
            self.file.confirm(end)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "{} file {} ({})",
            self.format,
            self.file.path().display(),
            self.dtype
        )
    }

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        self.stored_frames(first, count, pixels)?.contiguous()
    }

    fn stored_frames(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
    ) -> Option<StoredFrames<'_>> {
        let (range, stride) = self.in_place(first, count, &pixels)?;
        let bytes = self.file.mapped(range)?;
        let frame_len = pixels.len() * self.dtype.itemsize();
        StoredFrames::new(bytes, usize::try_from(stride).ok()?, frame_len, count)
    }

    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        match self.in_place(first, count, &pixels) {
            Some((range, _)) => self.file.confirm(range.end),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `u16` little-endian frames of `px` pixels (value `100 * frame + pixel`) at `offsets`,
    /// the gaps filled with `0xEE`.
    fn write_at(dir: &Path, offsets: &[u64], px: u16) -> std::path::PathBuf {
        let end = offsets.iter().max().unwrap() + u64::from(px) * 2;
        let mut bytes = vec![0xEEu8; end as usize];
        for (f, &o) in offsets.iter().enumerate() {
            for p in 0..px {
                let v = 100 * f as u16 + p;
                let at = o as usize + 2 * p as usize;
                bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
        let path = dir.join("listed.bin");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        path
    }

    fn value(bytes: &[u8]) -> Vec<u16> {
        bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn frames_at_uneven_offsets_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // frames 0..3 evenly 20 bytes apart, then a gap, then frame 4 before frame 3
        let offsets = vec![10, 30, 50, 200, 120];
        let path = write_at(dir.path(), &offsets, 6);
        let dtype = DType::parse("<u2", "dtype").unwrap();
        let shape = DatasetShape::new(&[5], &[2, 3]).unwrap();
        for io in [IoMode::Mmap, IoMode::Pread] {
            let src = ListedFramesSource::open_with(
                "TEST",
                &path,
                offsets.clone(),
                dtype,
                None,
                shape.clone(),
                0,
                io,
            )
            .unwrap();
            let mut dst = vec![0u8; 5 * 2 * 2];
            src.read_raw(0, 5, 2..4, &mut dst).unwrap();
            let want: Vec<u16> = (0..5).flat_map(|f| [100 * f + 2, 100 * f + 3]).collect();
            assert_eq!(value(&dst), want, "{io:?}");
            // evenly spaced frames are lent in place, the others are not
            let lent = src.stored_frames(0, 3, 1..6);
            assert_eq!(lent.is_some(), io == IoMode::Mmap);
            if let Some(frames) = lent {
                assert_eq!((frames.stride(), frames.count()), (20, 3));
                assert_eq!(value(frames.frame(2)), vec![201, 202, 203, 204, 205]);
                src.check_stored(0, 3, 1..6).unwrap();
            }
            // two frames are always evenly spaced; three across the gap are not
            assert_eq!(
                src.stored_frames(2, 2, 0..6).map(|f| f.stride()),
                (io == IoMode::Mmap).then_some(150)
            );
            assert!(src.stored_frames(2, 3, 0..6).is_none());
            assert!(src.stored_frames(3, 2, 0..6).is_none());
        }
        // sync_offset: logical frame 0 is stored frame 2, the last two read as zeros
        let src = ListedFramesSource::open_with(
            "TEST",
            &path,
            offsets,
            dtype,
            None,
            shape,
            2,
            IoMode::Mmap,
        )
        .unwrap();
        let mut dst = vec![0xAAu8; 5 * 6 * 2];
        src.read_raw(0, 5, 0..6, &mut dst).unwrap();
        let got = value(&dst);
        assert_eq!(&got[..6], &[200, 201, 202, 203, 204, 205]);
        assert_eq!(got[12], 400);
        assert!(got[18..].iter().all(|&v| v == 0));
    }

    #[test]
    fn a_frame_past_the_end_is_a_truncation_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_at(dir.path(), &[0, 12], 6);
        let dtype = DType::parse("<u2", "dtype").unwrap();
        let shape = DatasetShape::new(&[3], &[6]).unwrap();
        let err = ListedFramesSource::open_with(
            "TEST",
            &path,
            vec![0, 12, 20],
            dtype,
            None,
            shape.clone(),
            0,
            IoMode::Mmap,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
        assert!(err.to_string().contains("TEST frame 2"), "{err}");
        let err = ListedFramesSource::open_with(
            "TEST",
            &path,
            vec![u64::MAX - 3],
            dtype,
            None,
            shape,
            0,
            IoMode::Mmap,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    }

    #[test]
    fn bottom_up_rows_read_top_row_first() {
        let dir = tempfile::tempdir().unwrap();
        // two frames of 3 rows x 2 pixels; stored pixel p of frame f is 100 f + p
        let path = write_at(dir.path(), &[4, 20], 6);
        let dtype = DType::parse("<u2", "dtype").unwrap();
        let shape = DatasetShape::new(&[2], &[3, 2]).unwrap();
        for io in [IoMode::Mmap, IoMode::Pread] {
            let src = ListedFramesSource::open_with(
                "TEST",
                &path,
                vec![4, 20],
                dtype,
                Some(2),
                shape.clone(),
                0,
                io,
            )
            .unwrap();
            let mut dst = vec![0u8; 2 * 6 * 2];
            src.read_raw(0, 2, 0..6, &mut dst).unwrap();
            assert_eq!(
                value(&dst),
                vec![4, 5, 2, 3, 0, 1, 104, 105, 102, 103, 100, 101]
            );
            // a range starting and ending inside rows
            let mut dst = vec![0u8; 2 * 3 * 2];
            src.read_raw(0, 2, 1..4, &mut dst).unwrap();
            assert_eq!(value(&dst), vec![5, 2, 3, 105, 102, 103]);
            assert!(src.stored_frames(0, 2, 0..6).is_none());
        }
        let bad = DatasetShape::new(&[2], &[5]).unwrap();
        let err = ListedFramesSource::open_with(
            "TEST",
            &path,
            vec![4, 20],
            dtype,
            Some(2),
            bad,
            0,
            IoMode::Mmap,
        )
        .unwrap_err();
        assert!(err.to_string().contains("whole rows of 2 pixels"), "{err}");
    }
}
