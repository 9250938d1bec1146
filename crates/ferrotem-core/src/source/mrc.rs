//! MRC files (movies, image stacks, 4-D STEM as a stack of frames): a header parser and a
//! description on the [framed source](super::framed).
//!
//! Layout (MRC2014): a 1024-byte header of 4-byte words — `NX`, `NY`, `NZ` (columns, rows,
//! sections), `MODE` (the numbers' type), …, `NSYMBT` (bytes of the extended header) at word
//! 23, `EXTTYP` and `NVERSION` at bytes 104 and 108, `MAP ` at byte 208 and the machine stamp
//! at byte 212 (`0x44 0x44` or `0x44 0x41`: little-endian; `0x11 0x11`: big-endian), the
//! number of labels and ten 80-character labels —, then the extended header, then `NZ`
//! sections of `NY` rows of `NX` numbers each, stored plain. Each section is one frame.
//!
//! Modes: 0 `int8`, 1 `int16`, 2 `float32`, 4 `complex64`, 6 `uint16`, 12 `float16` (decoded to
//! `float32`, which no detector pipeline lacks). Modes 3 (complex `int16`) and 101 (4-bit) are
//! refused with a message.

use super::framed::{Encoding, FrameCount, FrameDecoder, FramedFile, FramedSource, FramedSpec};
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 1024;

/// What an MRC header says.
#[derive(Debug, Clone, PartialEq)]
pub struct MrcHeader {
    /// Columns (the fastest axis).
    pub nx: u32,
    /// Rows.
    pub ny: u32,
    /// Sections: frames of a movie or a stack.
    pub nz: u32,
    /// The numbers' type code.
    pub mode: u32,
    /// Sampling along x, y, z (for stacks, `mz` is 1 or `nz`).
    pub mxyz: [i32; 3],
    /// Cell dimensions in Å.
    pub cell: [f32; 3],
    /// Bytes of the extended header after the 1024 of the fixed header.
    pub nsymbt: u32,
    /// The extended header's type (`"FEI1"`, `"SERI"`, …; empty if none is given).
    pub exttyp: String,
    /// `NVERSION` (20140 for MRC2014; 0 in older files).
    pub nversion: i32,
    /// Big-endian numbers (from the machine stamp).
    pub big_endian: bool,
    /// The machine stamp's four bytes.
    pub machine_stamp: [u8; 4],
    /// The labels in use.
    pub labels: Vec<String>,
}

/// Mode codes with the numbers they hold.
const MODES: &str = "0 (int8), 1 (int16), 2 (float32), 4 (complex64), 6 (uint16) or 12 (float16)";

/// Reads 4-byte words of one byte order.
struct Words<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Words<'_> {
    fn get(&self, at: usize) -> [u8; 4] {
        let mut a = [0u8; 4];
        a.copy_from_slice(&self.bytes[at..at + 4]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i32(&self, word: usize) -> i32 {
        i32::from_le_bytes(self.get(4 * word))
    }
    fn f32(&self, word: usize) -> f32 {
        f32::from_le_bytes(self.get(4 * word))
    }
}

/// The element type of mode `mode`; `None` for a mode that is not read.
#[must_use]
pub fn mode_kind(mode: i32) -> Option<ScalarKind> {
    Some(match mode {
        0 => ScalarKind::I8,
        1 => ScalarKind::I16,
        2 | 12 => ScalarKind::F32,
        4 => ScalarKind::C64,
        6 => ScalarKind::U16,
        _ => return None,
    })
}

/// Whether the header's numbers look sane in this byte order: a known mode and sizes that are
/// positive and not absurd (which is how files without a valid machine stamp are read).
fn plausible(w: &Words<'_>) -> bool {
    let sizes_ok = (0..3).all(|i| (1..=1 << 24).contains(&w.i32(i)));
    sizes_ok && (mode_kind(w.i32(3)).is_some() || matches!(w.i32(3), 3 | 101))
}

/// Parses an MRC header from the file's first bytes (at least [`HEADER_BYTES`]).
///
/// # Errors
/// A message if the header is cut off, a size is not positive, the mode is not read, or the
/// sizes overflow.
pub fn parse_mrc_header(bytes: &[u8]) -> std::result::Result<MrcHeader, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "the header is cut off: {} of its {HEADER_BYTES} bytes are present",
            bytes.len()
        ));
    }
    let mut machine_stamp = [0u8; 4];
    machine_stamp.copy_from_slice(&bytes[212..216]);
    let little = Words { bytes, big: false };
    let big_endian = match machine_stamp[0] {
        0x44 => false,
        0x11 => true,
        // No valid stamp (older writers): the byte order the header makes sense in.
        _ => !plausible(&little) && plausible(&Words { bytes, big: true }),
    };
    let w = Words {
        bytes,
        big: big_endian,
    };
    let (nx, ny, nz, mode) = (w.i32(0), w.i32(1), w.i32(2), w.i32(3));
    for (value, name) in [
        (nx, "NX (columns)"),
        (ny, "NY (rows)"),
        (nz, "NZ (sections)"),
    ] {
        if value <= 0 {
            return Err(format!("{name} is {value}, expected a positive size"));
        }
    }
    if mode_kind(mode).is_none() {
        let why = match mode {
            3 => " (complex int16 is not supported)",
            101 => " (4-bit packed pixels are not supported)",
            _ => "",
        };
        return Err(format!("MODE is {mode}{why}, expected {MODES}"));
    }
    let nsymbt = w.i32(23);
    if nsymbt < 0 {
        return Err(format!(
            "NSYMBT (extended header bytes) is {nsymbt}, expected 0 or more"
        ));
    }
    let text = |range: Range<usize>| -> String {
        bytes[range]
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| char::from(b))
            .collect::<String>()
            .trim_end()
            .to_owned()
    };
    let nlabl = usize::try_from(w.i32(55)).unwrap_or(0).min(10);
    let labels = (0..nlabl)
        .map(|i| text(224 + 80 * i..224 + 80 * (i + 1)))
        .collect();
    // In range: all positive i32 (checked above).
    #[expect(clippy::cast_sign_loss, reason = "checked positive above")]
    let header = MrcHeader {
        nx: nx as u32,
        ny: ny as u32,
        nz: nz as u32,
        mode: mode as u32,
        mxyz: [w.i32(7), w.i32(8), w.i32(9)],
        cell: [w.f32(10), w.f32(11), w.f32(12)],
        nsymbt: nsymbt as u32,
        exttyp: text(104..108),
        nversion: w.i32(27),
        big_endian,
        machine_stamp,
        labels,
    };
    header
        .frame_bytes()
        .ok_or_else(|| format!("frames of {nx} x {ny} numbers of mode {mode} are too large"))?;
    Ok(header)
}

impl MrcHeader {
    /// The byte order of the numbers.
    #[must_use]
    pub fn order(&self) -> ByteOrder {
        if self.big_endian {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }

    /// The element type frames are read as (`float32` for mode 12).
    #[must_use]
    pub fn dtype(&self) -> DType {
        let kind = mode_kind(i32::try_from(self.mode).unwrap_or(-1)).unwrap_or(ScalarKind::U8);
        match (kind, self.mode) {
            (_, 12) => DType::native(ScalarKind::F32),
            (ScalarKind::I8, _) => DType::native(ScalarKind::I8),
            _ => DType {
                kind,
                order: self.order(),
            },
        }
    }

    /// Stored bytes of one number.
    #[must_use]
    pub fn stored_itemsize(&self) -> usize {
        if self.mode == 12 {
            2
        } else {
            self.dtype().itemsize()
        }
    }

    /// Stored bytes of one frame (`None` if that overflows).
    #[must_use]
    pub fn frame_bytes(&self) -> Option<u64> {
        u64::from(self.nx)
            .checked_mul(u64::from(self.ny))?
            .checked_mul(self.stored_itemsize() as u64)
    }

    /// File offset of the first frame: the fixed and the extended header.
    #[must_use]
    pub fn data_offset(&self) -> u64 {
        HEADER_BYTES as u64 + u64::from(self.nsymbt)
    }

    /// The frame shape, `(NY, NX)`.
    #[must_use]
    pub fn sig_shape(&self) -> (usize, usize) {
        (self.ny as usize, self.nx as usize)
    }

    /// How the pixels are stored.
    #[must_use]
    pub fn encoding(&self) -> Encoding {
        if self.mode == 12 {
            Encoding::Decoded(Arc::new(Float16 {
                pixels: self.nx as usize * self.ny as usize,
                big_endian: self.big_endian,
            }))
        } else {
            Encoding::Plain(self.dtype())
        }
    }

    /// The framed description of the file at `path` with this header: up to `NZ` frames (a
    /// file cut short on a frame boundary holds fewer).
    #[must_use]
    pub fn spec(&self, path: PathBuf) -> FramedSpec {
        FramedSpec {
            format: "MRC".into(),
            files: vec![FramedFile {
                path,
                file_header: self.data_offset(),
                frames: FrameCount::UpTo(u64::from(self.nz)),
            }],
            frame_header: 0,
            frame_footer: 0,
            encoding: self.encoding(),
            check: None,
        }
    }
}

/// Reads `path`'s header.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::InvalidParameter`] (`path`) for a
/// directory; [`Error::Truncated`] for a file shorter than its header; [`Error::Corrupt`] for a
/// header that does not parse.
pub fn read_mrc_header(path: &Path) -> Result<MrcHeader> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let mut bytes = Vec::with_capacity(HEADER_BYTES);
    (&mut file)
        .take(HEADER_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() < HEADER_BYTES {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: HEADER_BYTES as u64,
            actual: meta.len(),
            context: "the MRC header is cut off".into(),
        });
    }
    parse_mrc_header(&bytes).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })
}

/// Opens the MRC file at `path` as a data source of `shape`.
///
/// # Errors
/// As [`read_mrc_header`] and [`FramedSource::open_with`].
pub fn open_mrc(path: &Path, shape: DatasetShape, sync_offset: i64) -> Result<FramedSource> {
    let header = read_mrc_header(path)?;
    FramedSource::open_with(
        header.spec(path.to_path_buf()),
        shape,
        sync_offset,
        IoMode::from_env(),
    )
}

/// Mode 12: IEEE half-precision numbers, decoded to native `float32`.
#[derive(Debug)]
struct Float16 {
    pixels: usize,
    big_endian: bool,
}

/// The `f32` of the IEEE binary16 number `h` (exact: every half is a float).
#[must_use]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1F);
    let frac = u32::from(h & 0x3FF);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: normalise the fraction
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3FF;
            sign | ((127 - 15 + 1 - shift) << 23) | (frac << 13)
        }
        (0x1F, _) => sign | (0xFF << 23) | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

impl FrameDecoder for Float16 {
    fn dtype(&self) -> DType {
        DType::native(ScalarKind::F32)
    }

    fn frame_pixels(&self) -> usize {
        self.pixels
    }

    fn payload_bytes(&self) -> usize {
        2 * self.pixels
    }

    fn decode(&self, payload: &[u8], pixels: Range<usize>, dst: &mut [u8]) -> Result<()> {
        if payload.len() != self.payload_bytes()
            || pixels.start > pixels.end
            || pixels.end > self.pixels
            || dst.len() != 4 * pixels.len()
        {
            return Err(Error::internal(format!(
                "{}: decode of pixels {pixels:?} from {} bytes into {} bytes",
                self.describe(),
                payload.len(),
                dst.len()
            )));
        }
        let src = &payload[2 * pixels.start..2 * pixels.end];
        for (two, out) in src.chunks_exact(2).zip(dst.chunks_exact_mut(4)) {
            let h = if self.big_endian {
                u16::from_be_bytes([two[0], two[1]])
            } else {
                u16::from_le_bytes([two[0], two[1]])
            };
            out.copy_from_slice(&f16_to_f32(h).to_ne_bytes());
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "MRC mode 12 (float16)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header in `big`-endian order with the matching machine stamp.
    fn header(nx: i32, ny: i32, nz: i32, mode: i32, nsymbt: i32, big: bool) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_BYTES];
        let put = |b: &mut Vec<u8>, word: usize, v: i32| {
            let bytes = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[4 * word..4 * word + 4].copy_from_slice(&bytes);
        };
        for (word, v) in [
            (0, nx),
            (1, ny),
            (2, nz),
            (3, mode),
            (23, nsymbt),
            (27, 20140),
        ] {
            put(&mut b, word, v);
        }
        put(&mut b, 55, 1);
        b[104..108].copy_from_slice(b"SERI");
        b[208..212].copy_from_slice(b"MAP ");
        b[212..214].copy_from_slice(if big { &[0x11, 0x11] } else { &[0x44, 0x44] });
        b[224..229].copy_from_slice(b"hello");
        b
    }

    #[test]
    fn modes_and_byte_orders() {
        for big in [false, true] {
            for (mode, want) in [(0, "|i1"), (1, "i2"), (2, "f4"), (4, "c8"), (6, "u2")] {
                let h = parse_mrc_header(&header(5, 3, 7, mode, 64, big)).unwrap();
                let s = h.dtype().to_numpy_str();
                assert!(s.ends_with(want), "{s} {want}");
                if want != "|i1" {
                    assert_eq!(s.starts_with('>'), big, "{s}");
                }
                assert_eq!((h.sig_shape(), h.nz, h.data_offset()), ((3, 5), 7, 1088));
                assert_eq!(
                    (h.exttyp.as_str(), h.labels.clone()),
                    ("SERI", vec!["hello".into()])
                );
            }
            let h = parse_mrc_header(&header(5, 3, 7, 12, 0, big)).unwrap();
            assert_eq!((h.stored_itemsize(), h.frame_bytes()), (2, Some(30)));
            assert!(matches!(h.encoding(), Encoding::Decoded(_)));
        }
    }

    #[test]
    fn a_missing_stamp_is_read_in_the_order_that_makes_sense() {
        for big in [false, true] {
            let mut b = header(16, 16, 30, 6, 0, big);
            b[212..216].fill(0);
            assert_eq!(parse_mrc_header(&b).unwrap().big_endian, big);
        }
    }

    #[test]
    fn bad_headers_say_what_is_wrong() {
        let err = parse_mrc_header(&header(5, 3, 7, 3, 0, false)).unwrap_err();
        assert!(err.contains("complex int16"), "{err}");
        let err = parse_mrc_header(&header(5, 3, 7, 9, 0, false)).unwrap_err();
        assert!(err.contains("MODE is 9"), "{err}");
        let err = parse_mrc_header(&header(5, 0, 7, 1, 0, false)).unwrap_err();
        assert!(err.contains("NY (rows) is 0"), "{err}");
        let err = parse_mrc_header(&header(5, 3, 7, 1, -4, false)).unwrap_err();
        assert!(err.contains("NSYMBT"), "{err}");
        assert!(parse_mrc_header(&[0u8; 100])
            .unwrap_err()
            .contains("cut off"));
    }

    #[test]
    fn halves_convert_exactly() {
        for (h, f) in [
            (0x3C00u16, 1.0f32),
            (0xC000, -2.0),
            (0x7BFF, 65504.0),
            (0x0001, 5.960_464_5e-8),
            (0x0400, 6.103_515_6e-5),
            (0x3555, 0.333_251_95),
            (0x8000, -0.0),
        ] {
            assert_eq!(f16_to_f32(h).to_bits(), f.to_bits(), "{h:#06x}");
        }
        assert!(f16_to_f32(0x7E00).is_nan());
        assert_eq!(f16_to_f32(0xFC00).to_bits(), f32::NEG_INFINITY.to_bits());
        let d = Float16 {
            pixels: 2,
            big_endian: true,
        };
        let mut out = [0u8; 4];
        d.decode(&[0x3C, 0x00, 0xC0, 0x00], 1..2, &mut out).unwrap();
        assert_eq!(f32::from_ne_bytes(out).to_bits(), (-2.0f32).to_bits());
        assert!(d.decode(&[0u8; 3], 0..1, &mut out).is_err());
    }
}
