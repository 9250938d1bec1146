//! The chunk-table source: arrays stored as chunks in files — HDF5 datasets, chunked or
//! contiguous — read and decoded in parallel by Rust.
//!
//! The metadata comes from elsewhere (the Python layer reads it with h5py): for each array its
//! file, shape, chunk shape, filter pipeline, fill value, and the table of its stored chunks
//! (position in the array, byte offset, stored size, filter mask). A contiguous dataset is an
//! array of one unfiltered chunk the size of the whole array. Several arrays can be concatenated
//! along their frames (a detector's series of data files).
//!
//! **Reading.** A request (frames × a range of pixels) is cut into boxes of the stored array; each
//! box visits the chunks it overlaps, and each chunk's part of the box is copied in as few
//! contiguous runs as the layouts allow:
//! - a chunk that was never written reads as the fill value;
//! - an unfiltered chunk is copied straight from the file (its bytes in place from the guarded
//!   map, or `pread` per run);
//! - a filtered chunk that the request covers whole, and that lands in one run of the
//!   destination (a chunk of whole frames), is decoded straight into the destination;
//! - any other filtered chunk is decoded once into the reading thread's cache, and the part
//!   needed is copied from there, so a chunk that several consecutive reads need (many frames
//!   per chunk read a few frames at a time, a large frame read in pixel ranges) is decoded once.
//!
//! Chunks of whole frames that lie back to back in the file, unfiltered, are handed out in place
//! by [`DataSource::stored_slice`] (a contiguous dataset always is). A corrupt chunk is an
//! [`Error::Corrupt`] naming the file, the array and the chunk; a chunk past the end of its
//! file is [`Error::Truncated`], when the source opens or, if the file shrinks later, during
//! the read.

mod boxes;
mod workers;

use super::{contiguous_stored, prepare_read, DataSource, FrameMap, GuardedFile, IoMode};
use crate::decode::{DecodeError, Pipeline};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use boxes::{c_strides, flat_boxes, flat_index, CopyPlan};
use std::ops::Range;
use std::path::{Path, PathBuf};
use workers::{Worker, Workers};

/// The most chunks one array's table may hold (its chunk grid is kept densely).
pub const MAX_CHUNKS: u64 = 1 << 28;

/// Where one stored chunk lies in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLocation {
    /// Byte offset of the stored chunk.
    pub offset: u64,
    /// Stored size in bytes.
    pub size: u64,
    /// Filters skipped for this chunk: bit `i` set = filter `i` of the pipeline not applied.
    pub filter_mask: u32,
}

/// One stored array: its file, layout, pipeline, fill value and chunk table.
#[derive(Debug, Clone)]
pub struct ChunkedArray {
    path: PathBuf,
    name: String,
    shape: Vec<u64>,
    sig_dims: usize,
    chunk: Vec<u64>,
    grid: Vec<u64>,
    pipeline: Pipeline,
    fill: Vec<u8>,
    table: Vec<Option<ChunkLocation>>,
}

impl ChunkedArray {
    /// A chunked array with no chunk written yet (add them with [`ChunkedArray::add_chunk`]).
    ///
    /// `shape` is the stored shape, whose last `sig_dims` axes are one frame; `fill` is the fill
    /// value, one element in the stored dtype (empty: zeros); `name` names the array in
    /// messages (an HDF5 dataset path).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `chunk_shape` does not fit `shape` (another number of
    /// axes, a zero entry), `sig_dims` leaves no frame axis, or the chunk grid is larger than
    /// [`MAX_CHUNKS`].
    pub fn new(
        path: impl Into<PathBuf>,
        name: impl Into<String>,
        shape: Vec<u64>,
        sig_dims: usize,
        chunk_shape: Vec<u64>,
        pipeline: Pipeline,
        fill: Vec<u8>,
    ) -> Result<Self> {
        let name = name.into();
        if shape.len() < 2 || sig_dims == 0 || sig_dims >= shape.len() {
            return Err(Error::param(
                "sig_dims",
                sig_dims,
                format!(
                    "1 ..= {} for {name} of shape {shape:?}",
                    shape.len().max(2) - 1
                ),
            ));
        }
        if chunk_shape.len() != shape.len() || chunk_shape.contains(&0) {
            return Err(Error::param(
                "chunks",
                format!("{chunk_shape:?}"),
                format!(
                    "positive chunk sizes for each of the {} axes of {name}",
                    shape.len()
                ),
            ));
        }
        let grid: Vec<u64> = shape
            .iter()
            .zip(&chunk_shape)
            .map(|(&n, &c)| n.div_ceil(c))
            .collect();
        let cells = grid
            .iter()
            .try_fold(1u64, |acc, &g| acc.checked_mul(g))
            .filter(|&n| n <= MAX_CHUNKS)
            .ok_or_else(|| {
                Error::param(
                    "chunks",
                    format!("{chunk_shape:?}"),
                    format!("at most {MAX_CHUNKS} chunks for {name} of shape {shape:?}"),
                )
            })?;
        Ok(ChunkedArray {
            path: path.into(),
            name,
            shape,
            sig_dims,
            chunk: chunk_shape,
            grid,
            pipeline,
            fill,
            table: vec![None; cells as usize],
        })
    }

    /// A contiguous array: one unfiltered chunk, the whole array, at byte `offset` (`None`: never
    /// written, all fill value).
    ///
    /// # Errors
    /// As [`ChunkedArray::new`]; [`Error::InvalidParameter`] (`shape`) if its size in bytes
    /// overflows.
    pub fn contiguous(
        path: impl Into<PathBuf>,
        name: impl Into<String>,
        shape: &[u64],
        sig_dims: usize,
        offset: Option<u64>,
        itemsize: usize,
        fill: Vec<u8>,
    ) -> Result<Self> {
        let mut array = Self::new(
            path,
            name,
            shape.to_vec(),
            sig_dims,
            shape.to_vec(),
            Pipeline::default(),
            fill,
        )?;
        if let Some(offset) = offset {
            let size = shape
                .iter()
                .try_fold(itemsize as u64, |acc, &n| acc.checked_mul(n))
                .ok_or_else(|| {
                    Error::param(
                        "shape",
                        format!("{shape:?}"),
                        "an array that fits in 64 bits",
                    )
                })?;
            let origin = vec![0; shape.len()];
            array.add_chunk(
                &origin,
                ChunkLocation {
                    offset,
                    size,
                    filter_mask: 0,
                },
            )?;
        }
        Ok(array)
    }

    /// Records the stored chunk whose first element is at `origin` (element coordinates, a
    /// multiple of the chunk shape).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `origin` is not a chunk's origin inside the array, or the chunk is
    /// listed twice.
    pub fn add_chunk(&mut self, origin: &[u64], location: ChunkLocation) -> Result<()> {
        let bad = |what: &str| Error::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "dataset {}: chunk at {origin:?} {what} (shape {:?}, chunks {:?})",
                self.name, self.shape, self.chunk
            ),
        };
        if origin.len() != self.shape.len()
            || origin
                .iter()
                .zip(&self.shape)
                .zip(&self.chunk)
                .any(|((&o, &n), &c)| o >= n || o % c != 0)
        {
            return Err(bad("is not the origin of a chunk of the array"));
        }
        let coords: Vec<u64> = origin.iter().zip(&self.chunk).map(|(o, c)| o / c).collect();
        let linear = flat_index(&coords, &c_strides(&self.grid)) as usize;
        if self.table[linear].is_some() {
            return Err(bad("is listed twice"));
        }
        self.table[linear] = Some(location);
        Ok(())
    }

    /// Number of frames (product of the non-signal axes).
    fn frames(&self) -> u64 {
        self.shape[..self.shape.len() - self.sig_dims]
            .iter()
            .product()
    }
}

/// How frames map onto chunks when every chunk holds whole frames that follow each other (the
/// layouts [`DataSource::stored_slice`] can serve in place).
#[derive(Debug, Clone, Copy)]
struct FrameRuns {
    /// Frames per step of the chunked axis.
    step: u64,
    /// Extent of the chunked axis, and the chunk's extent along it.
    axis_len: u64,
    axis_chunk: u64,
}

impl FrameRuns {
    /// The geometry of `array`, if its chunks hold runs of whole frames: along the frame axes,
    /// chunks of 1 up to one axis, whole axes after it; the signal axes whole.
    fn of(array: &ChunkedArray) -> Option<FrameRuns> {
        let nav = array.shape.len() - array.sig_dims;
        let (shape, chunk) = (&array.shape, &array.chunk);
        if chunk[nav..] != shape[nav..] {
            return None;
        }
        let axis = (0..nav).find(|&d| chunk[d] != 1 || chunk[d + 1..nav] == shape[d + 1..nav])?;
        if chunk[axis + 1..nav] != shape[axis + 1..nav] {
            return None;
        }
        Some(FrameRuns {
            step: shape[axis + 1..nav].iter().product(),
            axis_len: shape[axis],
            axis_chunk: chunk[axis],
        })
    }

    /// The chunk holding frame `frame`: its linear index, its first frame, and how many of its
    /// frames lie in the array.
    fn chunk_of(self, frame: u64) -> (u64, u64, u64) {
        let block = self.axis_len * self.step;
        let (outer, within) = (frame / block, frame % block);
        let along = within / (self.axis_chunk * self.step);
        let per_outer = self.axis_len.div_ceil(self.axis_chunk);
        let first = outer * block + along * self.axis_chunk * self.step;
        let valid = self.axis_chunk.min(self.axis_len - along * self.axis_chunk) * self.step;
        (outer * per_outer + along, first, valid)
    }
}

/// An array of the source, checked and placed among the source's frames.
#[derive(Debug)]
struct Segment {
    array: ChunkedArray,
    file: usize,
    first_frame: u64,
    frames: u64,
    nav: Vec<u64>,
    sig: Vec<u64>,
    chunk_strides: Vec<u64>,
    chunk_bytes: usize,
    fill_is_zero: bool,
    runs: Option<FrameRuns>,
}

/// Arrays stored as chunks (see the module docs), concatenated along their frames.
#[derive(Debug)]
pub struct ChunkedSource {
    files: Vec<GuardedFile>,
    segments: Vec<Segment>,
    dtype: DType,
    shape: DatasetShape,
    frames: FrameMap,
    workers: Workers,
}

impl ChunkedSource {
    /// Opens the files of `arrays` and checks their tables: the logical `shape`'s frames are the
    /// arrays' frames one after the other (`sync_offset` shifts them as for every source).
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be opened; [`Error::InvalidParameter`] if `arrays` is
    /// empty, an array's frame does not have `shape`'s signal size, a fill value is not one
    /// element, or `sync_offset` is out of range; [`Error::Corrupt`] if an unfiltered chunk
    /// has the wrong size; [`Error::Truncated`] if a chunk lies past the end of its file.
    pub fn open(
        arrays: Vec<ChunkedArray>,
        dtype: DType,
        shape: DatasetShape,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        if arrays.is_empty() {
            return Err(Error::param("arrays", "none", "at least one array"));
        }
        let item = dtype.itemsize() as u64;
        let mut files: Vec<GuardedFile> = Vec::new();
        let mut segments = Vec::with_capacity(arrays.len());
        let mut first_frame = 0u64;
        for array in arrays {
            let file = if let Some(i) = files.iter().position(|f| f.path() == array.path) {
                i
            } else {
                files.push(GuardedFile::open(&array.path, io)?);
                files.len() - 1
            };
            let nav_dims = array.shape.len() - array.sig_dims;
            let (nav, sig) = (
                array.shape[..nav_dims].to_vec(),
                array.shape[nav_dims..].to_vec(),
            );
            if sig.iter().product::<u64>() != shape.sig_size() as u64 {
                return Err(Error::param(
                    "sig_shape",
                    format!("{:?}", shape.sig()),
                    format!(
                        "a frame of {} pixels, as the frames {sig:?} of {} have",
                        sig.iter().product::<u64>(),
                        array.name
                    ),
                ));
            }
            if !(array.fill.is_empty() || array.fill.len() as u64 == item) {
                return Err(Error::param(
                    "fill",
                    format!("{} bytes", array.fill.len()),
                    format!("one element of {dtype}"),
                ));
            }
            let chunk_bytes = array
                .chunk
                .iter()
                .try_fold(item, |acc, &c| acc.checked_mul(c))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    Error::param(
                        "chunks",
                        format!("{:?}", array.chunk),
                        "chunks whose size in bytes fits in memory",
                    )
                })?;
            check_table(&array, &files[file], chunk_bytes)?;
            let frames = array.frames();
            let fill_is_zero = array.fill.iter().all(|&b| b == 0);
            segments.push(Segment {
                file,
                first_frame,
                frames,
                nav,
                sig,
                chunk_strides: c_strides(&array.chunk),
                chunk_bytes,
                fill_is_zero,
                runs: FrameRuns::of(&array),
                array,
            });
            first_frame = first_frame
                .checked_add(frames)
                .ok_or_else(|| Error::param("arrays", "too many frames", "at most 2**64 frames"))?;
        }
        let frames = FrameMap::new(sync_offset, first_frame)?;
        Ok(ChunkedSource {
            files,
            segments,
            dtype,
            shape,
            frames,
            workers: Workers::new(),
        })
    }

    /// The mode the first file is read in.
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.files[0].io_mode()
    }

    /// The segment holding stored frame `frame`.
    fn segment_of(&self, frame: u64) -> usize {
        self.segments
            .partition_point(|s| s.first_frame + s.frames <= frame)
            .min(self.segments.len() - 1)
    }

    /// Reads frames `frames` (local to segment `s`), pixels `pixels`, into `dst`.
    fn read_segment(
        &self,
        s: usize,
        frames: &Range<u64>,
        pixels: &Range<usize>,
        dst: &mut [u8],
        worker: &mut Worker,
    ) -> Result<()> {
        let seg = &self.segments[s];
        let npx = pixels.len() as u64;
        let (nav_strides, sig_strides) = (c_strides(&seg.nav), c_strides(&seg.sig));
        let sig_range = pixels.start as u64..pixels.end as u64;
        let sig_boxes = flat_boxes(&seg.sig, sig_range.clone());
        for nav_box in flat_boxes(&seg.nav, frames.clone()) {
            for sig_box in &sig_boxes {
                let origin: Vec<u64> = nav_box
                    .origin
                    .iter()
                    .chain(&sig_box.origin)
                    .copied()
                    .collect();
                let extent: Vec<u64> = nav_box
                    .extent
                    .iter()
                    .chain(&sig_box.extent)
                    .copied()
                    .collect();
                let dst_strides: Vec<u64> = nav_strides
                    .iter()
                    .map(|s| s * npx)
                    .chain(sig_strides.iter().copied())
                    .collect();
                let chunk = &seg.array.chunk;
                let lo: Vec<u64> = origin.iter().zip(chunk).map(|(o, c)| o / c).collect();
                let hi: Vec<u64> = origin
                    .iter()
                    .zip(&extent)
                    .zip(chunk)
                    .map(|((o, e), c)| (o + e - 1) / c)
                    .collect();
                let mut coords = lo.clone();
                loop {
                    self.read_chunk_part(
                        s,
                        &coords,
                        &origin,
                        &extent,
                        &dst_strides,
                        frames,
                        &sig_range,
                        dst,
                        worker,
                    )?;
                    if !next_coords(&mut coords, &lo, &hi) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies the part of box (`origin`, `extent`) that lies in the chunk at grid `coords` into
    /// `dst` (laid out with `dst_strides`, starting at frame `frames.start`, pixel
    /// `pixels.start`).
    #[expect(
        clippy::too_many_arguments,
        reason = "one box of one chunk, described in full"
    )]
    fn read_chunk_part(
        &self,
        s: usize,
        coords: &[u64],
        origin: &[u64],
        extent: &[u64],
        dst_strides: &[u64],
        frames: &Range<u64>,
        pixels: &Range<u64>,
        dst: &mut [u8],
        worker: &mut Worker,
    ) -> Result<()> {
        let seg = &self.segments[s];
        let item = self.dtype.itemsize();
        let chunk = &seg.array.chunk;
        let nav_dims = seg.nav.len();
        let mut lo = Vec::with_capacity(coords.len());
        let mut part = Vec::with_capacity(coords.len());
        for d in 0..coords.len() {
            let start = coords[d] * chunk[d];
            let end = (start + chunk[d]).min(seg.array.shape[d]);
            let a = origin[d].max(start);
            let b = (origin[d] + extent[d]).min(end);
            lo.push(a - start);
            part.push(b - a);
        }
        let first: Vec<u64> = lo
            .iter()
            .zip(coords)
            .zip(chunk)
            .map(|((l, c), k)| c * k + l)
            .collect();
        let frame = flat_index(&first[..nav_dims], &c_strides(&seg.nav));
        let pixel = flat_index(&first[nav_dims..], &c_strides(&seg.sig));
        let npx = pixels.end - pixels.start;
        let dst_base = (frame - frames.start) * npx + (pixel - pixels.start);
        let src_base = flat_index(&lo, &seg.chunk_strides);
        let plan = CopyPlan::merged(&part, &seg.chunk_strides, dst_strides);
        let run_bytes = plan.run() as usize * item;
        let linear = flat_index(coords, &c_strides(&seg.array.grid));
        let file = &self.files[seg.file];
        let Some(location) = seg.array.table[linear as usize] else {
            // Never written: the fill value.
            return plan.for_each_run(|_, d| {
                let at = (dst_base + d) as usize * item;
                fill(
                    &mut dst[at..at + run_bytes],
                    &seg.array.fill,
                    seg.fill_is_zero,
                );
                Ok(())
            });
        };
        let stored = location.offset..location.offset + location.size;
        if seg.array.pipeline.is_plain(location.filter_mask) {
            if let Some(bytes) = file.mapped(stored.clone()) {
                plan.for_each_run(|src, d| {
                    let (from, to) = (
                        (src_base + src) as usize * item,
                        (dst_base + d) as usize * item,
                    );
                    dst[to..to + run_bytes].copy_from_slice(&bytes[from..from + run_bytes]);
                    Ok(())
                })?;
                return file.confirm(stored.end);
            }
            return plan.for_each_run(|src, d| {
                let to = (dst_base + d) as usize * item;
                file.read_at(
                    &mut dst[to..to + run_bytes],
                    stored.start + (src_base + src) * item as u64,
                )
            });
        }
        // Filtered: straight into the destination if the chunk lands there whole, in one run (a
        // run as long as the chunk is the whole chunk, not one clipped at the array's edge).
        if plan.extent.len() == 1 && run_bytes == seg.chunk_bytes {
            let to = dst_base as usize * item;
            return self.decode(s, linear, location, &mut dst[to..to + run_bytes], worker);
        }
        let key = (s, linear);
        if worker.cached(key).is_none() {
            let mut buf = worker.make_room(seg.chunk_bytes);
            self.decode(s, linear, location, &mut buf, worker)?;
            worker.insert(key, buf);
        }
        let bytes = worker
            .cached(key)
            .ok_or_else(|| Error::internal("a decoded chunk left the cache at once"))?;
        plan.for_each_run(|src, d| {
            let (from, to) = (
                (src_base + src) as usize * item,
                (dst_base + d) as usize * item,
            );
            dst[to..to + run_bytes].copy_from_slice(&bytes[from..from + run_bytes]);
            Ok(())
        })
    }

    /// Decodes chunk `linear` of segment `s`, stored at `location`, into `out`.
    fn decode(
        &self,
        s: usize,
        linear: u64,
        location: ChunkLocation,
        out: &mut [u8],
        worker: &mut Worker,
    ) -> Result<()> {
        let seg = &self.segments[s];
        let file = &self.files[seg.file];
        let stored = location.offset..location.offset + location.size;
        let pipeline = &seg.array.pipeline;
        let result = if let Some(bytes) = file.mapped(stored.clone()) {
            let decoded = pipeline.decode(bytes, location.filter_mask, out, &mut worker.scratch);
            // A file cut under the map reads as zeros: that is a truncation, not corruption.
            file.confirm(stored.end)?;
            decoded
        } else {
            let len = usize::try_from(location.size)
                .map_err(|_| Error::internal("a chunk's size was checked to fit"))?;
            let mut buf = std::mem::take(&mut worker.stored);
            buf.resize(len, 0);
            let read = file.read_at(&mut buf, stored.start);
            let decoded = read
                .map(|()| pipeline.decode(&buf, location.filter_mask, out, &mut worker.scratch));
            worker.stored = buf;
            decoded?
        };
        result.map_err(|e| self.corrupt(s, linear, location, &e))
    }

    /// The error for a chunk that does not decode.
    fn corrupt(&self, s: usize, linear: u64, location: ChunkLocation, e: &DecodeError) -> Error {
        let seg = &self.segments[s];
        Error::Corrupt {
            path: seg.array.path.clone(),
            detail: format!(
                "dataset {}: chunk at {:?} (bytes {}..{} of the file) cannot be decoded: {e}",
                seg.array.name,
                chunk_origin(&seg.array, linear),
                location.offset,
                location.offset + location.size
            ),
        }
    }

    /// The file range of an in-place request (stored frames from `first`, see
    /// [`DataSource::stored_slice`]), if the frames' chunks are unfiltered and lie back to back.
    fn plain_range(
        &self,
        first: u64,
        count: usize,
        pixels: &Range<usize>,
    ) -> Option<(usize, Range<u64>)> {
        let s = self.segment_of(first);
        let seg = &self.segments[s];
        let local = first.checked_sub(seg.first_frame)?;
        let end = local.checked_add(count as u64)?;
        if end > seg.frames {
            return None;
        }
        let runs = seg.runs?;
        let item = self.dtype.itemsize() as u64;
        let frame_bytes = seg.sig.iter().product::<u64>() * item;
        let plain = |linear: u64| {
            seg.array.table[linear as usize].filter(|l| seg.array.pipeline.is_plain(l.filter_mask))
        };
        let (linear, chunk_first, valid) = runs.chunk_of(local);
        let mut location = plain(linear)?;
        let start =
            location.offset + (local - chunk_first) * frame_bytes + pixels.start as u64 * item;
        let len = count as u64 * pixels.len() as u64 * item;
        let (mut frame, mut valid) = (chunk_first, valid);
        // Frames past this chunk must continue its bytes exactly: a chunk without padding,
        // followed in the file by the next one.
        while frame + valid < end {
            if valid * frame_bytes != location.size {
                return None;
            }
            let (next, next_first, next_valid) = runs.chunk_of(frame + valid);
            let next_location = plain(next)?;
            if next_first != frame + valid
                || next_location.offset != location.offset + location.size
            {
                return None;
            }
            (frame, valid, location) = (next_first, next_valid, next_location);
        }
        Some((seg.file, start..start + len))
    }
}

/// Steps `coords` to the next chunk of the grid range `lo ..= hi` (the last axis fastest);
/// false once every chunk was visited.
fn next_coords(coords: &mut [u64], lo: &[u64], hi: &[u64]) -> bool {
    for d in (0..coords.len()).rev() {
        if coords[d] < hi[d] {
            coords[d] += 1;
            return true;
        }
        coords[d] = lo[d];
    }
    false
}

/// The element origin of chunk `linear` of `array`, for messages.
fn chunk_origin(array: &ChunkedArray, linear: u64) -> Vec<u64> {
    let strides = c_strides(&array.grid);
    strides
        .iter()
        .zip(&array.grid)
        .zip(&array.chunk)
        .map(|((s, g), c)| (linear / s) % g * c)
        .collect()
}

/// Checks that every chunk of `array` lies within its file and that unfiltered ones hold exactly
/// one chunk's bytes.
fn check_table(array: &ChunkedArray, file: &GuardedFile, chunk_bytes: usize) -> Result<()> {
    for (linear, location) in array.table.iter().enumerate() {
        let Some(location) = location else { continue };
        let origin = || chunk_origin(array, linear as u64);
        let end = location.offset.checked_add(location.size);
        if end.is_none_or(|e| e > file.len()) {
            return Err(file.truncated(
                end.unwrap_or(u64::MAX),
                file.len(),
                format!("dataset {}: chunk at {:?}", array.name, origin()),
            ));
        }
        let plain = array.pipeline.is_plain(location.filter_mask);
        if (plain && location.size != chunk_bytes as u64) || location.size == 0 {
            return Err(Error::Corrupt {
                path: array.path.clone(),
                detail: format!(
                    "dataset {}: chunk at {:?} is stored in {} bytes, expected {}",
                    array.name,
                    origin(),
                    location.size,
                    chunk_bytes
                ),
            });
        }
        if usize::try_from(location.size).is_err() {
            return Err(Error::param(
                "chunks",
                location.size,
                "chunks that fit in memory",
            ));
        }
    }
    Ok(())
}

/// Fills `dst` with repetitions of the element `value` (zeros if `zero`).
fn fill(dst: &mut [u8], value: &[u8], zero: bool) {
    if zero || value.is_empty() {
        dst.fill(0);
    } else {
        for (d, v) in dst.iter_mut().zip(value.iter().cycle()) {
            *d = *v;
        }
    }
}

impl DataSource for ChunkedSource {
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
        let per_frame = pixels.len() * self.dtype.itemsize();
        let mut worker = self.workers.acquire();
        let mut frame = stored.start;
        let mut at = 0usize;
        while frame < stored.end {
            let s = self.segment_of(frame);
            let seg = &self.segments[s];
            let end = stored.end.min(seg.first_frame + seg.frames);
            let n = (end - frame) as usize;
            let local = frame - seg.first_frame..end - seg.first_frame;
            self.read_segment(
                s,
                &local,
                &pixels,
                &mut dst[at..at + n * per_frame],
                &mut worker,
            )?;
            frame = end;
            at += n * per_frame;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let first = &self.segments[0].array;
        let more = match self.segments.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        format!(
            "chunked dataset {} in {}{more} ({})",
            first.name,
            first.path.display(),
            self.dtype
        )
    }

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        let stored = contiguous_stored(&self.shape, &self.frames, first, count, &pixels)?;
        let (file, range) = self.plain_range(stored, count, &pixels)?;
        self.files[file].mapped(range)
    }

    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        let Some(stored) = contiguous_stored(&self.shape, &self.frames, first, count, &pixels)
        else {
            return Ok(());
        };
        match self.plain_range(stored, count, &pixels) {
            Some((file, range)) => self.files[file].confirm(range.end),
            None => Ok(()),
        }
    }
}

/// The paths of the files a source reads, for messages.
impl ChunkedSource {
    /// The files this source reads, in the order their arrays were given.
    #[must_use]
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(GuardedFile::path).collect()
    }
}
