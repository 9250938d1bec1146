//! Fortran-ordered `.npy` data: each logical pixel is gathered from its column-major position.
//!
//! Frames are scattered across the whole file in this layout, so positioned reads would need one
//! system call per pixel; a read-only memory map is used instead. Before each read the file's
//! length is checked again, so a file that has shrunk gives an error rather than `SIGBUS` (a file
//! truncated *during* a single read can still fault; C-ordered files have no such window).

use super::{prepare_read, DataSource, FrameMap};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A column-major array in a file, read as the C-ordered logical dataset.
#[derive(Debug)]
pub struct FortranFileSource {
    path: PathBuf,
    file: File,
    map: Mmap,
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
    /// Opens the data of a Fortran-ordered array of `stored_shape` at `data_offset`.
    pub fn open(
        path: &Path,
        dtype: DType,
        shape: DatasetShape,
        stored_shape: Vec<usize>,
        data_offset: u64,
        sync_offset: i64,
    ) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
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
        let actual = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if actual < needed_len {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: needed_len,
                actual,
                context: format!("array of shape {stored_shape:?} of {dtype}"),
            });
        }
        // SAFETY: the map is read-only; the file length is checked before every read (see module
        // docs for the remaining window).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let mut strides = Vec::with_capacity(stored_shape.len());
        let mut acc = 1u64;
        for &d in &stored_shape {
            strides.push(acc);
            acc *= d as u64;
        }
        let stored_frames = stored_elems / shape.sig_size() as u64;
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        Ok(FortranFileSource {
            path: path.to_path_buf(),
            file,
            map,
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
        let actual = self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        if actual < self.needed_len {
            return Err(Error::Truncated {
                path: self.path.clone(),
                needed: self.needed_len,
                actual,
                context: "the file shrank after it was loaded".into(),
            });
        }
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let sig_size = self.shape.sig_size() as u64;
        let data = &self.map[self.data_offset as usize..];
        for (i, frame) in stored.chunks_exact_mut(per_frame.max(1)).enumerate() {
            let frame_index = stored_frames.start + i as u64;
            for (j, out) in frame.chunks_exact_mut(item).enumerate() {
                let flat = frame_index * sig_size + (pixels.start + j) as u64;
                let at = self.offset_of(flat) as usize * item;
                out.copy_from_slice(&data[at..at + item]);
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "Fortran-ordered npy {} ({})",
            self.path.display(),
            self.dtype
        )
    }
}
