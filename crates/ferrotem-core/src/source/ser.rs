//! FEI/Thermo TIA series files (`.ser`): a header parser, and the frames read through the file's
//! data offset array on the [listed-offsets source](super::listed).
//!
//! Layout (all numbers little-endian): a header — byte order mark `0x4949`, series id `0x0197`,
//! the file version (`0x0210`: offsets of 4 bytes; `0x0220` and later: 8 bytes), the data
//! element type (`0x4120` 1-D spectra, `0x4122` 2-D images), the tag type (`0x4152` time only,
//! `0x4142` time and stage position), the total and the valid number of elements, the offset of
//! the offset arrays, and the dimension arrays (the scan's axes: size, calibration, description,
//! units). At that offset lie two arrays of `total` offsets each: where each data element and
//! each tag starts. Each data element is a header — calibrations, a TIA type code for its
//! numbers and its size (a length, or width and height) — and its pixels. Elements need not be
//! evenly spaced, so frames are read at the listed offsets. Images are stored bottom row first;
//! they are read top row first, as `LiberTEM` (through ncempy) and `RosettaSciIO` give them.

use super::listed::ListedFramesSource;
use super::{GuardedFile, IoMode};
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::path::Path;

/// The byte order mark (`II`, little-endian).
pub const BYTE_ORDER_MARK: u16 = 0x4949;
/// The series id of TIA files.
pub const SERIES_ID: u16 = 0x0197;
/// Data elements of 1-D arrays (spectra).
pub const DATA_1D: u32 = 0x4120;
/// Data elements of 2-D arrays (images).
pub const DATA_2D: u32 = 0x4122;
/// The first file version with 8-byte offsets.
pub const VERSION_WIDE_OFFSETS: u16 = 0x0220;
/// Bytes of a 1-D data element's header.
pub const ELEMENT_1D_HEADER: u64 = 26;
/// Bytes of a 2-D data element's header.
pub const ELEMENT_2D_HEADER: u64 = 50;
/// Most dimension arrays accepted (TIA writes one or two).
const MAX_DIMENSIONS: u32 = 16;
/// Bytes of the file read for the header (its dimension arrays' texts included).
pub const HEADER_READ_BYTES: usize = 64 * 1024;

/// One dimension array of the header: an axis of the series (the scan).
#[derive(Debug, Clone, PartialEq)]
pub struct SerDimension {
    /// Elements along this axis.
    pub size: u32,
    /// Calibrated value of the element `calibration_element`.
    pub calibration_offset: f64,
    /// Calibrated step from one element to the next.
    pub calibration_delta: f64,
    /// The element the calibration offset refers to.
    pub calibration_element: u32,
    /// What the axis is (`"Number"`, `"Position"`).
    pub description: String,
    /// Units of the calibration.
    pub units: String,
}

/// What a `.ser` file's header says.
#[derive(Debug, Clone, PartialEq)]
pub struct SerHeader {
    /// File version (`0x0210`, `0x0220`).
    pub version: u16,
    /// [`DATA_1D`] or [`DATA_2D`].
    pub data_type_id: u32,
    /// `0x4152` (time) or `0x4142` (time and position).
    pub tag_type_id: u32,
    /// Elements the file has room for.
    pub total_elements: u32,
    /// Elements written.
    pub valid_elements: u32,
    /// File offset of the data offset array (the tag offset array follows it).
    pub offset_array_offset: u64,
    /// The dimension arrays, the fastest axis first.
    pub dimensions: Vec<SerDimension>,
}

/// Reads little-endian numbers from a byte slice, failing (not panicking) past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "the header is cut off in {what}: {} bytes are present, {} needed",
                self.bytes.len(),
                self.at.saturating_add(n)
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u16(&mut self, what: &str) -> std::result::Result<u16, String> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f64(&mut self, what: &str) -> std::result::Result<f64, String> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }
    fn text(&mut self, what: &str) -> std::result::Result<String, String> {
        let len = self.u32(what)? as usize;
        let bytes = self.take(len, what)?;
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }
}

/// Parses a `.ser` header from the file's first bytes (the dimension arrays included).
///
/// # Errors
/// A message if the byte order mark, series id, version or data type is not TIA's, the valid
/// element count exceeds the total, or the header is cut off.
pub fn parse_ser_header(bytes: &[u8]) -> std::result::Result<SerHeader, String> {
    let mut c = Cursor { bytes, at: 0 };
    let order = c.u16("the byte order mark")?;
    if order != BYTE_ORDER_MARK {
        return Err(format!(
            "not a TIA series file: it starts with {order:#06x}, expected the byte order mark \
             {BYTE_ORDER_MARK:#06x} ('II')"
        ));
    }
    let series = c.u16("the series id")?;
    if series != SERIES_ID {
        return Err(format!(
            "the series id is {series:#06x}, expected {SERIES_ID:#06x}"
        ));
    }
    let version = c.u16("the version")?;
    if !(0x0200..0x0300).contains(&version) {
        return Err(format!(
            "the file version is {version:#06x}, expected 0x0210 or 0x0220"
        ));
    }
    let data_type_id = c.u32("the data type id")?;
    if data_type_id != DATA_1D && data_type_id != DATA_2D {
        return Err(format!(
            "the data type id is {data_type_id:#06x}, expected {DATA_1D:#06x} (1-D) or \
             {DATA_2D:#06x} (2-D)"
        ));
    }
    let tag_type_id = c.u32("the tag type id")?;
    let total_elements = c.u32("the total number of elements")?;
    let valid_elements = c.u32("the valid number of elements")?;
    if valid_elements > total_elements {
        return Err(format!(
            "{valid_elements} valid elements of {total_elements} in all: more than there are"
        ));
    }
    let offset_array_offset = if version >= VERSION_WIDE_OFFSETS {
        c.u64("the offset array offset")?
    } else {
        u64::from(c.u32("the offset array offset")?)
    };
    let count = c.u32("the number of dimensions")?;
    if count > MAX_DIMENSIONS {
        return Err(format!(
            "{count} dimension arrays, expected at most {MAX_DIMENSIONS}"
        ));
    }
    let mut dimensions = Vec::with_capacity(count as usize);
    for i in 0..count {
        let what = format!("dimension array {i}");
        let size = c.u32(&what)?;
        if size == 0 {
            return Err(format!("{what} has size 0, expected a positive size"));
        }
        dimensions.push(SerDimension {
            size,
            calibration_offset: c.f64(&what)?,
            calibration_delta: c.f64(&what)?,
            calibration_element: c.u32(&what)?,
            description: c.text(&what)?,
            units: c.text(&what)?,
        });
    }
    Ok(SerHeader {
        version,
        data_type_id,
        tag_type_id,
        total_elements,
        valid_elements,
        offset_array_offset,
        dimensions,
    })
}

impl SerHeader {
    /// Bytes of one entry of the offset arrays: 4 before version `0x0220`, 8 from it on.
    #[must_use]
    pub fn offset_bytes(&self) -> usize {
        if self.version >= VERSION_WIDE_OFFSETS {
            8
        } else {
            4
        }
    }

    /// Bytes of both offset arrays together.
    #[must_use]
    pub fn offset_arrays_len(&self) -> u64 {
        2 * u64::from(self.total_elements) * self.offset_bytes() as u64
    }

    /// Bytes of each data element's header.
    #[must_use]
    pub fn element_header_bytes(&self) -> u64 {
        if self.data_type_id == DATA_1D {
            ELEMENT_1D_HEADER
        } else {
            ELEMENT_2D_HEADER
        }
    }

    /// The scan shape the dimension arrays describe, the slowest axis first (their reverse
    /// order, as `LiberTEM` reads it).
    #[must_use]
    pub fn nav_shape(&self) -> Vec<usize> {
        self.dimensions
            .iter()
            .rev()
            .map(|d| d.size as usize)
            .collect()
    }

    /// The data and tag offsets of the valid elements, from the bytes of both offset arrays
    /// (at least [`SerHeader::offset_arrays_len`] of them).
    ///
    /// # Errors
    /// A message if the bytes are too few.
    pub fn parse_offsets(&self, bytes: &[u8]) -> std::result::Result<(Vec<u64>, Vec<u64>), String> {
        let width = self.offset_bytes();
        let total = self.total_elements as usize;
        let needed = 2usize
            .checked_mul(total)
            .and_then(|n| n.checked_mul(width))
            .filter(|&n| n <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "the offset arrays are cut off: {} bytes are present, {} needed",
                    bytes.len(),
                    self.offset_arrays_len()
                )
            })?;
        let read = |k: usize| -> u64 {
            let b = &bytes[k * width..(k + 1) * width];
            if width == 8 {
                u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            } else {
                u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
        };
        debug_assert!(needed >= 2 * total * width);
        let valid = self.valid_elements as usize;
        let data = (0..valid).map(read).collect();
        let tags = (0..valid).map(|k| read(total + k)).collect();
        Ok((data, tags))
    }
}

/// The numbers of a TIA type code (`1` … `10`), little-endian.
#[must_use]
pub fn dtype_of_code(code: u16) -> Option<DType> {
    let kind = match code {
        1 => ScalarKind::U8,
        2 => ScalarKind::U16,
        3 => ScalarKind::U32,
        4 => ScalarKind::I8,
        5 => ScalarKind::I16,
        6 => ScalarKind::I32,
        7 => ScalarKind::F32,
        8 => ScalarKind::F64,
        9 => ScalarKind::C64,
        10 => ScalarKind::C128,
        _ => return None,
    };
    Some(DType {
        kind,
        order: ByteOrder::Little,
    })
}

/// What a data element's header says about its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerElement {
    /// The TIA type code of its numbers.
    pub type_code: u16,
    /// Its numbers' element type.
    pub dtype: DType,
    /// Its array: `[length, 1]` for 1-D, `[width, height]` for 2-D.
    pub size: [u32; 2],
}

impl SerElement {
    /// The frame shape: `(length,)` or `(height, width)`.
    #[must_use]
    pub fn sig_shape(&self, data_type_id: u32) -> Vec<usize> {
        if data_type_id == DATA_1D {
            vec![self.size[0] as usize]
        } else {
            vec![self.size[1] as usize, self.size[0] as usize]
        }
    }
}

/// Parses a data element's header (its first [`ELEMENT_1D_HEADER`] or [`ELEMENT_2D_HEADER`]
/// bytes) for elements of `data_type_id`.
///
/// # Errors
/// A message if the bytes are too few, the type code is not TIA's, or a size is 0.
pub fn parse_element_header(
    data_type_id: u32,
    bytes: &[u8],
) -> std::result::Result<SerElement, String> {
    let mut c = Cursor { bytes, at: 0 };
    let two_d = data_type_id == DATA_2D;
    // calibrations (offset, delta, element) per axis come first
    c.take(if two_d { 40 } else { 20 }, "the element's calibration")?;
    let type_code = c.u16("the element's data type")?;
    let dtype = dtype_of_code(type_code)
        .ok_or_else(|| format!("the element's data type code is {type_code}, expected 1 to 10"))?;
    let size = if two_d {
        [
            c.u32("the element's width")?,
            c.u32("the element's height")?,
        ]
    } else {
        [c.u32("the element's length")?, 1]
    };
    if size.contains(&0) {
        return Err(format!(
            "the element's size is {size:?}, expected positive sizes"
        ));
    }
    Ok(SerElement {
        type_code,
        dtype,
        size,
    })
}

/// A parsed `.ser` file: header, offsets and the (common) element description, each element's
/// header checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SerFile {
    /// The header.
    pub header: SerHeader,
    /// File offset of each valid data element.
    pub data_offsets: Vec<u64>,
    /// File offset of each valid element's tag.
    pub tag_offsets: Vec<u64>,
    /// What every element's header says.
    pub element: SerElement,
}

/// Bytes `offset .. offset + len` of `file`, from its map or by `pread`; a range past the end
/// is [`Error::Truncated`] saying what was read. Bytes from the map are confirmed by the caller
/// ([`GuardedFile::confirm`]) once it has read all it needs.
fn bytes_at(file: &GuardedFile, offset: u64, len: usize, what: &str) -> Result<Vec<u8>> {
    let end = offset.checked_add(len as u64);
    if end.is_none_or(|e| e > file.len()) {
        return Err(file.truncated(
            end.unwrap_or(u64::MAX),
            file.len(),
            format!("{what} at offset {offset} ends past the end of the file"),
        ));
    }
    let end = offset + len as u64;
    if let Some(b) = file.mapped(offset..end) {
        return Ok(b.to_vec());
    }
    let mut buf = vec![0u8; len];
    file.read_at(&mut buf, offset)?;
    Ok(buf)
}

/// Reads and checks `path`: its header, offset arrays and every valid element's header (all
/// must describe the same array as the first).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::InvalidParameter`] (`path`) for a
/// directory; [`Error::Corrupt`] naming what does not parse or an element that differs from
/// the first; [`Error::Truncated`] if the header, the offset arrays or an element's header lie
/// past the end of the file.
pub fn read_ser(path: &Path) -> Result<SerFile> {
    let file = GuardedFile::open(path, IoMode::from_env())?;
    let corrupt = |detail: String| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let head_len = file.len().min(HEADER_READ_BYTES as u64) as usize;
    let head = bytes_at(&file, 0, head_len, "the header")?;
    let header = parse_ser_header(&head).map_err(|detail| {
        if detail.starts_with("the header is cut off") && head_len < HEADER_READ_BYTES {
            file.truncated(
                head_len as u64 + 1,
                file.len(),
                format!("TIA series file: {detail}"),
            )
        } else {
            corrupt(detail)
        }
    })?;
    if header.valid_elements == 0 {
        return Err(corrupt(
            "the header says 0 valid elements: the series holds no data".into(),
        ));
    }
    let arrays_len = usize::try_from(header.offset_arrays_len())
        .map_err(|_| corrupt("the offset arrays are too large".into()))?;
    let arrays = bytes_at(
        &file,
        header.offset_array_offset,
        arrays_len,
        "the offset arrays",
    )?;
    let (data_offsets, tag_offsets) = header.parse_offsets(&arrays).map_err(corrupt)?;
    let header_bytes = header.element_header_bytes();
    let mut element = None;
    for (k, &offset) in data_offsets.iter().enumerate() {
        let what = format!("the header of data element {k}");
        let bytes = bytes_at(&file, offset, header_bytes as usize, &what)?;
        let this = parse_element_header(header.data_type_id, &bytes)
            .map_err(|detail| corrupt(format!("data element {k} at offset {offset}: {detail}")))?;
        match element {
            None => element = Some(this),
            Some(first) if first != this => {
                return Err(corrupt(format!(
                    "data element {k} at offset {offset} holds {:?} of type code {}, but \
                     element 0 holds {:?} of type code {}: elements of one series must match",
                    this.size, this.type_code, first.size, first.type_code
                )));
            }
            Some(_) => {}
        }
    }
    let element = element.ok_or_else(|| corrupt("no data elements".into()))?;
    // Everything read lies within the file's length at opening: one check that the map did
    // not fault (a file that shrank meanwhile reads as zeros there).
    file.confirm(file.len())?;
    Ok(SerFile {
        header,
        data_offsets,
        tag_offsets,
        element,
    })
}

impl SerFile {
    /// The frame shape of its elements.
    #[must_use]
    pub fn sig_shape(&self) -> Vec<usize> {
        self.element.sig_shape(self.header.data_type_id)
    }

    /// File offsets of each element's first pixel.
    #[must_use]
    pub fn frame_offsets(&self) -> Vec<u64> {
        let skip = self.header.element_header_bytes();
        self.data_offsets.iter().map(|o| o + skip).collect()
    }

    /// The file at `path` as a data source of `shape`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`sig_shape`) if `shape`'s frames do not have the elements'
    /// pixel count; as [`ListedFramesSource::open_with`].
    pub fn open(
        &self,
        path: &Path,
        shape: DatasetShape,
        sync_offset: i64,
    ) -> Result<ListedFramesSource> {
        let native: usize = self.sig_shape().iter().product();
        if shape.sig_size() != native {
            return Err(Error::param(
                "sig_shape",
                format!("{:?} ({} pixels)", shape.sig(), shape.sig_size()),
                format!("a shape of {native} pixels, as the SER elements have"),
            ));
        }
        // TIA stores images bottom row first (as ncempy and RosettaSciIO read them).
        let bottom_up =
            (self.header.data_type_id == DATA_2D).then_some(self.element.size[0] as usize);
        ListedFramesSource::open_with(
            "SER",
            path,
            self.frame_offsets(),
            self.element.dtype,
            bottom_up,
            shape,
            sync_offset,
            IoMode::from_env(),
        )
    }
}

/// Opens the `.ser` file at `path` as a data source of `shape`.
///
/// # Errors
/// As [`read_ser`] and [`SerFile::open`].
pub fn open_ser(path: &Path, shape: DatasetShape, sync_offset: i64) -> Result<ListedFramesSource> {
    read_ser(path)?.open(path, shape, sync_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of `version` with one dimension array of `n` elements, `total` offsets of each
    /// kind following it.
    fn header(version: u16, data_type: u32, n: u32, total: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(BYTE_ORDER_MARK.to_le_bytes());
        b.extend(SERIES_ID.to_le_bytes());
        b.extend(version.to_le_bytes());
        b.extend(data_type.to_le_bytes());
        b.extend(0x4152u32.to_le_bytes());
        b.extend(total.to_le_bytes());
        b.extend(n.to_le_bytes());
        let wide = version >= VERSION_WIDE_OFFSETS;
        let dims_len = 4 + 8 + 8 + 4 + 4 + 6 + 4 + 2;
        let arrays_at = b.len() + if wide { 8 } else { 4 } + 4 + dims_len;
        if wide {
            b.extend((arrays_at as u64).to_le_bytes());
        } else {
            b.extend((arrays_at as u32).to_le_bytes());
        }
        b.extend(1u32.to_le_bytes());
        b.extend(n.to_le_bytes());
        b.extend(0f64.to_le_bytes());
        b.extend(1f64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(b"Number");
        b.extend(2u32.to_le_bytes());
        b.extend(b"nm");
        assert_eq!(b.len(), arrays_at);
        for k in 0..2 * u64::from(total) {
            if wide {
                b.extend((1000 + k).to_le_bytes());
            } else {
                b.extend((1000 + k as u32).to_le_bytes());
            }
        }
        b
    }

    #[test]
    fn both_versions_parse_with_their_offset_width() {
        for (version, width) in [(0x0210, 4), (0x0220, 8)] {
            let b = header(version, DATA_2D, 3, 4);
            let h = parse_ser_header(&b).unwrap();
            assert_eq!(h.offset_bytes(), width);
            assert_eq!((h.valid_elements, h.total_elements), (3, 4));
            assert_eq!(h.nav_shape(), vec![3]);
            assert_eq!(h.dimensions[0].description, "Number");
            assert_eq!(h.dimensions[0].units, "nm");
            let arrays = &b[h.offset_array_offset as usize..];
            let (data, tags) = h.parse_offsets(arrays).unwrap();
            assert_eq!(data, vec![1000, 1001, 1002]);
            assert_eq!(tags, vec![1004, 1005, 1006]);
            assert!(h.parse_offsets(&arrays[..arrays.len() - 1]).is_err());
        }
    }

    #[test]
    fn wrong_headers_say_what_is_wrong() {
        let mut b = header(0x0220, DATA_2D, 3, 4);
        assert!(parse_ser_header(&b[..20]).unwrap_err().contains("cut off"));
        b[6] = 0x33;
        assert!(parse_ser_header(&b).unwrap_err().contains("data type id"));
        let b = header(0x0220, DATA_1D, 5, 4);
        assert!(parse_ser_header(&b)
            .unwrap_err()
            .contains("5 valid elements of 4"));
        let mut b = header(0x0210, DATA_1D, 2, 4);
        b[0] = 0x4D;
        assert!(parse_ser_header(&b)
            .unwrap_err()
            .contains("byte order mark"));
    }

    #[test]
    fn element_headers_give_dtype_and_shape() {
        let mut e = vec![0u8; 40];
        e.extend(7u16.to_le_bytes());
        e.extend(5u32.to_le_bytes());
        e.extend(3u32.to_le_bytes());
        let el = parse_element_header(DATA_2D, &e).unwrap();
        assert_eq!(el.dtype.to_numpy_str(), "<f4");
        assert_eq!(el.sig_shape(DATA_2D), vec![3, 5]);
        let mut e = vec![0u8; 20];
        e.extend(10u16.to_le_bytes());
        e.extend(9u32.to_le_bytes());
        let el = parse_element_header(DATA_1D, &e).unwrap();
        assert_eq!(
            (el.dtype.to_numpy_str().as_str(), el.sig_shape(DATA_1D)),
            ("<c16", vec![9])
        );
        e[20] = 11;
        assert!(parse_element_header(DATA_1D, &e)
            .unwrap_err()
            .contains("code is 11"));
        assert!(parse_element_header(DATA_1D, &e[..25]).is_err());
    }
}
