//! Files of frames with headers: one or more files, each with a file header, then frame records
//! of a fixed size — a per-frame header, the frame's pixels, a per-frame footer — in a pixel
//! encoding that is either plain numbers of any width and byte order, or packed bits that a
//! [`FrameDecoder`] unpacks.
//!
//! A format is a description on top of this ([`FramedSpec`]): Merlin MIB ([`super::mib`]) and
//! `NanoMegas` blockfiles ([`super::blo`]) are, and so can be TVIPS, MRC, SEQ, EMPAD and DM.
//!
//! Reading, as [`DataSource`] says:
//!
//! - **Plain pixels, mapped file**: [`DataSource::stored_frames`] lends the requested frames in
//!   place, `stride` bytes apart (the headers between them are skipped, not copied), and
//!   [`DataSource::check_stored`] then confirms the map (a file that shrank is
//!   [`Error::Truncated`]) and checks the frames' headers with the format's [`FrameCheck`].
//! - **Packed pixels, or no map**: [`DataSource::read_raw`] takes each frame record from the map
//!   (or `pread`s records in batches), checks its header and decodes or copies its pixels
//!   straight into the caller's buffer.
//!
//! Files are opened through [`GuardedFile`], so every file is read under the same `SIGBUS` guard
//! and every error names the file.

mod decode;

pub use decode::{ChipLayout, FrameDecoder, MedipixRaw, RawCounter};

use super::{prepare_read, DataSource, FrameMap, GuardedFile, IoMode, StoredFrames};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::cell::RefCell;
use std::fmt::Debug;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a frame's pixels are stored.
#[derive(Debug, Clone)]
pub enum Encoding {
    /// Plain numbers of this element type (any width, either byte order), read in place when
    /// the file is mapped.
    Plain(DType),
    /// A packed encoding, decoded into the caller's buffer.
    Decoded(Arc<dyn FrameDecoder>),
}

impl Encoding {
    /// The element type pixels are read as.
    #[must_use]
    pub fn dtype(&self) -> DType {
        match self {
            Encoding::Plain(d) => *d,
            Encoding::Decoded(d) => d.dtype(),
        }
    }
}

/// How many frame records a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCount {
    /// As many as fit after the file header; a record cut off at the end of the file is
    /// [`Error::Truncated`].
    AsMany,
    /// As many as fit, at most this many (more bytes are ignored); fewer are allowed (an
    /// acquisition cut short), but a record cut off at the end of the file is
    /// [`Error::Truncated`].
    UpTo(u64),
    /// Exactly this many; a shorter file is [`Error::Truncated`], more bytes are ignored.
    Exactly(u64),
}

/// One file of a framed dataset.
#[derive(Debug, Clone)]
pub struct FramedFile {
    /// The file.
    pub path: PathBuf,
    /// Bytes before the first frame record.
    pub file_header: u64,
    /// How many frame records it holds.
    pub frames: FrameCount,
}

/// Checks the header and footer of each frame as it is read, so that a corrupt or misplaced
/// frame is an error naming it rather than wrong pixels.
pub trait FrameCheck: Send + Sync + Debug {
    /// Checks frame `frame` (counted from 0 within file `file`, an index into
    /// [`FramedSpec::files`]) given its header and footer bytes; `Err` says what is wrong.
    ///
    /// # Errors
    /// A message for the user: what the header says and what was expected.
    fn check(
        &self,
        file: usize,
        frame: u64,
        header: &[u8],
        footer: &[u8],
    ) -> std::result::Result<(), String>;
}

/// A framed dataset: its files (in frame order) and the layout of their frame records.
#[derive(Debug, Clone)]
pub struct FramedSpec {
    /// A short name of the format, for messages (`"MIB"`).
    pub format: String,
    /// The files, in the order their frames come in.
    pub files: Vec<FramedFile>,
    /// Bytes of each frame's header.
    pub frame_header: u64,
    /// Bytes of each frame's footer.
    pub frame_footer: u64,
    /// How the pixels are stored.
    pub encoding: Encoding,
    /// Checks each frame's header and footer when it is read.
    pub check: Option<Arc<dyn FrameCheck>>,
}

/// An open file of a [`FramedSource`].
#[derive(Debug)]
struct OpenFile {
    file: GuardedFile,
    file_header: u64,
    /// Stored index of its first frame.
    first: u64,
    /// Frames it holds.
    frames: u64,
}

/// Where the requested frames of an in-place request lie.
struct InPlace {
    file: usize,
    /// First frame, within the file.
    frame: u64,
    /// File offsets of the lent bytes.
    range: Range<u64>,
    frame_len: usize,
}

/// Records read with `pread` per step, at most (and at least one record).
const PREAD_BATCH_BYTES: usize = 4 * 1024 * 1024;

thread_local! {
    /// Per-thread buffer for records read with `pread`, reused across reads.
    static RECORDS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A dataset stored as frame records in one or more files. See the module docs.
#[derive(Debug)]
pub struct FramedSource {
    format: String,
    files: Vec<OpenFile>,
    frame_header: u64,
    /// Stored bytes of one frame's pixels.
    payload: u64,
    /// Bytes from one record to the next.
    stride: u64,
    encoding: Encoding,
    check: Option<Arc<dyn FrameCheck>>,
    shape: DatasetShape,
    frames: FrameMap,
}

impl FramedSource {
    /// Opens the files of `spec` and counts their frames; reads as [`IoMode::from_env`] says.
    ///
    /// # Errors
    /// As [`FramedSource::open_with`].
    pub fn open(spec: FramedSpec, shape: DatasetShape, sync_offset: i64) -> Result<Self> {
        Self::open_with(spec, shape, sync_offset, IoMode::from_env())
    }

    /// Opens the files of `spec`, reading in `io` mode.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be opened; [`Error::InvalidParameter`] (`path`) for a
    /// directory or no files, (`sig_shape`) if the shape's frame does not have the encoding's
    /// pixel count, (`sync_offset`) out of range; [`Error::Truncated`] naming the file if a file
    /// is shorter than its header, ends inside a frame record, or (with
    /// [`FrameCount::Exactly`]) holds fewer frames than it should, or if no file holds a frame.
    pub fn open_with(
        spec: FramedSpec,
        shape: DatasetShape,
        sync_offset: i64,
        io: IoMode,
    ) -> Result<Self> {
        let FramedSpec {
            format,
            files,
            frame_header,
            frame_footer,
            encoding,
            check,
        } = spec;
        let sig_size = shape.sig_size();
        let (payload, pixels) = match &encoding {
            Encoding::Plain(d) => ((sig_size as u64).checked_mul(d.itemsize() as u64), sig_size),
            Encoding::Decoded(d) => (Some(d.payload_bytes() as u64), d.frame_pixels()),
        };
        if pixels != sig_size {
            return Err(Error::param(
                "sig_shape",
                format!("{:?} ({sig_size} pixels)", shape.sig()),
                format!("a shape of {pixels} pixels, as the {format} frames have"),
            ));
        }
        let stride = payload
            .and_then(|p| p.checked_add(frame_header))
            .and_then(|p| p.checked_add(frame_footer))
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                Error::param("sig_shape", format!("{:?}", shape.sig()), "a smaller frame")
            })?;
        let payload = payload.unwrap_or(0);
        if files.is_empty() {
            return Err(Error::param(
                "path",
                "no files",
                format!("at least one {format} file"),
            ));
        }
        let mut open = Vec::with_capacity(files.len());
        let mut total = 0u64;
        for f in files {
            let file = GuardedFile::open(&f.path, io)?;
            let frames = count_records(&file, f.file_header, stride, f.frames, &format)?;
            open.push(OpenFile {
                file,
                file_header: f.file_header,
                first: total,
                frames,
            });
            total = total
                .checked_add(frames)
                .ok_or_else(|| Error::param("path", f.path.display(), "fewer frames in all"))?;
        }
        if total == 0 {
            let first = &open[0].file;
            return Err(first.truncated(
                open[0].file_header + stride,
                first.len(),
                format!("no complete {format} frame of {stride} bytes in any file"),
            ));
        }
        let frames = FrameMap::new(sync_offset, total)?;
        Ok(FramedSource {
            format,
            files: open,
            frame_header,
            payload,
            stride,
            encoding,
            check,
            shape,
            frames,
        })
    }

    /// Frames present in all files together.
    #[must_use]
    pub fn stored_frame_count(&self) -> u64 {
        self.frames.stored_frames
    }

    /// The files with the number of frames each holds, in frame order.
    pub fn files(&self) -> impl Iterator<Item = (&Path, u64)> {
        self.files.iter().map(|f| (f.file.path(), f.frames))
    }

    /// The mode the first file is read in ([`IoMode::Pread`] if its map could not be made).
    #[must_use]
    pub fn io_mode(&self) -> IoMode {
        self.files[0].file.io_mode()
    }

    /// How the pixels are stored.
    #[must_use]
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    /// The file holding stored frame `stored` and the frame's index within it.
    fn locate(&self, stored: u64) -> (usize, u64) {
        let i = self
            .files
            .partition_point(|f| f.first + f.frames <= stored)
            .min(self.files.len() - 1);
        (i, stored - self.files[i].first)
    }

    /// File offset of frame `frame`'s record in `file`.
    fn record_offset(&self, file: &OpenFile, frame: u64) -> u64 {
        // In range: checked against the file's length when it was opened.
        file.file_header + frame * self.stride
    }

    /// Where the bytes of an in-place request lie, if the request can be lent in place: plain
    /// pixels, every logical frame stored, all in one file.
    fn in_place(&self, first: u64, count: usize, pixels: &Range<usize>) -> Option<InPlace> {
        let Encoding::Plain(dtype) = self.encoding else {
            return None;
        };
        let end = first.checked_add(count as u64)?;
        if count == 0
            || end > self.shape.nav_size()
            || pixels.start >= pixels.end
            || pixels.end > self.shape.sig_size()
        {
            return None;
        }
        let runs = self.frames.split(first, count);
        if runs.zeros_before != 0 || runs.zeros_after != 0 {
            return None;
        }
        let (file, frame) = self.locate(runs.stored.start);
        let f = &self.files[file];
        if frame + count as u64 > f.frames {
            return None;
        }
        let item = dtype.itemsize();
        let frame_len = pixels.len() * item;
        let start = self.record_offset(f, frame) + self.frame_header + (pixels.start * item) as u64;
        let span = (count as u64 - 1) * self.stride + frame_len as u64;
        Some(InPlace {
            file,
            frame,
            range: start..start + span,
            frame_len,
        })
    }

    /// The error for a frame whose header or footer failed the format's check: the file's
    /// truncation if it shrank (its bytes may read as zeros then), else [`Error::Corrupt`]
    /// naming the frame.
    fn frame_error(&self, file: usize, frame: u64, end: u64, detail: &str) -> Error {
        let f = &self.files[file];
        if let Err(e) = f.file.confirm(end) {
            return e;
        }
        let global = f.first + frame;
        let within = if self.files.len() > 1 {
            format!(" (frame {frame} of this file)")
        } else {
            String::new()
        };
        Error::Corrupt {
            path: f.file.path().to_path_buf(),
            detail: format!("{} frame {global}{within}: {detail}", self.format),
        }
    }

    /// Runs the format's check on one record's header and footer bytes.
    fn check_record(&self, file: usize, frame: u64, record: &[u8], end: u64) -> Result<()> {
        let Some(check) = &self.check else {
            return Ok(());
        };
        let header = &record[..self.frame_header as usize];
        let footer = &record[(self.frame_header + self.payload) as usize..];
        check
            .check(file, frame, header, footer)
            .map_err(|detail| self.frame_error(file, frame, end, &detail))
    }

    /// Checks, decodes or copies `n` whole records (starting with frame `frame` of `file`) into
    /// `dst`, one frame of `pixels` after the other.
    fn unpack_records(
        &self,
        file: usize,
        frame: u64,
        records: &[u8],
        pixels: &Range<usize>,
        dst: &mut [u8],
        end: u64,
    ) -> Result<()> {
        let stride = self.stride as usize;
        let out_len = pixels.len() * self.dtype().itemsize();
        for (k, (record, out)) in records
            .chunks_exact(stride)
            .zip(dst.chunks_exact_mut(out_len))
            .enumerate()
        {
            self.check_record(file, frame + k as u64, record, end)?;
            let payload =
                &record[self.frame_header as usize..(self.frame_header + self.payload) as usize];
            match &self.encoding {
                Encoding::Plain(dtype) => {
                    let item = dtype.itemsize();
                    out.copy_from_slice(&payload[pixels.start * item..pixels.end * item]);
                }
                Encoding::Decoded(decoder) => decoder.decode(payload, pixels.clone(), out)?,
            }
        }
        Ok(())
    }

    /// Reads stored frames `frame .. frame + n` of `file` into `dst` (see `read_raw`).
    fn read_from_file(
        &self,
        file: usize,
        frame: u64,
        n: u64,
        pixels: &Range<usize>,
        dst: &mut [u8],
    ) -> Result<()> {
        let f = &self.files[file];
        let start = self.record_offset(f, frame);
        let end = start + n * self.stride;
        if let Some(records) = f.file.mapped(start..end) {
            self.unpack_records(file, frame, records, pixels, dst, end)?;
            return f.file.confirm(end);
        }
        // No map: `pread` whole records in batches into a reused buffer.
        let stride = self.stride as usize;
        let per_frame = dst.len() / n as usize;
        let batch = (PREAD_BATCH_BYTES / stride).max(1);
        RECORDS.with(|buf| {
            let mut buf = buf.borrow_mut();
            let mut done = 0usize;
            while (done as u64) < n {
                let m = batch.min(n as usize - done);
                buf.resize(m * stride, 0);
                let offset = start + (done * stride) as u64;
                f.file.read_at(&mut buf[..m * stride], offset)?;
                let out = &mut dst[done * per_frame..(done + m) * per_frame];
                let at = frame + done as u64;
                self.unpack_records(file, at, &buf[..m * stride], pixels, out, offset)?;
                done += m;
            }
            Ok(())
        })
    }
}

/// Frame records of `stride` bytes that `file` holds after `file_header` bytes, as `count` says.
fn count_records(
    file: &GuardedFile,
    file_header: u64,
    stride: u64,
    count: FrameCount,
    format: &str,
) -> Result<u64> {
    let len = file.len();
    let Some(data) = len.checked_sub(file_header) else {
        return Err(file.truncated(
            file_header,
            len,
            format!("the {format} file header is {file_header} bytes"),
        ));
    };
    let whole = data / stride;
    let cut = data % stride;
    let cut_off = || {
        file.truncated(
            file_header + (whole + 1) * stride,
            len,
            format!(
                "the file ends inside {format} frame {whole} of this file: {cut} of its {stride} \
                 bytes are present"
            ),
        )
    };
    match count {
        FrameCount::UpTo(max) if whole >= max => Ok(max),
        FrameCount::AsMany | FrameCount::UpTo(_) if cut != 0 => Err(cut_off()),
        FrameCount::AsMany | FrameCount::UpTo(_) => Ok(whole),
        FrameCount::Exactly(n) if whole >= n => Ok(n),
        FrameCount::Exactly(n) => Err(file.truncated(
            n.saturating_mul(stride).saturating_add(file_header),
            len,
            format!("{n} {format} frames of {stride} bytes after a header of {file_header} bytes"),
        )),
    }
}

impl DataSource for FramedSource {
    fn dtype(&self) -> DType {
        self.encoding.dtype()
    }

    fn shape(&self) -> &DatasetShape {
        &self.shape
    }

    fn read_raw(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
        dst: &mut [u8],
    ) -> Result<()> {
        let dtype = self.dtype();
        let prepared = prepare_read(&self.shape, dtype, &self.frames, first, count, &pixels, dst)?;
        let Some((stored, mut dst)) = prepared else {
            return Ok(());
        };
        let per_frame = pixels.len() * dtype.itemsize();
        let mut next = stored.start;
        while next < stored.end {
            let (file, frame) = self.locate(next);
            let n = (stored.end - next).min(self.files[file].frames - frame);
            let (head, rest) = dst.split_at_mut(n as usize * per_frame);
            self.read_from_file(file, frame, n, &pixels, head)?;
            dst = rest;
            next += n;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let first = self.files[0].file.path().display();
        let more = match self.files.len() {
            1 => String::new(),
            n => format!(" and {} more files", n - 1),
        };
        format!("{} file {first}{more} ({})", self.format, self.dtype())
    }

    fn stored_slice(&self, first: u64, count: usize, pixels: Range<usize>) -> Option<&[u8]> {
        self.stored_frames(first, count, pixels)?.contiguous()
    }

    fn stored_frames(
        &self,
        first: u64,
        count: usize,
        pixels: Range<usize>,
    ) -> Option<StoredFrames<'_>> {
        let at = self.in_place(first, count, &pixels)?;
        let bytes = self.files[at.file].file.mapped(at.range)?;
        StoredFrames::new(bytes, self.stride as usize, at.frame_len, count)
    }

    fn check_stored(&self, first: u64, count: usize, pixels: Range<usize>) -> Result<()> {
        let Some(at) = self.in_place(first, count, &pixels) else {
            return Ok(());
        };
        let f = &self.files[at.file];
        f.file.confirm(at.range.end)?;
        if self.check.is_some() {
            for k in at.frame..at.frame + count as u64 {
                let start = self.record_offset(f, k);
                let end = start + self.stride;
                // Mapped: `in_place` found the frames' pixels in the map, and the records
                // around them lie in the same mapped file.
                let record = f.file.mapped(start..end).ok_or_else(|| {
                    Error::internal(format!("{}: a lent frame is not mapped", self.describe()))
                })?;
                self.check_record(at.file, k, record, end)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::ScalarKind;
    use std::io::Write;

    /// Frame records: a 3-byte header `[b'F', index, 0xEE]`, `px` big-endian u16 pixels
    /// (value `1000 * frame + pixel`), a 1-byte footer `0xFF`, after a 5-byte file header.
    fn write_records(dir: &Path, name: &str, frames: Range<u16>, px: u16) -> PathBuf {
        let mut bytes = vec![9u8; 5];
        for f in frames {
            bytes.extend([b'F', f as u8, 0xEE]);
            for p in 0..px {
                bytes.extend((1000 * f + p).to_be_bytes());
            }
            bytes.push(0xFF);
        }
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        path
    }

    #[derive(Debug)]
    struct IndexCheck {
        firsts: Vec<u64>,
    }

    impl FrameCheck for IndexCheck {
        fn check(
            &self,
            file: usize,
            frame: u64,
            header: &[u8],
            footer: &[u8],
        ) -> std::result::Result<(), String> {
            let expected = self.firsts[file] + frame;
            if header[0] != b'F' || u64::from(header[1]) != expected || footer != [0xFF] {
                return Err(format!(
                    "header says frame {}, expected {expected}",
                    header[1]
                ));
            }
            Ok(())
        }
    }

    fn spec(paths: &[PathBuf], counts: FrameCount) -> FramedSpec {
        FramedSpec {
            format: "TEST".into(),
            files: paths
                .iter()
                .map(|p| FramedFile {
                    path: p.clone(),
                    file_header: 5,
                    frames: counts,
                })
                .collect(),
            frame_header: 3,
            frame_footer: 1,
            encoding: Encoding::Plain(DType::parse(">u2", "dtype").unwrap()),
            check: Some(Arc::new(IndexCheck { firsts: vec![0, 4] })),
        }
    }

    #[test]
    fn frames_across_files_read_in_place_and_by_pread() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_records(dir.path(), "a", 0..4, 6);
        let b = write_records(dir.path(), "b", 4..7, 6);
        let shape = DatasetShape::new(&[7], &[2, 3]).unwrap();
        for io in [IoMode::Mmap, IoMode::Pread] {
            let src = FramedSource::open_with(
                spec(&[a.clone(), b.clone()], FrameCount::AsMany),
                shape.clone(),
                0,
                io,
            )
            .unwrap();
            assert_eq!(src.stored_frame_count(), 7);
            let mut dst = vec![0u8; 7 * 2 * 2];
            src.read_raw(0, 7, 1..3, &mut dst).unwrap();
            let got: Vec<u16> = dst
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let want: Vec<u16> = (0..7).flat_map(|f| [1000 * f + 1, 1000 * f + 2]).collect();
            assert_eq!(got, want, "{io:?}");
            // in place within one file only
            let lent = src.stored_frames(1, 3, 0..6);
            assert_eq!(lent.is_some(), io == IoMode::Mmap);
            if let Some(frames) = lent {
                assert!(frames.contiguous().is_none());
                assert_eq!(
                    frames.frame(2),
                    &(3000u16..3006)
                        .flat_map(u16::to_be_bytes)
                        .collect::<Vec<_>>()[..]
                );
                src.check_stored(1, 3, 0..6).unwrap();
            }
            assert!(src.stored_frames(3, 2, 0..6).is_none());
            assert_eq!(src.dtype().kind, ScalarKind::U16);
        }
    }

    #[test]
    fn a_bad_frame_header_names_the_frame_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_records(dir.path(), "a", 0..4, 6);
        let mut bytes = std::fs::read(&a).unwrap();
        bytes[5 + 2 * 16 + 1] = 9; // frame 2 says it is frame 9
        std::fs::write(&a, &bytes).unwrap();
        let shape = DatasetShape::new(&[4], &[6]).unwrap();
        for io in [IoMode::Mmap, IoMode::Pread] {
            let src = FramedSource::open_with(
                spec(std::slice::from_ref(&a), FrameCount::AsMany),
                shape.clone(),
                0,
                io,
            )
            .unwrap();
            let mut dst = vec![0u8; 4 * 12];
            let err = src.read_raw(0, 4, 0..6, &mut dst).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt { path, .. } if path == &a),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .contains("TEST frame 2: header says frame 9"),
                "{err}"
            );
            if io == IoMode::Mmap {
                assert!(src.stored_frames(0, 4, 0..6).is_some());
                assert!(src.check_stored(0, 4, 0..6).is_err());
            }
        }
    }

    #[test]
    fn cut_records_and_short_files_are_truncation_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_records(dir.path(), "a", 0..4, 6);
        let len = std::fs::metadata(&a).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&a)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let shape = DatasetShape::new(&[4], &[6]).unwrap();
        let err = FramedSource::open(
            spec(std::slice::from_ref(&a), FrameCount::AsMany),
            shape.clone(),
            0,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ends inside TEST frame 3"),
            "{err}"
        );
        let err = FramedSource::open(
            spec(std::slice::from_ref(&a), FrameCount::UpTo(4)),
            shape.clone(),
            0,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        // three whole frames are enough when at most three are wanted
        let src = FramedSource::open(
            spec(std::slice::from_ref(&a), FrameCount::UpTo(3)),
            shape.clone(),
            0,
        )
        .unwrap();
        assert_eq!(src.stored_frame_count(), 3);
        let err = FramedSource::open(
            spec(std::slice::from_ref(&a), FrameCount::Exactly(4)),
            shape.clone(),
            0,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        // cut on a record boundary: fewer frames, the rest of the scan reads as zeros
        std::fs::OpenOptions::new()
            .write(true)
            .open(&a)
            .unwrap()
            .set_len(5 + 2 * 16)
            .unwrap();
        let src = FramedSource::open(
            spec(std::slice::from_ref(&a), FrameCount::AsMany),
            shape.clone(),
            0,
        )
        .unwrap();
        assert_eq!(src.stored_frame_count(), 2);
        let mut dst = vec![0xAAu8; 4 * 12];
        src.read_raw(0, 4, 0..6, &mut dst).unwrap();
        assert!(dst[24..].iter().all(|&b| b == 0));
        assert_eq!(u16::from_be_bytes([dst[12], dst[13]]), 1000);
    }
}
