//! Typed result buffers of the native UDFs, in the run's input dtype family.

use crate::dtype::ScalarKind;
use crate::error::{Error, Result};
use num_complex::{Complex32, Complex64};

/// The dtypes native UDFs compute in: the float and complex kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// float32
    F32,
    /// float64
    F64,
    /// complex64
    C64,
    /// complex128
    C128,
}

impl InputKind {
    /// Maps a dtype kind onto an input kind, if native UDFs can compute in it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`input_dtype`) for kinds other than float32, float64,
    /// complex64 and complex128.
    pub fn from_scalar(kind: ScalarKind) -> Result<Self> {
        Ok(match kind {
            ScalarKind::F32 => InputKind::F32,
            ScalarKind::F64 => InputKind::F64,
            ScalarKind::C64 => InputKind::C64,
            ScalarKind::C128 => InputKind::C128,
            other => {
                return Err(Error::param(
                    "input_dtype",
                    format!("{other:?}"),
                    "float32, float64, complex64 or complex128 for native UDFs",
                ))
            }
        })
    }

    /// The matching dtype kind.
    #[must_use]
    pub fn scalar(self) -> ScalarKind {
        match self {
            InputKind::F32 => ScalarKind::F32,
            InputKind::F64 => ScalarKind::F64,
            InputKind::C64 => ScalarKind::C64,
            InputKind::C128 => ScalarKind::C128,
        }
    }
}

/// A vector of one of the input kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedVec {
    /// float32 values
    F32(Vec<f32>),
    /// float64 values
    F64(Vec<f64>),
    /// complex64 values
    C64(Vec<Complex32>),
    /// complex128 values
    C128(Vec<Complex64>),
}

impl TypedVec {
    /// `len` zeros of `kind`.
    #[must_use]
    pub fn zeros(kind: InputKind, len: usize) -> Self {
        match kind {
            InputKind::F32 => TypedVec::F32(vec![0.0; len]),
            InputKind::F64 => TypedVec::F64(vec![0.0; len]),
            InputKind::C64 => TypedVec::C64(vec![Complex32::new(0.0, 0.0); len]),
            InputKind::C128 => TypedVec::C128(vec![Complex64::new(0.0, 0.0); len]),
        }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            TypedVec::F32(v) => v.len(),
            TypedVec::F64(v) => v.len(),
            TypedVec::C64(v) => v.len(),
            TypedVec::C128(v) => v.len(),
        }
    }

    /// True if there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element kind.
    #[must_use]
    pub fn kind(&self) -> InputKind {
        match self {
            TypedVec::F32(_) => InputKind::F32,
            TypedVec::F64(_) => InputKind::F64,
            TypedVec::C64(_) => InputKind::C64,
            TypedVec::C128(_) => InputKind::C128,
        }
    }

    /// Adds `other` element-wise into `self` (both must have the same length).
    ///
    /// # Errors
    /// [`KindMismatch`], changing nothing, if the kinds differ.
    pub fn add_assign(&mut self, other: &TypedVec) -> Result<(), KindMismatch> {
        fn add<T: Copy + std::ops::AddAssign>(a: &mut [T], b: &[T]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += *y;
            }
        }
        match (self, other) {
            (TypedVec::F32(a), TypedVec::F32(b)) => add(a, b),
            (TypedVec::F64(a), TypedVec::F64(b)) => add(a, b),
            (TypedVec::C64(a), TypedVec::C64(b)) => add(a, b),
            (TypedVec::C128(a), TypedVec::C128(b)) => add(a, b),
            (this, other) => return Err(KindMismatch::new(this, other)),
        }
        Ok(())
    }

    /// Copies `other` into `self[at..at + other.len()]`.
    ///
    /// # Errors
    /// [`KindMismatch`], changing nothing, if the kinds differ.
    pub fn copy_into(&mut self, at: usize, other: &TypedVec) -> Result<(), KindMismatch> {
        fn copy<T: Copy>(a: &mut [T], at: usize, b: &[T]) {
            a[at..at + b.len()].copy_from_slice(b);
        }
        match (self, other) {
            (TypedVec::F32(a), TypedVec::F32(b)) => copy(a, at, b),
            (TypedVec::F64(a), TypedVec::F64(b)) => copy(a, at, b),
            (TypedVec::C64(a), TypedVec::C64(b)) => copy(a, at, b),
            (TypedVec::C128(a), TypedVec::C128(b)) => copy(a, at, b),
            (this, other) => return Err(KindMismatch::new(this, other)),
        }
        Ok(())
    }
}

/// Two [`TypedVec`]s of different kinds were combined: a bug in the UDF or runner that made
/// them, which the UDF reports as [`crate::Error::Internal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {other:?} buffer combined with a {this:?} one")]
pub struct KindMismatch {
    /// Kind of the buffer written to.
    pub this: InputKind,
    /// Kind of the buffer read from.
    pub other: InputKind,
}

impl KindMismatch {
    fn new(this: &TypedVec, other: &TypedVec) -> Self {
        KindMismatch {
            this: this.kind(),
            other: other.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_that_differ_are_an_error_not_a_no_op() {
        let mut a = TypedVec::F32(vec![1.0, 2.0]);
        let b = TypedVec::F64(vec![3.0, 4.0]);
        let want = KindMismatch {
            this: InputKind::F32,
            other: InputKind::F64,
        };
        assert_eq!(a.add_assign(&b), Err(want));
        assert_eq!(a.copy_into(0, &b), Err(want));
        assert_eq!(a, TypedVec::F32(vec![1.0, 2.0]));
        a.add_assign(&TypedVec::F32(vec![0.5, 0.25])).unwrap();
        a.copy_into(1, &TypedVec::F32(vec![7.0])).unwrap();
        assert_eq!(a, TypedVec::F32(vec![1.5, 7.0]));
    }
}
