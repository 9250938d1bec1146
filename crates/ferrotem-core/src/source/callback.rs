//! A source whose stored frames come from a function: how a reader written elsewhere (Python
//! code behind the binding, a third-party format) feeds the engine.
//!
//! The function is asked for *stored* frames and a pixel range; the source does the rest like
//! every other source: the request's checks, `sync_offset`, and zeros for logical frames with no
//! stored counterpart. The function may be called from several threads at once.

use super::{prepare_read, DataSource, FrameMap};
use crate::dtype::DType;
use crate::error::Result;
use crate::shape::DatasetShape;
use std::ops::Range;

/// Fills `dst` with stored frames `frames`, pixels `pixels` of each (frame after frame, in the
/// stored dtype): `dst.len() == frames.len() * pixels.len() * itemsize`.
pub type ReadFrames = dyn Fn(Range<u64>, Range<usize>, &mut [u8]) -> Result<()> + Send + Sync;

/// Frames read by a function (see the module docs).
pub struct CallbackSource {
    read: Box<ReadFrames>,
    dtype: DType,
    shape: DatasetShape,
    frames: FrameMap,
    name: String,
}

impl std::fmt::Debug for CallbackSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSource")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl CallbackSource {
    /// A source of `stored_frames` frames of `shape`'s signal shape, read by `read`; `name`
    /// describes it in messages.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] (`sync_offset`) if it is out of range.
    pub fn new(
        read: Box<ReadFrames>,
        dtype: DType,
        shape: DatasetShape,
        stored_frames: u64,
        sync_offset: i64,
        name: impl Into<String>,
    ) -> Result<Self> {
        Ok(CallbackSource {
            read,
            dtype,
            shape,
            frames: FrameMap::new(sync_offset, stored_frames)?,
            name: name.into(),
        })
    }
}

impl DataSource for CallbackSource {
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
        match prepared {
            Some((stored, dst)) => (self.read)(stored, pixels, dst),
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.name, self.dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn frames_come_from_the_function_shifted_by_sync_offset() {
        let dtype = DType::parse("<u2", "dtype").unwrap();
        let shape = DatasetShape::new(&[4], &[3]).unwrap();
        // Stored frame f, pixel p holds 10 f + p.
        let read = Box::new(|frames: Range<u64>, pixels: Range<usize>, dst: &mut [u8]| {
            let values = frames.flat_map(|f| pixels.clone().map(move |p| 10 * f as u16 + p as u16));
            for (out, v) in dst.chunks_exact_mut(2).zip(values) {
                out.copy_from_slice(&v.to_le_bytes());
            }
            Ok(())
        });
        let source = CallbackSource::new(read, dtype, shape, 4, 1, "test reader").unwrap();
        let mut dst = vec![0u8; 4 * 2 * 2];
        source.read_raw(0, 4, 1..3, &mut dst).unwrap();
        let got: Vec<u16> = dst
            .chunks(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(got, vec![11, 12, 21, 22, 31, 32, 0, 0]);
        assert!(source.describe().contains("test reader"));
        let failing = Box::new(|_: Range<u64>, _: Range<usize>, _: &mut [u8]| {
            Err(Error::param("frames", "x", "y"))
        });
        let source = CallbackSource::new(
            failing,
            dtype,
            DatasetShape::new(&[2], &[3]).unwrap(),
            2,
            0,
            "r",
        )
        .unwrap();
        assert!(source.read_raw(0, 1, 0..3, &mut [0u8; 6]).is_err());
    }
}
