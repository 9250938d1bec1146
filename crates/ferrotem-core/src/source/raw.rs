//! Headerless files of C-ordered frames (`'raw'`), and the data part of C-ordered `.npy` files.
//!
//! Reads go through positioned reads (`pread`) into the caller's buffer rather than a memory map:
//! a file that shrinks while a run is going then gives a clear error instead of `SIGBUS`, and
//! the caller's buffer is small enough to stay in cache for the conversion that follows.

use super::{check_request, DataSource, FrameMap};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A file holding frames one after the other, each in C order, after an optional header.
#[derive(Debug)]
pub struct RawFileSource {
    path: PathBuf,
    file: File,
    dtype: DType,
    shape: DatasetShape,
    header_bytes: u64,
    frame_bytes: u64,
    frames: FrameMap,
}

impl RawFileSource {
    /// Opens `path` and checks that it holds at least `shape.nav_size()` frames after
    /// `header_bytes`.
    pub fn open(
        path: impl AsRef<Path>,
        dtype: DType,
        shape: DatasetShape,
        header_bytes: u64,
        sync_offset: i64,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            return Err(Error::param(
                "path",
                path.display(),
                "a file, not a directory",
            ));
        }
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
        let actual = meta.len();
        if actual < needed {
            return Err(Error::Truncated {
                path,
                needed,
                actual,
                context: format!(
                    "nav_shape {:?} x sig_shape {:?} of {} needs {} bytes of data",
                    shape.nav(),
                    shape.sig(),
                    dtype,
                    needed - header_bytes
                ),
            });
        }
        let stored_frames = (actual - header_bytes) / frame_bytes;
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        Ok(RawFileSource {
            path,
            file,
            dtype,
            shape,
            header_bytes,
            frame_bytes,
            frames,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                let actual = self.file.metadata().map(|m| m.len()).unwrap_or(0);
                Error::Truncated {
                    path: self.path.clone(),
                    needed: offset + buf.len() as u64,
                    actual,
                    context: "the file shrank after it was loaded".to_owned(),
                }
            } else {
                Error::io(&self.path, e)
            }
        })
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
        check_request(&self.shape, self.dtype, first, count, &pixels, dst.len())?;
        if count == 0 || pixels.is_empty() {
            return Ok(());
        }
        let item = self.dtype.itemsize();
        let per_frame = pixels.len() * item;
        let runs = self.frames.split(first, count);
        let (before, rest) = dst.split_at_mut(runs.zeros_before * per_frame);
        before.fill(0);
        let stored_len = (runs.stored.end - runs.stored.start) as usize;
        let (stored, after) = rest.split_at_mut(stored_len * per_frame);
        after.fill(0);
        if stored_len == 0 {
            return Ok(());
        }
        let base = self.header_bytes + runs.stored.start * self.frame_bytes;
        if pixels.len() == self.shape.sig_size() {
            // Whole frames: one read for the whole run.
            self.read_at(stored, base)
        } else {
            let px_offset = (pixels.start * item) as u64;
            for (i, chunk) in stored.chunks_exact_mut(per_frame).enumerate() {
                self.read_at(chunk, base + i as u64 * self.frame_bytes + px_offset)?;
            }
            Ok(())
        }
    }

    fn describe(&self) -> String {
        format!("raw file {} ({})", self.path.display(), self.dtype)
    }
}
