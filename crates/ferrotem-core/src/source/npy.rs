//! `.npy` files: header parsing, then a raw reader (C order) or a gathering reader (Fortran
//! order) over the data that follows.

use super::{DataSource, FortranFileSource, RawFileSource};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{checked_product, DatasetShape};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// What an `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: DType,
    /// True if the array is stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The stored array's shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data (size of magic + header).
    pub data_offset: u64,
}

const MAGIC: &[u8] = b"\x93NUMPY";

impl NpyHeader {
    /// Reads and parses the header of the `.npy` file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Corrupt`] if the header is not a
    /// valid `.npy` header of a supported dtype.
    pub fn read(path: &Path) -> Result<Self> {
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut prefix = [0u8; 12];
        let got = read_up_to(&mut file, &mut prefix).map_err(|e| Error::io(path, e))?;
        if got < 10 || &prefix[..6] != MAGIC {
            return Err(corrupt("not an .npy file (magic string missing)".into()));
        }
        let major = prefix[6];
        let (header_len, start) = match major {
            1 => (u16::from_le_bytes([prefix[8], prefix[9]]) as usize, 10usize),
            2 | 3 => {
                if got < 12 {
                    return Err(corrupt("truncated .npy header".into()));
                }
                (
                    u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize,
                    12usize,
                )
            }
            v => return Err(corrupt(format!("unsupported .npy format version {v}"))),
        };
        if header_len > 1 << 20 {
            return Err(corrupt(format!("implausible header length {header_len}")));
        }
        let mut header = vec![0u8; start + header_len];
        header[..got.min(start + header_len)]
            .copy_from_slice(&prefix[..got.min(start + header_len)]);
        if got < start + header_len {
            let n = read_up_to(&mut file, &mut header[got..]).map_err(|e| Error::io(path, e))?;
            if got + n < start + header_len {
                return Err(corrupt("truncated .npy header".into()));
            }
        }
        let text = std::str::from_utf8(&header[start..])
            .map_err(|_| corrupt("header is not text".into()))?;
        let descr =
            dict_value(text, "descr").ok_or_else(|| corrupt("header has no 'descr'".into()))?;
        let descr = descr
            .trim()
            .strip_prefix('\'')
            .and_then(|d| d.strip_suffix('\''))
            .ok_or_else(|| corrupt(format!("unsupported dtype description {descr}")))?;
        let dtype = DType::parse(descr, "dtype").map_err(|_| {
            corrupt(format!(
                "unsupported dtype {descr:?}: only plain numeric dtypes can be read"
            ))
        })?;
        let fortran = dict_value(text, "fortran_order")
            .ok_or_else(|| corrupt("header has no 'fortran_order'".into()))?;
        let fortran_order = match fortran.trim() {
            "True" => true,
            "False" => false,
            other => return Err(corrupt(format!("bad fortran_order {other}"))),
        };
        let shape_text =
            dict_value(text, "shape").ok_or_else(|| corrupt("header has no 'shape'".into()))?;
        let inner = shape_text
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| corrupt(format!("bad shape {shape_text}")))?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse::<usize>)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| corrupt(format!("bad shape {shape_text}")))?;
        Ok(NpyHeader {
            dtype,
            fortran_order,
            shape,
            data_offset: (start + header_len) as u64,
        })
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        let n = file.read(&mut buf[total..])?;
        if n == 0 {
            break;
        }
        total += n;
    }
    Ok(total)
}

/// Finds the text of `key`'s value in a Python dict literal (values here never nest dicts).
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("'{key}':");
    let at = text.find(&pattern)? + pattern.len();
    let rest = &text[at..];
    let rest_trim = rest.trim_start();
    let end = if rest_trim.starts_with('(') {
        rest_trim.find(')')? + 1
    } else if let Some(quoted) = rest_trim.strip_prefix('\'') {
        quoted.find('\'')? + 2
    } else {
        rest_trim.find([',', '}'])?
    };
    Some(&rest_trim[..end])
}

/// Opens an `.npy` file as a data source.
///
/// `nav_shape`/`sig_shape` reinterpret the stored array (C order, from its start, possibly a
/// subset); when absent the stored shape is split into `nav` and the last `sig_dims` axes.
///
/// # Errors
/// As [`NpyHeader::read`] for the header; [`Error::InvalidParameter`] if `sig_dims`,
/// `nav_shape`, `sig_shape` or `sync_offset` do not fit the stored array; as the raw or
/// Fortran source for the data ([`Error::Truncated`] for a file shorter than its header says).
pub fn open_npy(
    path: &Path,
    sig_dims: usize,
    nav_shape: Option<&[usize]>,
    sig_shape: Option<&[usize]>,
    sync_offset: i64,
) -> Result<(NpyHeader, Box<dyn DataSource>)> {
    let header = NpyHeader::read(path)?;
    let stored = &header.shape;
    let sig: Vec<usize> = if let Some(s) = sig_shape {
        s.to_vec()
    } else {
        if sig_dims == 0 || sig_dims >= stored.len() {
            return Err(Error::param(
                "sig_dims",
                sig_dims,
                format!(
                    "1 ..= {} for an array of shape {:?}",
                    stored.len().saturating_sub(1),
                    stored
                ),
            ));
        }
        stored[stored.len() - sig_dims..].to_vec()
    };
    let stored_size = checked_product(stored, "shape")?;
    let sig_size = checked_product(&sig, "sig_shape")?;
    let nav: Vec<usize> = match nav_shape {
        Some(n) => n.to_vec(),
        None if sig_shape.is_none() => stored[..stored.len() - sig_dims].to_vec(),
        None => vec![(stored_size / sig_size) as usize],
    };
    let shape = DatasetShape::new(&nav, &sig)?;
    let needed = shape.nav_size() * sig_size;
    if needed > stored_size {
        return Err(Error::param(
            "nav_shape",
            format!("{nav:?} with sig_shape {sig:?}"),
            format!("at most {stored_size} elements, the size of the stored array {stored:?}"),
        ));
    }
    let source: Box<dyn DataSource> = if header.fortran_order && stored.len() > 1 {
        Box::new(FortranFileSource::open(
            path,
            header.dtype,
            shape,
            stored.clone(),
            header.data_offset,
            sync_offset,
        )?)
    } else {
        Box::new(RawFileSource::open(
            path,
            header.dtype,
            shape,
            header.data_offset,
            sync_offset,
        )?)
    };
    Ok((header, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_values() {
        let t = "{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4, 5), }";
        assert_eq!(dict_value(t, "descr"), Some("'<u2'"));
        assert_eq!(dict_value(t, "fortran_order"), Some("False"));
        assert_eq!(dict_value(t, "shape"), Some("(3, 4, 5)"));
        let t = "{'descr': '>f8', 'fortran_order': True, 'shape': (7,)}";
        assert_eq!(dict_value(t, "shape"), Some("(7,)"));
    }
}
