//! Dataset shapes: a navigation part (the scan) and a signal part (the detector frame).

use crate::error::{Error, Result};

/// The shape of a dataset: `nav` (scan axes, C order) followed by `sig` (frame axes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatasetShape {
    nav: Vec<usize>,
    sig: Vec<usize>,
    nav_size: u64,
    sig_size: usize,
}

/// Multiplies dimensions, refusing zero, and overflow of `u64`.
///
/// # Errors
/// [`Error::InvalidParameter`] (`param`) if a dimension is zero or the product overflows.
pub fn checked_product(dims: &[usize], param: &str) -> Result<u64> {
    let mut total: u64 = 1;
    for &d in dims {
        if d == 0 {
            return Err(Error::param(
                param,
                format!("{dims:?}"),
                "every dimension to be a positive integer",
            ));
        }
        total = total.checked_mul(d as u64).ok_or_else(|| {
            Error::param(
                param,
                format!("{dims:?}"),
                "a shape whose number of elements fits in 64 bits",
            )
        })?;
    }
    Ok(total)
}

impl DatasetShape {
    /// Builds a shape, checking that every dimension is positive and that sizes cannot overflow.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`nav_shape`, `sig_shape`) if either is empty or has a zero
    /// dimension, (`sig_shape`) for a frame too large to address in memory, (`shape`) if the
    /// number of elements overflows `u64`.
    pub fn new(nav: &[usize], sig: &[usize]) -> Result<Self> {
        if nav.is_empty() {
            return Err(Error::param(
                "nav_shape",
                "()",
                "at least one navigation dimension",
            ));
        }
        if sig.is_empty() {
            return Err(Error::param(
                "sig_shape",
                "()",
                "at least one signal dimension",
            ));
        }
        let nav_size = checked_product(nav, "nav_shape")?;
        let sig_size = checked_product(sig, "sig_shape")?;
        let sig_size = usize::try_from(sig_size).map_err(|_| {
            Error::param(
                "sig_shape",
                format!("{sig:?}"),
                "a frame that fits in memory",
            )
        })?;
        nav_size.checked_mul(sig_size as u64).ok_or_else(|| {
            Error::param(
                "shape",
                format!("{nav:?} + {sig:?}"),
                "a shape whose number of elements fits in 64 bits",
            )
        })?;
        Ok(DatasetShape {
            nav: nav.to_vec(),
            sig: sig.to_vec(),
            nav_size,
            sig_size,
        })
    }

    /// Navigation dimensions.
    #[must_use]
    pub fn nav(&self) -> &[usize] {
        &self.nav
    }

    /// Signal dimensions.
    #[must_use]
    pub fn sig(&self) -> &[usize] {
        &self.sig
    }

    /// Number of frames (product of `nav`).
    #[must_use]
    pub fn nav_size(&self) -> u64 {
        self.nav_size
    }

    /// Pixels per frame (product of `sig`).
    #[must_use]
    pub fn sig_size(&self) -> usize {
        self.sig_size
    }

    /// Length of the last navigation axis: the number of frames in one scan row.
    #[must_use]
    pub fn row_len(&self) -> u64 {
        self.nav.last().copied().unwrap_or(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let s = DatasetShape::new(&[3, 4], &[5, 6]).unwrap();
        assert_eq!(s.nav_size(), 12);
        assert_eq!(s.sig_size(), 30);
        assert_eq!(s.row_len(), 4);
    }

    #[test]
    fn refuses_zero_and_overflow() {
        assert!(DatasetShape::new(&[0, 4], &[5])
            .unwrap_err()
            .to_string()
            .contains("nav_shape"));
        assert!(DatasetShape::new(&[1], &[]).is_err());
        let e = DatasetShape::new(&[usize::MAX, 4], &[5]).unwrap_err();
        assert!(e.to_string().contains("64 bits"), "{e}");
    }
}
