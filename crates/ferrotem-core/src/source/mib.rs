//! Quantum Detectors Merlin `.mib` files: a description on the [framed source](super::framed).
//!
//! A `.mib` file is a run of frame records; each starts with an ASCII header of comma-separated
//! fields (`MQ1,<sequence>,<header bytes>,<chips>,<width>,<height>,<pixel type>,<layout>,...`,
//! padded with NULs to its stated size), followed by the pixels:
//!
//! | pixel type | counter depth | stored as | read as |
//! |---|---|---|---|
//! | `U01`, `U08` | 1 or 6 | one byte per pixel | `u1` |
//! | `U16` | 12 | big-endian 16-bit | `>u2` |
//! | `U32` | 24 (two 12-bit counters combined) | big-endian 32-bit | `>u4` |
//! | `U64` | — | big-endian 64-bit | `>u8` |
//! | `R64` (RAW mode) | 1, 6, 12, 24 (from the `MQ1A` extension) | packed as the chips deliver them ([`MedipixRaw`]) | `u1`, `u1`, `u2`, `u4` |
//!
//! In RAW mode the header's width and height describe the packed data: for a 2×2 quad, one raw
//! row of four chip rows (`1024 x 256` for a `512 x 512` image); for 24-bit counters the two
//! 12-bit frames count double in the width (as LiberTEM reads them).
//!
//! An acquisition may be split over several files whose sequence numbers continue from one to
//! the next; [`MibAcquisition::scan`] sorts them by their first sequence number and checks that
//! they fit together. A `.hdr` file beside them describes the acquisition in `key:\tvalue` lines
//! ([`parse_hdr`]).

use super::framed::{
    ChipLayout, Encoding, FrameCheck, FrameCount, FramedFile, FramedSource, FramedSpec, MedipixRaw,
    RawCounter,
};
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest frame header accepted (Merlin's are 384 bytes per chip pair; a larger stated size is
/// a corrupt header, not a bigger detector).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How the pixels of a frame are stored (the header's pixel type field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelType {
    /// `U01`: one byte per pixel, 0 or 1.
    U01,
    /// `U08`: one byte per pixel.
    U08,
    /// `U16`: big-endian 16-bit.
    U16,
    /// `U32`: big-endian 32-bit.
    U32,
    /// `U64`: big-endian 64-bit.
    U64,
    /// `R64`: RAW mode, packed 64-bit words.
    R64,
}

impl PixelType {
    fn parse(text: &str) -> Option<PixelType> {
        Some(match text {
            "U01" => PixelType::U01,
            "U08" => PixelType::U08,
            "U16" => PixelType::U16,
            "U32" => PixelType::U32,
            "U64" => PixelType::U64,
            "R64" => PixelType::R64,
            _ => return None,
        })
    }

    /// The header's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PixelType::U01 => "U01",
            PixelType::U08 => "U08",
            PixelType::U16 => "U16",
            PixelType::U32 => "U32",
            PixelType::U64 => "U64",
            PixelType::R64 => "R64",
        }
    }
}

/// The fields of a frame header that ferrotem uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MibFrameHeader {
    /// Sequence number of the frame in the acquisition (from 1).
    pub sequence: u64,
    /// Size of the header in bytes (the pixels follow it).
    pub header_bytes: usize,
    /// Number of chips.
    pub chips: u32,
    /// Width of the stored frame in pixels (RAW mode: of the packed data).
    pub width: usize,
    /// Height of the stored frame in pixels (RAW mode: of the packed data).
    pub height: usize,
    /// How pixels are stored.
    pub pixel_type: PixelType,
    /// Chip layout as written (`"1x1"`, `"2x2"`, `"Nx1"`, `"2x2G"`, ...).
    pub layout: String,
    /// Counter depth in bits from the `MQ1A` extension, or guessed from the pixel type
    /// (`U16` → 12, `U32` → 24, `U01` → 1) when the header has none.
    pub counter_depth: Option<u32>,
    /// The header's fields, NUL padding removed.
    pub fields: Vec<String>,
}

/// Parses a frame header from the first bytes of a frame record (at least the header's stated
/// size; more is ignored).
///
/// # Errors
/// A message saying which field is wrong: not starting with `MQ1,`, a header size that is
/// impossible or larger than the bytes given, a non-numeric or zero size, an unknown pixel type.
pub fn parse_frame_header(bytes: &[u8]) -> std::result::Result<MibFrameHeader, String> {
    if !bytes.starts_with(b"MQ1,") {
        return Err(format!(
            "not a Merlin MIB frame header: it starts with {}, expected \"MQ1,\"",
            show_bytes(&bytes[..bytes.len().min(8)])
        ));
    }
    let size_field = bytes
        .split(|&b| b == b',')
        .nth(2)
        .filter(|_| bytes.split(|&b| b == b',').nth(3).is_some())
        .ok_or("the header ends before its size field (field 3)")?;
    let header_bytes: usize = number(size_field, "header size (field 3)")?;
    if !(16..=MAX_HEADER_BYTES).contains(&header_bytes) {
        return Err(format!(
            "header size (field 3) is {header_bytes}, expected 16 ..= {MAX_HEADER_BYTES}"
        ));
    }
    let Some(header) = bytes.get(..header_bytes) else {
        return Err(format!(
            "the header says it is {header_bytes} bytes, but only {} are present",
            bytes.len()
        ));
    };
    let fields: Vec<String> = header
        .split(|&b| b == b',')
        .map(|f| {
            let text: String = f
                .iter()
                .filter(|&&b| b != 0)
                .map(|&b| char::from(b))
                .collect();
            text.trim().to_owned()
        })
        .collect();
    let field = |i: usize, name: &str| {
        fields
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("the header ends before its {name} (field {})", i + 1))
    };
    let sequence = number(
        field(1, "sequence number")?.as_bytes(),
        "sequence number (field 2)",
    )?;
    let chips: u32 = number(field(3, "chip count")?.as_bytes(), "chip count (field 4)")?;
    let width: usize = number(field(4, "width")?.as_bytes(), "width (field 5)")?;
    let height: usize = number(field(5, "height")?.as_bytes(), "height (field 6)")?;
    let pixel_text = field(6, "pixel type")?;
    let pixel_type = PixelType::parse(pixel_text).ok_or_else(|| {
        format!(
            "pixel type (field 7) is {pixel_text:?}, expected one of U01, U08, U16, U32, U64, R64"
        )
    })?;
    let layout = field(7, "layout")?.to_owned();
    for (value, name) in [
        (chips as usize, "chip count (field 4)"),
        (width, "width (field 5)"),
        (height, "height (field 6)"),
    ] {
        if value == 0 || value > 65_536 {
            return Err(format!("{name} is {value}, expected 1 ..= 65536"));
        }
    }
    let extension_depth = match fields.iter().position(|f| f == "MQ1A") {
        Some(i) => {
            let text = fields
                .get(i + 3)
                .ok_or("the MQ1A extension ends before its counter depth")?;
            Some(number::<u32>(
                text.as_bytes(),
                "counter depth (MQ1A extension)",
            )?)
        }
        None => None,
    };
    let counter_depth = extension_depth.or(match pixel_type {
        PixelType::U01 => Some(1),
        PixelType::U16 => Some(12),
        PixelType::U32 => Some(24),
        _ => None,
    });
    Ok(MibFrameHeader {
        sequence,
        header_bytes,
        chips,
        width,
        height,
        pixel_type,
        layout,
        counter_depth,
        fields,
    })
}

/// The header size a frame header states (field 3), if it states a plausible one.
fn stated_header_bytes(bytes: &[u8]) -> Option<usize> {
    let mut fields = bytes.splitn(4, |&b| b == b',');
    if fields.next()? != b"MQ1" {
        return None;
    }
    fields.next()?;
    let size = fields.next()?;
    fields.next()?;
    number::<usize>(size, "header size")
        .ok()
        .filter(|s| (16..=MAX_HEADER_BYTES).contains(s))
}

/// A decimal number from an ASCII field (spaces allowed around it).
fn number<T: std::str::FromStr>(field: &[u8], name: &str) -> std::result::Result<T, String> {
    let text = std::str::from_utf8(field)
        .map_err(|_| format!("{name} is not text: {}", show_bytes(field)))?
        .trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} is {text:?}, expected a number"));
    }
    text.parse()
        .map_err(|_| format!("{name} is {text:?}, expected a smaller number"))
}

/// Bytes as Rust writes a byte string: printable ASCII as is, the rest escaped.
fn show_bytes(bytes: &[u8]) -> String {
    format!("b\"{}\"", bytes.escape_ascii())
}

impl MibFrameHeader {
    /// The pixel encoding of frames with this header.
    ///
    /// # Errors
    /// A message for RAW frames that cannot be decoded: no counter depth, an unsupported depth or
    /// chip layout, or a width that is not whole 64-bit words per chip row.
    pub fn encoding(&self) -> std::result::Result<Encoding, String> {
        let big = |kind| {
            Encoding::Plain(DType {
                kind,
                order: ByteOrder::Big,
            })
        };
        Ok(match self.pixel_type {
            PixelType::U01 | PixelType::U08 => Encoding::Plain(DType::native(ScalarKind::U8)),
            PixelType::U16 => big(ScalarKind::U16),
            PixelType::U32 => big(ScalarKind::U32),
            PixelType::U64 => big(ScalarKind::U64),
            PixelType::R64 => Encoding::Decoded(Arc::new(self.raw_decoder()?)),
        })
    }

    fn raw_decoder(&self) -> std::result::Result<MedipixRaw, String> {
        let depth = self.counter_depth.ok_or(
            "RAW frames (R64) without the MQ1A header extension: the counter depth is unknown",
        )?;
        let counter = RawCounter::from_depth(depth)
            .ok_or_else(|| format!("RAW counter depth {depth}, expected 1, 6, 12 or 24"))?;
        let layout = match (self.chips, self.layout.trim_end_matches('G')) {
            (1, _) | (_, "1x1") => ChipLayout::Single,
            (4, "2x2") if !self.layout.ends_with('G') => ChipLayout::Quad,
            _ => {
                return Err(format!(
                    "RAW frames of {} chips in layout {:?} are not supported (single chips and \
                     2x2 quads are)",
                    self.chips, self.layout
                ))
            }
        };
        let raw_width = if counter == RawCounter::Bits24 {
            self.width / 2
        } else {
            self.width
        };
        let per_row = match layout {
            ChipLayout::Single => 1,
            ChipLayout::Quad => 4,
        };
        if raw_width % per_row != 0 {
            return Err(format!(
                "RAW width {} is not {per_row} whole chip rows",
                self.width
            ));
        }
        MedipixRaw::new(counter, layout, raw_width / per_row, self.height).map_err(|e| {
            format!(
                "impossible RAW geometry (width {}, height {}): {e}",
                self.width, self.height
            )
        })
    }

    /// The shape of a decoded frame, `(height, width)`.
    ///
    /// # Errors
    /// As [`MibFrameHeader::encoding`].
    pub fn sig_shape(&self) -> std::result::Result<(usize, usize), String> {
        Ok(match self.pixel_type {
            PixelType::R64 => {
                let d = self.raw_decoder()?;
                (d.height(), d.width())
            }
            _ => (self.height, self.width),
        })
    }

    /// Bytes of one frame record (header and pixels).
    ///
    /// # Errors
    /// As [`MibFrameHeader::encoding`]; a message if the size overflows.
    pub fn record_bytes(&self) -> std::result::Result<u64, String> {
        let payload = match self.encoding()? {
            Encoding::Plain(d) => {
                (self.width as u64 * self.height as u64).checked_mul(d.itemsize() as u64)
            }
            Encoding::Decoded(d) => Some(d.payload_bytes() as u64),
        };
        payload
            .and_then(|p| p.checked_add(self.header_bytes as u64))
            .ok_or_else(|| "the frame size overflows".to_owned())
    }

    /// The fields that must be the same in every frame of an acquisition (header size, chips,
    /// size, pixel type, layout: fields 3 to 8, and the counter depth).
    fn geometry(&self) -> (usize, u32, usize, usize, PixelType, &str, Option<u32>) {
        (
            self.header_bytes,
            self.chips,
            self.width,
            self.height,
            self.pixel_type,
            &self.layout,
            self.counter_depth,
        )
    }

    /// `"12-bit U16, 256x256, layout 1x1"`, for messages.
    #[must_use]
    pub fn summary(&self) -> String {
        let depth = self
            .counter_depth
            .map_or_else(|| "unknown depth".to_owned(), |d| format!("{d}-bit"));
        format!(
            "{depth} {}, {}x{} pixels, layout {:?}, {} chips, {}-byte headers",
            self.pixel_type.as_str(),
            self.width,
            self.height,
            self.layout,
            self.chips,
            self.header_bytes
        )
    }
}

/// One `.mib` file of an acquisition.
#[derive(Debug, Clone)]
pub struct MibFile {
    /// The file.
    pub path: PathBuf,
    /// Its first frame's header.
    pub header: MibFrameHeader,
    /// Frames it holds.
    pub frames: u64,
}

/// The `.mib` files of one acquisition, in sequence order, checked to fit together.
#[derive(Debug, Clone)]
pub struct MibAcquisition {
    files: Vec<MibFile>,
}

/// Reads the first frame header of `file` at `offset`.
fn read_header_at(file: &File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let n = (len - offset).min(MAX_HEADER_BYTES as u64) as usize;
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

impl MibFile {
    /// Reads `path`'s first and last frame headers and counts its frames.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; [`Error::InvalidParameter`] (`path`) for a directory;
    /// [`Error::Corrupt`] for a header that does not parse or a last frame whose header does not
    /// continue the first's; [`Error::Truncated`] for a file shorter than one frame or ending
    /// inside one.
    pub fn read(path: &Path) -> Result<MibFile> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::param(
                "path",
                path.display(),
                "a file, not a directory",
            ));
        }
        let len = meta.len();
        let mut first = Vec::new();
        (&mut file)
            .take(MAX_HEADER_BYTES as u64)
            .read_to_end(&mut first)
            .map_err(|e| Error::io(path, e))?;
        if let Some(stated) = stated_header_bytes(&first).filter(|&s| s > first.len()) {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: stated as u64,
                actual: len,
                context: "the first MIB frame header is cut off".into(),
            });
        }
        let header =
            parse_frame_header(&first).map_err(|e| corrupt(path, format!("frame 0: {e}")))?;
        let record = header
            .record_bytes()
            .map_err(|e| corrupt(path, format!("frame 0: {e}")))?;
        let frames = len / record;
        let cut = len % record;
        if frames == 0 || cut != 0 {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                needed: (frames + 1) * record,
                actual: len,
                context: format!(
                    "the file ends inside MIB frame {frames}: {cut} of its {record} bytes ({}) \
                     are present",
                    header.summary()
                ),
            });
        }
        if frames > 1 {
            let last_at = (frames - 1) * record;
            let bytes = read_header_at(&file, path, last_at, len)?;
            let last = parse_frame_header(&bytes)
                .map_err(|e| corrupt(path, format!("frame {} (the last): {e}", frames - 1)))?;
            let expected = header.sequence + frames - 1;
            if last.geometry() != header.geometry() {
                return Err(corrupt(
                    path,
                    format!(
                        "frame {} (the last) is {}, but frame 0 is {}",
                        frames - 1,
                        last.summary(),
                        header.summary()
                    ),
                ));
            }
            if last.sequence != expected {
                return Err(corrupt(
                    path,
                    format!(
                        "frame {} (the last) has sequence number {}, expected {expected} after \
                         {} at frame 0: frames are missing, repeated or out of order",
                        frames - 1,
                        last.sequence,
                        header.sequence
                    ),
                ));
            }
        }
        Ok(MibFile {
            path: path.to_path_buf(),
            header,
            frames,
        })
    }
}

impl MibAcquisition {
    /// Reads the headers of `paths` (in any order), sorts the files by their first sequence
    /// number and checks that they form one acquisition: the same frame geometry and counter
    /// depth everywhere, and sequence numbers that continue from one file to the next.
    ///
    /// # Errors
    /// As [`MibFile::read`]; [`Error::InvalidParameter`] (`path`) for no paths;
    /// [`Error::Corrupt`] naming the file that does not fit.
    pub fn scan(paths: &[PathBuf]) -> Result<MibAcquisition> {
        if paths.is_empty() {
            return Err(Error::param("path", "no files", "at least one .mib file"));
        }
        let mut files = paths
            .iter()
            .map(|p| MibFile::read(p))
            .collect::<Result<Vec<_>>>()?;
        files.sort_by(|a, b| (a.header.sequence, &a.path).cmp(&(b.header.sequence, &b.path)));
        let first = &files[0];
        for f in &files[1..] {
            if f.header.geometry() != first.header.geometry() {
                return Err(corrupt(
                    &f.path,
                    format!(
                        "its frames are {}, but those of {} are {}: one acquisition has one \
                         counter depth and frame size",
                        f.header.summary(),
                        first.path.display(),
                        first.header.summary()
                    ),
                ));
            }
        }
        for pair in files.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            let expected = prev.header.sequence + prev.frames;
            if next.header.sequence != expected {
                return Err(corrupt(
                    &next.path,
                    format!(
                        "its first frame has sequence number {}, but {} ends with {}: the \
                         files are not one acquisition (frames missing or repeated; to load \
                         one file alone, pass disable_glob=True)",
                        next.header.sequence,
                        prev.path.display(),
                        expected - 1
                    ),
                ));
            }
        }
        Ok(MibAcquisition { files })
    }

    /// The files, in sequence order.
    #[must_use]
    pub fn files(&self) -> &[MibFile] {
        &self.files
    }

    /// The first frame's header.
    #[must_use]
    pub fn header(&self) -> &MibFrameHeader {
        &self.files[0].header
    }

    /// Frames in all files.
    #[must_use]
    pub fn frame_count(&self) -> u64 {
        self.files.iter().map(|f| f.frames).sum()
    }

    /// The shape of a decoded frame, `(height, width)`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for RAW frames that cannot be decoded.
    pub fn sig_shape(&self) -> Result<(usize, usize)> {
        self.header()
            .sig_shape()
            .map_err(|e| corrupt(&self.files[0].path, e))
    }

    /// The element type frames are read as.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for RAW frames that cannot be decoded.
    pub fn dtype(&self) -> Result<DType> {
        Ok(self.encoding()?.dtype())
    }

    fn encoding(&self) -> Result<Encoding> {
        self.header()
            .encoding()
            .map_err(|e| corrupt(&self.files[0].path, e))
    }

    /// The framed description of the acquisition.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for RAW frames that cannot be decoded.
    pub fn spec(&self) -> Result<FramedSpec> {
        let header = self.header();
        let check = MibCheck {
            firsts: self.files.iter().map(|f| f.header.sequence).collect(),
            fixed: header.fields[2..8].to_vec(),
        };
        Ok(FramedSpec {
            format: "MIB".into(),
            files: self
                .files
                .iter()
                .map(|f| FramedFile {
                    path: f.path.clone(),
                    file_header: 0,
                    frames: FrameCount::AsMany,
                })
                .collect(),
            frame_header: header.header_bytes as u64,
            frame_footer: 0,
            encoding: self.encoding()?,
            check: Some(Arc::new(check)),
        })
    }

    /// Opens the acquisition as a data source of `shape` (whose frame must have as many pixels
    /// as the stored frames), reading as [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`FramedSource::open_with`].
    pub fn open(&self, shape: DatasetShape, sync_offset: i64) -> Result<FramedSource> {
        FramedSource::open_with(self.spec()?, shape, sync_offset, IoMode::from_env())
    }
}

/// Checks each frame's header as it is read: `MQ1`, the expected sequence number, and the same
/// size, chips, pixel type and layout as the first frame (fields 3 to 8).
#[derive(Debug)]
struct MibCheck {
    /// First sequence number of each file.
    firsts: Vec<u64>,
    /// Fields 3 to 8 of the first frame's header.
    fixed: Vec<String>,
}

impl FrameCheck for MibCheck {
    fn check(
        &self,
        file: usize,
        frame: u64,
        header: &[u8],
        _footer: &[u8],
    ) -> std::result::Result<(), String> {
        let mut fields = header.split(|&b| b == b',');
        if fields.next() != Some(b"MQ1".as_slice()) {
            return Err(format!(
                "the frame header starts with {}, expected \"MQ1,\"",
                show_bytes(&header[..header.len().min(8)])
            ));
        }
        let expected = self.firsts.get(file).copied().unwrap_or(0) + frame;
        let sequence: u64 = number(fields.next().unwrap_or_default(), "sequence number")?;
        if sequence != expected {
            return Err(format!(
                "the header has sequence number {sequence}, expected {expected} (frames are \
                 missing, repeated or out of order)"
            ));
        }
        for (i, want) in self.fixed.iter().enumerate() {
            let got = fields.next().unwrap_or_default();
            if got.trim_ascii() != want.as_bytes() {
                return Err(format!(
                    "header field {} is {}, but the first frame's is {want:?}",
                    i + 3,
                    show_bytes(got)
                ));
            }
        }
        Ok(())
    }
}

/// Parses a Merlin `.hdr` file: `key:\tvalue` lines after a first line starting with `HDR`, up
/// to a line starting with `End`. Text is read as Latin-1 (the files are not always UTF-8).
///
/// # Errors
/// A message if the first line does not start with `HDR`.
pub fn parse_hdr(bytes: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    if !first.starts_with("HDR") {
        return Err(format!(
            "not a Merlin .hdr file: it starts with {:?}, expected \"HDR\"",
            first.chars().take(16).collect::<String>()
        ));
    }
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with("End") {
            break;
        }
        let line = line.trim_end_matches(['\r', '\0']);
        let (key, value) = match line.split_once('\t') {
            Some((k, v)) => (k.trim_end().trim_end_matches(':'), v),
            None => match line.split_once(':') {
                Some(kv) => kv,
                None => continue,
            },
        };
        let key = key.trim();
        if !key.is_empty() {
            out.push((key.to_owned(), value.trim().to_owned()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE_12: &str = "MQ1,000001,00384,01,0256,0256,U16,   1x1,01,2021-04-15 14:43:47.008505,0.001000,0,0,0,2.000000E+0,5.110000E+2,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,3RX,011,511,000,000,000,000,000,000,175,010,200,125,100,100,093,100,099,030,128,004,255,140,128,191,179,511,511,MQ1A,2021-04-15T13:43:47.008505401Z,1000000ns,12,";

    fn padded(text: &str, size: usize) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.resize(size, 0);
        b
    }

    #[test]
    fn a_real_header_parses() {
        let h = parse_frame_header(&padded(SINGLE_12, 384)).unwrap();
        assert_eq!(
            (h.sequence, h.header_bytes, h.chips, h.width, h.height),
            (1, 384, 1, 256, 256)
        );
        assert_eq!(
            (h.pixel_type, h.layout.as_str(), h.counter_depth),
            (PixelType::U16, "1x1", Some(12))
        );
        assert_eq!(h.sig_shape().unwrap(), (256, 256));
        assert_eq!(h.record_bytes().unwrap(), 384 + 2 * 65536);
        assert_eq!(h.encoding().unwrap().dtype().to_numpy_str(), ">u2");
    }

    #[test]
    fn raw_headers_describe_the_decoded_frame() {
        let quad = SINGLE_12
            .replace(
                "00384,01,0256,0256,U16,   1x1",
                "00768,04,1024,0256,R64,   2x2",
            )
            .replace("ns,12,", "ns,1,");
        let h = parse_frame_header(&padded(&quad, 768)).unwrap();
        assert_eq!(h.sig_shape().unwrap(), (512, 512));
        assert_eq!(h.record_bytes().unwrap(), 768 + 1024 * 256 / 8);
        let r24 = SINGLE_12
            .replace("0256,0256,U16", "0512,0256,R64")
            .replace("ns,12,", "ns,24,");
        let h = parse_frame_header(&padded(&r24, 384)).unwrap();
        assert_eq!(h.sig_shape().unwrap(), (256, 256));
        assert_eq!(h.encoding().unwrap().dtype().to_numpy_str(), "<u4");
    }

    #[test]
    fn broken_headers_say_what_is_wrong() {
        let cases = [
            (SINGLE_12.replace("MQ1,", "MQ2,"), "expected \"MQ1,\""),
            (
                SINGLE_12.replace("00384", "0x384"),
                "header size (field 3) is \"0x384\"",
            ),
            (SINGLE_12.replace("00384", "99999"), "expected 16 ..= 65536"),
            (
                SINGLE_12.replace(",0256,0256", ",0000,0256"),
                "width (field 5) is 0",
            ),
            (
                SINGLE_12.replace(",0256,U16", ",abcd,U16"),
                "height (field 6) is \"abcd\"",
            ),
            (
                SINGLE_12.replace("U16", "F32"),
                "pixel type (field 7) is \"F32\"",
            ),
        ];
        for (text, want) in cases {
            let err = parse_frame_header(&padded(&text, 384)).unwrap_err();
            assert!(err.contains(want), "{err} / {want}");
        }
        let err = parse_frame_header(&SINGLE_12.as_bytes()[..100]).unwrap_err();
        assert!(err.contains("only 100 are present"), "{err}");
    }

    #[test]
    fn hdr_files_parse() {
        let text = b"HDR,\t\r\nFrames in Acquisition (Number):\t9\r\nTime and Date Stamp (day, mnth, yr, hr, min, s):\t15/04/2021 15:00:56\r\nFrames per Trigger (Number):\t3\nEnd\t   \0\0";
        let kv = parse_hdr(text).unwrap();
        assert_eq!(kv[0], ("Frames in Acquisition (Number)".into(), "9".into()));
        assert_eq!(kv[1].1, "15/04/2021 15:00:56");
        assert_eq!(kv.len(), 3);
        assert!(parse_hdr(b"MQ1,0001").is_err());
    }
}
