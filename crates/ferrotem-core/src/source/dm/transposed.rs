//! Data stored transposed: all frames' values of the first pixel, then all of the second, …
//! (element `(frame f, pixel p)` at `(p * frames + f) * itemsize`), read as frames.
//!
//! This is how Gatan stores 4-D STEM data and 3-D spectrum images unless tagged otherwise.
//! Frames `a .. b` of all pixels are, for each pixel, one contiguous run of `b - a` values in
//! the file. The runner asks for a few frames at a time (a tile), and gathering so few values
//! from every pixel's run would touch every page of the data for each tile; so each thread
//! gathers a *block* of whole frames at once (about 16 MiB: runs of hundreds of values, each
//! read whole), keeps it, and serves the tiles within it from there. The runs are transposed
//! into the block in groups of pixels, so that both sides are walked sequentially. Mapped
//! ([`IoMode::Mmap`], the default) the runs are read from the map and [`GuardedFile::confirm`]
//! afterwards turns a file that shrank into [`Error::Truncated`]; otherwise each run is one
//! `pread`.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use crate::source::{prepare_read, DataSource, FrameMap, GuardedFile, IoMode};
use std::cell::RefCell;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pixels transposed together: their runs are read side by side while the frames are written.
const PIXEL_BLOCK: usize = 32;
/// Frames of the pixels' runs staged at a time (see `transpose_items`).
const FRAME_PIECE: usize = 256;

/// Bytes of whole frames one thread gathers at a time (see [`TransposedSource`]).
const BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// Numbers the open sources, so that a thread's block is never served to another source.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whole frames of one source, gathered and kept for the reads that follow.
#[derive(Default)]
struct Block {
    /// The source's id; 0 while the block holds nothing valid.
    source: u64,
    /// The stored frames it holds.
    frames: Range<u64>,
    /// Their bytes, frame after frame.
    data: Vec<u8>,
}

thread_local! {
    /// Per-thread buffer for the runs read with `pread`.
    static RUNS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Per-thread block of gathered frames.
    static BLOCK: RefCell<Block> = RefCell::new(Block::default());
}

/// A transposed array (`sig_size` runs of `stored_frames` values) in a file, read as frames.
#[derive(Debug)]
pub struct TransposedSource {
    file: GuardedFile,
    dtype: DType,
    shape: DatasetShape,
    data_offset: u64,
    data_end: u64,
    stored_frames: u64,
    frames: FrameMap,
    /// This source's number (see `NEXT_ID`).
    id: u64,
    /// Frames per gathered block.
    block_frames: u64,
}

impl TransposedSource {
    /// Opens the data at `data_offset` of `path`: `shape.sig_size()` runs of `stored_frames`
    /// values each; reads as [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`TransposedSource::open_with`].
    pub fn open(
        path: &Path,
        dtype: DType,
        shape: DatasetShape,
        stored_frames: u64,
        data_offset: u64,
        sync_offset: i64,
    ) -> Result<Self> {
        Self::open_with(
            path,
            dtype,
            shape,
            stored_frames,
            data_offset,
            sync_offset,
            IoMode::from_env(),
        )
    }

    /// Like [`TransposedSource::open`], reading in `io` mode.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened; [`Error::InvalidParameter`] (`shape`) if the
    /// data's size overflows `u64`, (`sync_offset`) out of range; [`Error::Truncated`] if the
    /// file is too short for the data.
    pub fn open_with(
        path: &Path,
        dtype: DType,
        shape: DatasetShape,
        stored_frames: u64,
        data_offset: u64,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        let data_end = stored_frames
            .checked_mul(shape.sig_size() as u64)
            .and_then(|n| n.checked_mul(dtype.itemsize() as u64))
            .and_then(|n| n.checked_add(data_offset))
            .ok_or_else(|| {
                Error::param(
                    "shape",
                    format!("{stored_frames} frames of {:?} of {dtype}", shape.sig()),
                    "data whose size in bytes fits in 64 bits",
                )
            })?;
        let file =
            GuardedFile::open_range(path, data_offset..data_end, io).map_err(|e| match e {
                Error::Truncated {
                    path,
                    needed,
                    actual,
                    ..
                } => Error::Truncated {
                    path,
                    needed,
                    actual,
                    context: format!(
                        "transposed data of {stored_frames} frames of {:?} of {dtype}",
                        shape.sig()
                    ),
                },
                other => other,
            })?;
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        let frame_bytes = (shape.sig_size() * dtype.itemsize()).max(1);
        Ok(TransposedSource {
            file,
            dtype,
            shape,
            data_offset,
            data_end,
            stored_frames,
            frames,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            block_frames: (BLOCK_BYTES / frame_bytes).max(1) as u64,
        })
    }

    /// The mode this source reads in.
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.file.io_mode()
    }

    /// Byte offset (from the data's start) of stored frame `frame`, pixel `pixel`.
    fn at(&self, frame: u64, pixel: usize) -> usize {
        // In range: the whole data was checked against the file (and `usize`) when opened.
        ((pixel as u64 * self.stored_frames + frame) * self.dtype.itemsize() as u64) as usize
    }

    /// Transposes stored frames `stored`, pixels `pixels`, from the file into `dst` (frame after
    /// frame): from the map where there is one, else with one positioned read per pixel's run.
    fn gather(&self, stored: &Range<u64>, pixels: &Range<usize>, dst: &mut [u8]) -> Result<()> {
        let run_len = (stored.end - stored.start) as usize * self.dtype.itemsize();
        if let Some(data) = self.file.mapped(self.data_offset..self.data_end) {
            self.transpose(stored, pixels, dst, |p| {
                let at = self.at(stored.start, p);
                Ok(&data[at..at + run_len])
            })?;
            // The runs may lie anywhere in the data.
            return self.file.confirm(self.data_end);
        }
        RUNS.with(|buf| {
            let mut buf = buf.borrow_mut();
            // One block of runs at a time, each run one positioned read.
            let mut p0 = pixels.start;
            while p0 < pixels.end {
                let p1 = (p0 + PIXEL_BLOCK).min(pixels.end);
                buf.resize((p1 - p0) * run_len, 0);
                for (k, p) in (p0..p1).enumerate() {
                    let offset = self.data_offset + self.at(stored.start, p) as u64;
                    self.file
                        .read_at(&mut buf[k * run_len..(k + 1) * run_len], offset)?;
                }
                let item = self.dtype.itemsize();
                let npx = pixels.len();
                let part_len = (p1 - p0) * item;
                let col = (p0 - pixels.start) * item;
                // Scatter this block's runs into its columns of `dst`.
                let runs: &[u8] = &buf;
                for i in 0..(stored.end - stored.start) as usize {
                    let row = &mut dst[i * npx * item + col..i * npx * item + col + part_len];
                    for (k, out) in row.chunks_exact_mut(item).enumerate() {
                        let at = k * run_len + i * item;
                        out.copy_from_slice(&runs[at..at + item]);
                    }
                }
                p0 = p1;
            }
            Ok(())
        })
    }

    /// Transposes, for stored frames `frames` and pixels `pixels`, the runs that `run(p)` gives
    /// for each pixel `p` into `dst` (frame after frame).
    fn transpose<'r>(
        &self,
        frames: &Range<u64>,
        pixels: &Range<usize>,
        dst: &mut [u8],
        mut run: impl FnMut(usize) -> Result<&'r [u8]>,
    ) -> Result<()> {
        match self.dtype.itemsize() {
            1 => transpose_items::<1, _>(frames, pixels, dst, &mut run),
            2 => transpose_items::<2, _>(frames, pixels, dst, &mut run),
            4 => transpose_items::<4, _>(frames, pixels, dst, &mut run),
            8 => transpose_items::<8, _>(frames, pixels, dst, &mut run),
            _ => transpose_items::<16, _>(frames, pixels, dst, &mut run),
        }
    }
}

/// The transpose of [`TransposedSource::transpose`] for items of `N` bytes.
fn transpose_items<'r, const N: usize, F>(
    frames: &Range<u64>,
    pixels: &Range<usize>,
    dst: &mut [u8],
    run: &mut F,
) -> Result<()>
where
    F: FnMut(usize) -> Result<&'r [u8]>,
{
    let n = (frames.end - frames.start) as usize;
    let npx = pixels.len();
    let mut runs: Vec<&[u8]> = Vec::with_capacity(PIXEL_BLOCK);
    // The pixels' runs lie a whole run apart in the file (a multiple of 4 KiB, often), so
    // reading one value of each in turn would keep evicting them from the same cache sets:
    // each group of runs is first copied, a piece at a time, into this small contiguous
    // buffer, and transposed from there.
    let mut staged = vec![0u8; PIXEL_BLOCK * FRAME_PIECE * N];
    let mut p0 = pixels.start;
    while p0 < pixels.end {
        let p1 = (p0 + PIXEL_BLOCK).min(pixels.end);
        runs.clear();
        for p in p0..p1 {
            runs.push(run(p)?);
        }
        let col = (p0 - pixels.start) * N;
        let width = runs.len() * N;
        let mut i0 = 0;
        while i0 < n {
            let m = FRAME_PIECE.min(n - i0);
            for (k, r) in runs.iter().enumerate() {
                staged[k * m * N..(k + 1) * m * N].copy_from_slice(&r[i0 * N..(i0 + m) * N]);
            }
            for i in 0..m {
                let at = (i0 + i) * npx * N + col;
                let row = &mut dst[at..at + width];
                for (k, out) in row.chunks_exact_mut(N).enumerate() {
                    let from = (k * m + i) * N;
                    out.copy_from_slice(&staged[from..from + N]);
                }
            }
            i0 += m;
        }
        p0 = p1;
    }
    Ok(())
}

impl DataSource for TransposedSource {
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
        let frame_bytes = self.shape.sig_size() * item;
        let out_len = pixels.len() * item;
        BLOCK.with(|block| {
            let mut block = block.borrow_mut();
            let mut frame = stored.start;
            while frame < stored.end {
                let start = frame / self.block_frames * self.block_frames;
                let end = (start + self.block_frames).min(self.stored_frames);
                if block.source != self.id || block.frames != (start..end) {
                    // Invalid until filled, so that a failed fill is not served later.
                    block.source = 0;
                    block.data.resize((end - start) as usize * frame_bytes, 0);
                    self.gather(&(start..end), &(0..self.shape.sig_size()), &mut block.data)?;
                    block.source = self.id;
                    block.frames = start..end;
                }
                let upto = end.min(stored.end);
                for f in frame..upto {
                    let from = (f - start) as usize * frame_bytes + pixels.start * item;
                    let to = (f - stored.start) as usize * out_len;
                    dst[to..to + out_len].copy_from_slice(&block.data[from..from + out_len]);
                }
                frame = upto;
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!(
            "transposed DM data in {} ({})",
            self.file.path().display(),
            self.dtype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::ScalarKind;
    use std::io::Write;

    #[test]
    fn frames_are_gathered_from_the_runs_in_both_modes() {
        let (frames, sig, offset) = (6u64, 5usize, 3u64);
        let mut bytes = vec![0xEEu8; offset as usize];
        // Stored transposed: value = frame * 100 + pixel, pixel-major.
        for p in 0..sig as u16 {
            for f in 0..frames as u16 {
                bytes.extend((f * 100 + p).to_le_bytes());
            }
        }
        bytes.extend([0xEE; 7]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let dtype = DType::parse("<u2", "dtype").unwrap();
        assert_eq!(dtype.kind, ScalarKind::U16);
        for io in [IoMode::Mmap, IoMode::Pread] {
            let shape = DatasetShape::new(&[2, 3], &[sig]).unwrap();
            let src =
                TransposedSource::open_with(&path, dtype, shape, frames, offset, 1, io).unwrap();
            let mut dst = vec![0u8; 4 * 3 * 2];
            src.read_raw(2, 4, 1..4, &mut dst).unwrap();
            let got: Vec<u16> = dst
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            // Logical frames 2..6 are stored 3..7; stored frame 6 does not exist (zeros).
            let mut want = Vec::new();
            for f in 3..7u16 {
                for p in 1..4u16 {
                    want.push(if f < 6 { f * 100 + p } else { 0 });
                }
            }
            assert_eq!(got, want, "{io:?}");
        }
    }

    #[test]
    fn small_blocks_serve_every_request_and_two_sources_never_mix() {
        let (frames, sig) = (7u64, 3usize);
        let write = |name: &str, bias: u8| {
            let bytes: Vec<u8> = (0..sig as u8)
                .flat_map(|p| (0..frames as u8).map(move |f| bias + f * 10 + p))
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            (dir, path)
        };
        let (_d1, p1) = write("a", 0);
        let (_d2, p2) = write("b", 100);
        let dtype = DType::parse("u1", "dtype").unwrap();
        let open = |p: &Path| {
            let shape = DatasetShape::new(&[frames as usize], &[sig]).unwrap();
            let mut s =
                TransposedSource::open_with(p, dtype, shape, frames, 0, 0, IoMode::Mmap).unwrap();
            s.block_frames = 3;
            s
        };
        let (a, b) = (open(&p1), open(&p2));
        for (first, count, px) in [
            (0u64, 7usize, 0..3usize),
            (2, 3, 1..3),
            (5, 2, 0..1),
            (1, 1, 2..3),
        ] {
            for (src, bias) in [(&a, 0u8), (&b, 100)] {
                let mut dst = vec![0u8; count * px.len()];
                src.read_raw(first, count, px.clone(), &mut dst).unwrap();
                let want: Vec<u8> = (first..first + count as u64)
                    .flat_map(|f| px.clone().map(move |p| bias + f as u8 * 10 + p as u8))
                    .collect();
                assert_eq!(dst, want, "{first} {count} {px:?} {bias}");
            }
        }
    }

    #[test]
    fn long_runs_and_many_pixels_cross_the_staging_pieces() {
        // 600 frames > FRAME_PIECE, 40 pixels > PIXEL_BLOCK
        let (frames, sig) = (600usize, 40usize);
        let value = |f: usize, p: usize| ((f * 41 + p * 7) % 65_521) as u16;
        let mut bytes = Vec::new();
        for p in 0..sig {
            for f in 0..frames {
                bytes.extend(value(f, p).to_be_bytes());
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        std::fs::write(&path, bytes).unwrap();
        let dtype = DType::parse(">u2", "dtype").unwrap();
        let shape = DatasetShape::new(&[frames], &[sig]).unwrap();
        let src =
            TransposedSource::open_with(&path, dtype, shape, frames as u64, 0, 0, IoMode::Mmap)
                .unwrap();
        let mut dst = vec![0u8; frames * sig * 2];
        src.read_raw(0, frames, 0..sig, &mut dst).unwrap();
        for f in [0, 255, 256, 599] {
            for p in [0, 31, 32, 39] {
                let at = (f * sig + p) * 2;
                assert_eq!(
                    u16::from_be_bytes([dst[at], dst[at + 1]]),
                    value(f, p),
                    "{f} {p}"
                );
            }
        }
    }
}
