//! Splitting the flat navigation axis into partitions: contiguous runs of frames, each a unit of
//! work for one task.

use crate::error::{Error, Result};
use std::ops::Range;

/// One partition: a contiguous run of logical frames.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Partition {
    /// Position of this partition in the dataset's partition list.
    pub index: usize,
    /// Logical flat navigation indices of its frames.
    pub frames: Range<u64>,
}

/// Bytes of float32 data a partition aims for by default (LiberTEM's 512 MiB of float32 pixels).
pub const DEFAULT_PARTITION_BYTES: u64 = 512 * 1024 * 1024;

/// Default number of partitions for a dataset of `n_pixels` elements on `cores` cores: enough
/// partitions of at most [`DEFAULT_PARTITION_BYTES`] (as float32), rounded up to a multiple of
/// `cores` so that every core gets work.
#[must_use]
pub fn default_partition_count(n_pixels: u64, cores: usize) -> usize {
    let cores = cores.max(1) as u64;
    let num = n_pixels / (DEFAULT_PARTITION_BYTES / 4);
    let per_core = num / cores + u64::from(num % cores != 0);
    (per_core.max(1) * cores) as usize
}

/// Splits `n_frames` frames into `n_parts` nearly equal contiguous partitions.
///
/// When `row_len` divides the frames evenly into scan rows and there are at least as many rows as
/// partitions, boundaries fall on whole rows, so that per-partition blocks reshape to the scan
/// without re-chunking. Otherwise boundaries are spread evenly over frames. Asking for more
/// partitions than frames gives one partition per frame.
///
/// # Errors
/// [`Error::InvalidParameter`] (`num_partitions`) if `n_parts` is zero.
pub fn split_frames(n_frames: u64, n_parts: usize, row_len: u64) -> Result<Vec<Partition>> {
    if n_parts == 0 {
        return Err(Error::param("num_partitions", 0, "a positive integer"));
    }
    if n_frames == 0 {
        return Ok(vec![]);
    }
    let n_parts = (n_parts as u64).min(n_frames);
    let (unit, units) = if row_len > 1 && n_frames % row_len == 0 && n_frames / row_len >= n_parts {
        (row_len, n_frames / row_len)
    } else {
        (1, n_frames)
    };
    let mut parts = Vec::with_capacity(n_parts as usize);
    let mut start = 0u64;
    for i in 0..n_parts {
        // Same boundaries as `np.linspace(0, units, n_parts + 1, dtype=int)`.
        let end_units = (u128::from(units) * (u128::from(i) + 1) / u128::from(n_parts)) as u64;
        let end = end_units * unit;
        parts.push(Partition {
            index: i as usize,
            frames: start..end,
        });
        start = end;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn row_aligned_when_possible() {
        let p = split_frames(256, 3, 16).unwrap();
        let lens: Vec<u64> = p.iter().map(|p| p.frames.end - p.frames.start).collect();
        assert_eq!(lens, vec![80, 80, 96]);
        assert!(p.iter().all(|p| p.frames.start % 16 == 0));
    }

    #[test]
    fn default_count_is_multiple_of_cores() {
        assert_eq!(default_partition_count(16 * 16 * 16 * 16, 2), 2);
        assert_eq!(default_partition_count(64 * 64 * 256 * 256, 2), 2);
        assert_eq!(default_partition_count(256 * 256 * 256 * 256, 2), 32);
    }

    proptest! {
        #[test]
        fn partitions_cover_frames_exactly(n in 1u64..5000, parts in 1usize..64, row in 1u64..70) {
            let p = split_frames(n, parts, row).unwrap();
            prop_assert_eq!(p.len() as u64, (parts as u64).min(n));
            prop_assert_eq!(p[0].frames.start, 0);
            prop_assert_eq!(p.last().unwrap().frames.end, n);
            for w in p.windows(2) {
                prop_assert_eq!(w[0].frames.end, w[1].frames.start);
            }
            for q in &p {
                prop_assert!(q.frames.end > q.frames.start);
            }
            let lens: Vec<u64> = p.iter().map(|q| q.frames.end - q.frames.start).collect();
            let (mn, mx) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
            prop_assert!(mx - mn <= row.max(1));
        }
    }
}
