//! Fortran-ordered `.npy` data: each logical pixel is gathered from its column-major position.
//!
//! Frames are scattered across the whole file in this layout, so the source reads through a
//! [`GuardedFile`] map ([`IoMode::Mmap`], the default): the gather indexes the map directly, and
//! [`GuardedFile::confirm`] after every read turns a file that shrank under the map into
//! [`crate::Error::Truncated`] (the `SIGBUS` guard makes the faulting reads return zeros, which
//! the check then discards). Where the map cannot be used ([`IoMode::Pread`], a map that
//! faulted, another `SIGBUS` handler installed after ferrotem's) the same gather runs over
//! positioned reads, each covering consecutive elements up to [`PREAD_WINDOW`] bytes apart:
//! correct, but far slower for multi-dimensional scans, whose consecutive frames lie a whole
//! column apart.

use super::{prepare_read, DataSource, FrameMap, GuardedFile, IoMode};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::ops::Range;
use std::path::Path;

/// The largest span of the file one positioned read covers when gathering without the map:
/// elements closer than this share a read (the bytes between them are read and dropped).
pub const PREAD_WINDOW: usize = 64 * 1024;

/// A column-major array in a file, read as the C-ordered logical dataset.
#[derive(Debug)]
pub struct FortranFileSource {
    file: GuardedFile,
    dtype: DType,
    shape: DatasetShape,
    /// Shape of the stored array (the axes the column-major strides refer to).
    stored_shape: Vec<usize>,
    /// Column-major strides of `stored_shape`, in elements.
    strides: Vec<u64>,
    data_offset: u64,
    needed_len: u64,
    frames: FrameMap,
}

impl FortranFileSource {
    /// Opens the data of a Fortran-ordered array of `stored_shape` at `data_offset`; reads as
    /// [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`FortranFileSource::open_with`].
    pub fn open(
        path: &Path,
        dtype: DType,
        shape: DatasetShape,
        stored_shape: Vec<usize>,
        data_offset: u64,
        sync_offset: i64,
    ) -> Result<Self> {
        Self::open_with(
            path,
            dtype,
            shape,
            stored_shape,
            data_offset,
            sync_offset,
            IoMode::from_env(),
        )
    }

    /// Like [`FortranFileSource::open`], reading in `io` mode (where the map's guard is
    /// available).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::InvalidParameter`] (`shape`) if the
    /// array's size in bytes overflows `u64`, (`sync_offset`) if it is out of range;
    /// [`Error::Truncated`] if the file is too short for the array.
    pub fn open_with(
        path: &Path,
        dtype: DType,
        shape: DatasetShape,
        stored_shape: Vec<usize>,
        data_offset: u64,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        // Checked: a corrupt header can describe an array whose byte size overflows `u64`; a
        // wrapped size would pass the length check below and index out of bounds later.
        let too_big = || {
            Error::param(
                "shape",
                format!("{stored_shape:?} of {dtype}"),
                "an array whose size in bytes fits in 64 bits",
            )
        };
        let stored_elems = stored_shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(too_big)?;
        let needed_len = stored_elems
            .checked_mul(dtype.itemsize() as u64)
            .and_then(|n| n.checked_add(data_offset))
            .ok_or_else(too_big)?;
        // The map covers the data only; a file too short for it is `Truncated`, said in terms
        // of the array.
        let file =
            GuardedFile::open_range(path, data_offset..needed_len, io).map_err(|e| match e {
                Error::Truncated {
                    path,
                    needed,
                    actual,
                    ..
                } => Error::Truncated {
                    path,
                    needed,
                    actual,
                    context: format!("array of shape {stored_shape:?} of {dtype}"),
                },
                other => other,
            })?;
        let mut strides = Vec::with_capacity(stored_shape.len());
        let mut acc = 1u64;
        for &d in &stored_shape {
            strides.push(acc);
            acc *= d as u64;
        }
        let stored_frames = stored_elems / shape.sig_size() as u64;
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        Ok(FortranFileSource {
            file,
            dtype,
            shape,
            stored_shape,
            strides,
            data_offset,
            needed_len,
            frames,
        })
    }

    /// Column-major element offset of C-order flat element index `flat`.
    fn offset_of(&self, mut flat: u64) -> u64 {
        let mut off = 0;
        for (dim, stride) in self.stored_shape.iter().zip(&self.strides).rev() {
            let d = *dim as u64;
            off += (flat % d) * stride;
            flat /= d;
        }
        off
    }

    /// The mode this source reads in: [`IoMode::Pread`] if a map was asked for but could not be
    /// guarded.
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.file.io_mode()
    }

    /// Gathers stored frames `frames`, pixels `pixels`, from the mapped `data` into `dst`.
    fn gather_mapped(
        &self,
        data: &[u8],
        frames: &Range<u64>,
        pixels: &Range<usize>,
        dst: &mut [u8],
    ) {
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let sig_size = self.shape.sig_size() as u64;
        for (i, frame) in dst.chunks_exact_mut(per_frame.max(1)).enumerate() {
            let frame_index = frames.start + i as u64;
            for (j, out) in frame.chunks_exact_mut(item).enumerate() {
                let flat = frame_index * sig_size + (pixels.start + j) as u64;
                let at = self.offset_of(flat) as usize * item;
                out.copy_from_slice(&data[at..at + item]);
            }
        }
    }

    /// Gathers like [`FortranFileSource::gather_mapped`] with positioned reads: pixel by pixel,
    /// one read per group of the pixel's frames that lie in ascending order within
    /// [`PREAD_WINDOW`] bytes.
    fn gather_pread(
        &self,
        frames: &Range<u64>,
        pixels: &Range<usize>,
        dst: &mut [u8],
    ) -> Result<()> {
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let sig_size = self.shape.sig_size() as u64;
        let n = (frames.end - frames.start) as usize;
        let window = (PREAD_WINDOW / item).max(1) as u64;
        let mut scratch = Vec::new();
        for (j, pixel) in pixels.clone().enumerate() {
            let element =
                |i: usize| self.offset_of((frames.start + i as u64) * sig_size + pixel as u64);
            let mut i = 0;
            while i < n {
                let first = element(i);
                let mut last = first;
                let mut k = i + 1;
                while k < n {
                    let e = element(k);
                    if e <= last || e - first >= window {
                        break;
                    }
                    last = e;
                    k += 1;
                }
                scratch.resize((last - first + 1) as usize * item, 0);
                self.file
                    .read_at(&mut scratch, self.data_offset + first * item as u64)?;
                for f in i..k {
                    let at = (element(f) - first) as usize * item;
                    let to = f * per_frame + j * item;
                    dst[to..to + item].copy_from_slice(&scratch[at..at + item]);
                }
                i = k;
            }
        }
        Ok(())
    }
}

impl DataSource for FortranFileSource {
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
        match self.file.mapped(self.data_offset..self.needed_len) {
            Some(data) => {
                self.gather_mapped(data, &stored_frames, &pixels, stored);
                // Every read of the map may have touched any part of the data.
                self.file.confirm(self.needed_len)
            }
            None => self.gather_pread(&stored_frames, &pixels, stored),
        }
    }

    fn describe(&self) -> String {
        format!(
            "Fortran-ordered npy {} ({})",
            self.file.path().display(),
            self.dtype
        )
    }
}
