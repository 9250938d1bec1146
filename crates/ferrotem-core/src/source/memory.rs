//! Frames held in memory (the `'memory'` dataset, and arrays handed over from Python).

use super::{contiguous_stored, prepare_read, DataSource, FrameMap};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::ops::Range;

/// Frames in a contiguous C-ordered byte buffer owned by `B`.
#[derive(Debug)]
pub struct MemorySource<B> {
    bytes: B,
    dtype: DType,
    shape: DatasetShape,
    frames: FrameMap,
}

impl<B: AsRef<[u8]> + Send + Sync> MemorySource<B> {
    /// Wraps `bytes`, which must hold at least `shape.nav_size()` frames of `dtype`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`data`) if `bytes` holds fewer frames, (`sync_offset`) if it
    /// is out of range.
    pub fn new(bytes: B, dtype: DType, shape: DatasetShape, sync_offset: i64) -> Result<Self> {
        let frame_bytes = shape.sig_size() * dtype.itemsize();
        let len = bytes.as_ref().len();
        let stored_frames = (len / frame_bytes.max(1)) as u64;
        if stored_frames < shape.nav_size() {
            return Err(Error::param(
                "data",
                format!("an array of {len} bytes"),
                format!(
                    "at least {} frames of {} pixels of {}",
                    shape.nav_size(),
                    shape.sig_size(),
                    dtype
                ),
            ));
        }
        let frames = FrameMap::new(sync_offset, stored_frames)?;
        Ok(MemorySource {
            bytes,
            dtype,
            shape,
            frames,
        })
    }
}

impl<B: AsRef<[u8]> + Send + Sync> DataSource for MemorySource<B> {
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
        let frame_bytes = self.shape.sig_size() * item;
        let per_frame = pixels.len() * item;
        let src = self.bytes.as_ref();
        let base = stored_frames.start as usize * frame_bytes;
        if per_frame == frame_bytes {
            stored.copy_from_slice(&src[base..base + stored.len()]);
        } else {
            for (i, chunk) in stored.chunks_exact_mut(per_frame).enumerate() {
                let at = base + i * frame_bytes + pixels.start * item;
                chunk.copy_from_slice(&src[at..at + per_frame]);
            }
        }
        Ok(())
    }

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        let stored_first = contiguous_stored(&self.shape, &self.frames, first, count, &pixels)?;
        let sig_size = self.shape.sig_size();
        let item = self.dtype.itemsize();
        let start = (stored_first as usize)
            .checked_mul(sig_size)?
            .checked_add(pixels.start)?
            .checked_mul(item)?;
        let len = count.checked_mul(pixels.len())?.checked_mul(item)?;
        self.bytes.as_ref().get(start..start.checked_add(len)?)
    }

    fn describe(&self) -> String {
        format!(
            "memory ({} bytes, {})",
            self.bytes.as_ref().len(),
            self.dtype
        )
    }
}
