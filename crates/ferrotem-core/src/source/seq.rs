//! Norpix `StreamPix` `.seq` files (as Direct Electron cameras write them): a description on the
//! [framed source](super::framed), and the binary companions of a DE acquisition.
//!
//! Layout: a little-endian header (magic `0xFEED`, a version, the frame's width, height and bit
//! depth, the size of one frame record `true_image_size`, the image format and compression), the
//! first frame record at byte 8192 (version 5 and later) or 1024 (older versions), then records
//! of `true_image_size` bytes: the frame's pixels (unsigned, little-endian) and a footer (a
//! timestamp and padding) that is skipped. Only uncompressed monochrome files (image format 100)
//! are frames of pixels; others are refused with what the header says.
//!
//! Companions, when present (the Python dataset decides which are used):
//! - `<name>.seq.dark.mrc` / `<name>.seq.gain.mrc`: one MRC image each ([`parse_mrc_reference`]
//!   reads the minimal MRC header this needs: the sizes, the mode and the extended header size).
//! - `<name>.seq.metadata`: DE's binary acquisition record; [`parse_seq_metadata`] reads the
//!   frame geometry (unbinned size, offsets, hardware binning) the bad-pixel map is cropped by.

use super::framed::{Encoding, FrameCount, FramedFile, FramedSource, FramedSpec};
use super::mrc::parse_mrc_header;
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes of the header fields read (the header itself is longer; the rest is not needed).
pub const SEQ_HEADER_BYTES: usize = 632;
/// The magic number every `.seq` file starts with.
pub const SEQ_MAGIC: u32 = 0xFEED;
/// `image_format` of monochrome frames, the only kind read.
pub const MONOCHROME: u32 = 100;

/// What a `.seq` header says (field names as `StreamPix` and LiberTEM name them).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // the fields are the header's, named as the format names them
pub struct SeqHeader {
    pub magic: u32,
    pub name: String,
    pub version: i32,
    pub header_size: i32,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub bit_depth: u32,
    pub bit_depth_real: u32,
    pub image_size_bytes: u32,
    pub image_format: u32,
    pub allocated_frames: u32,
    pub origin: u32,
    pub true_image_size: u32,
    pub suggested_frame_rate: f64,
    pub description_format: i32,
    pub reference_frame: u32,
    pub fixed_size: u32,
    pub flags: u32,
    pub bayer_pattern: i32,
    pub time_offset_us: i32,
    pub extended_header_size: i32,
    pub compression_format: u32,
    pub reference_time_s: i32,
    pub reference_time_ms: u16,
    pub reference_time_us: u16,
}

/// Little-endian numbers at fixed offsets of a byte slice (long enough: checked by the caller).
fn le<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[at..at + N]);
    a
}
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(le(bytes, at))
}
fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(le(bytes, at))
}
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(le(bytes, at))
}

/// A UTF-16LE text field up to its first NUL.
fn utf16_field(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// Parses a `.seq` header from the file's first bytes (at least [`SEQ_HEADER_BYTES`]).
///
/// # Errors
/// A message if the bytes are too few, the magic is not `0xFEED`, the frame is empty, the bit
/// depth is not 8, 16, 32 or 64, the frames are compressed or not monochrome, or a frame record
/// (`true_image_size`) is smaller than the frame's pixels.
pub fn parse_seq_header(bytes: &[u8]) -> std::result::Result<SeqHeader, String> {
    if bytes.len() < 4 || u32_at(bytes, 0) != SEQ_MAGIC {
        let got = bytes.get(..4).map_or(0, |_| u32_at(bytes, 0));
        return Err(format!(
            "not a .seq file: the magic number is {got:#x}, expected {SEQ_MAGIC:#x}"
        ));
    }
    if bytes.len() < SEQ_HEADER_BYTES {
        return Err(format!(
            "the header is cut off: {} of its {SEQ_HEADER_BYTES} bytes are present",
            bytes.len()
        ));
    }
    let h = SeqHeader {
        magic: u32_at(bytes, 0),
        name: utf16_field(&bytes[4..28]),
        version: i32_at(bytes, 28),
        header_size: i32_at(bytes, 32),
        description: utf16_field(&bytes[36..548]),
        width: u32_at(bytes, 548),
        height: u32_at(bytes, 552),
        bit_depth: u32_at(bytes, 556),
        bit_depth_real: u32_at(bytes, 560),
        image_size_bytes: u32_at(bytes, 564),
        image_format: u32_at(bytes, 568),
        allocated_frames: u32_at(bytes, 572),
        origin: u32_at(bytes, 576),
        true_image_size: u32_at(bytes, 580),
        suggested_frame_rate: f64::from_le_bytes(le(bytes, 584)),
        description_format: i32_at(bytes, 592),
        reference_frame: u32_at(bytes, 596),
        fixed_size: u32_at(bytes, 600),
        flags: u32_at(bytes, 604),
        bayer_pattern: i32_at(bytes, 608),
        time_offset_us: i32_at(bytes, 612),
        extended_header_size: i32_at(bytes, 616),
        compression_format: u32_at(bytes, 620),
        reference_time_s: i32_at(bytes, 624),
        reference_time_ms: u16_at(bytes, 628),
        reference_time_us: u16_at(bytes, 630),
    };
    if h.width == 0 || h.height == 0 {
        return Err(format!(
            "the frame is {} x {} pixels (width x height), expected a positive size",
            h.width, h.height
        ));
    }
    if !matches!(h.bit_depth, 8 | 16 | 32 | 64) {
        return Err(format!(
            "the bit depth is {}, expected 8, 16, 32 or 64",
            h.bit_depth
        ));
    }
    if h.compression_format != 0 {
        return Err(format!(
            "the frames are compressed (compression format {}); only uncompressed .seq files \
             are read",
            h.compression_format
        ));
    }
    if h.image_format != MONOCHROME {
        return Err(format!(
            "the image format is {}, expected {MONOCHROME} (monochrome); other formats are not \
             read",
            h.image_format
        ));
    }
    let frame = h.frame_bytes();
    if frame.is_none_or(|f| f > u64::from(h.true_image_size)) {
        return Err(format!(
            "a frame record (true_image_size) is {} bytes, smaller than the {} x {} pixels of {} \
             bits it holds",
            h.true_image_size, h.width, h.height, h.bit_depth
        ));
    }
    Ok(h)
}

impl SeqHeader {
    /// Offset of the first frame record: 8192 from version 5 (`StreamPix` 6) on, else 1024.
    #[must_use]
    pub fn image_offset(&self) -> u64 {
        if self.version >= 5 {
            8192
        } else {
            1024
        }
    }

    /// The pixels' element type (unsigned, little-endian).
    #[must_use]
    pub fn dtype(&self) -> DType {
        let kind = match self.bit_depth {
            8 => ScalarKind::U8,
            16 => ScalarKind::U16,
            32 => ScalarKind::U32,
            _ => ScalarKind::U64,
        };
        DType {
            kind,
            order: ByteOrder::Little,
        }
    }

    /// Bytes of one frame's pixels (`None` on overflow).
    #[must_use]
    pub fn frame_bytes(&self) -> Option<u64> {
        u64::from(self.width)
            .checked_mul(u64::from(self.height))?
            .checked_mul(u64::from(self.bit_depth / 8))
    }

    /// Bytes of each frame's footer: the record less the pixels.
    #[must_use]
    pub fn footer_bytes(&self) -> u64 {
        u64::from(self.true_image_size).saturating_sub(self.frame_bytes().unwrap_or(0))
    }

    /// Whole frame records in a file of `file_len` bytes (a record cut off at the end is not
    /// counted, as `StreamPix` readers do).
    #[must_use]
    pub fn frame_count(&self, file_len: u64) -> u64 {
        file_len.saturating_sub(self.image_offset()) / u64::from(self.true_image_size.max(1))
    }

    /// The frame shape `(height, width)`.
    #[must_use]
    pub fn sig_shape(&self) -> (usize, usize) {
        (self.height as usize, self.width as usize)
    }

    /// The framed description of the file at `path` (`file_len` bytes long) with this header.
    #[must_use]
    pub fn spec(&self, path: PathBuf, file_len: u64) -> FramedSpec {
        FramedSpec {
            format: "SEQ".into(),
            files: vec![FramedFile {
                path,
                file_header: self.image_offset(),
                frames: FrameCount::UpTo(self.frame_count(file_len)),
            }],
            frame_header: 0,
            frame_footer: self.footer_bytes(),
            encoding: Encoding::Plain(self.dtype()),
            check: None,
        }
    }
}

/// The first `n` bytes of `path` (fewer if the file is shorter) and the file's length.
fn read_head(path: &Path, n: usize) -> Result<(Vec<u8>, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let mut bytes = Vec::with_capacity(n);
    (&mut file)
        .take(n as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok((bytes, meta.len()))
}

/// Reads `path`'s `.seq` header; returns it with the file's length.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::InvalidParameter`] (`path`) for a
/// directory; [`Error::Truncated`] for a file shorter than its header; [`Error::Corrupt`] for a
/// header that does not parse.
pub fn read_seq_header(path: &Path) -> Result<(SeqHeader, u64)> {
    let (bytes, len) = read_head(path, SEQ_HEADER_BYTES)?;
    if bytes.len() < SEQ_HEADER_BYTES && bytes.len() >= 4 && u32_at(&bytes, 0) == SEQ_MAGIC {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: SEQ_HEADER_BYTES as u64,
            actual: len,
            context: "the .seq header is cut off".into(),
        });
    }
    let header = parse_seq_header(&bytes).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })?;
    Ok((header, len))
}

/// Opens the `.seq` file at `path` as a data source of `shape`.
///
/// # Errors
/// As [`read_seq_header`] and [`FramedSource::open_with`] (a file holding no whole frame is
/// [`Error::Truncated`]).
pub fn open_seq(path: &Path, shape: DatasetShape, sync_offset: i64) -> Result<FramedSource> {
    let (header, len) = read_seq_header(path)?;
    FramedSource::open_with(
        header.spec(path.to_path_buf(), len),
        shape,
        sync_offset,
        IoMode::from_env(),
    )
}

/// Bytes of an MRC header (the extended header, if any, follows it).
pub const MRC_HEADER_BYTES: usize = 1024;

/// What the minimal MRC header of a dark or gain reference says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrcReference {
    /// Columns.
    pub nx: usize,
    /// Rows.
    pub ny: usize,
    /// Sections (images); a reference has one.
    pub nz: usize,
    /// The MRC data mode (0 int8, 1 int16, 2 float32, 6 uint16, 12 float16).
    pub mode: i32,
    /// The values' element type as numpy spells it (`"<f4"`; float16 has no core dtype).
    pub numpy_dtype: String,
    /// Bytes of one value.
    pub itemsize: usize,
    /// Offset of the first value: the header and the extended header.
    pub data_offset: u64,
}

impl MrcReference {
    /// Bytes of the image's values (`None` on overflow).
    #[must_use]
    pub fn data_bytes(&self) -> Option<u64> {
        (self.nx as u64)
            .checked_mul(self.ny as u64)?
            .checked_mul(self.nz as u64)?
            .checked_mul(self.itemsize as u64)
    }
}

/// Parses the header of an MRC file holding one image (`nz` = 1) with the MRC reader's header
/// parser ([`parse_mrc_header`]: byte order from the machine stamp, or the order the numbers
/// make sense in), and says where its values start and how they are stored.
///
/// # Errors
/// A message if the bytes are fewer than [`MRC_HEADER_BYTES`] or do not parse as an MRC header,
/// `nz` is not 1, or the mode is complex (4: not a dark or gain image).
pub fn parse_mrc_reference(bytes: &[u8]) -> std::result::Result<MrcReference, String> {
    if bytes.len() < MRC_HEADER_BYTES {
        return Err(format!(
            "not an MRC file: {} bytes, fewer than the {MRC_HEADER_BYTES} of an MRC header",
            bytes.len()
        ));
    }
    let h = parse_mrc_header(bytes)?;
    if h.nz != 1 {
        return Err(format!(
            "it holds {} images (nz), expected a single dark or gain image",
            h.nz
        ));
    }
    let (kind, itemsize, mode) = match h.mode {
        0 => ("i1", 1, 0),
        1 => ("i2", 2, 1),
        2 => ("f4", 4, 2),
        6 => ("u2", 2, 6),
        12 => ("f2", 2, 12),
        other => {
            return Err(format!(
                "the data mode is {other}, expected 0 (int8), 1 (int16), 2 (float32), 6 \
                 (uint16) or 12 (float16)"
            ))
        }
    };
    let order = match (itemsize, h.big_endian) {
        (1, _) => '|',
        (_, true) => '>',
        (_, false) => '<',
    };
    Ok(MrcReference {
        nx: h.nx as usize,
        ny: h.ny as usize,
        nz: 1,
        mode,
        numpy_dtype: format!("{order}{kind}"),
        itemsize,
        data_offset: MRC_HEADER_BYTES as u64 + u64::from(h.nsymbt),
    })
}

/// Reads the single image of the MRC file at `path`: its header and the values' stored bytes
/// (in the header's [`MrcReference::numpy_dtype`]).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Corrupt`] naming the file for a header that
/// does not parse; [`Error::Truncated`] for a file shorter than its image.
pub fn read_mrc_reference(path: &Path) -> Result<(MrcReference, Vec<u8>)> {
    let (head, len) = read_head(path, MRC_HEADER_BYTES)?;
    let header = parse_mrc_reference(&head).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })?;
    let end = header
        .data_bytes()
        .and_then(|n| n.checked_add(header.data_offset))
        .filter(|&end| end <= len)
        .ok_or_else(|| Error::Truncated {
            path: path.to_path_buf(),
            needed: header
                .data_bytes()
                .map_or(u64::MAX, |n| n.saturating_add(header.data_offset)),
            actual: len,
            context: format!(
                "the MRC image of {} x {} values ({}) is cut off",
                header.ny, header.nx, header.numpy_dtype
            ),
        })?;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut data = Vec::new();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(header.data_offset))
        .map_err(|e| Error::io(path, e))?;
    file.take(end - header.data_offset)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(path, e))?;
    if (data.len() as u64) < end - header.data_offset {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: end,
            actual: header.data_offset + data.len() as u64,
            context: "the MRC image is cut off".into(),
        });
    }
    Ok((header, data))
}

/// Offset of the acquisition record in a DE `.seq.metadata` file.
pub const SEQ_METADATA_OFFSET: usize = 282;
/// The names of the record's twelve values (eleven 32-bit integers and a flag).
pub const SEQ_METADATA_FIELDS: [&str; 12] = [
    "DEMetadataSize",
    "DEMetadataVersion",
    "UnbinnedFrameSizeX",
    "UnbinnedFrameSizeY",
    "OffsetX",
    "OffsetY",
    "HardwareBinning",
    "Bitmode",
    "FrameRate",
    "RotationMode",
    "FlipMode",
    "OkraMode",
];

/// Parses the acquisition record of a DE `.seq.metadata` file: `(name, value)` for each of
/// [`SEQ_METADATA_FIELDS`] (the last, a flag, as 0 or 1).
///
/// # Errors
/// A message if the file is too short for the record, or the frame geometry is impossible
/// (a negative size or offset, or a hardware binning below 1).
pub fn parse_seq_metadata(bytes: &[u8]) -> std::result::Result<Vec<(&'static str, i64)>, String> {
    let need = SEQ_METADATA_OFFSET + 11 * 4 + 1;
    if bytes.len() < need {
        return Err(format!(
            "the metadata file has {} bytes, fewer than the {need} its acquisition record needs",
            bytes.len()
        ));
    }
    let mut out: Vec<(&'static str, i64)> = SEQ_METADATA_FIELDS[..11]
        .iter()
        .enumerate()
        .map(|(k, &name)| (name, i64::from(i32_at(bytes, SEQ_METADATA_OFFSET + 4 * k))))
        .collect();
    out.push((
        SEQ_METADATA_FIELDS[11],
        i64::from(bytes[SEQ_METADATA_OFFSET + 44] != 0),
    ));
    for (name, value) in &out[2..6] {
        if *value < 0 {
            return Err(format!("{name} is {value}, expected 0 or more"));
        }
    }
    if out[6].1 < 1 {
        return Err(format!(
            "HardwareBinning is {}, expected 1 or more",
            out[6].1
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: i32, w: u32, h: u32, bits: u32, record: u32) -> Vec<u8> {
        let mut b = vec![0u8; SEQ_HEADER_BYTES];
        b[..4].copy_from_slice(&SEQ_MAGIC.to_le_bytes());
        for (k, c) in "Norpix seq".encode_utf16().enumerate() {
            b[4 + 2 * k..6 + 2 * k].copy_from_slice(&c.to_le_bytes());
        }
        b[28..32].copy_from_slice(&version.to_le_bytes());
        b[548..552].copy_from_slice(&w.to_le_bytes());
        b[552..556].copy_from_slice(&h.to_le_bytes());
        b[556..560].copy_from_slice(&bits.to_le_bytes());
        b[568..572].copy_from_slice(&MONOCHROME.to_le_bytes());
        b[580..584].copy_from_slice(&record.to_le_bytes());
        b
    }

    #[test]
    fn headers_of_both_generations_parse() {
        let h = parse_seq_header(&header(5, 4, 3, 16, 4 * 3 * 2 + 8)).unwrap();
        assert_eq!(
            (h.image_offset(), h.footer_bytes(), h.sig_shape()),
            (8192, 8, (3, 4))
        );
        assert_eq!(h.name, "Norpix seq");
        assert_eq!(h.dtype().to_numpy_str(), "<u2");
        assert_eq!(h.frame_count(8192 + 32 * 3 + 5), 3);
        let h = parse_seq_header(&header(4, 4, 3, 8, 12)).unwrap();
        assert_eq!((h.image_offset(), h.footer_bytes()), (1024, 0));
        let err = parse_seq_header(&header(5, 4, 3, 12, 100)).unwrap_err();
        assert!(err.contains("bit depth is 12"), "{err}");
        let err = parse_seq_header(&header(5, 4, 3, 16, 20)).unwrap_err();
        assert!(err.contains("true_image_size"), "{err}");
        let mut b = header(5, 4, 3, 16, 24);
        b[620] = 1;
        assert!(parse_seq_header(&b).unwrap_err().contains("compressed"));
        assert!(parse_seq_header(&b[..100]).unwrap_err().contains("cut off"));
        assert!(parse_seq_header(b"\0\0").unwrap_err().contains("magic"));
    }

    #[test]
    fn mrc_references_and_metadata_parse() {
        let mut b = vec![0u8; MRC_HEADER_BYTES];
        for (at, v) in [(0, 4i32), (4, 3), (8, 1), (12, 2), (92, 16)] {
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        let m = parse_mrc_reference(&b).unwrap();
        assert_eq!(
            (m.nx, m.ny, m.data_offset, m.data_bytes()),
            (4, 3, 1040, Some(48))
        );
        b[8] = 2;
        assert!(parse_mrc_reference(&b).unwrap_err().contains("nz"));
        b[8] = 1;
        b[12] = 4;
        assert!(parse_mrc_reference(&b).unwrap_err().contains("mode is 4"));
        let mut meta = vec![0u8; 400];
        for k in 0..11 {
            let at = SEQ_METADATA_OFFSET + 4 * k;
            meta[at..at + 4].copy_from_slice(&(i32::try_from(k).unwrap() + 1).to_le_bytes());
        }
        meta[SEQ_METADATA_OFFSET + 44] = 1;
        let fields = parse_seq_metadata(&meta).unwrap();
        assert_eq!(fields[6], ("HardwareBinning", 7));
        assert_eq!(fields[11], ("OkraMode", 1));
        assert!(parse_seq_metadata(&meta[..300]).is_err());
    }
}
