//! Synchronising the eight sector files of a K2IS acquisition.
//!
//! The sectors are written independently, so each file may start and end at a different block
//! and in the middle of a frame. As LiberTEM does:
//!
//! 1. every sector starts at the block whose `block_count` is the largest of the sectors' first
//!    blocks (the sector that started last sets the start);
//! 2. if the next 32 blocks of any sector belong to more than one frame, the first frame is
//!    incomplete: every sector moves on to the next frame id;
//! 3. likewise at the end: every sector ends at the smallest `block_count` of the last complete
//!    blocks, and an incomplete last frame is dropped;
//! 4. the first frame whose blocks all have the shutter-active flag is found (frames before it
//!    were taken with the shutter closed).
//!
//! The first and last frames are then checked: 32 valid blocks of one frame id in every sector.

use super::block::{BlockHeader, BLOCKS_PER_FRAME, BLOCK_BYTES};
use crate::error::{Error, Result};
use std::path::Path;

/// The blocks of one sector file, as the sync reads them.
pub trait SectorBlocks {
    /// The file, for messages.
    fn path(&self) -> &Path;
    /// Complete blocks in the file.
    fn blocks(&self) -> u64;
    /// Header of block `index` (`< blocks()`).
    ///
    /// # Errors
    /// If it cannot be read.
    fn header(&self, index: u64) -> Result<BlockHeader>;
}

/// Where the complete, synchronised frames lie in the sector files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectorSync {
    /// Block index, in each sector, of the first complete frame.
    pub first_block: Vec<u64>,
    /// Complete frames present in every sector from there on.
    pub frames: u64,
    /// The first frame (counted from the first complete one) taken with the shutter open.
    pub first_active: u64,
    /// Frame id of the first complete frame.
    pub first_frame_id: u32,
    /// Frame id of the first shutter-active frame.
    pub active_frame_id: u32,
    /// Frame id of the last complete frame.
    pub last_frame_id: u32,
}

fn corrupt<S: SectorBlocks>(s: &S, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: s.path().to_path_buf(),
        detail: format!("K2IS sector file: {}", detail.into()),
    }
}

/// The header of block `index`, which must be usable (right sync word and sector size).
fn valid_header<S: SectorBlocks>(s: &S, index: u64, what: &str) -> Result<BlockHeader> {
    let h = s.header(index)?;
    match h.problem() {
        None => Ok(h),
        Some(p) => Err(corrupt(
            s,
            format!(
                "{what} (block {index} at byte {}): {p}",
                index * BLOCK_BYTES
            ),
        )),
    }
}

/// The first block in `range` (forwards, or backwards with `rev`) whose header satisfies `pred`.
fn find<S: SectorBlocks>(
    s: &S,
    range: std::ops::Range<u64>,
    rev: bool,
    pred: impl Fn(&BlockHeader) -> bool,
) -> Result<Option<u64>> {
    let check = |i: u64| -> Result<Option<u64>> { Ok(pred(&s.header(i)?).then_some(i)) };
    if rev {
        for i in range.rev() {
            if let Some(i) = check(i)? {
                return Ok(Some(i));
            }
        }
    } else {
        for i in range {
            if let Some(i) = check(i)? {
                return Ok(Some(i));
            }
        }
    }
    Ok(None)
}

/// True if blocks `range` of `s` do not all have the same frame id.
fn mixed_frames<S: SectorBlocks>(s: &S, range: std::ops::Range<u64>) -> Result<bool> {
    let mut ids = None;
    for i in range {
        let id = s.header(i)?.frame_id;
        if *ids.get_or_insert(id) != id {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Synchronises `sectors` (in sector order) as the module docs say.
///
/// # Errors
/// [`Error::Corrupt`] naming the sector file whose blocks cannot be synchronised (an unusable
/// first or last block, a block count or frame id the other sectors have and it lacks, no
/// complete frame, no shutter-active frame); [`Error::Io`] if a header cannot be read.
pub fn sync_sectors<S: SectorBlocks>(sectors: &[S]) -> Result<SectorSync> {
    let Some(s0) = sectors.first() else {
        return Err(Error::param(
            "path",
            "no sector files",
            "8 K2IS sector files",
        ));
    };
    let per_frame = BLOCKS_PER_FRAME;
    for s in sectors {
        if s.blocks() == 0 {
            return Err(corrupt(
                s,
                format!("it holds no complete block of {BLOCK_BYTES} bytes"),
            ));
        }
    }
    let start = sync_start(sectors)?;
    let last = sync_end(sectors, &start)?;
    let frames = start
        .iter()
        .zip(&last)
        .map(|(&a, &z)| (z + 1).saturating_sub(a) / per_frame)
        .min()
        .unwrap_or(0);
    if frames == 0 {
        return Err(corrupt(
            s0,
            "the sector files hold no complete frame in common",
        ));
    }
    // The sectors must agree on their first and last frames (a file of another acquisition
    // does not).
    let first_frame_id = check_frame(sectors, &start, 0)?;
    let last_frame_id = check_frame(sectors, &start, frames - 1)?;
    // 4: the first frame taken with the shutter open.
    let mut first_active = None;
    'frames: for f in 0..frames {
        for (s, &a) in sectors.iter().zip(&start) {
            if !s.header(a + f * per_frame)?.shutter_active() {
                continue 'frames;
            }
        }
        first_active = Some(f);
        break;
    }
    let first_active = first_active.ok_or_else(|| {
        corrupt(
            s0,
            format!("none of its {frames} complete frames has the shutter-active flag set"),
        )
    })?;
    let active_frame_id = check_frame(sectors, &start, first_active)?;
    Ok(SectorSync {
        first_block: start,
        frames,
        first_active,
        first_frame_id,
        active_frame_id,
        last_frame_id,
    })
}

/// Steps 1 and 2: the block index in each sector of the first complete frame.
fn sync_start<S: SectorBlocks>(sectors: &[S]) -> Result<Vec<u64>> {
    let per_frame = BLOCKS_PER_FRAME;
    // 1: start at the largest first block count.
    let mut firsts = Vec::with_capacity(sectors.len());
    for s in sectors {
        firsts.push(valid_header(s, 0, "the first block")?.block_count);
    }
    let (latest, &target) = firsts
        .iter()
        .enumerate()
        .max_by_key(|&(i, c)| (*c, std::cmp::Reverse(i)))
        .unwrap_or((0, &0));
    let mut start = Vec::with_capacity(sectors.len());
    for s in sectors {
        let found = find(s, 0..s.blocks(), false, |h| h.block_count == target)?;
        start.push(found.ok_or_else(|| {
            corrupt(
                s,
                format!(
                    "no block has block count {target}, where sector {latest} ({}) starts",
                    sectors[latest].path().display()
                ),
            )
        })?);
    }
    // 2: skip an incomplete first frame.
    let mut incomplete = false;
    for (s, &a) in sectors.iter().zip(&start) {
        incomplete |= mixed_frames(s, a..(a + per_frame).min(s.blocks()))?;
    }
    if incomplete {
        let id = sectors[0].header(start[0])?.frame_id;
        for (s, a) in sectors.iter().zip(start.iter_mut()) {
            *a = find(s, *a..s.blocks(), false, |h| h.frame_id != id)?.ok_or_else(|| {
                corrupt(
                    s,
                    format!("no complete frame after the incomplete frame {id}"),
                )
            })?;
        }
    }
    Ok(start)
}

/// Step 3: the block index in each sector of the last block of the last complete frame.
fn sync_end<S: SectorBlocks>(sectors: &[S], start: &[u64]) -> Result<Vec<u64>> {
    let per_frame = BLOCKS_PER_FRAME;
    // 3: end at the smallest last block count, dropping an incomplete last frame.
    let mut lasts = Vec::with_capacity(sectors.len());
    for (s, &a) in sectors.iter().zip(start) {
        let h = valid_header(s, s.blocks() - 1, "the last complete block")?;
        if s.blocks() - 1 < a {
            return Err(corrupt(s, "it ends before the synchronised start"));
        }
        lasts.push(h.block_count);
    }
    let end_target = lasts.iter().copied().min().unwrap_or(0);
    let mut last = Vec::with_capacity(sectors.len());
    for (s, &a) in sectors.iter().zip(start) {
        let found = find(s, a..s.blocks(), true, |h| h.block_count == end_target)?;
        last.push(found.ok_or_else(|| {
            corrupt(
                s,
                format!("no block has block count {end_target}, where another sector ends"),
            )
        })?);
    }
    let mut incomplete = false;
    for ((s, &a), &z) in sectors.iter().zip(start).zip(&last) {
        incomplete |= mixed_frames(s, (z + 1).saturating_sub(per_frame).max(a)..z + 1)?;
    }
    if incomplete {
        let id = sectors[0].header(last[0])?.frame_id;
        for ((s, &a), z) in sectors.iter().zip(start).zip(last.iter_mut()) {
            *z = find(s, a..*z + 1, true, |h| h.frame_id != id)?.ok_or_else(|| {
                corrupt(
                    s,
                    format!("no complete frame before the incomplete frame {id}"),
                )
            })?;
        }
    }
    Ok(last)
}

/// Checks that frame `f` is 32 usable blocks of one frame id in every sector; returns the id.
fn check_frame<S: SectorBlocks>(sectors: &[S], start: &[u64], f: u64) -> Result<u32> {
    let mut id = None;
    for (s, &a) in sectors.iter().zip(start) {
        let first = a + f * BLOCKS_PER_FRAME;
        for i in first..first + BLOCKS_PER_FRAME {
            let h = valid_header(s, i, &format!("frame {f}"))?;
            let want = *id.get_or_insert(h.frame_id);
            if h.frame_id != want {
                return Err(corrupt(
                    s,
                    format!(
                        "frame {f}: block {i} belongs to frame id {}, expected {want} as in the \
                         other blocks and sectors",
                        h.frame_id
                    ),
                ));
            }
        }
    }
    Ok(id.unwrap_or(0))
}
