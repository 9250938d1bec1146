//! Regions of interest: which frames of the flat navigation axis take part in a run.

use crate::error::{Error, Result};
use std::ops::Range;

/// A boolean mask over the flat navigation axis, with prefix counts so that the position of a
/// frame in the ROI-compressed result is known in constant time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roi {
    mask: Vec<bool>,
    /// `prefix[i]` = number of selected frames before frame `i`; length `mask.len() + 1`.
    prefix: Vec<u64>,
}

impl Roi {
    /// Builds a ROI from a flat mask; its length must equal the number of frames.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`roi`) if `mask.len()` differs from `nav_size`.
    pub fn new(mask: Vec<bool>, nav_size: u64) -> Result<Self> {
        if mask.len() as u64 != nav_size {
            return Err(Error::param(
                "roi",
                format!("a mask of {} elements", mask.len()),
                format!("one element per navigation position ({nav_size})"),
            ));
        }
        let mut prefix = Vec::with_capacity(mask.len() + 1);
        let mut acc = 0u64;
        prefix.push(0);
        for &m in &mask {
            acc += u64::from(m);
            prefix.push(acc);
        }
        Ok(Roi { mask, prefix })
    }

    /// Number of selected frames.
    #[must_use]
    pub fn count(&self) -> u64 {
        *self.prefix.last().unwrap_or(&0)
    }

    /// Number of selected frames in `frames`.
    #[must_use]
    pub fn count_in(&self, frames: &Range<u64>) -> u64 {
        self.prefix[frames.end as usize] - self.prefix[frames.start as usize]
    }

    /// Position in the ROI-compressed order of the first selected frame at or after `frame`.
    #[must_use]
    pub fn compressed_index(&self, frame: u64) -> u64 {
        self.prefix[frame as usize]
    }

    /// The selected frames within `frames`, as maximal contiguous runs.
    #[must_use]
    pub fn runs_in(&self, frames: &Range<u64>) -> Vec<Range<u64>> {
        let mut runs = Vec::new();
        let mut start: Option<u64> = None;
        for f in frames.clone() {
            match (self.mask[f as usize], start) {
                (true, None) => start = Some(f),
                (false, Some(s)) => {
                    runs.push(s..f);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push(s..frames.end);
        }
        runs
    }

    /// The mask.
    #[must_use]
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn runs_select_exactly_the_mask(mask in proptest::collection::vec(any::<bool>(), 1..200), a in 0usize..200, b in 0usize..200) {
            let n = mask.len();
            let (a, b) = (a.min(n), b.min(n));
            let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
            let roi = Roi::new(mask.clone(), n as u64).unwrap();
            let runs = roi.runs_in(&(lo..hi));
            let selected: Vec<u64> = runs.iter().flat_map(Clone::clone).collect();
            let expected: Vec<u64> = (lo..hi).filter(|&i| mask[i as usize]).collect();
            prop_assert_eq!(&selected, &expected);
            prop_assert_eq!(roi.count_in(&(lo..hi)), expected.len() as u64);
        }
    }

    #[test]
    fn wrong_length_names_roi() {
        let e = Roi::new(vec![true; 3], 4).unwrap_err();
        assert!(e.to_string().starts_with("roi:"));
    }
}
