//! Where a check reads its data from (memory, raw and `.npy` files), and how each run is
//! partitioned and tiled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: panics on setup failure

use super::super::npy_header_bytes;
use super::data::TestData;
use ferrotem_core::buffer::InputKind;
use ferrotem_core::runner::{DEFAULT_TASK_BYTES, DEFAULT_TILE_BYTES};
use ferrotem_core::source::{open_npy, DataSource, IoMode, MemorySource, RawFileSource};
use std::io::Write;

/// Where a run reads the data from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `MemorySource` over the bytes (processed in place).
    Memory,
    /// A `MemorySource` over a copy one byte past an aligned address: the values cannot be
    /// viewed in place as typed values, so even native-order data goes through conversion.
    MemoryMisaligned,
    /// A raw file, its data after `header` bytes, read in `io` mode.
    Raw {
        /// Reading mode.
        io: IoMode,
        /// Bytes before the data (not a multiple of the item size: misaligned map).
        header: u64,
    },
    /// A C-ordered `.npy` file (its data 64-byte aligned), opened with `open_npy`.
    Npy,
}

/// One run of the kernels over the data.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
    /// The source.
    pub source: SourceKind,
    /// Number of partitions.
    pub partitions: usize,
    /// Worker threads.
    pub threads: usize,
    /// `RunOptions::tile_bytes`.
    pub tile_bytes: usize,
    /// `RunOptions::task_bytes`.
    pub task_bytes: usize,
}

impl RunConfig {
    /// Two partitions on two threads with the default tile and task sizes.
    pub fn new(source: SourceKind) -> Self {
        RunConfig {
            source,
            partitions: 2,
            threads: 2,
            tile_bytes: DEFAULT_TILE_BYTES,
            task_bytes: DEFAULT_TASK_BYTES,
        }
    }
    /// With `n` partitions.
    pub fn partitions(self, n: usize) -> Self {
        RunConfig {
            partitions: n,
            ..self
        }
    }
    /// With `n` threads.
    pub fn threads(self, n: usize) -> Self {
        RunConfig { threads: n, ..self }
    }
    /// With tiles of `bytes` of the input dtype.
    pub fn tile_bytes(self, bytes: usize) -> Self {
        RunConfig {
            tile_bytes: bytes,
            ..self
        }
    }
    /// With pieces of at most `bytes` stored bytes.
    pub fn task_bytes(self, bytes: usize) -> Self {
        RunConfig {
            task_bytes: bytes,
            ..self
        }
    }

    /// Pixel ranges per frame: a frame larger than a tile is cut into tile-sized ranges
    /// (runner's documented tiling).
    pub(super) fn pixel_pieces(&self, sig_size: usize, input: InputKind) -> usize {
        let item = input.scalar().itemsize();
        if sig_size * item < self.tile_bytes {
            1
        } else {
            sig_size.div_ceil((self.tile_bytes / item).max(1))
        }
    }
}

/// The sources of one check, opened once each (files written once).
pub(super) struct Sources<'a> {
    open: Vec<(SourceKind, Box<dyn DataSource + 'a>)>,
    data: &'a TestData,
    dir: tempfile::TempDir,
}

impl<'a> Sources<'a> {
    pub(super) fn new(data: &'a TestData) -> Self {
        Sources {
            open: Vec::new(),
            data,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(super) fn get(&mut self, kind: SourceKind) -> &dyn DataSource {
        if !self.open.iter().any(|(k, _)| *k == kind) {
            let source = self.make(kind);
            self.open.push((kind, source));
        }
        let (_, s) = self.open.iter().find(|(k, _)| *k == kind).unwrap();
        s.as_ref()
    }

    fn make(&mut self, kind: SourceKind) -> Box<dyn DataSource + 'a> {
        let data = self.data;
        let write = |name: &str, head: &[u8]| {
            let path = self.dir.path().join(name);
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            f.write_all(head).unwrap();
            f.write_all(&data.bytes).unwrap();
            f.flush().unwrap();
            path
        };
        match kind {
            SourceKind::Memory => {
                Box::new(MemorySource::new(&data.bytes[..], data.dtype, data.shape(), 0).unwrap())
            }
            SourceKind::MemoryMisaligned => {
                let mut copy = Vec::with_capacity(data.bytes.len() + 1);
                copy.push(0xA5);
                copy.extend_from_slice(&data.bytes);
                let owned = MisalignedBytes(copy);
                Box::new(MemorySource::new(owned, data.dtype, data.shape(), 0).unwrap())
            }
            SourceKind::Raw { io, header } => {
                let path = write(&format!("d{header}.raw"), &vec![0xA5; header as usize]);
                let src = RawFileSource::open_with(&path, data.dtype, data.shape(), header, 0, io)
                    .unwrap();
                assert_eq!(src.io_mode(), io, "the source reads as asked");
                Box::new(src)
            }
            SourceKind::Npy => {
                let mut shape = data.nav.clone();
                shape.extend(&data.sig);
                let head = npy_header_bytes(&data.dtype.to_numpy_str(), false, &shape);
                let path = write("d.npy", &head);
                open_npy(&path, data.sig.len(), None, None, 0).unwrap().1
            }
        }
    }
}

/// Owned bytes starting one byte into their allocation.
struct MisalignedBytes(Vec<u8>);

impl AsRef<[u8]> for MisalignedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0[1..]
    }
}
