//! Byte views of numpy arrays that the core can read without the GIL.
//!
//! Python passes arrays as flat `uint8` views (`arr.reshape(-1).view(np.uint8)`), which needs no
//! per-dtype code here. [`HeldBytes`] keeps the array alive while the core holds it;
//! [`ReadBorrow`] makes the core's reads safe against writers, one call at a time.
//!
//! Why a borrow and not a copy: the core reads these bytes with the GIL released, so something
//! else could write them meanwhile. Copying writable arrays would rule that out, but it doubles
//! the memory of a memory dataset (often the whole scan) and freezes its data at load time,
//! where LiberTEM's `MemoryDataSet` reads the array as it is at each run. Instead every call
//! that reads the bytes holds a read-only borrow of the array through rust-numpy's borrow
//! checking for as long as the core reads: a writable borrow of the same memory (ferrotem's own
//! `out=` arrays, or any other extension built on rust-numpy) fails while a call reads, and a
//! call fails to start, with a `ValueError`, while such a borrow exists — so Rust never holds a
//! `&[u8]` and a `&mut [u8]` over the same bytes. Plain Python code assigning into the array from
//! another thread during a run is not tracked by any borrow checker; it races with the run
//! exactly as it would with numpy's own operations that release the GIL.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The bytes of a C-contiguous numpy array, kept alive by a reference to it. Read them only
/// while a [`ReadBorrow`] of [`HeldBytes::array`] is held.
pub struct HeldBytes {
    owner: Py<PyArray1<u8>>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer stays valid while `owner` holds the array; the core only reads, and every
// binding call that lets it read holds a `ReadBorrow` of the array meanwhile (module docs).
unsafe impl Send for HeldBytes {}
// SAFETY: see `Send`; only shared reads happen through `as_ref`.
unsafe impl Sync for HeldBytes {}

impl HeldBytes {
    /// Holds `array`, which must be contiguous.
    pub fn new(array: &Bound<'_, PyArray1<u8>>) -> PyResult<Self> {
        if !array.is_contiguous() {
            return Err(PyValueError::new_err("data: the array must be contiguous"));
        }
        let len = array.len();
        // SAFETY: contiguous 1-D u8 array: `data()` points at `len` bytes.
        let ptr = array.data().cast_const();
        Ok(HeldBytes {
            owner: array.clone().unbind(),
            ptr,
            len,
        })
    }

    /// The array the bytes belong to.
    pub fn array(&self, py: Python<'_>) -> Py<PyArray1<u8>> {
        self.owner.clone_ref(py)
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

/// A read-only borrow of an array held by [`HeldBytes`], for the duration of one call.
pub struct ReadBorrow<'py> {
    _borrow: PyReadonlyArray1<'py, u8>,
}

impl<'py> ReadBorrow<'py> {
    /// Borrows `array` read-only; a `ValueError` if it is borrowed for writing elsewhere.
    pub fn new(py: Python<'py>, array: &Py<PyArray1<u8>>) -> PyResult<Self> {
        let borrow = array.bind(py).try_readonly().map_err(|e| {
            PyValueError::new_err(format!(
                "data: the array of this in-memory dataset is being written elsewhere ({e}), \
                 for example passed as `out` of a read of the same data; it cannot be read \
                 while it may change"
            ))
        })?;
        Ok(ReadBorrow { _borrow: borrow })
    }
}
