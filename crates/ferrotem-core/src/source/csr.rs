//! Sparse data in compressed sparse row form (`'raw_csr'`): three raw files hold a CSR matrix
//! of shape `(frames, pixels)` — `indptr` (one entry more than frames: frame `f`'s values are
//! entries `indptr[f] .. indptr[f + 1]`), `indices` (each entry's pixel in the flattened frame)
//! and `data` (each entry's value).
//!
//! # How the engine uses it
//!
//! [`CsrSource`] is an ordinary [`DataSource`]: [`DataSource::read_raw`] densifies the
//! requested frames into the caller's buffer (zeros, then each entry added at its pixel, so
//! duplicate entries sum as in `scipy.sparse`), which is how UDFs that want dense tiles get
//! them — one tile at a time, never the whole file. On top of that,
//! [`DataSource::as_csr`] hands the runner this source itself: the runner then cuts tiles of
//! whole frames, loads each tile's rows once ([`CsrSource::load_rows`]) and offers them to
//! every UDF through [`crate::udf::Udf::process_csr_tile`]; only the UDFs that decline (and
//! only if one does) get the tile densified. The built-in `SumUDF`, `SumSigUDF` and
//! `ApplyMasksUDF` take CSR tiles, so they never see a zero.
//!
//! # Validation
//!
//! Opening reads `indptr` whole (it is small: one entry per frame) and checks it: integer
//! dtypes, file sizes a whole number of entries, `indices` and `data` of equal length, `indptr`
//! non-decreasing, non-negative and ending within them. Indices are checked as a tile is
//! loaded, before any is used: one outside the frame is [`Error::Corrupt`] naming the
//! `indices` file, the entry and the frame. Files are read through [`GuardedFile`] (mapped in
//! place where possible), so a file that shrinks during a run is an error, not a crash.

use super::{check_request, DataSource, FrameMap, GuardedFile, IoMode};
use crate::aligned::AlignedBuf;
use crate::convert::make_native;
use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use crate::udf::StoredData;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One of the three files of a CSR dataset: its path and the dtype of its entries.
#[derive(Debug, Clone)]
pub struct CsrFile {
    /// The file.
    pub path: PathBuf,
    /// Its entries' dtype (with byte order).
    pub dtype: DType,
}

impl CsrFile {
    /// `path` holding entries of `dtype`.
    pub fn new(path: impl Into<PathBuf>, dtype: DType) -> Self {
        CsrFile {
            path: path.into(),
            dtype,
        }
    }
}

/// A sparse dataset in three raw files (see the module docs).
#[derive(Debug)]
pub struct CsrSource {
    shape: DatasetShape,
    frames: FrameMap,
    /// Stored frame `f`'s entries are `indptr[f] .. indptr[f + 1]` (checked at open).
    indptr: Vec<u64>,
    indices: GuardedFile,
    indices_dtype: DType,
    data: GuardedFile,
    data_dtype: DType,
}

/// The rows of one tile as loaded by [`CsrSource::load_rows`]: `indptr.len() - 1` frames,
/// frame `r`'s entries at `indptr[r] .. indptr[r + 1]` of `indices` (checked to lie within
/// the frame) and `data` (native byte order).
#[derive(Debug, Clone, Copy)]
pub struct CsrRows<'a> {
    /// Row pointers, starting at 0.
    pub indptr: &'a [usize],
    /// Each entry's pixel in the flattened frame.
    pub indices: &'a [u32],
    /// Each entry's value, in the stored kind, native byte order.
    pub data: StoredData<'a>,
}

impl CsrRows<'_> {
    /// Writes the rows' pixels `pixels` densely into `dst` (`pixels.len()` native-order values
    /// of the stored kind per row, zeros where no entry is; duplicate entries add up).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`out`) if `dst` is not that long.
    pub fn densify_into(&self, pixels: &Range<usize>, dst: &mut [u8]) -> Result<()> {
        let rows = self.indptr.len().saturating_sub(1);
        let needed = rows * pixels.len() * stored_kind(self.data).itemsize();
        if dst.len() != needed {
            return Err(Error::param(
                "out",
                format!("a buffer of {} bytes", dst.len()),
                format!("{needed} bytes for {rows} dense rows"),
            ));
        }
        dst.fill(0);
        scatter(self, pixels, dst);
        Ok(())
    }
}

/// Reusable buffers of [`CsrSource::load_rows`]; one per thread.
#[derive(Debug, Default)]
pub struct CsrScratch {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    raw: Vec<u8>,
    data: Option<AlignedBuf>,
}

/// Integer entries read from bytes of either byte order.
trait IntEntry: Copy {
    const SIZE: usize;
    fn read(bytes: &[u8], swap: bool) -> i128;
}

macro_rules! int_entry {
    ($($t:ty),*) => {$(
        impl IntEntry for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn read(bytes: &[u8], swap: bool) -> i128 {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                let v = <$t>::from_ne_bytes(a);
                i128::from(if swap { v.swap_bytes() } else { v })
            }
        }
    )*};
}
int_entry!(u8, u16, u32, u64, i8, i16, i32, i64);

/// Calls `f(i, value)` for the integers in `bytes` (entries of `dtype`) in order until it
/// returns `false`; returns the position where it stopped, `None` if it never did.
fn scan_ints(bytes: &[u8], dtype: DType, f: impl FnMut(usize, i128) -> bool) -> Option<usize> {
    #[inline]
    fn each<T: IntEntry>(
        bytes: &[u8],
        swap: bool,
        mut f: impl FnMut(usize, i128) -> bool,
    ) -> Option<usize> {
        bytes
            .chunks_exact(T::SIZE)
            .enumerate()
            .find(|(i, c)| !f(*i, T::read(c, swap)))
            .map(|(i, _)| i)
    }
    let swap = dtype.needs_swap();
    match dtype.kind {
        ScalarKind::U8 => each::<u8>(bytes, swap, f),
        ScalarKind::U16 => each::<u16>(bytes, swap, f),
        ScalarKind::U32 => each::<u32>(bytes, swap, f),
        ScalarKind::U64 => each::<u64>(bytes, swap, f),
        ScalarKind::I8 => each::<i8>(bytes, swap, f),
        ScalarKind::I16 => each::<i16>(bytes, swap, f),
        ScalarKind::I32 => each::<i32>(bytes, swap, f),
        ScalarKind::I64 => each::<i64>(bytes, swap, f),
        _ => Some(0),
    }
}

fn is_integer(kind: ScalarKind) -> bool {
    matches!(
        kind,
        ScalarKind::U8
            | ScalarKind::U16
            | ScalarKind::U32
            | ScalarKind::U64
            | ScalarKind::I8
            | ScalarKind::I16
            | ScalarKind::I32
            | ScalarKind::I64
    )
}

/// The number of whole entries of `file`; [`Error::Corrupt`] if its size is not a multiple of
/// the entry size.
fn entries(file: &GuardedFile, dtype: DType, role: &str) -> Result<u64> {
    let item = dtype.itemsize() as u64;
    if file.len() % item != 0 {
        return Err(Error::Corrupt {
            path: file.path().to_path_buf(),
            detail: format!(
                "{role} file of {} bytes is not a whole number of {dtype} entries ({item} bytes \
                 each)",
                file.len()
            ),
        });
    }
    Ok(file.len() / item)
}

/// Bytes `range` of `file`, in place from its map or read into `buf`.
fn bytes_of<'a>(
    file: &'a GuardedFile,
    range: Range<u64>,
    buf: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    if range.is_empty() {
        return Ok(&[]);
    }
    if let Some(bytes) = file.mapped(range.clone()) {
        return Ok(bytes);
    }
    let len = usize::try_from(range.end - range.start)
        .map_err(|_| Error::internal("a tile larger than the address space"))?;
    buf.resize(len, 0);
    file.read_at(buf, range.start)?;
    Ok(buf)
}

impl CsrSource {
    /// Opens the three files of a CSR dataset of `shape` (see the module docs for what is
    /// checked); reads as [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be opened; [`Error::InvalidType`] (`indptr_dtype`,
    /// `indices_dtype`) for a dtype that is not an integer; [`Error::Corrupt`] naming the file
    /// for sizes that do not fit or an `indptr` that is not monotone; [`Error::InvalidParameter`]
    /// (`sync_offset`) out of range, (`sig_shape`) for frames of more than `u32::MAX` pixels.
    pub fn open(
        indptr: &CsrFile,
        indices: &CsrFile,
        data: &CsrFile,
        shape: DatasetShape,
        sync_offset: i64,
    ) -> Result<Self> {
        let io = IoMode::from_env();
        for (file, name) in [(indptr, "indptr_dtype"), (indices, "indices_dtype")] {
            if !is_integer(file.dtype.kind) {
                return Err(Error::type_(
                    name,
                    file.dtype,
                    "an integer dtype (u1..u8, i1..i8) for the entries of an index file",
                ));
            }
        }
        if u32::try_from(shape.sig_size()).is_err() {
            return Err(Error::param(
                "sig_shape",
                format!("{:?}", shape.sig()),
                "frames of at most 2**32 - 1 pixels",
            ));
        }
        let ptr_file = GuardedFile::open(&indptr.path, IoMode::Pread)?;
        let idx_file = GuardedFile::open(&indices.path, io)?;
        let data_file = GuardedFile::open(&data.path, io)?;
        let n_ptr = entries(&ptr_file, indptr.dtype, "indptr")?;
        let n_idx = entries(&idx_file, indices.dtype, "indices")?;
        let n_data = entries(&data_file, data.dtype, "data")?;
        if n_idx != n_data {
            return Err(Error::Corrupt {
                path: data.path.clone(),
                detail: format!(
                    "holds {n_data} entries but the indices file {} holds {n_idx}: expected one \
                     value per index",
                    indices.path.display()
                ),
            });
        }
        if n_ptr < 2 {
            return Err(Error::Corrupt {
                path: indptr.path.clone(),
                detail: format!(
                    "holds {n_ptr} entries, expected at least 2 (one more than the number of \
                     frames)"
                ),
            });
        }
        let len = usize::try_from(ptr_file.len())
            .map_err(|_| Error::param("indptr", ptr_file.len(), "a smaller file"))?;
        let mut raw = vec![0u8; len];
        ptr_file.read_at(&mut raw, 0)?;
        let ptr = read_indptr(&raw, indptr.dtype, n_idx).map_err(|detail| Error::Corrupt {
            path: indptr.path.clone(),
            detail,
        })?;
        let frames = FrameMap::new(sync_offset, n_ptr - 1)?;
        Ok(CsrSource {
            shape,
            frames,
            indptr: ptr,
            indices: idx_file,
            indices_dtype: indices.dtype,
            data: data_file,
            data_dtype: data.dtype,
        })
    }

    /// Number of frames stored (entries of `indptr` less one).
    #[must_use]
    pub fn stored_frames(&self) -> u64 {
        self.frames.stored_frames
    }

    /// Number of stored entries (values) of the whole file.
    #[must_use]
    pub fn nnz(&self) -> u64 {
        self.indptr.last().copied().unwrap_or(0) - self.indptr.first().copied().unwrap_or(0)
    }

    /// The dtype of the `indices` file.
    #[must_use]
    pub fn indices_dtype(&self) -> DType {
        self.indices_dtype
    }

    /// Loads the rows of logical frames `first .. first + count` (frames with no stored
    /// counterpart, see `sync_offset`, are empty rows): row pointers from 0, indices checked
    /// against the frame size and converted to `u32`, values in native byte order. Call
    /// [`CsrSource::confirm_rows`] once they have been used.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for frames outside the dataset; [`Error::Corrupt`] (the
    /// `indices` file) for an index outside the frame; [`Error::Io`] / [`Error::Truncated`] if
    /// a file cannot be read.
    pub fn load_rows<'a>(
        &'a self,
        first: u64,
        count: usize,
        scratch: &'a mut CsrScratch,
    ) -> Result<CsrRows<'a>> {
        let sig_size = self.shape.sig_size();
        check_request(&self.shape, self.data_dtype, first, count, &(0..0), 0)?;
        let runs = self.frames.split(first, count);
        let entries = self.entries_of(&runs.stored);
        let CsrScratch {
            indptr,
            indices,
            raw,
            data,
        } = scratch;
        indptr.clear();
        indptr.resize(runs.zeros_before + 1, 0);
        let base = self.indptr[usize::try_from(runs.stored.start).unwrap_or(usize::MAX)];
        for f in runs.stored.clone() {
            let end = self.indptr[usize::try_from(f + 1).unwrap_or(usize::MAX)];
            indptr.push(usize::try_from(end - base).unwrap_or(usize::MAX));
        }
        let last = indptr.last().copied().unwrap_or(0);
        indptr.resize(indptr.len() + runs.zeros_after, last);

        let item = self.indices_dtype.itemsize() as u64;
        let bytes = bytes_of(&self.indices, entries.start * item..entries.end * item, raw)?;
        indices.clear();
        indices.reserve(bytes.len() / item as usize);
        let bad = scan_ints(bytes, self.indices_dtype, |_, v| match u32::try_from(v) {
            Ok(p) if (p as usize) < sig_size => {
                indices.push(p);
                true
            }
            _ => false,
        });
        if let Some(k) = bad {
            return Err(self.bad_index(entries.start + k as u64, bytes, k, sig_size));
        }

        let item = self.data_dtype.itemsize();
        let range = entries.start * item as u64..entries.end * item as u64;
        let len = (entries.end - entries.start) as usize * item;
        let in_place = (!self.data_dtype.needs_swap())
            .then(|| self.data.mapped(range.clone()))
            .flatten();
        let bytes: &[u8] = if let Some(b) = in_place {
            b
        } else {
            if data.as_ref().is_some_and(|b| b.len() < len) {
                *data = None;
            }
            let buf = data.get_or_insert_with(|| AlignedBuf::zeroed(len.next_power_of_two()));
            let dst = &mut buf.as_mut_slice()[..len];
            if len > 0 {
                self.data.read_at(dst, range.start)?;
            }
            make_native(dst, self.data_dtype);
            &buf.as_slice()[..len]
        };
        let data = StoredData::view(bytes, self.data_dtype.kind).ok_or_else(|| {
            Error::internal("CSR values not aligned for their dtype (a mapped file offset)")
        })?;
        Ok(CsrRows {
            indptr,
            indices,
            data,
        })
    }

    /// Confirms that the rows [`CsrSource::load_rows`] gave for the same frames were the files'
    /// data (see [`GuardedFile::confirm`]).
    ///
    /// # Errors
    /// [`Error::Truncated`] if a mapped file shrank meanwhile.
    pub fn confirm_rows(&self, first: u64, count: usize) -> Result<()> {
        let runs = self.frames.split(first, count);
        let entries = self.entries_of(&runs.stored);
        self.indices
            .confirm(entries.end * self.indices_dtype.itemsize() as u64)?;
        self.data
            .confirm(entries.end * self.data_dtype.itemsize() as u64)
    }

    /// The entries of stored frames `stored`.
    fn entries_of(&self, stored: &Range<u64>) -> Range<u64> {
        let at = |f: u64| self.indptr[usize::try_from(f).unwrap_or(usize::MAX)];
        at(stored.start)..at(stored.end)
    }

    fn bad_index(&self, entry: u64, bytes: &[u8], k: usize, sig_size: usize) -> Error {
        let mut value = 0;
        scan_ints(bytes, self.indices_dtype, |i, v| {
            value = v;
            i < k
        });
        let frame = self
            .indptr
            .partition_point(|&p| p <= entry)
            .saturating_sub(1);
        Error::Corrupt {
            path: self.indices.path().to_path_buf(),
            detail: format!(
                "entry {entry} (stored frame {frame}) is the index {value}, expected a pixel in \
                 0..{sig_size} (the frame size)"
            ),
        }
    }

    /// The path of the `indices` file.
    #[must_use]
    pub fn indices_path(&self) -> &Path {
        self.indices.path()
    }
}

/// `indptr`'s entries as `u64`, checked: non-negative, non-decreasing, the last at most
/// `n_entries` (the length of `indices` and `data`). The error says which entry is wrong.
fn read_indptr(raw: &[u8], dtype: DType, n_entries: u64) -> std::result::Result<Vec<u64>, String> {
    let mut out: Vec<u64> = Vec::with_capacity(raw.len() / dtype.itemsize());
    let mut problem = String::new();
    scan_ints(raw, dtype, |i, v| match u64::try_from(v) {
        Ok(p) if p > n_entries => {
            problem = format!(
                "entry {i} is {p}, past the {n_entries} entries of the indices and data files"
            );
            false
        }
        Ok(p) if out.last().is_some_and(|&prev| p < prev) => {
            problem = format!(
                "is not monotone: entry {i} is {p}, less than entry {} ({})",
                i - 1,
                out[i - 1]
            );
            false
        }
        Ok(p) => {
            out.push(p);
            true
        }
        Err(_) => {
            problem = format!("entry {i} is {v}, expected a non-negative offset");
            false
        }
    });
    if problem.is_empty() {
        Ok(out)
    } else {
        Err(problem)
    }
}

/// `dst[p] += v` for a native-order value `v` at byte offset `p * size_of::<T>()` of `dst`
/// (which need not be aligned); wrapping for integers, as numpy sums duplicates.
trait ScatterAdd: Copy {
    fn add_at(dst: &mut [u8], at: usize, v: Self);
}

macro_rules! scatter_int {
    ($($t:ty),*) => {$(
        impl ScatterAdd for $t {
            #[inline]
            fn add_at(dst: &mut [u8], at: usize, v: Self) {
                const N: usize = std::mem::size_of::<$t>();
                let cell = &mut dst[at * N..][..N];
                let mut a = [0u8; N];
                a.copy_from_slice(cell);
                cell.copy_from_slice(&<$t>::from_ne_bytes(a).wrapping_add(v).to_ne_bytes());
            }
        }
    )*};
}
scatter_int!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! scatter_float {
    ($($t:ty),*) => {$(
        impl ScatterAdd for $t {
            #[inline]
            fn add_at(dst: &mut [u8], at: usize, v: Self) {
                const N: usize = std::mem::size_of::<$t>();
                let cell = &mut dst[at * N..][..N];
                let mut a = [0u8; N];
                a.copy_from_slice(cell);
                cell.copy_from_slice(&(<$t>::from_ne_bytes(a) + v).to_ne_bytes());
            }
        }
    )*};
}
scatter_float!(f32, f64);

impl<F: ScatterAdd> ScatterAdd for num_complex::Complex<F> {
    #[inline]
    fn add_at(dst: &mut [u8], at: usize, v: Self) {
        let n = std::mem::size_of::<F>();
        let re = &mut dst[at * 2 * n..][..2 * n];
        F::add_at(re, 0, v.re);
        F::add_at(re, 1, v.im);
    }
}

/// The kind of stored values.
fn stored_kind(data: StoredData<'_>) -> ScalarKind {
    match data {
        StoredData::U8(_) => ScalarKind::U8,
        StoredData::U16(_) => ScalarKind::U16,
        StoredData::U32(_) => ScalarKind::U32,
        StoredData::U64(_) => ScalarKind::U64,
        StoredData::I8(_) => ScalarKind::I8,
        StoredData::I16(_) => ScalarKind::I16,
        StoredData::I32(_) => ScalarKind::I32,
        StoredData::I64(_) => ScalarKind::I64,
        StoredData::F32(_) => ScalarKind::F32,
        StoredData::F64(_) => ScalarKind::F64,
        StoredData::C64(_) => ScalarKind::C64,
        StoredData::C128(_) => ScalarKind::C128,
    }
}

/// Adds the entries of `rows` that fall in `pixels` into `dst` (`rows.indptr.len() - 1` frames
/// of `pixels.len()` native-order values each).
fn scatter(rows: &CsrRows<'_>, pixels: &Range<usize>, dst: &mut [u8]) {
    fn run<T: ScatterAdd>(rows: &CsrRows<'_>, values: &[T], pixels: &Range<usize>, dst: &mut [u8]) {
        let width = pixels.len();
        for (r, w) in rows.indptr.windows(2).enumerate() {
            for (&p, &v) in rows.indices[w[0]..w[1]].iter().zip(&values[w[0]..w[1]]) {
                let p = p as usize;
                if pixels.contains(&p) {
                    T::add_at(dst, r * width + p - pixels.start, v);
                }
            }
        }
    }
    match rows.data {
        StoredData::U8(v) => run(rows, v, pixels, dst),
        StoredData::U16(v) => run(rows, v, pixels, dst),
        StoredData::U32(v) => run(rows, v, pixels, dst),
        StoredData::U64(v) => run(rows, v, pixels, dst),
        StoredData::I8(v) => run(rows, v, pixels, dst),
        StoredData::I16(v) => run(rows, v, pixels, dst),
        StoredData::I32(v) => run(rows, v, pixels, dst),
        StoredData::I64(v) => run(rows, v, pixels, dst),
        StoredData::F32(v) => run(rows, v, pixels, dst),
        StoredData::F64(v) => run(rows, v, pixels, dst),
        StoredData::C64(v) => run(rows, v, pixels, dst),
        StoredData::C128(v) => run(rows, v, pixels, dst),
    }
}

impl DataSource for CsrSource {
    fn dtype(&self) -> DType {
        self.data_dtype
    }

    fn shape(&self) -> &DatasetShape {
        &self.shape
    }

    /// Densifies: zeros, then each stored entry in `pixels` added at its pixel, in the stored
    /// byte order.
    fn read_raw(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
        dst: &mut [u8],
    ) -> Result<()> {
        check_request(
            &self.shape,
            self.data_dtype,
            first,
            count,
            &pixels,
            dst.len(),
        )?;
        dst.fill(0);
        if count == 0 || pixels.is_empty() {
            return Ok(());
        }
        let mut scratch = CsrScratch::default();
        self.load_rows(first, count, &mut scratch)?
            .densify_into(&pixels, dst)?;
        self.confirm_rows(first, count)?;
        // Values were added in native order; hand them out as stored.
        make_native(dst, self.data_dtype);
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "raw_csr {} ({} frames, {} entries)",
            self.indices.path().display(),
            self.stored_frames(),
            self.nnz()
        )
    }

    fn as_csr(&self) -> Option<&CsrSource> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn le<T: Copy>(v: &[T], f: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
        v.iter().flat_map(|&x| f(x)).collect()
    }

    /// 3 frames of 2x2: [[1,0],[0,2]], [], [[0,3],[0,0]] with a duplicate entry in frame 2.
    fn sample(dir: &Path) -> (CsrFile, CsrFile, CsrFile) {
        let ptr = write(
            dir,
            "p",
            &le(&[0i32, 2, 2, 4], |x| x.to_le_bytes().to_vec()),
        );
        let idx = write(
            dir,
            "i",
            &le(&[0u16, 3, 1, 1], |x| x.to_le_bytes().to_vec()),
        );
        let dat = write(
            dir,
            "d",
            &le(&[1f32, 2., 1., 2.], |x| x.to_be_bytes().to_vec()),
        );
        (
            CsrFile::new(ptr, DType::parse("<i4", "d").unwrap()),
            CsrFile::new(idx, DType::parse("<u2", "d").unwrap()),
            CsrFile::new(dat, DType::parse(">f4", "d").unwrap()),
        )
    }

    #[test]
    fn densifies_with_duplicates_summed_and_sync_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (p, i, d) = sample(dir.path());
        let shape = DatasetShape::new(&[4], &[2, 2]).unwrap();
        let src = CsrSource::open(&p, &i, &d, shape, -1).unwrap();
        let mut out = vec![0u8; 4 * 4 * 4];
        src.read_raw(0, 4, 0..4, &mut out).unwrap();
        let vals: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            vals,
            [0., 0., 0., 0., 1., 0., 0., 2., 0., 0., 0., 0., 0., 3., 0., 0.]
        );
        let mut part = vec![0u8; 2 * 4];
        src.read_raw(3, 1, 1..3, &mut part).unwrap();
        let vals: Vec<f32> = part
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(vals, [3., 0.]);
    }

    #[test]
    fn rejects_bad_files_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let (p, i, d) = sample(dir.path());
        let shape = || DatasetShape::new(&[3], &[2, 2]).unwrap();
        let bad_ptr = write(
            dir.path(),
            "bp",
            &le(&[0i32, 3, 2, 4], |x| x.to_le_bytes().to_vec()),
        );
        let err =
            CsrSource::open(&CsrFile::new(&bad_ptr, p.dtype), &i, &d, shape(), 0).unwrap_err();
        assert!(err.to_string().contains("not monotone"), "{err}");
        assert!(err.to_string().contains("bp"), "{err}");
        let short = write(dir.path(), "sd", &[0u8; 12]);
        let err = CsrSource::open(&p, &i, &CsrFile::new(&short, d.dtype), shape(), 0).unwrap_err();
        assert!(err.to_string().contains("one value per index"), "{err}");
        let float_ptr = CsrFile::new(&p.path, DType::parse("<f4", "d").unwrap());
        let err = CsrSource::open(&float_ptr, &i, &d, shape(), 0).unwrap_err();
        assert!(err.to_string().starts_with("indptr_dtype"), "{err}");
        let small = DatasetShape::new(&[3], &[1, 3]).unwrap();
        let src = CsrSource::open(&p, &i, &d, small, 0).unwrap();
        let mut out = vec![0u8; 3 * 3 * 4];
        let err = src.read_raw(0, 3, 0..3, &mut out).unwrap_err();
        assert!(err.to_string().contains("index 3"), "{err}");
        assert!(err.to_string().contains("stored frame 0"), "{err}");
    }
}
