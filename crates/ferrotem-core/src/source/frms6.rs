//! `PNDetector` pnCCD `.frms6` files: a description on the [framed source](super::framed) with a
//! decoder that unfolds the detector's two halves into one frame.
//!
//! Layout of each file: a 1024-byte header (little-endian: the header size 1024 at byte 0, the
//! frame header size 64 at byte 2, the version 6 at byte 7, the stored frame's width at byte 88
//! and height at byte 90, the number of frames at byte 1020 — 0 in older files, which then hold
//! as many frames as fit exactly), then records of a 64-byte frame header and `height` × `width`
//! unsigned 16-bit pixels.
//!
//! The pnCCD reads out from two sides: a stored row holds a row of the upper half (left half of
//! the stored row) and the mirrored row of the lower half (right half, reversed). The unfolded
//! frame is `2 * height` × `width / 2`: row `y < height` is the left half of stored row `y`, row
//! `y >= height` the right half of stored row `2 * height - 1 - y`, reversed. With binning `b`
//! (1, 2 or 4: the rows are binned on the chip), each unfolded row is repeated `b` times, so the
//! frame has the detector's unbinned row count.
//!
//! An acquisition is `<name>.hdr` (text, read by the Python dataset) and `<name>_000.frms6`,
//! `<name>_001.frms6`, …; the first file holds the dark frames.

use super::framed::{Encoding, FrameCount, FrameDecoder, FramedFile, FramedSource, FramedSpec};
use super::IoMode;
use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of a file header.
pub const FRMS6_HEADER_BYTES: usize = 1024;
/// Bytes of each frame's header.
pub const FRMS6_FRAME_HEADER_BYTES: u64 = 64;
/// The version the header must state.
pub const FRMS6_VERSION: u8 = 6;

/// What an `.frms6` file header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frms6Header {
    /// Bytes of the file header (1024).
    pub header_size: u16,
    /// Bytes of each frame's header (64).
    pub frame_header_size: u16,
    /// Format version (6).
    pub version: u8,
    /// Stored frame width (both halves side by side).
    pub width: u16,
    /// Stored frame height (binned rows).
    pub height: u16,
    /// Frames the file holds; 0 in older files (then counted from the file's length).
    pub num_frames: u32,
}

/// Parses an `.frms6` file header (the first [`FRMS6_HEADER_BYTES`] bytes of the file).
///
/// # Errors
/// A message if the bytes are too few, the header or frame header size or the version is not
/// what the format fixes, or the stored frame is empty or has an odd width.
pub fn parse_frms6_header(bytes: &[u8]) -> std::result::Result<Frms6Header, String> {
    if bytes.len() < FRMS6_HEADER_BYTES {
        return Err(format!(
            "the file header is cut off: {} of its {FRMS6_HEADER_BYTES} bytes are present",
            bytes.len()
        ));
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let h = Frms6Header {
        header_size: u16_at(0),
        frame_header_size: u16_at(2),
        version: bytes[7],
        width: u16_at(88),
        height: u16_at(90),
        num_frames: u32::from_le_bytes([bytes[1020], bytes[1021], bytes[1022], bytes[1023]]),
    };
    if usize::from(h.header_size) != FRMS6_HEADER_BYTES
        || u64::from(h.frame_header_size) != FRMS6_FRAME_HEADER_BYTES
        || h.version != FRMS6_VERSION
    {
        return Err(format!(
            "not an FRMS6 file: header size {}, frame header size {}, version {}; expected \
             {FRMS6_HEADER_BYTES}, {FRMS6_FRAME_HEADER_BYTES}, {FRMS6_VERSION}",
            h.header_size, h.frame_header_size, h.version
        ));
    }
    if h.width == 0 || h.height == 0 || h.width % 2 != 0 {
        return Err(format!(
            "the stored frame is {} x {} (height x width), expected a positive size and an even \
             width (two detector halves side by side)",
            h.height, h.width
        ));
    }
    Ok(h)
}

impl Frms6Header {
    /// Bytes of one frame record: its header and pixels.
    #[must_use]
    pub fn record_bytes(&self) -> u64 {
        FRMS6_FRAME_HEADER_BYTES + 2 * u64::from(self.width) * u64::from(self.height)
    }

    /// Frames in the file of `file_len` bytes: the header's count, or for older files (count
    /// 0) the records that fill the file exactly.
    ///
    /// # Errors
    /// A message if the header's count is 0 and the file is not a whole number of records.
    pub fn frame_count(&self, file_len: u64) -> std::result::Result<FrameCount, String> {
        if self.num_frames != 0 {
            return Ok(FrameCount::Exactly(u64::from(self.num_frames)));
        }
        let data = file_len.saturating_sub(FRMS6_HEADER_BYTES as u64);
        let record = self.record_bytes();
        if data % record != 0 {
            return Err(format!(
                "the header gives no frame count and the {data} bytes after it are not a whole \
                 number of {record}-byte frames: cannot tell how many frames it holds"
            ));
        }
        Ok(FrameCount::Exactly(data / record))
    }

    /// The unfolded frame `(rows, columns)` at `binning`.
    #[must_use]
    pub fn sig_shape(&self, binning: usize) -> (usize, usize) {
        (
            2 * usize::from(self.height) * binning,
            usize::from(self.width) / 2,
        )
    }
}

/// Reads `path`'s `.frms6` header; returns it with the file's length.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Truncated`] for a file shorter than its
/// header; [`Error::Corrupt`] naming the file for a header that does not parse.
pub fn read_frms6_header(path: &Path) -> Result<(Frms6Header, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let mut bytes = Vec::with_capacity(FRMS6_HEADER_BYTES);
    (&mut file)
        .take(FRMS6_HEADER_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() < FRMS6_HEADER_BYTES {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed: FRMS6_HEADER_BYTES as u64,
            actual: meta.len(),
            context: "the FRMS6 file header is cut off".into(),
        });
    }
    let header = parse_frms6_header(&bytes).map_err(|detail| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    })?;
    Ok((header, meta.len()))
}

/// Unfolds a stored pnCCD frame (two halves side by side, the lower one mirrored) into the
/// detector's frame, repeating each row `binning` times. See the module docs.
#[derive(Debug, Clone)]
pub struct Frms6Unfold {
    height: usize,
    width: usize,
    binning: usize,
}

impl Frms6Unfold {
    /// The decoder of stored frames of `height` × `width` (even) at `binning` (1, 2 or 4).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for another binning, an odd width or an empty frame.
    pub fn new(height: usize, width: usize, binning: usize) -> Result<Self> {
        if !matches!(binning, 1 | 2 | 4) {
            return Err(Error::param("binning", binning, "1, 2 or 4"));
        }
        if height == 0 || width == 0 || width % 2 != 0 {
            return Err(Error::param(
                "sig_shape",
                format!("({height}, {width})"),
                "a stored frame with an even width",
            ));
        }
        Ok(Frms6Unfold {
            height,
            width,
            binning,
        })
    }

    /// Flat index into the stored frame of unfolded pixel (`row`, `col`).
    fn source(&self, row: usize, col: usize) -> usize {
        let y = row / self.binning;
        if y < self.height {
            y * self.width + col
        } else {
            (2 * self.height - 1 - y) * self.width + self.width - 1 - col
        }
    }
}

impl FrameDecoder for Frms6Unfold {
    fn dtype(&self) -> DType {
        DType::native(ScalarKind::U16)
    }

    fn frame_pixels(&self) -> usize {
        2 * self.height * self.binning * (self.width / 2)
    }

    fn payload_bytes(&self) -> usize {
        2 * self.height * self.width
    }

    fn decode(&self, payload: &[u8], pixels: Range<usize>, dst: &mut [u8]) -> Result<()> {
        if payload.len() != self.payload_bytes()
            || pixels.start > pixels.end
            || pixels.end > self.frame_pixels()
            || pixels.len() * 2 != dst.len()
        {
            return Err(Error::internal(format!(
                "{}: decode of pixels {pixels:?} from {} bytes into {} bytes",
                self.describe(),
                payload.len(),
                dst.len()
            )));
        }
        // Row by row: within an unfolded row the stored pixels run forwards (upper half) or
        // backwards (lower half), so each row is one slice of the stored frame.
        let cols = self.width / 2;
        let mut p = pixels.start;
        let mut out = dst.chunks_exact_mut(2);
        while p < pixels.end {
            let (row, col) = (p / cols, p % cols);
            let n = (cols - col).min(pixels.end - p);
            let first = self.source(row, col);
            let upper = row / self.binning < self.height;
            for k in 0..n {
                let s = 2 * if upper { first + k } else { first - k };
                let v = u16::from_le_bytes([payload[s], payload[s + 1]]);
                if let Some(o) = out.next() {
                    o.copy_from_slice(&v.to_ne_bytes());
                }
            }
            p += n;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "pnCCD unfold of {} x {} stored frames, binning {}",
            self.height, self.width, self.binning
        )
    }
}

/// Checks that every file of an acquisition has the first file's frame size and returns the
/// files' headers with their frame counts.
///
/// # Errors
/// As [`read_frms6_header`]; [`Error::Corrupt`] naming the file whose frame size differs or
/// whose frame count cannot be told; [`Error::InvalidParameter`] (`path`) for no files.
pub fn scan_frms6(paths: &[PathBuf]) -> Result<Vec<(Frms6Header, FrameCount)>> {
    let mut out: Vec<(Frms6Header, FrameCount)> = Vec::with_capacity(paths.len());
    for path in paths {
        let (h, len) = read_frms6_header(path)?;
        let corrupt = |detail: String| Error::Corrupt {
            path: path.clone(),
            detail,
        };
        if let Some((first, _)) = out.first() {
            if (first.height, first.width) != (h.height, h.width) {
                return Err(corrupt(format!(
                    "its frames are {} x {} (height x width), but those of {} are {} x {}",
                    h.height,
                    h.width,
                    paths[0].display(),
                    first.height,
                    first.width
                )));
            }
        }
        let count = h.frame_count(len).map_err(corrupt)?;
        out.push((h, count));
    }
    if out.is_empty() {
        return Err(Error::param("path", "no files", "at least one .frms6 file"));
    }
    Ok(out)
}

/// Opens `.frms6` files `paths` (in frame order) as one data source of `shape`, unfolded at
/// `binning`.
///
/// # Errors
/// As [`scan_frms6`], [`Frms6Unfold::new`] and [`FramedSource::open_with`].
pub fn open_frms6(
    paths: &[PathBuf],
    binning: usize,
    shape: DatasetShape,
    sync_offset: i64,
) -> Result<FramedSource> {
    let headers = scan_frms6(paths)?;
    let first = &headers[0].0;
    let decoder = Frms6Unfold::new(usize::from(first.height), usize::from(first.width), binning)?;
    let spec = FramedSpec {
        format: "FRMS6".into(),
        files: paths
            .iter()
            .zip(&headers)
            .map(|(path, (_, frames))| FramedFile {
                path: path.clone(),
                file_header: FRMS6_HEADER_BYTES as u64,
                frames: *frames,
            })
            .collect(),
        frame_header: FRMS6_FRAME_HEADER_BYTES,
        frame_footer: 0,
        encoding: Encoding::Decoded(Arc::new(decoder)),
        check: None,
    };
    FramedSource::open_with(spec, shape, sync_offset, IoMode::from_env())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolding_mirrors_the_lower_half_and_repeats_binned_rows() {
        // stored 2 x 4: rows [0 1 2 3], [4 5 6 7]
        let payload: Vec<u8> = (0u16..8).flat_map(u16::to_le_bytes).collect();
        let unfold = |b: usize| {
            let d = Frms6Unfold::new(2, 4, b).unwrap();
            let mut out = vec![0u8; d.frame_pixels() * 2];
            d.decode(&payload, 0..d.frame_pixels(), &mut out).unwrap();
            out.chunks(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                .collect::<Vec<_>>()
        };
        assert_eq!(unfold(1), [0, 1, 4, 5, 7, 6, 3, 2]);
        assert_eq!(unfold(2), [0, 1, 0, 1, 4, 5, 4, 5, 7, 6, 7, 6, 3, 2, 3, 2]);
        assert!(Frms6Unfold::new(2, 4, 3).is_err());
        let d = Frms6Unfold::new(2, 4, 1).unwrap();
        let mut out = [0u8; 4];
        d.decode(&payload, 5..7, &mut out).unwrap();
        let got = [
            u16::from_ne_bytes([out[0], out[1]]),
            u16::from_ne_bytes([out[2], out[3]]),
        ];
        assert_eq!(got, [6, 3]);
    }

    #[test]
    fn every_pixel_range_decodes_as_the_pixel_map_says() {
        let d = Frms6Unfold::new(3, 8, 2).unwrap();
        let payload: Vec<u8> = (0u16..24).flat_map(u16::to_le_bytes).collect();
        let n = d.frame_pixels();
        for a in 0..n {
            for b in a..=n {
                let mut out = vec![0u8; 2 * (b - a)];
                d.decode(&payload, a..b, &mut out).unwrap();
                for (k, c) in out.chunks(2).enumerate() {
                    let p = a + k;
                    let want = d.source(p / 4, p % 4) as u16;
                    assert_eq!(u16::from_ne_bytes([c[0], c[1]]), want, "{a}..{b} at {p}");
                }
            }
        }
    }

    #[test]
    fn headers_parse_and_count_frames() {
        let mut b = vec![0u8; FRMS6_HEADER_BYTES];
        b[0..2].copy_from_slice(&1024u16.to_le_bytes());
        b[2..4].copy_from_slice(&64u16.to_le_bytes());
        b[7] = 6;
        b[88..90].copy_from_slice(&8u16.to_le_bytes());
        b[90..92].copy_from_slice(&3u16.to_le_bytes());
        let h = parse_frms6_header(&b).unwrap();
        assert_eq!(h.sig_shape(2), (12, 4));
        assert_eq!(h.record_bytes(), 64 + 48);
        assert_eq!(h.frame_count(1024 + 2 * 112), Ok(FrameCount::Exactly(2)));
        assert!(h.frame_count(1024 + 2 * 112 + 1).is_err());
        b[1020] = 5;
        let h = parse_frms6_header(&b).unwrap();
        assert_eq!(h.frame_count(0), Ok(FrameCount::Exactly(5)));
        b[7] = 5;
        assert!(parse_frms6_header(&b).unwrap_err().contains("version 5"));
        b[7] = 6;
        b[88] = 7;
        assert!(parse_frms6_header(&b).unwrap_err().contains("even"));
        assert!(parse_frms6_header(&b[..10])
            .unwrap_err()
            .contains("cut off"));
    }
}
