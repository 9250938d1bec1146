//! The runner's path for sparse sources ([`CsrSource`], found through
//! [`crate::source::DataSource::as_csr`]).
//!
//! Tiles are runs of whole frames (CSR rows cannot be cut by pixels). For each tile the rows
//! are loaded once — indices checked, values in native order — and offered to every UDF as a
//! [`CsrTile`] ([`crate::udf::Udf::process_csr_tile`]); the UDFs that decline (Python UDFs
//! wanting dense tiles, native UDFs without a sparse kernel) get the same frames densified into
//! the runner's tile buffer and fed through the ordinary dense path. A tile all UDFs took is
//! never densified. With active corrections every UDF takes the dense, corrected tile.

use super::{CastTo, Feeder, InputElement, RunOptions, TileAt};
use crate::aligned::AlignedBuf;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::source::{CsrScratch, CsrSource, DataSource};
use crate::udf::CsrTile;
use num_complex::{Complex32, Complex64};
use std::ops::Range;
use std::sync::atomic::Ordering;

/// Feeds the frames `runs` (logical frames, in ROI order) of `csr` to the feeder's UDFs in
/// tiles of up to `depth` whole frames; `raw_store` holds at least one dense tile.
pub(super) fn feed_csr<T: InputElement>(
    csr: &CsrSource,
    feeder: &mut Feeder<'_, T>,
    runs: &[Range<u64>],
    depth: usize,
    raw_store: &mut AlignedBuf,
    opts: &RunOptions<'_>,
) -> Result<()>
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
    let sig_size = csr.shape().sig_size();
    let native = DType::native(csr.dtype().kind);
    let frame_len = sig_size * native.itemsize();
    let mut scratch = CsrScratch::default();
    let mut offset = 0usize;
    for run in runs {
        let mut frame = run.start;
        while frame < run.end {
            if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::Cancelled);
            }
            let n = usize::try_from(run.end - frame).map_or(depth, |left| left.min(depth));
            let rows = csr.load_rows(frame, n, &mut scratch)?;
            let tile = CsrTile {
                offset,
                sig_size,
                rows,
            };
            let mut all_took = true;
            for ((udf, partial), skip) in feeder
                .udfs
                .iter()
                .zip(feeder.partials.iter_mut())
                .zip(&mut feeder.skip)
            {
                *skip = feeder.corrections.is_none()
                    && udf.process_csr_tile_dyn(partial.as_mut(), &tile)?;
                all_took &= *skip;
            }
            if !all_took {
                let buf = raw_store
                    .as_mut_slice()
                    .get_mut(..n * frame_len)
                    .ok_or_else(|| Error::internal("the CSR tile buffer is too small"))?;
                rows.densify_into(&(0..sig_size), buf)?;
                let at = TileAt {
                    offset,
                    depth: n,
                    pixels: 0..sig_size,
                };
                feeder.feed(buf, native, &at)?;
            }
            feeder.skip.fill(false);
            // A mapped file that shrank reads as zeros: fail before they reach a result.
            csr.confirm_rows(frame, n)?;
            frame += n as u64;
            offset += n;
        }
    }
    Ok(())
}
