//! Headerless files of C-ordered frames (`'raw'`), and the data part of C-ordered `.npy` files.
//!
//! Two ways of reading, chosen per source by [`IoMode`] (environment variable `FERROTEM_IO`,
//! default [`IoMode::Mmap`]):
//!
//! - [`IoMode::Pread`]: positioned reads (`pread`) into the caller's buffer. A file that shrinks
//!   while a run is going gives [`Error::Truncated`] from the short read.
//! - [`IoMode::Mmap`]: the file is mapped read-only when the source opens and
//!   [`DataSource::stored_slice`] hands out the mapped bytes, so the runner processes the page
//!   cache in place without the kernel's copy. A file that shrinks would make reads of the map
//!   fault with `SIGBUS`; [`crate::sigbus`] turns those faults into zero pages, and
//!   [`DataSource::check_stored`], called after each tile, reports them (and any shrinking it sees
//!   with `fstat`) as [`Error::Truncated`]. A map that has faulted once is not used again (it
//!   reads zeros where the file was cut, even if the file grows back). When the guard is
//!   unavailable (a map that faulted, no free registry slot, or another `SIGBUS` handler
//!   installed after ferrotem's) the source reads with `pread`.
//!
//! [`DataSource::read_raw`] always uses `pread`.

use super::{contiguous_stored, prepare_read, DataSource, FrameMap};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use crate::sigbus;
use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How a [`RawFileSource`] reads its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// Positioned reads into a buffer (a kernel copy per tile).
    Pread,
    /// A read-only memory map, processed in place, guarded against `SIGBUS` (see module docs).
    Mmap,
}

impl IoMode {
    /// The mode used when none is given: `FERROTEM_IO=mmap` or `FERROTEM_IO=pread` from the
    /// environment, read at each open; [`IoMode::DEFAULT`] if unset or anything else.
    pub fn from_env() -> IoMode {
        match std::env::var("FERROTEM_IO") {
            Ok(v) if v.eq_ignore_ascii_case("mmap") => IoMode::Mmap,
            Ok(v) if v.eq_ignore_ascii_case("pread") => IoMode::Pread,
            _ => IoMode::DEFAULT,
        }
    }

    /// The default mode: the guarded map, which measured 1.2x (`SumUdf`) to 2x (`SumSigUdf`)
    /// faster than `pread` on page-cached files (docs/performance.md).
    pub const DEFAULT: IoMode = IoMode::Mmap;
}

/// A read-only map of the file and its registration with the `SIGBUS` guard.
#[derive(Debug)]
struct GuardedMap {
    // Field order matters: the range is unregistered before it is unmapped.
    guard: sigbus::Guard,
    map: Mmap,
}

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
    map: Option<GuardedMap>,
}

impl RawFileSource {
    /// Opens `path` and checks that it holds at least `shape.nav_size()` frames after
    /// `header_bytes`; reads as [`IoMode::from_env`] says.
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
    pub fn open_with(
        path: impl AsRef<Path>,
        dtype: DType,
        shape: DatasetShape,
        header_bytes: u64,
        sync_offset: i64,
        io: IoMode,
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
        let map = match io {
            IoMode::Mmap => map_guarded(&file, actual),
            IoMode::Pread => None,
        };
        Ok(RawFileSource {
            path,
            file,
            dtype,
            shape,
            header_bytes,
            frame_bytes,
            frames,
            map,
        })
    }

    /// The mode this source reads in: [`IoMode::Pread`] if a map was asked for but could not be
    /// guarded.
    pub fn io_mode(&self) -> IoMode {
        if self.map.is_some() {
            IoMode::Mmap
        } else {
            IoMode::Pread
        }
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

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        let map = self.map.as_ref()?;
        // After a fault the map reads zeros where the file was cut, even if it has grown back
        // since: retired, the source reads with pread from then on. And another SIGBUS handler
        // installed after ours would see faults first: pread too.
        if map.guard.faults() != 0 || !sigbus::handler_active() {
            return None;
        }
        let range = self.stored_range(first, count, &pixels)?;
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        map.map.get(start..end)
    }

    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        let Some(map) = self.map.as_ref() else {
            return Ok(());
        };
        let needed = self
            .stored_range(first, count, &pixels)
            .map_or(0, |r| r.end);
        let actual = self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        if map.guard.faults() != 0 || actual < needed {
            return Err(Error::Truncated {
                path: self.path.clone(),
                needed: needed.max(map.map.len() as u64),
                actual,
                context: "the file shrank after it was loaded".to_owned(),
            });
        }
        Ok(())
    }
}

/// Maps `len` bytes of `file` read-only and registers the map with the `SIGBUS` guard; `None`
/// (read with `pread` instead) if either fails.
fn map_guarded(file: &File, len: u64) -> Option<GuardedMap> {
    let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
    // SAFETY: the map is read-only and only ever read as plain bytes. Pages that vanish because
    // the file shrinks are replaced by zero pages by the guard registered next (no SIGBUS), and
    // every reader calls `check_stored` after consuming bytes of the map. (Another process
    // *writing* the file changes the bytes under us, as it would between two preads.)
    let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }.ok()?;
    let base = map.as_ptr() as usize;
    let guard = sigbus::Guard::register(base..base.checked_add(len)?)?;
    Some(GuardedMap { guard, map })
}
