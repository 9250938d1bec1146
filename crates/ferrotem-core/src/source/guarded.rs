//! Files as every file source reads them: positioned reads, or a read-only memory map guarded
//! against `SIGBUS`, with errors that name the file.
//!
//! A source opens its file as a [`GuardedFile`] and then, for each request:
//!
//! 1. asks [`GuardedFile::mapped`] for the bytes of a file range. They come from the map if the
//!    file is mapped ([`IoMode::Mmap`]), the range lies in the mapped part, no fault has hit the
//!    map yet and ferrotem's `SIGBUS` handler is still the process's; otherwise `None`, and the
//!    source reads with [`GuardedFile::read_at`] instead (`pread`; a short read is
//!    [`Error::Truncated`]).
//! 2. after it has consumed bytes from the map, calls [`GuardedFile::confirm`]: a file that
//!    shrank under the map reads as zeros instead of faulting (see [`crate::sigbus`]), and this
//!    reports it (a counted fault, or a file now shorter than the bytes used) as
//!    [`Error::Truncated`] naming the file, so the zeros never reach a result.
//!
//! A map that faulted once is retired: it reads zeros where the file was cut, even if the file
//! grows back, so [`GuardedFile::mapped`] returns `None` for good and the source reads with
//! `pread`. So a file truncated mid-run is an exception for every source built on this, never
//! a crash.

use crate::error::{Error, Result};
use crate::sigbus;
use memmap2::Mmap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How a file source reads its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// Positioned reads into a buffer (a kernel copy per read).
    Pread,
    /// A read-only memory map, processed in place, guarded against `SIGBUS` (see module docs).
    Mmap,
}

impl IoMode {
    /// The mode used when none is given: `FERROTEM_IO=mmap` or `FERROTEM_IO=pread` from the
    /// environment, read at each open; [`IoMode::DEFAULT`] if unset or anything else.
    #[must_use]
    pub fn from_env() -> IoMode {
        match std::env::var("FERROTEM_IO") {
            Ok(v) if v.eq_ignore_ascii_case("mmap") => IoMode::Mmap,
            Ok(v) if v.eq_ignore_ascii_case("pread") => IoMode::Pread,
            _ => IoMode::DEFAULT,
        }
    }

    /// The default mode: the guarded map, which measured 1.2x (`SumUdf`) to 2x (`SumSigUdf`)
    /// faster than `pread` on page-cached raw files (docs/performance.md).
    pub const DEFAULT: IoMode = IoMode::Mmap;
}

/// The context of every [`Error::Truncated`] found after opening.
const SHRANK: &str = "the file shrank after it was loaded";

/// A read-only map of part of a file and its registration with the `SIGBUS` guard.
#[derive(Debug)]
struct GuardedMap {
    // Field order matters: the range is unregistered before it is unmapped.
    guard: sigbus::Guard,
    map: Mmap,
    /// File offset of the map's first byte.
    offset: u64,
}

impl GuardedMap {
    /// Maps bytes `range` of `file` read-only and registers them; `None` (read with `pread`
    /// instead) if the range is empty or either step fails.
    fn new(file: &File, range: &Range<u64>) -> Option<GuardedMap> {
        let len = usize::try_from(range.end.checked_sub(range.start)?)
            .ok()
            .filter(|&l| l > 0)?;
        // SAFETY: the map is read-only and only ever read as plain bytes. Pages that vanish
        // because the file shrinks are replaced by zero pages by the guard registered next (no
        // SIGBUS), and every reader calls `GuardedFile::confirm` after consuming bytes of the
        // map. (Another process *writing* the file changes the bytes under us, as it would
        // between two preads.)
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(range.start)
                .len(len)
                .map(file)
        }
        .ok()?;
        // memmap2 maps from the page below `range.start`; the registered range starts at the
        // first byte handed out, and the handler zeroes whole pages from the faulting one on.
        let base = map.as_ptr() as usize;
        let guard = sigbus::Guard::register(base..base.checked_add(len)?)?;
        Some(GuardedMap {
            guard,
            map,
            offset: range.start,
        })
    }

    fn end(&self) -> u64 {
        self.offset + self.map.len() as u64
    }
}

/// An open file of a data source: its path for messages, `pread`, and, in [`IoMode::Mmap`],
/// a guarded read-only map of (part of) it. See the module docs for how to read it.
#[derive(Debug)]
pub struct GuardedFile {
    path: PathBuf,
    file: File,
    len: u64,
    map: Option<GuardedMap>,
}

impl GuardedFile {
    /// Opens `path` (a file, not a directory) and, in `io` mode [`IoMode::Mmap`], maps all of
    /// it under the guard.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be opened; [`Error::InvalidParameter`] (`path`) for a
    /// directory. A map that cannot be made is no error: the file is read with `pread` then.
    pub fn open(path: impl AsRef<Path>, io: IoMode) -> Result<Self> {
        Self::open_mapping(path.as_ref(), None, io)
    }

    /// Like [`GuardedFile::open`], mapping only the bytes `range` of the file (the data of one
    /// array inside a container file, say), which must lie within it.
    ///
    /// # Errors
    /// As [`GuardedFile::open`]; [`Error::Truncated`] if `range` does not lie within the file.
    pub fn open_range(path: impl AsRef<Path>, range: Range<u64>, io: IoMode) -> Result<Self> {
        Self::open_mapping(path.as_ref(), Some(range), io)
    }

    fn open_mapping(path: &Path, range: Option<Range<u64>>, io: IoMode) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::param(
                "path",
                path.display(),
                "a file, not a directory",
            ));
        }
        let len = meta.len();
        let range = range.unwrap_or(0..len);
        if range.start > range.end || range.end > len {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: range.end,
                actual: len,
                context: format!("bytes {range:?} to be mapped"),
            });
        }
        let map = match io {
            IoMode::Mmap => GuardedMap::new(&file, &range),
            IoMode::Pread => None,
        };
        Ok(GuardedFile {
            path: path.to_path_buf(),
            file,
            len,
            map,
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length when it was opened.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the file was empty when it was opened.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mode the file is read in: [`IoMode::Pread`] if a map was asked for but could not be
    /// made or guarded.
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        if self.map.is_some() {
            IoMode::Mmap
        } else {
            IoMode::Pread
        }
    }

    /// Bytes `range` of the file (file offsets), in place from the map; `None` if they are not
    /// mapped or the map can no longer be trusted (see module docs): read them with
    /// [`GuardedFile::read_at`] then. Call [`GuardedFile::confirm`] after consuming them.
    #[must_use]
    pub fn mapped(&self, range: Range<u64>) -> Option<&[u8]> {
        let map = self.map.as_ref()?;
        // After a fault the map reads zeros where the file was cut, even if it has grown back
        // since: retired. And another SIGBUS handler installed after ours would see faults
        // first, which might kill the process: not used either.
        if map.guard.faults() != 0 || !sigbus::handler_active() {
            return None;
        }
        let start = usize::try_from(range.start.checked_sub(map.offset)?).ok()?;
        let end = usize::try_from(range.end.checked_sub(map.offset)?).ok()?;
        map.map.get(start..end)
    }

    /// Confirms that the bytes taken from [`GuardedFile::mapped`], up to file offset `end`,
    /// were the file's data: [`Error::Truncated`] if the map has faulted (those bytes may be
    /// zeros) or the file is now shorter than `end`. Always `Ok` for a file that is not mapped.
    ///
    /// # Errors
    /// [`Error::Truncated`] as said; [`Error::Io`] if the file's length cannot be read.
    pub fn confirm(&self, end: u64) -> Result<()> {
        let Some(map) = self.map.as_ref() else {
            return Ok(());
        };
        let actual = self.current_len()?;
        if map.guard.faults() != 0 || actual < end {
            return Err(self.truncated(end.max(map.end()), actual, SHRANK));
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at file offset `offset` (`pread`).
    ///
    /// # Errors
    /// [`Error::Truncated`] if the file ends first; [`Error::Io`] if the read fails otherwise.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                let actual = self.current_len().unwrap_or(0);
                self.truncated(offset + buf.len() as u64, actual, SHRANK)
            } else {
                Error::io(&self.path, e)
            }
        })
    }

    /// The file's length now (`fstat`).
    ///
    /// # Errors
    /// [`Error::Io`] if `fstat` fails.
    pub fn current_len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len())
    }

    /// [`Error::Truncated`] naming this file.
    pub fn truncated(&self, needed: u64, actual: u64, context: impl Into<String>) -> Error {
        Error::Truncated {
            path: self.path.clone(),
            needed,
            actual,
            context: context.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(len: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn a_mapped_range_reads_as_pread_does() {
        let (_dir, path, bytes) = file_of(3 * 4096 + 77);
        // An unaligned start: memmap2 maps from the page below it.
        let f = GuardedFile::open_range(&path, 5000..9000, IoMode::Mmap).unwrap();
        assert_eq!(f.io_mode(), IoMode::Mmap);
        assert_eq!(f.mapped(5000..9000).unwrap(), &bytes[5000..9000]);
        assert_eq!(f.mapped(6001..6010).unwrap(), &bytes[6001..6010]);
        assert!(f.mapped(4999..5000).is_none() && f.mapped(8000..9001).is_none());
        let mut buf = vec![0u8; 100];
        f.read_at(&mut buf, 12000).unwrap();
        assert_eq!(buf, &bytes[12000..12100]);
        f.confirm(9000).unwrap();
        let whole = GuardedFile::open(&path, IoMode::Mmap).unwrap();
        assert_eq!(whole.mapped(0..bytes.len() as u64).unwrap(), &bytes[..]);
        let pread = GuardedFile::open(&path, IoMode::Pread).unwrap();
        assert_eq!(pread.io_mode(), IoMode::Pread);
        assert!(pread.mapped(0..10).is_none());
    }

    #[test]
    fn truncation_is_reported_naming_the_file() {
        let (_dir, path, _) = file_of(4 * 4096);
        let f = GuardedFile::open(&path, IoMode::Mmap).unwrap();
        let bad = GuardedFile::open_range(&path, 0..5 * 4096, IoMode::Mmap);
        assert!(matches!(bad, Err(Error::Truncated { .. })), "{bad:?}");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        // Reading the cut-off part of the map faults; the guard answers with zeros and counts.
        let tail = f.mapped(2 * 4096..3 * 4096).unwrap();
        assert!(tail.iter().all(|&b| b == 0));
        for r in [f.confirm(3 * 4096), f.confirm(10)] {
            match r {
                Err(Error::Truncated {
                    path: p, actual, ..
                }) => {
                    assert_eq!((p.as_path(), actual), (path.as_path(), 4096));
                }
                other => panic!("{other:?}"),
            }
        }
        // Retired: pread from now on, which sees the real end of the file.
        assert!(f.mapped(0..10).is_none());
        let mut buf = vec![0u8; 10];
        assert!(matches!(
            f.read_at(&mut buf, 4090),
            Err(Error::Truncated { .. })
        ));
    }
}
