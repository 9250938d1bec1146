//! Running UDFs over partitions: reading, converting and tiling, in parallel. This is the only
//! place in the core that starts threads (a rayon pool owned by [`Runner`]).

use crate::aligned::AlignedBuf;
use crate::buffer::InputKind;
use crate::convert::{convert, copy_native, make_native, CastTo, Target};
use crate::corrections::{Correctable, Corrections};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::partition::Partition;
use crate::roi::Roi;
use crate::source::{DataSource, StoredFrames};
use crate::udf::{
    DynUdf, PartitionInfo, RunInfo, StoredData, StoredFramesTile, StoredTile, Tile, TileData,
};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use std::any::Any;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

mod csr;

/// Default size of one tile in the input dtype (1 MiB: four 256x256 float32 frames).
///
/// Each tile is one positioned read from the file, so larger tiles mean fewer system calls and a
/// faster kernel copy out of the page cache (measured: 256 KiB → 1 MiB raises the read-only rate
/// by about a fifth). The built-in UDFs take tiles in their stored dtype (half or a quarter of
/// this for 16/8-bit data) and update their accumulators in L1-sized pixel blocks, so the tile
/// only has to fit the L2 cache; UDFs that need converted tiles get a second buffer of this size.
pub const DEFAULT_TILE_BYTES: usize = 1024 * 1024;

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// The dtype tiles are converted to.
    pub input: InputKind,
    /// Target tile size in bytes of the input dtype.
    pub tile_bytes: usize,
    /// Set to `true` from elsewhere to stop the run at the next tile.
    pub cancel: Option<&'a AtomicBool>,
    /// Upper bound of stored bytes one thread takes at a time in [`Runner::run`]: larger
    /// partitions are split into pieces of this size, so that threads balance their load
    /// (a dataset may have as few partitions as cores, and one slow core would stall the run).
    pub task_bytes: usize,
    /// Detector corrections applied to every tile before the UDFs see it. When active, tiles
    /// are always converted (no in-place or stored-dtype fast paths) and, with excluded pixels,
    /// hold whole frames.
    pub corrections: Option<&'a Corrections>,
}

/// Default of [`RunOptions::task_bytes`]: 32 MiB, large enough to amortise the per-piece
/// partial result, small enough for dozens of pieces per gigabyte.
pub const DEFAULT_TASK_BYTES: usize = 32 * 1024 * 1024;

/// Fewest frames in a piece of [`Runner::run`] when frames are large (at least
/// [`LARGE_FRAME_BYTES`]), whatever [`RunOptions::task_bytes`] says: a piece's frame-sized
/// partial results must stay small against its data. (Smaller frames fill a default piece
/// with more than this many frames anyway.)
const MIN_PIECE_FRAMES: usize = 16;
/// Frames of at least this many stored bytes are "large" for [`MIN_PIECE_FRAMES`].
const LARGE_FRAME_BYTES: usize = 1 << 20;

impl RunOptions<'_> {
    /// Options with the default tile size and no cancellation.
    #[must_use]
    pub fn new(input: InputKind) -> Self {
        RunOptions {
            input,
            tile_bytes: DEFAULT_TILE_BYTES,
            cancel: None,
            task_bytes: DEFAULT_TASK_BYTES,
            corrections: None,
        }
    }
}

/// Element types tiles can be delivered in.
trait InputElement: Target + Correctable {
    fn tile_data(data: &[Self]) -> TileData<'_>;
}
impl InputElement for f32 {
    fn tile_data(data: &[Self]) -> TileData<'_> {
        TileData::F32(data)
    }
}
impl InputElement for f64 {
    fn tile_data(data: &[Self]) -> TileData<'_> {
        TileData::F64(data)
    }
}
impl InputElement for Complex32 {
    fn tile_data(data: &[Self]) -> TileData<'_> {
        TileData::C64(data)
    }
}
impl InputElement for Complex64 {
    fn tile_data(data: &[Self]) -> TileData<'_> {
        TileData::C128(data)
    }
}

/// Describes the partition for UDFs: how many of its frames take part and where they go.
#[must_use]
pub fn partition_info<'a>(
    run: &RunInfo<'a>,
    partition: &'a Partition,
    roi: Option<&Roi>,
) -> PartitionInfo<'a> {
    let (n_frames, compressed_start) = match roi {
        Some(r) => (
            r.count_in(&partition.frames) as usize,
            r.compressed_index(partition.frames.start),
        ),
        None => (
            (partition.frames.end - partition.frames.start) as usize,
            partition.frames.start,
        ),
    };
    PartitionInfo {
        run: run.clone(),
        partition,
        n_frames,
        compressed_start,
    }
}

/// Checks that `partitions` lie within the dataset and that `roi` has one entry per frame, so
/// that a bad request is an error rather than an out-of-bounds panic on a worker thread.
fn check_run(source: &dyn DataSource, partitions: &[Partition], roi: Option<&Roi>) -> Result<()> {
    let nav_size = source.shape().nav_size();
    if let Some(r) = roi {
        if r.mask().len() as u64 != nav_size {
            return Err(Error::param(
                "roi",
                format!("a mask of {} elements", r.mask().len()),
                format!("one element per navigation position ({nav_size})"),
            ));
        }
    }
    for p in partitions {
        if p.frames.start > p.frames.end || p.frames.end > nav_size {
            return Err(Error::param(
                "partition",
                format!("{:?}", p.frames),
                format!("a frame range within 0..{nav_size}"),
            ));
        }
    }
    Ok(())
}

/// Processes one partition with every UDF, reading each byte once. Returns one partial per UDF.
///
/// # Errors
/// [`Error::InvalidParameter`] (`roi`, `partition`) if the ROI or the partition does not fit
/// the source; [`Error::Cancelled`] if `opts.cancel` is set; otherwise the first error of a
/// read or of a UDF.
pub fn run_partition(
    source: &dyn DataSource,
    part: &PartitionInfo<'_>,
    roi: Option<&Roi>,
    udfs: &[&dyn DynUdf],
    opts: &RunOptions<'_>,
) -> Result<Vec<Box<dyn Any + Send>>> {
    run_partition_into(source, part, roi, udfs, opts, None)
}

/// As [`run_partition`], accumulating into `partials` (one per UDF, from an earlier call with
/// the same UDFs, all of which [`DynUdf::partial_takes_any_frames_dyn`]) if given.
fn run_partition_into(
    source: &dyn DataSource,
    part: &PartitionInfo<'_>,
    roi: Option<&Roi>,
    udfs: &[&dyn DynUdf],
    opts: &RunOptions<'_>,
    partials: Option<Vec<Box<dyn Any + Send>>>,
) -> Result<Vec<Box<dyn Any + Send>>> {
    check_run(source, std::slice::from_ref(part.partition), roi)?;
    let partials =
        partials.unwrap_or_else(|| udfs.iter().map(|u| u.new_partial_dyn(part)).collect());
    match opts.input {
        InputKind::F32 => run_partition_typed::<f32>(source, part, roi, udfs, opts, partials),
        InputKind::F64 => run_partition_typed::<f64>(source, part, roi, udfs, opts, partials),
        InputKind::C64 => run_partition_typed::<Complex32>(source, part, roi, udfs, opts, partials),
        InputKind::C128 => {
            run_partition_typed::<Complex64>(source, part, roi, udfs, opts, partials)
        }
    }
}

/// Tile geometry: frames per tile and pixels per tile.
fn tile_geometry(sig_size: usize, item: usize, tile_bytes: usize) -> (usize, usize) {
    let frame_bytes = sig_size * item;
    if frame_bytes == 0 {
        return (1, sig_size);
    }
    if frame_bytes >= tile_bytes {
        (1, (tile_bytes / item).clamp(1, sig_size))
    } else {
        (tile_bytes / frame_bytes, sig_size)
    }
}

fn run_partition_typed<T: InputElement>(
    source: &dyn DataSource,
    part: &PartitionInfo<'_>,
    roi: Option<&Roi>,
    udfs: &[&dyn DynUdf],
    opts: &RunOptions<'_>,
    partials: Vec<Box<dyn Any + Send>>,
) -> Result<Vec<Box<dyn Any + Send>>>
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
    Complex32: CastTo<T>,
    Complex64: CastTo<T>,
{
    let sig_size = source.shape().sig_size();
    let src_dtype = source.dtype();
    let src_item = src_dtype.itemsize();
    let corrections = opts.corrections.filter(|c| c.is_active());
    let tile_bytes = udfs
        .iter()
        .filter_map(|u| u.min_tile_bytes_dyn())
        .fold(opts.tile_bytes, usize::max);
    let (mut depth, mut px_per_tile) =
        tile_geometry(sig_size, std::mem::size_of::<T>(), tile_bytes);
    if corrections.is_some_and(Corrections::needs_whole_frames) {
        // Excluded pixels are patched from their neighbours: tiles of whole frames.
        (depth, px_per_tile) = (depth.max(1), sig_size);
    }
    if source.as_csr().is_some() {
        // Sparse rows cannot be cut by pixels: tiles of whole frames (see `csr`).
        px_per_tile = sig_size;
    }
    if let Some(frames) = source.deep_tile_frames().filter(|&d| d > 1) {
        // Not with whole-frame tiles (corrections, sparse rows): they stay one frame deep.
        if depth == 1 && px_per_tile < sig_size {
            // Large frames, and a source that reads them best in deep tiles (see
            // `DataSource::deep_tile_frames`): as many bytes, more frames, fewer pixels.
            // No deeper than the partition's frames (ROI applied): pieces of one frame keep
            // their full tile width.
            let frames = frames.min(part.n_frames.max(1));
            (depth, px_per_tile) = (frames, (px_per_tile / frames).max(1));
        }
    }
    let tile_elems = depth * px_per_tile;
    // Page-aligned: fast kernel copies (see `aligned`), and conversion can reinterpret bytes.
    let mut raw_store = AlignedBuf::zeroed(tile_elems * src_item);
    // Byte-swapped data goes in place to the UDFs that swap it themselves, and is made native
    // in the tile buffer for the others and whenever it had to be read (see below).
    let swapped = src_dtype.needs_swap();
    let native = DType::native(src_dtype.kind);
    let mut feeder = Feeder::<T> {
        udfs,
        partials,
        src_dtype,
        tile_elems,
        converted: Vec::new(),
        wants_converted: vec![false; udfs.len()],
        skip: vec![false; udfs.len()],
        corrections,
    };
    let runs: Vec<Range<u64>> = match roi {
        Some(r) => r.runs_in(&part.partition.frames),
        None => vec![part.partition.frames.clone()],
    };
    if let Some(csr) = source.as_csr() {
        csr::feed_csr(csr, &mut feeder, &runs, depth, &mut raw_store, opts)?;
        return Ok(feeder.partials);
    }
    let mut offset = 0usize;
    for run in runs {
        let mut frame = run.start;
        while frame < run.end {
            let n = ((run.end - frame) as usize).min(depth);
            let mut px = 0;
            while px < sig_size {
                if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(Error::Cancelled);
                }
                let px_end = (px + px_per_tile).min(sig_size);
                let at = TileAt {
                    offset,
                    depth: n,
                    pixels: px..px_end,
                };
                let frame_len = (px_end - px) * src_item;
                let lent = source
                    .stored_frames(frame, n, px..px_end)
                    .filter(|f| f.count() == n && f.frame_len() == frame_len);
                let buf = &mut raw_store.as_mut_slice()[..n * frame_len];
                if let Some(frames) = lent {
                    // In-memory or memory-mapped data: no read.
                    match frames.contiguous() {
                        // Native order and contiguous: processed in place, no copy.
                        Some(bytes) if !swapped => feeder.feed(bytes, src_dtype, &at)?,
                        // Frames apart (headers between them) or byte-swapped.
                        _ => feeder.feed_lent(&frames, &at, buf)?,
                    }
                    // A mapped file that shrank reads as zeros: fail before they reach a result.
                    source.check_stored(frame, n, px..px_end)?;
                } else {
                    source.read_raw(frame, n, px..px_end, buf)?;
                    make_native(buf, src_dtype);
                    feeder.feed(buf, native, &at)?;
                }
                px = px_end;
            }
            frame += n as u64;
            offset += n;
        }
    }
    Ok(feeder.partials)
}

/// Where a tile lies: its first frame in the partition's ROI-compressed order, its frame count
/// and its pixels.
struct TileAt {
    offset: usize,
    depth: usize,
    pixels: Range<usize>,
}

/// Hands tiles to the UDFs of one partition: in their stored dtype to the UDFs that take them so
/// (fused conversion), converted once per tile to the others.
struct Feeder<'u, T> {
    udfs: &'u [&'u dyn DynUdf],
    partials: Vec<Box<dyn Any + Send>>,
    src_dtype: DType,
    tile_elems: usize,
    /// The converted tile; allocated (and faulted in) only if some tile has to be converted.
    converted: Vec<T>,
    /// Which UDFs did not take the current tile in its stored dtype.
    wants_converted: Vec<bool>,
    /// Which UDFs already took the current tile (lent frames, see `feed_lent`).
    skip: Vec<bool>,
    /// Active corrections: every UDF then takes the converted, corrected tile.
    corrections: Option<&'u Corrections>,
}

impl<T: InputElement> Feeder<'_, T>
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
    Complex32: CastTo<T>,
    Complex64: CastTo<T>,
{
    /// A tile whose stored bytes `raw` (elements of `dtype`) are contiguous, frame after frame.
    fn feed(&mut self, raw: &[u8], dtype: DType, at: &TileAt) -> Result<()> {
        let stored = StoredData::from_bytes(raw, dtype);
        for (((udf, partial), wants), &skip) in self
            .udfs
            .iter()
            .zip(self.partials.iter_mut())
            .zip(&mut self.wants_converted)
            .zip(&self.skip)
        {
            *wants = match stored {
                _ if skip => false,
                _ if self.corrections.is_some() => true,
                Some(data) => !udf.process_stored_tile_dyn(
                    partial.as_mut(),
                    &StoredTile {
                        offset: at.offset,
                        depth: at.depth,
                        pixels: at.pixels.clone(),
                        data,
                    },
                )?,
                None => true,
            };
        }
        if self.wants_converted.iter().any(|&w| w) {
            let elems = at.depth * at.pixels.len();
            convert(raw, dtype, self.converted_buf(elems))?;
            if let Some(c) = self.corrections {
                c.apply(&mut self.converted[..elems], at.pixels.clone())?;
            }
            self.feed_converted(at)?;
        }
        Ok(())
    }

    /// A tile lent in place whose frames are apart (headers between them) or byte-swapped.
    /// UDFs that can take such frames where they lie ([`DynUdf::process_stored_frames_dyn`])
    /// get them so; for the others the frames are gathered into `buf` in native order (the
    /// copy stays in cache) and handed out as an ordinary tile.
    fn feed_lent(&mut self, frames: &StoredFrames<'_>, at: &TileAt, buf: &mut [u8]) -> Result<()> {
        let kind = self.src_dtype.kind;
        let item = kind.itemsize();
        let tile = StoredData::view(frames.span(), kind)
            .filter(|_| frames.stride() % item == 0 && self.corrections.is_none())
            .map(|data| StoredFramesTile {
                offset: at.offset,
                depth: at.depth,
                pixels: at.pixels.clone(),
                stride: frames.stride() / item,
                data,
                swapped: self.src_dtype.needs_swap(),
            });
        let mut all_took = true;
        for ((udf, partial), skip) in self
            .udfs
            .iter()
            .zip(self.partials.iter_mut())
            .zip(&mut self.skip)
        {
            *skip = match &tile {
                Some(t) => udf.process_stored_frames_dyn(partial.as_mut(), t)?,
                None => false,
            };
            all_took &= *skip;
        }
        if !all_took {
            let frame_len = frames.frame_len();
            for (src, dst) in frames.frames().zip(buf.chunks_exact_mut(frame_len)) {
                copy_native(src, self.src_dtype, dst);
            }
            self.feed(buf, DType::native(kind), at)?;
        }
        self.skip.fill(false);
        Ok(())
    }

    /// The first `elems` values of the converted-tile buffer.
    fn converted_buf(&mut self, elems: usize) -> &mut [T] {
        if self.converted.is_empty() {
            self.converted = vec![T::default(); self.tile_elems];
        }
        &mut self.converted[..elems]
    }

    /// Hands the converted tile to the UDFs that did not take the stored one.
    fn feed_converted(&mut self, at: &TileAt) -> Result<()> {
        let elems = at.depth * at.pixels.len();
        let tile = Tile {
            offset: at.offset,
            depth: at.depth,
            pixels: at.pixels.clone(),
            data: T::tile_data(&self.converted[..elems]),
        };
        for ((udf, partial), _) in self
            .udfs
            .iter()
            .zip(self.partials.iter_mut())
            .zip(&self.wants_converted)
            .filter(|(_, &w)| w)
        {
            udf.process_tile_dyn(partial.as_mut(), &tile)?;
        }
        Ok(())
    }
}

/// A pool of worker threads that runs UDFs over partitions.
#[derive(Debug)]
pub struct Runner {
    pool: rayon::ThreadPool,
}

impl Runner {
    /// A runner with `threads` worker threads (`0` means one per available core).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`threads`) if the thread pool cannot be started.
    pub fn new(threads: usize) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ferrotem-worker-{i}"))
            .build()
            .map_err(|e| {
                Error::param("threads", threads, format!("a pool that can start ({e})"))
            })?;
        Ok(Runner { pool })
    }

    /// Number of worker threads.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `udfs` over `partitions` in parallel and returns one merged output per UDF.
    ///
    /// Partials are merged as partitions finish; `on_partition` is called after each merge.
    ///
    /// # Errors
    /// As [`run_partition`], for the first partition that fails; merging stops there.
    pub fn run(
        &self,
        source: &dyn DataSource,
        partitions: &[Partition],
        roi: Option<&Roi>,
        udfs: &[&dyn DynUdf],
        opts: &RunOptions<'_>,
        on_partition: &(dyn Fn(&Partition) + Sync),
    ) -> Result<Vec<Box<dyn Any + Send>>> {
        check_run(source, partitions, roi)?;
        let n_frames = roi.map_or(source.shape().nav_size(), Roi::count);
        let run = RunInfo {
            shape: source.shape(),
            n_frames,
            input: opts.input,
        };
        let outputs: Vec<Box<dyn Any + Send>> =
            udfs.iter().map(|u| u.new_output_dyn(&run)).collect();
        let outputs = Mutex::new(outputs);
        // Partitions are cut into pieces of at most `task_bytes` stored bytes; each piece is
        // merged like a partition of its own, and `on_partition` fires once a whole partition
        // is done.
        let frame_bytes = (source.shape().sig_size() * source.dtype().itemsize()).max(1);
        // At least MIN_PIECE_FRAMES frames a piece: each piece allocates, fills and merges
        // frame-sized partial results (SumUDF's float64 frame is four uint16 frames), so with
        // large frames (K2IS: 7.6 MB) a piece of a few frames spent as long on its partial
        // result as on its data.
        let min_frames = if frame_bytes >= LARGE_FRAME_BYTES {
            MIN_PIECE_FRAMES
        } else {
            1
        };
        let piece_frames = (opts.task_bytes / frame_bytes).max(min_frames) as u64;
        let mut pieces: Vec<(usize, Partition)> = Vec::new();
        let mut counts = vec![0usize; partitions.len()];
        for (i, p) in partitions.iter().enumerate() {
            let mut start = p.frames.start;
            while start < p.frames.end {
                counts[i] += 1;
                let end = start.saturating_add(piece_frames).min(p.frames.end);
                pieces.push((
                    i,
                    Partition {
                        index: p.index,
                        frames: start..end,
                    },
                ));
                start = end;
            }
        }
        let remaining: Vec<AtomicUsize> = counts.into_iter().map(AtomicUsize::new).collect();
        let merge = |piece: &Partition, partials: Vec<Box<dyn Any + Send>>| -> Result<()> {
            let part = partition_info(&run, piece, roi);
            let mut locked = outputs.lock().map_err(|_| poisoned())?;
            for ((udf, out), partial) in udfs.iter().zip(locked.iter_mut()).zip(partials) {
                udf.merge_dyn(out.as_mut(), &part, partial)?;
            }
            Ok(())
        };
        // Per-thread partials (see `Udf::partial_takes_any_frames`): slot `t` holds thread
        // `t`'s partials and the last piece they took.
        let per_thread = udfs.iter().all(|u| u.partial_takes_any_frames_dyn());
        let slots: Vec<Mutex<Option<PieceSlot<'_>>>> = if per_thread {
            (0..self.threads()).map(|_| Mutex::new(None)).collect()
        } else {
            Vec::new()
        };
        self.pool.install(|| {
            pieces
                .par_iter()
                .with_max_len(1)
                .try_for_each(|(i, piece)| {
                    let part = partition_info(&run, piece, roi);
                    if part.n_frames > 0 {
                        let slot = rayon::current_thread_index()
                            .and_then(|t| slots.get(t % slots.len().max(1)));
                        match slot {
                            Some(slot) => {
                                let taken = slot.lock().map_err(|_| poisoned())?.take();
                                let partials = taken.map(|(_, p)| p);
                                let partials =
                                    run_partition_into(source, &part, roi, udfs, opts, partials)?;
                                let mut held = slot.lock().map_err(|_| poisoned())?;
                                // Normally empty again: a thread runs one piece at a time.
                                if held.is_none() {
                                    *held = Some((piece, partials));
                                } else {
                                    drop(held);
                                    merge(piece, partials)?;
                                }
                            }
                            None => merge(piece, run_partition(source, &part, roi, udfs, opts)?)?,
                        }
                    }
                    if remaining[*i].fetch_sub(1, Ordering::AcqRel) == 1 {
                        on_partition(&partitions[*i]);
                    }
                    Ok(())
                })
        })?;
        for slot in slots {
            if let Some((piece, partials)) = slot.into_inner().map_err(|_| poisoned())? {
                merge(piece, partials)?;
            }
        }
        outputs.into_inner().map_err(|_| poisoned())
    }
}

/// A thread's partials kept across pieces, with the last piece they took (for the merge).
type PieceSlot<'p> = (&'p Partition, Vec<Box<dyn Any + Send>>);

/// The error for the outputs' lock found poisoned: a merge panicked while holding it, so the
/// outputs may be half-merged. A bug (the panic itself normally reaches the caller first), not
/// a cancellation: reporting it as `Cancelled` made Python raise `KeyboardInterrupt`.
fn poisoned() -> Error {
    Error::internal("a merge panicked while holding the run's outputs; they are incomplete")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisoned_outputs_are_an_internal_error() {
        let outputs = Mutex::new(vec![0u8]);
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = outputs.lock().unwrap();
                panic!("a merge fails while holding the lock");
            })
            .join()
        });
        assert!(outputs.is_poisoned());
        let err = outputs.lock().map_err(|_| poisoned()).unwrap_err();
        assert!(matches!(err, Error::Internal { udf: None, .. }), "{err:?}");
        assert!(err.to_string().contains("internal error"), "{err}");
        let err = outputs.into_inner().map_err(|_| poisoned()).unwrap_err();
        assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    }

    /// An in-memory source that asks for deep tiles.
    struct Deep(crate::source::MemorySource<Vec<u8>>);

    impl DataSource for Deep {
        fn dtype(&self) -> DType {
            self.0.dtype()
        }
        fn shape(&self) -> &crate::shape::DatasetShape {
            self.0.shape()
        }
        fn read_raw(
            &self,
            first: u64,
            count: usize,
            px: Range<usize>,
            dst: &mut [u8],
        ) -> Result<()> {
            self.0.read_raw(first, count, px, dst)
        }
        fn describe(&self) -> String {
            "deep".into()
        }
        fn deep_tile_frames(&self) -> Option<usize> {
            Some(4)
        }
    }

    /// Records the (frames, pixels) of every tile and sums them, with per-thread partials
    /// if `any_frames`.
    struct Shapes {
        seen: Mutex<Vec<(usize, usize)>>,
        any_frames: bool,
    }

    impl crate::udf::Udf for Shapes {
        type Partial = Vec<f64>;
        type Output = Vec<f64>;
        fn new_partial(&self, part: &PartitionInfo<'_>) -> Vec<f64> {
            vec![0.0; part.run.shape.sig_size()]
        }
        fn process_tile(&self, partial: &mut Vec<f64>, tile: &Tile<'_>) -> Result<()> {
            self.seen
                .lock()
                .unwrap()
                .push((tile.depth, tile.pixels.len()));
            let TileData::F32(d) = tile.data else {
                panic!("float32 tiles")
            };
            for frame in d.chunks(tile.pixels.len()).take(tile.depth) {
                for (a, &v) in partial[tile.pixels.clone()].iter_mut().zip(frame) {
                    *a += f64::from(v);
                }
            }
            Ok(())
        }
        fn partial_takes_any_frames(&self) -> bool {
            self.any_frames
        }
        fn new_output(&self, run: &RunInfo<'_>) -> Vec<f64> {
            vec![0.0; run.shape.sig_size()]
        }
        fn merge(&self, out: &mut Vec<f64>, _: &PartitionInfo<'_>, p: Vec<f64>) -> Result<()> {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
            Ok(())
        }
    }

    #[test]
    fn deep_tiles_and_per_thread_partials_sum_every_frame_once() {
        use crate::dtype::ScalarKind;
        // 10 frames of 32x32 uint16; float32 tiles of 1 KiB: 256 pixels, a quarter frame
        let (frames, sig) = (10usize, 1024usize);
        let values: Vec<u16> = (0..frames * sig).map(|i| (i * 7 % 1001) as u16).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let shape = crate::shape::DatasetShape::new(&[frames], &[32, 32]).unwrap();
        let dtype = DType::native(ScalarKind::U16);
        let expected: Vec<f64> = (0..sig)
            .map(|p| (0..frames).map(|f| f64::from(values[f * sig + p])).sum())
            .collect();
        let parts = [
            Partition {
                index: 0,
                frames: 0..7,
            },
            Partition {
                index: 1,
                frames: 7..10,
            },
        ];
        let opts = RunOptions {
            tile_bytes: 1024,
            // pieces of one frame (large frames are not at stake here): many per thread
            task_bytes: 1,
            ..RunOptions::new(InputKind::F32)
        };
        for any_frames in [false, true] {
            let deep = Deep(
                crate::source::MemorySource::new(bytes.clone(), dtype, shape.clone(), 0).unwrap(),
            );
            let udf = Shapes {
                seen: Mutex::new(Vec::new()),
                any_frames,
            };
            let runner = Runner::new(2).unwrap();
            let done = AtomicUsize::new(0);
            let out = runner
                .run(&deep, &parts, None, &[&udf], &opts, &|_| {
                    done.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            let sum = out
                .into_iter()
                .next()
                .unwrap()
                .downcast::<Vec<f64>>()
                .unwrap();
            assert_eq!(*sum, expected, "per-thread partials: {any_frames}");
            assert_eq!(done.load(Ordering::Relaxed), 2);
            // one-frame pieces: tiles one frame deep, a quarter frame wide
            let seen = udf.seen.into_inner().unwrap();
            assert_eq!(seen.len(), frames * 4);
            assert!(seen.iter().all(|&s| s == (1, 256)), "{seen:?}");
            // whole partitions in one piece: tiles 4 frames deep, 64 pixels wide
            let udf = Shapes {
                seen: Mutex::new(Vec::new()),
                any_frames,
            };
            let opts = RunOptions {
                task_bytes: usize::MAX,
                ..opts
            };
            let out = runner
                .run(&deep, &parts, None, &[&udf], &opts, &|_| {})
                .unwrap();
            let sum = out
                .into_iter()
                .next()
                .unwrap()
                .downcast::<Vec<f64>>()
                .unwrap();
            assert_eq!(*sum, expected);
            let mut seen = udf.seen.into_inner().unwrap();
            seen.sort_unstable();
            // frames 0..4 and 4..7 (4 deep, 64 pixels); 7..10 (a partition of 3 frames: 3
            // deep, 256 / 3 = 85 pixels, and the 4 left)
            let mut want = vec![(4, 64); 16];
            want.extend(vec![(3, 64); 16]);
            want.extend(vec![(3, 85); 12]);
            want.push((3, 4));
            want.sort_unstable();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn geometry_fits_budget() {
        assert_eq!(tile_geometry(65536, 4, 256 * 1024), (1, 65536));
        assert_eq!(tile_geometry(1024, 4, 256 * 1024), (64, 1024));
        assert_eq!(tile_geometry(512 * 512, 4, 256 * 1024), (1, 65536));
    }
}
