//! Reading frames converted to a requested dtype, in cache-sized chunks. This is how the Python
//! path gets its tiles: straight into a numpy array, with no intermediate full-size copy.

use crate::aligned::AlignedBuf;
use crate::convert::convert_bytes;
use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use crate::source::{DataSource, StoredFrames};
use std::ops::Range;

/// Raw bytes converted per step: small enough to stay in L2 between read and conversion.
const CHUNK_BYTES: usize = 256 * 1024;

/// Reads the frames in `runs` (each a range of logical frames), pixels `pixels` of each frame,
/// converted to native-order `dst_kind`, into `dst` (frames one after the other).
///
/// `scratch` is reused between calls to avoid allocating (and page-faulting) per tile.
///
/// # Errors
/// [`Error::InvalidParameter`] (`out`) if `dst` does not hold exactly the requested frames;
/// otherwise whatever the source's reads return ([`Error::Io`], [`Error::Truncated`], ...).
pub fn read_converted(
    source: &dyn DataSource,
    runs: &[Range<u64>],
    pixels: Range<usize>,
    dst: &mut [u8],
    dst_kind: ScalarKind,
    scratch: &mut AlignedBuf,
) -> Result<()> {
    let n_frames: u64 = runs.iter().map(|r| r.end.saturating_sub(r.start)).sum();
    let px = pixels.len();
    let dst_item = dst_kind.itemsize();
    let expected = (n_frames as usize)
        .checked_mul(px)
        .and_then(|n| n.checked_mul(dst_item));
    if expected != Some(dst.len()) {
        return Err(Error::param(
            "out",
            format!("an array of {} bytes", dst.len()),
            format!("{n_frames} frames x {px} pixels x {dst_item} bytes"),
        ));
    }
    if px == 0 || n_frames == 0 {
        return Ok(());
    }
    let src_dtype = source.dtype();
    let direct = src_dtype == DType::native(dst_kind)
        || (src_dtype.kind == dst_kind && !src_dtype.needs_swap());
    let mut out_at = 0usize;
    if direct {
        for run in runs {
            let count = (run.end - run.start) as usize;
            let len = count * px * dst_item;
            let out = &mut dst[out_at..out_at + len];
            match lend(source, run.start, count, &pixels) {
                Some(frames) => {
                    for (src, dst) in frames.frames().zip(out.chunks_exact_mut(px * dst_item)) {
                        dst.copy_from_slice(src);
                    }
                    source.check_stored(run.start, count, pixels.clone())?;
                }
                None => source.read_raw(run.start, count, pixels.clone(), out)?,
            }
            out_at += len;
        }
        return Ok(());
    }
    let src_item = src_dtype.itemsize();
    let frame_raw = px * src_item;
    let frames_per_chunk = (CHUNK_BYTES / frame_raw).max(1);
    let chunk_bytes = frames_per_chunk * frame_raw;
    if scratch.len() < chunk_bytes {
        *scratch = AlignedBuf::zeroed(chunk_bytes);
    }
    let raw_all = scratch.as_mut_slice();
    for run in runs {
        let mut frame = run.start;
        while frame < run.end {
            let n = ((run.end - frame) as usize).min(frames_per_chunk);
            let len = n * px * dst_item;
            let out = &mut dst[out_at..out_at + len];
            if let Some(frames) = lend(source, frame, n, &pixels) {
                // Memory-mapped or in-memory: convert in place, no copy.
                if let Some(raw) = frames.contiguous() {
                    convert_bytes(raw, src_dtype, out, dst_kind)?;
                } else {
                    for (raw, dst) in frames.frames().zip(out.chunks_exact_mut(px * dst_item)) {
                        convert_bytes(raw, src_dtype, dst, dst_kind)?;
                    }
                }
                source.check_stored(frame, n, pixels.clone())?;
            } else {
                let raw = &mut raw_all[..n * frame_raw];
                source.read_raw(frame, n, pixels.clone(), raw)?;
                convert_bytes(raw, src_dtype, out, dst_kind)?;
            }
            out_at += len;
            frame += n as u64;
        }
    }
    Ok(())
}

/// The frames of a request lent in place by `source`, if it lends exactly them.
fn lend<'a>(
    source: &'a dyn DataSource,
    first: u64,
    count: usize,
    pixels: &Range<usize>,
) -> Option<StoredFrames<'a>> {
    let frame_len = pixels.len() * source.dtype().itemsize();
    source
        .stored_frames(first, count, pixels.clone())
        .filter(|f| f.count() == count && f.frame_len() == frame_len)
}
