//! TVIPS camera series (`.tvips`): a description on the [framed source](super::framed).
//!
//! A series is split over files `<name>_000.tvips`, `<name>_001.tvips`, … (the caller lists
//! them in order). Only the first file starts with the 256-byte series header: its size (256),
//! version (1 or 2), frame width and height, bits per pixel (8 or 16), camera offsets and
//! binning, pixel size, high tension, magnification and — version 2 — the bytes of each frame's
//! own header (version 1: 12). Then, in every file, one record per frame: its header and its
//! pixels, little-endian. A record may continue across no file boundary.
//!
//! The frame header of version 2 may hold the scan position the frame was taken at (`Scan_x`,
//! `Scan_y`, floats at bytes 68 and 72); [`detect_scan`] derives the scan's width and the
//! frames to skip before it from them, as LiberTEM does — where the header is long enough to
//! hold them (LiberTEM reads past short headers into the pixels, and past the last frame).

use super::framed::{Encoding, FrameCount, FramedFile, FramedSource, FramedSpec};
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes of the series header at the start of the first file.
pub const SERIES_HEADER_BYTES: u64 = 256;
/// Bytes of each frame's header in version 1 files.
pub const V1_FRAME_HEADER_BYTES: u32 = 12;
/// Frames whose scan positions [`detect_scan`] looks at, at most (LiberTEM's `MAX_SCAN_IDX`).
pub const MAX_SCAN_FRAMES: usize = 4096;
/// Largest frame header accepted (a bigger value is a corrupt header, not a camera).
const MAX_FRAME_HEADER_BYTES: u32 = 1 << 20;
/// Byte offsets of `Scan_x` and `Scan_y` (little-endian `f32`) in a version 2 frame header.
const SCAN_X_AT: usize = 68;
const SCAN_Y_AT: usize = 72;

/// What a TVIPS series header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TvipsHeader {
    /// File format version, 1 or 2.
    pub version: u32,
    /// Frame width in pixels.
    pub xdim: u32,
    /// Frame height in pixels.
    pub ydim: u32,
    /// Bits per pixel, 8 or 16.
    pub bpp: u32,
    /// Camera offsets.
    pub xoff: i32,
    /// Camera offsets.
    pub yoff: i32,
    /// Camera binning along x.
    pub xbin: i32,
    /// Camera binning along y.
    pub ybin: i32,
    /// Pixel size in nm.
    pub pixel_size_nm: i32,
    /// High tension in kV.
    pub high_tension_kv: i32,
    /// Total magnification.
    pub mag_total: i32,
    /// Bytes of each frame's header (12 for version 1).
    pub frame_header_bytes: u32,
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&bytes[at..at + 4]);
    i32::from_le_bytes(a)
}

/// Parses a series header from the first bytes of a series' first file (at least 256).
///
/// # Errors
/// A message naming the field that is wrong: a header size other than 256, a version other than
/// 1 or 2, bits per pixel other than 8 or 16, a frame size that is not positive, a frame header
/// size that is negative or absurd, or fewer than 256 bytes.
pub fn parse_series_header(bytes: &[u8]) -> std::result::Result<TvipsHeader, String> {
    if bytes.len() < SERIES_HEADER_BYTES as usize {
        return Err(format!(
            "the series header is cut off: {} of its {SERIES_HEADER_BYTES} bytes are present",
            bytes.len()
        ));
    }
    let field = |i: usize| i32_at(bytes, i * 4);
    let size = field(0);
    if u64::try_from(size) != Ok(SERIES_HEADER_BYTES) {
        return Err(format!(
            "the series header size (ISize) is {size}, expected {SERIES_HEADER_BYTES}: not a \
             TVIPS file, or not the first file (_000) of a series"
        ));
    }
    let version = field(1);
    if version != 1 && version != 2 {
        return Err(format!(
            "the file format version (IVersion) is {version}, expected 1 or 2"
        ));
    }
    let positive = |i: usize, name: &str| -> std::result::Result<u32, String> {
        let v = field(i);
        u32::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("{name} is {v}, expected a positive size"))
    };
    let xdim = positive(2, "the frame width (IXDim)")?;
    let ydim = positive(3, "the frame height (IYDim)")?;
    let bpp = field(4);
    if bpp != 8 && bpp != 16 {
        return Err(format!("bits per pixel (IBPP) is {bpp}, expected 8 or 16"));
    }
    let frame_header_bytes = if version == 1 {
        V1_FRAME_HEADER_BYTES
    } else {
        let v = field(12);
        u32::try_from(v)
            .ok()
            .filter(|&v| v <= MAX_FRAME_HEADER_BYTES)
            .ok_or_else(|| {
                format!(
                    "the frame header size (IImgHeaderBytes) is {v}, expected 0 to \
                     {MAX_FRAME_HEADER_BYTES} bytes"
                )
            })?
    };
    Ok(TvipsHeader {
        version: version.unsigned_abs(),
        xdim,
        ydim,
        bpp: bpp.unsigned_abs(),
        xoff: field(5),
        yoff: field(6),
        xbin: field(7),
        ybin: field(8),
        pixel_size_nm: field(9),
        high_tension_kv: field(10),
        mag_total: field(11),
        frame_header_bytes,
    })
}

impl TvipsHeader {
    /// The pixel element type: `u8` or little-endian `u16`.
    #[must_use]
    pub fn dtype(&self) -> DType {
        if self.bpp == 8 {
            DType::native(ScalarKind::U8)
        } else {
            DType {
                kind: ScalarKind::U16,
                order: ByteOrder::Little,
            }
        }
    }

    /// The frame shape, `(height, width)`.
    #[must_use]
    pub fn sig_shape(&self) -> (usize, usize) {
        (self.ydim as usize, self.xdim as usize)
    }

    /// Bytes of one frame record: its header and its pixels.
    #[must_use]
    pub fn record_bytes(&self) -> u64 {
        u64::from(self.frame_header_bytes)
            + u64::from(self.xdim) * u64::from(self.ydim) * u64::from(self.bpp / 8)
    }
}

/// The scan position a version 2 frame header holds (`(Scan_y, Scan_x)`, truncated to integers
/// as LiberTEM does), or `None` where the header is too short to hold one or a value is not a
/// finite number of integer range.
#[must_use]
pub fn scan_position(frame_header: &[u8]) -> Option<(i64, i64)> {
    let float = |at: usize| -> Option<i64> {
        let b = frame_header.get(at..at + 4)?;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        // i64 holds every finite f32 below 2^63; a saturating cast of bigger values is harmless
        #[allow(clippy::cast_possible_truncation, reason = "truncation is the meaning")]
        v.is_finite().then(|| v.trunc() as i64)
    };
    Some((float(SCAN_Y_AT)?, float(SCAN_X_AT)?))
}

/// What the frames' scan positions say about the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanGuess {
    /// Frames before the scan's first position.
    pub sync_offset: u64,
    /// The scan's shape: `(rows, width)` when a row's end was seen, else `(frames,)`.
    pub nav_shape: Vec<usize>,
}

/// The scan's start and shape from the scan positions of the series' first frames
/// (`positions[i]` of frame `i`, `None` where a frame has none), `frames` in all, as LiberTEM
/// detects them: the scan starts at the frame at `(0, 0)` that a frame at `(0, 1)` follows
/// (some frame at `(0, 0)` having been seen before); its width is one more than the largest
/// `x` before `x` first falls back. `None` where no start is found.
#[must_use]
pub fn detect_scan(positions: &[Option<(i64, i64)>], frames: u64) -> Option<ScanGuess> {
    let positions = &positions[..positions.len().min(MAX_SCAN_FRAMES)];
    let mut seen_origin = false;
    let mut start = None;
    for (i, p) in positions.iter().enumerate() {
        if seen_origin && *p == Some((0, 1)) {
            start = Some(i);
            break;
        }
        if *p == Some((0, 0)) {
            seen_origin = true;
        }
    }
    let start = start?;
    let sync_offset = start as u64 - 1;
    let mut max_x = 0i64;
    let mut width = None;
    for p in &positions[start..] {
        // a frame without a position counts as x = 0, as a zero float would
        let x = p.map_or(0, |(_, x)| x);
        max_x = max_x.max(x);
        if x < max_x {
            width = u64::try_from(max_x).ok().and_then(|m| m.checked_add(1));
            break;
        }
    }
    let rows = width.map(|w| frames.saturating_sub(sync_offset) / w);
    let nav_shape = match (width, rows) {
        (Some(w), Some(r)) if r > 0 => vec![usize::try_from(r).ok()?, usize::try_from(w).ok()?],
        _ => vec![usize::try_from(frames).ok()?],
    };
    Some(ScanGuess {
        sync_offset,
        nav_shape,
    })
}

/// One file of a series and the frames it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TvipsFile {
    /// The file.
    pub path: PathBuf,
    /// Bytes before its first frame (the series header in the first file, else 0).
    pub file_header: u64,
    /// Whole frame records in it.
    pub frames: u64,
}

/// A TVIPS series: the header of its first file and the frames of each file.
#[derive(Debug, Clone)]
pub struct TvipsSeries {
    header: TvipsHeader,
    files: Vec<TvipsFile>,
    guess: Option<ScanGuess>,
}

/// The length of `path`, which must be a file.
fn file_len(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    Ok(meta.len())
}

/// Reads and parses the series header of `path` (the series' first file).
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::Truncated`] if it is shorter than the header;
/// [`Error::Corrupt`] if the header does not parse.
pub fn read_series_header(path: &Path) -> Result<TvipsHeader> {
    let len = file_len(path)?;
    let mut bytes = Vec::with_capacity(SERIES_HEADER_BYTES as usize);
    File::open(path)
        .and_then(|f| f.take(SERIES_HEADER_BYTES).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if (bytes.len() as u64) < SERIES_HEADER_BYTES {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: SERIES_HEADER_BYTES,
            actual: len,
            context: "the TVIPS series header is cut off".into(),
        });
    }
    parse_series_header(&bytes).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })
}

impl TvipsSeries {
    /// Reads the series header of `paths[0]`, counts the frames of every file (each must hold
    /// whole frame records) and reads the scan positions of the first frames.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`path`) for no files or a directory; as
    /// [`read_series_header`]; [`Error::Truncated`] naming a file that ends inside a frame
    /// record or holds none at all.
    pub fn scan(paths: &[PathBuf]) -> Result<Self> {
        let mut series = Self::count(paths)?;
        if series.header.version == 2 {
            let positions = series.scan_positions()?;
            series.guess = detect_scan(&positions, series.frame_count());
        }
        Ok(series)
    }

    /// As [`TvipsSeries::scan`], without reading the scan positions (no [`scan_guess`]).
    ///
    /// [`scan_guess`]: TvipsSeries::scan_guess
    ///
    /// # Errors
    /// As [`TvipsSeries::scan`].
    pub fn count(paths: &[PathBuf]) -> Result<Self> {
        let first = paths
            .first()
            .ok_or_else(|| Error::param("path", "no files", "at least one .tvips file"))?;
        let header = read_series_header(first)?;
        let record = header.record_bytes();
        let mut files = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let file_header = if i == 0 { SERIES_HEADER_BYTES } else { 0 };
            let len = file_len(path)?;
            let body = len.saturating_sub(file_header);
            let frames = body / record;
            let rest = body % record;
            if rest != 0 || frames == 0 {
                let needed = file_header + (frames + 1) * record;
                let context = if frames == 0 {
                    format!("no whole TVIPS frame record of {record} bytes in the file")
                } else {
                    format!(
                        "the file ends {rest} bytes into its frame record {frames} \
                         ({record} bytes each)"
                    )
                };
                return Err(Error::Truncated {
                    path: path.clone(),
                    needed,
                    actual: len,
                    context,
                });
            }
            files.push(TvipsFile {
                path: path.clone(),
                file_header,
                frames,
            });
        }
        Ok(TvipsSeries {
            header,
            files,
            guess: None,
        })
    }

    /// The scan positions of the first [`MAX_SCAN_FRAMES`] frames, in frame order.
    fn scan_positions(&self) -> Result<Vec<Option<(i64, i64)>>> {
        let record = self.header.record_bytes();
        let header_len = self.header.frame_header_bytes as usize;
        let mut out = Vec::new();
        let mut buf = vec![0u8; header_len];
        for f in &self.files {
            if out.len() >= MAX_SCAN_FRAMES {
                break;
            }
            if header_len < SCAN_Y_AT + 4 {
                // no positions stored: every frame has none
                let n = (MAX_SCAN_FRAMES - out.len())
                    .min(usize::try_from(f.frames).unwrap_or(usize::MAX));
                out.extend(std::iter::repeat_n(None, n));
                continue;
            }
            let mut file = File::open(&f.path).map_err(|e| Error::io(&f.path, e))?;
            for k in 0..f.frames {
                if out.len() >= MAX_SCAN_FRAMES {
                    break;
                }
                file.seek(SeekFrom::Start(f.file_header + k * record))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| Error::io(&f.path, e))?;
                out.push(scan_position(&buf));
            }
        }
        Ok(out)
    }

    /// The series header.
    #[must_use]
    pub fn header(&self) -> &TvipsHeader {
        &self.header
    }

    /// The files with the frames each holds, in frame order.
    #[must_use]
    pub fn files(&self) -> &[TvipsFile] {
        &self.files
    }

    /// Frames in all files together.
    #[must_use]
    pub fn frame_count(&self) -> u64 {
        self.files.iter().map(|f| f.frames).sum()
    }

    /// What the scan positions say (version 2 files with positions in their frame headers).
    #[must_use]
    pub fn scan_guess(&self) -> Option<&ScanGuess> {
        self.guess.as_ref()
    }

    /// The framed description of the series.
    #[must_use]
    pub fn spec(&self) -> FramedSpec {
        FramedSpec {
            format: "TVIPS".into(),
            files: self
                .files
                .iter()
                .map(|f| FramedFile {
                    path: f.path.clone(),
                    file_header: f.file_header,
                    frames: FrameCount::Exactly(f.frames),
                })
                .collect(),
            frame_header: u64::from(self.header.frame_header_bytes),
            frame_footer: 0,
            encoding: Encoding::Plain(self.header.dtype()),
            check: None,
        }
    }

    /// Opens the series as a data source of `shape`.
    ///
    /// # Errors
    /// As [`FramedSource::open_with`].
    pub fn open(&self, shape: DatasetShape, sync_offset: i64) -> Result<FramedSource> {
        FramedSource::open_with(self.spec(), shape, sync_offset, IoMode::from_env())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: i32, x: i32, y: i32, bpp: i32, img: i32) -> Vec<u8> {
        let mut b = vec![0u8; 256];
        for (i, v) in [256, version, x, y, bpp, 0, 0, 1, 1, 1, 200, 80, img]
            .iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn headers_parse_and_name_the_wrong_field() {
        let h = parse_series_header(&header(2, 5, 4, 16, 60)).unwrap();
        assert_eq!((h.sig_shape(), h.record_bytes()), ((4, 5), 100));
        assert_eq!(h.dtype().to_numpy_str(), "<u2");
        let h = parse_series_header(&header(1, 5, 4, 8, 999)).unwrap();
        assert_eq!(
            (h.frame_header_bytes, h.dtype().to_numpy_str()),
            (12, "|u1".into())
        );
        for (bytes, needle) in [
            (header(3, 5, 4, 16, 60), "IVersion"),
            (header(2, 0, 4, 16, 60), "IXDim"),
            (header(2, 5, -4, 16, 60), "IYDim"),
            (header(2, 5, 4, 12, 60), "IBPP"),
            (header(2, 5, 4, 16, -1), "IImgHeaderBytes"),
            (header(2, 5, 4, 16, 60)[..100].to_vec(), "cut off"),
        ] {
            let err = parse_series_header(&bytes).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let mut b = header(2, 5, 4, 16, 60);
        b[1] = 0;
        assert!(parse_series_header(&b).unwrap_err().contains("ISize"));
    }

    #[allow(
        clippy::unnecessary_wraps,
        reason = "positions are Options; this spells the present ones"
    )]
    fn at(y: i64, x: i64) -> Option<(i64, i64)> {
        Some((y, x))
    }

    #[test]
    fn scans_are_detected_as_libertem_does() {
        // two blank frames, then a 3-wide scan of 2 rows, then the next scan starting
        let p = [
            at(5, 5),
            at(0, 0),
            at(0, 1),
            at(0, 2),
            at(1, 0),
            at(1, 1),
            at(1, 2),
        ];
        let g = detect_scan(&p, 8).unwrap();
        // the (0, 0) before (0, 1) is the start: one frame skipped
        assert_eq!(g.sync_offset, 1);
        assert_eq!(g.nav_shape, vec![7 / 3, 3]);
        // no row end seen: the whole series as a line
        let g = detect_scan(&[at(0, 0), at(0, 1), at(0, 2)], 3).unwrap();
        assert_eq!((g.sync_offset, g.nav_shape), (0, vec![3]));
        // no start: nothing
        assert_eq!(detect_scan(&[None, at(0, 1), at(0, 0)], 3), None);
        assert_eq!(detect_scan(&[], 0), None);
    }

    #[test]
    fn positions_need_a_long_enough_header() {
        let mut h = vec![0u8; 76];
        h[SCAN_X_AT..SCAN_X_AT + 4].copy_from_slice(&3.7f32.to_le_bytes());
        h[SCAN_Y_AT..SCAN_Y_AT + 4].copy_from_slice(&2.0f32.to_le_bytes());
        assert_eq!(scan_position(&h), Some((2, 3)));
        assert_eq!(scan_position(&h[..75]), None);
        h[SCAN_X_AT..SCAN_X_AT + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(scan_position(&h), None);
    }
}
