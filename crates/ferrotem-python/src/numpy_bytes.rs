//! Byte views of numpy arrays that the core can read without the GIL.
//!
//! Python passes arrays as flat `uint8` views (`arr.reshape(-1).view(np.uint8)`), which keeps
//! rust-numpy's borrow checking and needs no per-dtype code here. [`HeldBytes`] keeps the array
//! alive while the core reads it.

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The bytes of a C-contiguous numpy array, kept alive by a reference to it.
pub struct HeldBytes {
    _owner: Py<PyArray1<u8>>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer stays valid while `_owner` holds the array; the core only reads. A user
// writing to the same array from another thread during a run races, as with any numpy code that
// releases the GIL.
unsafe impl Send for HeldBytes {}
// SAFETY: see `Send`; only shared reads happen through `as_ref`.
unsafe impl Sync for HeldBytes {}

impl HeldBytes {
    /// Holds `array`, which must be contiguous.
    pub fn new(array: &Bound<'_, PyArray1<u8>>) -> PyResult<Self> {
        if !array.is_contiguous() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "data: the array must be contiguous",
            ));
        }
        let len = array.len();
        // SAFETY: contiguous 1-D u8 array: `data()` points at `len` bytes.
        let ptr = array.data() as *const u8;
        Ok(HeldBytes {
            _owner: array.clone().unbind(),
            ptr,
            len,
        })
    }
}

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: see the `Send` impl.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
