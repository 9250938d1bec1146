//! `NanoMegas` blockfiles (`.blo`, as written by ASTAR and `HyperSpy`): a description on the
//! [framed source](super::framed).
//!
//! Layout: a fixed header (`IMGBLO`, a magic number 258 or 259, offsets, the diffraction pattern
//! size `DP_SZ` and the scan size `NX` × `NY`, calibrations), for magic 259 a text block of
//! metadata lines from byte 240 up to the first data offset (it may say `Blo Bit Depth: 16
//! bits`), a virtual bright-field image, and from the second data offset on, one record per scan
//! position: a 6-byte header (`0x55AA` and the frame's index as a 32-bit number) and `DP_SZ` ×
//! `DP_SZ` pixels of 8 bits (or 16 as the metadata says). Numbers are little-endian unless the
//! dataset says `endianess='>'`.

use super::framed::{Encoding, FrameCheck, FrameCount, FramedFile, FramedSource, FramedSpec};
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 240;
/// Bytes of each frame's header.
pub const FRAME_HEADER_BYTES: u64 = 6;
/// Largest metadata block read.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// The frame header's mark.
const FRAME_MARK: u16 = 0x55AA;

/// What a blockfile's header says.
#[derive(Debug, Clone, PartialEq)]
pub struct BloHeader {
    /// 258 or 259 (259: a metadata block follows the header).
    pub magic: u16,
    /// Offset of the virtual bright-field image.
    pub data_offset_1: u32,
    /// Offset of the first frame record.
    pub data_offset_2: u32,
    /// Width and height of a (square) diffraction pattern.
    pub dp_size: u16,
    /// Scan positions along x.
    pub nx: u16,
    /// Scan positions along y.
    pub ny: u16,
    /// Scan step along x in nm.
    pub sx: f64,
    /// Scan step along y in nm.
    pub sy: f64,
    /// Beam energy in V.
    pub beam_energy: u32,
    /// Camera length in units of 0.1 mm.
    pub camera_length: u32,
    /// Pixel element type (8- or 16-bit unsigned, in the file's byte order).
    pub dtype: DType,
    /// The metadata block's non-empty lines (magic 259 only).
    pub metadata: Vec<String>,
}

/// Reads numbers of one byte order from a byte slice.
struct Fields<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn get<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.bytes[at..at + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.get(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.get(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.get(at))
    }
}

/// Parses a blockfile header from the file's first bytes (at least [`HEADER_BYTES`]; with magic
/// 259, the bytes up to the first data offset hold the metadata lines, as far as given).
///
/// # Errors
/// A message if the file does not start with `IMGBLO`, the magic number is not 258 or 259 (with
/// a hint when the other byte order would fit), a size is zero, or the offsets are impossible.
pub fn parse_blo_header(bytes: &[u8], big_endian: bool) -> std::result::Result<BloHeader, String> {
    if !bytes.starts_with(b"IMGBLO") {
        return Err(format!(
            "not a blockfile: it starts with b\"{}\", expected \"IMGBLO\"",
            bytes[..bytes.len().min(6)].escape_ascii()
        ));
    }
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "the header is cut off: {} of its {HEADER_BYTES} bytes are present",
            bytes.len()
        ));
    }
    let f = Fields {
        bytes,
        big: big_endian,
    };
    let magic = f.u16(6);
    if magic != 258 && magic != 259 {
        let other = Fields {
            bytes,
            big: !big_endian,
        }
        .u16(6);
        let hint = if other == 258 || other == 259 {
            format!(
                " (read {}-endian it is {other}: try endianess='{}')",
                if big_endian { "little" } else { "big" },
                if big_endian { '<' } else { '>' }
            )
        } else {
            String::new()
        };
        return Err(format!(
            "magic number is {magic}, expected 258 or 259{hint}"
        ));
    }
    let data_offset_1 = f.u32(8);
    let data_offset_2 = f.u32(12);
    let dp_size = f.u16(20);
    let (nx, ny) = (f.u16(24), f.u16(26));
    for (value, name) in [
        (dp_size, "DP_SZ (pattern size)"),
        (nx, "NX (scan width)"),
        (ny, "NY (scan height)"),
    ] {
        if value == 0 {
            return Err(format!("{name} is 0, expected a positive size"));
        }
    }
    if (data_offset_2 as usize) < HEADER_BYTES.min(64) || data_offset_2 < data_offset_1 {
        return Err(format!(
            "the data offsets are {data_offset_1} (image) and {data_offset_2} (frames), expected \
             64 <= first <= second"
        ));
    }
    let metadata = if magic == 259 {
        let end = (data_offset_1 as usize).clamp(HEADER_BYTES, bytes.len().max(HEADER_BYTES));
        bytes[HEADER_BYTES..end.min(bytes.len())]
            .split(|&b| b == b'\n' || b == b'\r' || b == 0)
            .map(|line| line.iter().map(|&b| char::from(b)).collect::<String>())
            .map(|line| line.trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    let bits = bit_depth(&metadata)?;
    let order = if big_endian {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    let dtype = match bits {
        8 => DType::native(ScalarKind::U8),
        _ => DType {
            kind: ScalarKind::U16,
            order,
        },
    };
    Ok(BloHeader {
        magic,
        data_offset_1,
        data_offset_2,
        dp_size,
        nx,
        ny,
        sx: f.f64(30),
        sy: f.f64(38),
        beam_energy: f.u32(46),
        camera_length: f.u32(52),
        dtype,
        metadata,
    })
}

/// The pixel bit depth a metadata line `Blo Bit Depth: <n> bits` states; 8 without one.
fn bit_depth(metadata: &[String]) -> std::result::Result<u32, String> {
    for line in metadata {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("blo bit depth") {
            continue;
        }
        let value = value.trim().to_ascii_lowercase();
        let number = value.strip_suffix("bits").unwrap_or(&value).trim();
        return match number.parse::<u32>() {
            Ok(b @ (8 | 16)) => Ok(b),
            _ => Err(format!(
                "the metadata says {line:?}, expected a bit depth of 8 or 16 bits"
            )),
        };
    }
    Ok(8)
}

/// Reads `path`'s header (`endianess`: big if `big_endian`).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::InvalidParameter`] (`path`) for a
/// directory; [`Error::Corrupt`] for a header that does not parse; [`Error::Truncated`] for a file
/// shorter than its header.
pub fn read_blo_header(path: &Path, big_endian: bool) -> Result<BloHeader> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take((HEADER_BYTES + MAX_METADATA_BYTES) as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() < HEADER_BYTES && bytes.starts_with(b"IMGBLO") {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: HEADER_BYTES as u64,
            actual: meta.len(),
            context: "the blockfile header is cut off".into(),
        });
    }
    parse_blo_header(&bytes, big_endian).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })
}

impl BloHeader {
    /// The framed description of the file at `path` with this header.
    #[must_use]
    pub fn spec(&self, path: PathBuf, big_endian: bool) -> FramedSpec {
        FramedSpec {
            format: "blockfile".into(),
            files: vec![FramedFile {
                path,
                file_header: u64::from(self.data_offset_2),
                frames: FrameCount::UpTo(u64::from(self.nx) * u64::from(self.ny)),
            }],
            frame_header: FRAME_HEADER_BYTES,
            frame_footer: 0,
            encoding: Encoding::Plain(self.dtype),
            check: Some(Arc::new(BloCheck { big_endian })),
        }
    }

    /// The file's frame shape, `(DP_SZ, DP_SZ)`.
    #[must_use]
    pub fn sig_shape(&self) -> (usize, usize) {
        (usize::from(self.dp_size), usize::from(self.dp_size))
    }

    /// The file's scan shape, `(NY, NX)`.
    #[must_use]
    pub fn nav_shape(&self) -> (usize, usize) {
        (usize::from(self.ny), usize::from(self.nx))
    }
}

/// Opens the blockfile at `path` as a data source of `shape`.
///
/// # Errors
/// As [`read_blo_header`] and [`FramedSource::open_with`].
pub fn open_blo(
    path: &Path,
    big_endian: bool,
    shape: DatasetShape,
    sync_offset: i64,
) -> Result<FramedSource> {
    let header = read_blo_header(path, big_endian)?;
    FramedSource::open_with(
        header.spec(path.to_path_buf(), big_endian),
        shape,
        sync_offset,
        IoMode::from_env(),
    )
}

/// Checks each frame's 6-byte header: the mark `0x55AA` and the frame's own index.
#[derive(Debug)]
struct BloCheck {
    big_endian: bool,
}

impl FrameCheck for BloCheck {
    fn check(
        &self,
        _file: usize,
        frame: u64,
        header: &[u8],
        _footer: &[u8],
    ) -> std::result::Result<(), String> {
        let f = Fields {
            bytes: header,
            big: self.big_endian,
        };
        let (mark, index) = (f.u16(0), f.u32(2));
        if mark != FRAME_MARK {
            return Err(format!(
                "the frame header starts with {mark:#06x}, expected {FRAME_MARK:#06x}"
            ));
        }
        if u64::from(index) != frame {
            return Err(format!("the frame header says frame {index}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u16, offsets: (u32, u32), dp: u16, nx: u16, ny: u16, meta: &str) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_BYTES];
        b[..6].copy_from_slice(b"IMGBLO");
        b[6..8].copy_from_slice(&magic.to_le_bytes());
        b[8..12].copy_from_slice(&offsets.0.to_le_bytes());
        b[12..16].copy_from_slice(&offsets.1.to_le_bytes());
        b[20..22].copy_from_slice(&dp.to_le_bytes());
        b[24..26].copy_from_slice(&nx.to_le_bytes());
        b[26..28].copy_from_slice(&ny.to_le_bytes());
        b.extend(meta.as_bytes());
        b
    }

    #[test]
    fn headers_parse_with_their_bit_depth() {
        let h = parse_blo_header(&header(258, (4096, 4112), 144, 2, 3, ""), false).unwrap();
        assert_eq!((h.sig_shape(), h.nav_shape()), ((144, 144), (3, 2)));
        assert_eq!(h.dtype.to_numpy_str(), "|u1");
        let meta = "Precession angle : \r\nBlo Bit Depth: 16 bits\r\n";
        let h = parse_blo_header(&header(259, (400, 500), 8, 2, 2, meta), false).unwrap();
        assert_eq!(h.dtype.to_numpy_str(), "<u2");
        assert_eq!(h.metadata.len(), 2);
        let err = parse_blo_header(&header(258, (4096, 4112), 144, 2, 3, ""), true).unwrap_err();
        assert!(err.contains("try endianess='<'"), "{err}");
        let err = parse_blo_header(&header(258, (4096, 4112), 0, 2, 3, ""), false).unwrap_err();
        assert!(err.contains("DP_SZ"), "{err}");
        let bad = "Blo Bit Depth: 12 bits";
        let err = parse_blo_header(&header(259, (400, 500), 8, 2, 2, bad), false).unwrap_err();
        assert!(err.contains("8 or 16"), "{err}");
        assert!(parse_blo_header(b"IMGBL", false).is_err());
    }
}
