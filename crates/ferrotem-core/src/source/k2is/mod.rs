//! Gatan K2 IS raw data: eight sector files (`*.bin`) of 12-bit packed blocks, and a `.gtg`
//! file with the scan's metadata.
//!
//! [`block`] describes the blocks and decodes them, [`sync`] finds the complete frames the
//! sectors have in common, [`gtg`] reads the scan shape. [`K2isSource`] reads frames: for each
//! requested frame and pixel range it takes just the block rows holding those pixels (two block
//! rows of sixteen blocks in each of the eight sectors make a 1860 × 2048 frame), checks the
//! headers of the blocks it touches (sync word, sector size, one frame id for all of them) and
//! decodes the packed pixels straight into the caller's buffer. The runner calls it from its
//! threads, one piece of a partition each, so decoding runs in parallel.

pub mod block;
pub mod gtg;
pub mod sync;
pub mod unpack;

use self::block::{
    block_origin, decode_rows, parse_block_header, rows_in, BlockHeader, BLOCKS_PER_FRAME,
    BLOCKS_PER_ROW, BLOCK_BYTES, FRAME_HEIGHT, FRAME_WIDTH, HEADER_BYTES, ROW_BYTES, SECTORS,
};
use self::sync::{sync_sectors, SectorBlocks, SectorSync};
use self::unpack::prefetch;
use super::{prepare_read, DataSource, FrameMap, GuardedFile, IoMode};
use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Frames of a tile (see [`DataSource::deep_tile_frames`]): the Sum kernel adds groups of
/// eight rows into accumulators held in registers; a tile of the default size is then 16
/// frame rows (float32 input), 512 KiB of `u16`. On the benchmark (200 frames, 2 cores, a busy
/// machine) `SumUDF` took 0.25-0.30 CPU seconds a run with 4, 8 or 16 frames (no clear
/// winner), 0.37 with 2, 0.47 one frame deep; halving the tile's rows instead (8 frames of 8
/// rows) took 0.28-0.31, a quarter 0.39: each block's rows in a tile are one contiguous read.
const DEEP_TILE_FRAMES: usize = 8;

thread_local! {
    /// Per-thread buffer for block bytes read with `pread`.
    static BLOCK_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The header bytes of a block, read from the map or with `pread`.
fn read_header(file: &GuardedFile, index: u64) -> Result<BlockHeader> {
    let offset = index * BLOCK_BYTES;
    let end = offset + HEADER_BYTES as u64;
    let mut buf = [0u8; HEADER_BYTES];
    match file.mapped(offset..end) {
        Some(b) => buf.copy_from_slice(b),
        None => file.read_at(&mut buf, offset)?,
    }
    parse_block_header(&buf).map_err(|detail| Error::Corrupt {
        path: file.path().to_path_buf(),
        detail,
    })
}

impl SectorBlocks for GuardedFile {
    fn path(&self) -> &Path {
        GuardedFile::path(self)
    }

    fn blocks(&self) -> u64 {
        self.len() / BLOCK_BYTES
    }

    fn header(&self, index: u64) -> Result<BlockHeader> {
        read_header(self, index)
    }
}

/// The eight sector files of an acquisition, opened and synchronised.
#[derive(Debug)]
pub struct K2isAcquisition {
    files: Vec<GuardedFile>,
    sync: SectorSync,
}

impl K2isAcquisition {
    /// Opens the sector files `paths` (in sector order) and synchronises them; reads as
    /// [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`K2isAcquisition::open_with`].
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        Self::open_with(paths, IoMode::from_env())
    }

    /// Opens the sector files `paths` (in sector order) in `io` mode and synchronises them.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`path`) unless there are eight files; [`Error::Io`] if one
    /// cannot be opened; what [`sync_sectors`] says about their blocks.
    pub fn open_with(paths: &[PathBuf], io: IoMode) -> Result<Self> {
        if paths.len() != SECTORS {
            return Err(Error::param(
                "path",
                format!("{} sector files", paths.len()),
                format!("{SECTORS} K2IS sector files (*.bin)"),
            ));
        }
        let files = paths
            .iter()
            .map(|p| GuardedFile::open(p, io))
            .collect::<Result<Vec<_>>>()?;
        let sync = sync_sectors(&files)?;
        Ok(K2isAcquisition { files, sync })
    }

    /// Where the complete frames lie.
    #[must_use]
    pub fn sync(&self) -> &SectorSync {
        &self.sync
    }

    /// Sector files whose length is not a whole number of blocks, with the bytes of the block
    /// cut off at their end (ignored, as the incomplete frame it belongs to).
    #[must_use]
    pub fn cut_blocks(&self) -> Vec<(PathBuf, u64)> {
        self.files
            .iter()
            .filter(|f| f.len() % BLOCK_BYTES != 0)
            .map(|f| (f.path().to_path_buf(), f.len() % BLOCK_BYTES))
            .collect()
    }

    /// A data source of `shape` whose logical frame 0 is complete frame `first_frame` (counted
    /// from the first complete frame; negative: that many frames of zeros come first).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`sig_shape`) unless the frame has 1860 × 2048 pixels,
    /// (`sync_offset`) if `first_frame` is not in `-frames .. frames`.
    pub fn into_source(self, shape: DatasetShape, first_frame: i64) -> Result<K2isSource> {
        let pixels = FRAME_HEIGHT * FRAME_WIDTH;
        if shape.sig_size() != pixels {
            return Err(Error::param(
                "sig_shape",
                format!("{:?} ({} pixels)", shape.sig(), shape.sig_size()),
                format!(
                    "a shape of {pixels} pixels, as K2IS frames ({FRAME_HEIGHT}, {FRAME_WIDTH})"
                ),
            ));
        }
        let frames = self.sync.frames;
        let limit = i64::try_from(frames).unwrap_or(i64::MAX);
        if first_frame < -limit || first_frame >= limit {
            return Err(Error::param(
                "sync_offset",
                format!("a first frame of {first_frame}"),
                format!("a first frame in {}..{limit}", -limit),
            ));
        }
        let starts = self
            .sync
            .first_block
            .iter()
            .map(|&b| b * BLOCK_BYTES)
            .collect();
        Ok(K2isSource {
            files: self.files,
            starts,
            frames: FrameMap {
                sync_offset: first_frame,
                stored_frames: frames,
            },
            shape,
            checked: (0..frames.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        })
    }
}

/// A K2IS acquisition as a [`DataSource`] of `u16` frames. See the module docs.
#[derive(Debug)]
pub struct K2isSource {
    files: Vec<GuardedFile>,
    /// Byte offset of the first complete frame in each sector.
    starts: Vec<u64>,
    frames: FrameMap,
    shape: DatasetShape,
    /// One bit per stored frame: set once the headers of all its blocks passed their checks.
    checked: Vec<AtomicU64>,
}

impl K2isSource {
    /// Complete frames present.
    #[must_use]
    pub fn stored_frame_count(&self) -> u64 {
        self.frames.stored_frames
    }

    /// The error for a block that failed its check: the file's truncation if it shrank (a map
    /// then reads zeros), else [`Error::Corrupt`] naming the frame and block.
    fn block_error(&self, sector: usize, end: u64, frame: u64, index: u64, detail: &str) -> Error {
        let f = &self.files[sector];
        if let Err(e) = f.confirm(end) {
            return e;
        }
        Error::Corrupt {
            path: f.path().to_path_buf(),
            detail: format!("K2IS frame {frame}, block {index} of sector {sector}: {detail}"),
        }
    }

    /// File offsets, in sector `sector`, of stored frames `frames`.
    fn span(&self, sector: usize, frames: &Range<u64>) -> Range<u64> {
        let frame_bytes = BLOCKS_PER_FRAME * BLOCK_BYTES;
        let start = self.starts[sector];
        start + frames.start * frame_bytes..start + frames.end * frame_bytes
    }

    /// Checks the header of block `index` of stored frame `frame` in `sector` (`end`: the end
    /// of the bytes about to be used, for the truncation check): a usable header whose frame
    /// id is that of the frame's other blocks (`frame_id`, set by the first block checked).
    fn check_header(
        &self,
        header: &[u8],
        (sector, frame, index): (usize, u64, u64),
        end: u64,
        frame_id: &mut Option<u32>,
    ) -> Result<()> {
        let h = parse_block_header(header)
            .map_err(|d| self.block_error(sector, end, frame, index, &d))?;
        if let Some(p) = h.problem() {
            return Err(self.block_error(sector, end, frame, index, &p));
        }
        let want = *frame_id.get_or_insert(h.frame_id);
        if h.frame_id != want {
            let detail = format!(
                "frame id {}, but the frame's other blocks have {want}: the sectors are out of \
                 step",
                h.frame_id
            );
            return Err(self.block_error(sector, end, frame, index, &detail));
        }
        Ok(())
    }

    /// File offset, in `sector`, of row `row` of block `index` of stored frame `frame`.
    fn packed_at(&self, sector: usize, frame: u64, index: usize, row: usize) -> u64 {
        let block = frame * BLOCKS_PER_FRAME + index as u64;
        self.starts[sector] + block * BLOCK_BYTES + (HEADER_BYTES + row * ROW_BYTES) as u64
    }

    /// Checks the headers of the 256 blocks of stored frame `frame`, unless an earlier request
    /// did: `maps` and `spans` as for [`K2isSource::decode_frame`].
    ///
    /// Once per frame and source, not per request: deep tiles (see
    /// [`DataSource::deep_tile_frames`]) ask for a few rows of a frame at a time, and checking
    /// every block's header for each of them cost as much as decoding the rows. Bytes read
    /// later from a file that shrank are still caught by the truncation checks of `read_raw`.
    fn check_frame(&self, frame: u64, maps: &[Option<&[u8]>], spans: &[Range<u64>]) -> Result<()> {
        let (word, bit) = ((frame / 64) as usize, 1u64 << (frame % 64));
        if self.checked[word].load(Ordering::Relaxed) & bit != 0 {
            return Ok(());
        }
        let mut frame_id = None;
        for (sector, file) in self.files.iter().enumerate() {
            for index in 0..BLOCKS_PER_FRAME {
                let at = self.starts[sector] + (frame * BLOCKS_PER_FRAME + index) * BLOCK_BYTES;
                let end = at + HEADER_BYTES as u64;
                let mut header = [0u8; HEADER_BYTES];
                match maps[sector] {
                    // In the map: the span covers every block of the requested frames.
                    Some(map) => {
                        let from = (at - spans[sector].start) as usize;
                        header.copy_from_slice(&map[from..from + HEADER_BYTES]);
                    }
                    None => file.read_at(&mut header, at)?,
                }
                self.check_header(&header, (sector, frame, index), end, &mut frame_id)?;
            }
        }
        self.checked[word].fetch_or(bit, Ordering::Relaxed);
        Ok(())
    }

    /// Decodes the pixels `pixels` of stored frame `frame` into `out`, its headers checked
    /// first. `maps[s]` holds sector `s`'s bytes of the request from file offset
    /// `spans[s].start` on, if it is mapped (taken once per request: asking the map costs a
    /// system call); otherwise blocks are `pread`.
    ///
    /// The 16 blocks of a block row of a sector are decoded together, row by row (see
    /// [`decode_rows`]). With `next` (a stored frame and pixels of the request read after
    /// these), the packed bytes of `next` in the same sector and block row are prefetched
    /// from the map before each block row is decoded: deep tiles take a few rows of each block
    /// (a few hundred bytes) at a time, too little for the hardware prefetcher to follow, and
    /// decoding waited on memory.
    fn decode_frame(
        &self,
        frame: u64,
        pixels: &Range<usize>,
        out: &mut [u8],
        (maps, spans): (&[Option<&[u8]>], &[Range<u64>]),
        next: Option<(u64, &Range<usize>)>,
    ) -> Result<()> {
        self.check_frame(frame, maps, spans)?;
        for (sector, file) in self.files.iter().enumerate() {
            for half in 0..2 {
                // Column `c` of the sector is block `15 - c` of the block row.
                let last_index = (half + 1) * BLOCKS_PER_ROW - 1;
                let origin = block_origin(sector, last_index);
                let rows = rows_in(origin.0, pixels);
                if rows.is_empty() {
                    continue;
                }
                let packed_len = rows.len() * ROW_BYTES;
                let first_row = rows.start;
                let packed_at = |c| self.packed_at(sector, frame, last_index - c, first_row);
                if let Some(map) = maps[sector] {
                    let base = spans[sector].start;
                    // In the map: the span covers every block of the requested frames.
                    let in_map = |at: u64, len: usize| {
                        let from = (at - base) as usize;
                        &map[from..from + len]
                    };
                    if let Some((next_frame, next_pixels)) = next {
                        let ahead = rows_in(origin.0, next_pixels);
                        for c in 0..BLOCKS_PER_ROW {
                            let at =
                                self.packed_at(sector, next_frame, last_index - c, ahead.start);
                            prefetch(in_map(at, ahead.len() * ROW_BYTES));
                        }
                    }
                    let cols: [&[u8]; BLOCKS_PER_ROW] =
                        std::array::from_fn(|c| in_map(packed_at(c), packed_len));
                    decode_rows(&cols, origin, rows, pixels, out);
                    continue;
                }
                BLOCK_BUF.with(|buf| -> Result<()> {
                    let mut buf = buf.borrow_mut();
                    buf.resize(BLOCKS_PER_ROW * packed_len, 0);
                    for (c, packed) in buf.chunks_exact_mut(packed_len).enumerate() {
                        file.read_at(packed, packed_at(c))?;
                    }
                    let cols: Vec<&[u8]> = buf.chunks_exact(packed_len).collect();
                    decode_rows(&cols, origin, rows, pixels, out);
                    Ok(())
                })?;
            }
        }
        Ok(())
    }
}

impl DataSource for K2isSource {
    fn dtype(&self) -> DType {
        DType::native(ScalarKind::U16)
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
        let dtype = self.dtype();
        let prepared = prepare_read(&self.shape, dtype, &self.frames, first, count, &pixels, dst)?;
        let Some((stored, dst)) = prepared else {
            return Ok(());
        };
        let per_frame = pixels.len() * dtype.itemsize();
        let spans: Vec<Range<u64>> = (0..self.files.len())
            .map(|s| self.span(s, &stored))
            .collect();
        let maps: Vec<Option<&[u8]>> = self
            .files
            .iter()
            .zip(&spans)
            .map(|(f, span)| f.mapped(span.clone()))
            .collect();
        // What the runner asks for next: the same pixels of the next frame, and after the
        // last frame the next pixels of the first (the next tile of deep tiles).
        let frame_size = self.shape.sig_size();
        let next_pixels = pixels.end..(2 * pixels.end - pixels.start).min(frame_size);
        for (frame, out) in stored.clone().zip(dst.chunks_exact_mut(per_frame)) {
            let next = if frame + 1 < stored.end {
                Some((frame + 1, &pixels))
            } else {
                Some((stored.start, &next_pixels)).filter(|_| !next_pixels.is_empty())
            };
            self.decode_frame(frame, &pixels, out, (&maps, &spans), next)?;
        }
        // Bytes taken from a map that shrank read as zeros: fail before they reach a result.
        for ((file, span), map) in self.files.iter().zip(&spans).zip(&maps) {
            if map.is_some() {
                file.confirm(span.end)?;
            }
        }
        Ok(())
    }

    fn deep_tile_frames(&self) -> Option<usize> {
        Some(DEEP_TILE_FRAMES)
    }

    fn describe(&self) -> String {
        format!(
            "K2IS sector files {} and {} more (u16)",
            self.files[0].path().display(),
            self.files.len() - 1
        )
    }
}

#[cfg(test)]
mod tests;
