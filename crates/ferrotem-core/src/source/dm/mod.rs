//! Gatan Digital Micrograph files (`.dm3`, `.dm4`): the tag tree ([`tags`]), the images it
//! describes ([`image`]), and their pixels read through the existing sources.
//!
//! - C-ordered data (2-D images, 3-D stacks, 4-D files tagged `Data Order Swapped`, and stacks
//!   of files) are frames back to back at the data array's offset: a [`FramedSource`] with one
//!   [`FramedFile`] per file, read in place when mapped.
//! - Transposed data (4-D STEM files and 3-D spectrum images as Gatan writes them, see
//!   [`image`]) go through [`TransposedSource`].

pub mod image;
pub mod tags;
mod transposed;

pub use image::{dm_dtype, dm_type_name, images, is_rgb, DmImage};
pub use tags::{parse_tags, DmTags, FileInput, ParseError};
pub use transposed::TransposedSource;

use super::framed::{Encoding, FrameCount, FramedFile, FramedSource, FramedSpec};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a DM file holds: version, byte order, and its images.
#[derive(Debug, Clone, PartialEq)]
pub struct DmInfo {
    /// 3 or 4.
    pub version: u32,
    /// Whether values and pixels are little-endian.
    pub little_endian: bool,
    /// The `ImageList`, in order.
    pub images: Vec<DmImage>,
}

/// Where an image's pixels are and what they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DmData {
    /// Element type, in the file's byte order.
    pub dtype: DType,
    /// File offset of the first element.
    pub offset: u64,
    /// Number of elements.
    pub elements: u64,
}

/// Turns a parse error into the core's error naming `path`.
fn parse_error(path: &Path, len: u64, err: ParseError) -> Error {
    match err {
        ParseError::Truncated { needed, context } => Error::Truncated {
            path: path.to_path_buf(),
            needed,
            actual: len,
            context: format!("the DM tag tree ends inside {context}"),
        },
        ParseError::Corrupt(detail) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("DM tag tree: {detail}"),
        },
        ParseError::Io(e) => Error::io(path, e),
    }
}

/// Parses the tags of the DM file `path` and lists its images.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::InvalidParameter`] (`path`) for a directory;
/// [`Error::Corrupt`] / [`Error::Truncated`] naming the file for a tag tree that does not parse.
pub fn read_dm(path: &Path) -> Result<DmInfo> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let input = FileInput::new(file, meta.len());
    let tags = parse_tags(&input).map_err(|e| parse_error(path, meta.len(), e))?;
    Ok(info_of(&tags))
}

/// The images of parsed tags.
#[must_use]
pub fn info_of(tags: &DmTags) -> DmInfo {
    DmInfo {
        version: tags.version,
        little_endian: tags.little_endian,
        images: images(tags),
    }
}

impl DmInfo {
    /// The image read when none is asked for (LiberTEM's choice): the first that is not the
    /// thumbnail and has at least two dimensions.
    #[must_use]
    pub fn default_image(&self) -> Option<usize> {
        self.images
            .iter()
            .position(|im| !im.is_thumbnail() && im.dims.len() >= 2)
    }

    /// Where image `index`'s pixels are, checked: a data array, a data type ferrotem reads, no
    /// zero dimension, and as many bytes as the dimensions need.
    ///
    /// # Errors
    /// A message saying what is wrong (naming Gatan's data type number for an unsupported type).
    pub fn data(&self, index: usize) -> std::result::Result<DmData, String> {
        let im = self.images.get(index).ok_or_else(|| {
            format!(
                "there is no image {index}: the ImageList has {} images (0 ..= {})",
                self.images.len(),
                self.images.len().saturating_sub(1)
            )
        })?;
        let code = im
            .data_type
            .ok_or_else(|| format!("image {index} has no DataType tag"))?;
        let dtype = dm_dtype(code, self.little_endian).ok_or_else(|| {
            format!(
                "image {index} has DM data type {code} ({}), which ferrotem does not read \
                 (supported: 1 int16, 2 float32, 3 complex64, 6 uint8, 7 int32, 9 int8, \
                 10 uint16, 11 uint32, 12 float64, 13 complex128)",
                dm_type_name(code)
            )
        })?;
        let offset = im
            .offset
            .ok_or_else(|| format!("image {index} has no Data array"))?;
        if im.dims.is_empty() || im.dims.contains(&0) {
            return Err(format!(
                "image {index} has dimensions {:?}, expected positive sizes",
                im.dims
            ));
        }
        let elements = im
            .element_count()
            .ok_or_else(|| format!("image {index}'s dimensions {:?} overflow", im.dims))?;
        let needed = elements.checked_mul(dtype.itemsize() as u64);
        if needed != Some(im.bytes) {
            return Err(format!(
                "image {index}'s Data array holds {} bytes, but its dimensions {:?} of {} need {}",
                im.bytes,
                im.dims,
                dm_type_name(code),
                needed.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string())
            ));
        }
        Ok(DmData {
            dtype,
            offset,
            elements,
        })
    }
}

/// One file of a stack (or a single C-ordered file): where its frames start and how many.
#[derive(Debug, Clone)]
pub struct DmFrames {
    /// The file.
    pub path: PathBuf,
    /// File offset of the first frame.
    pub offset: u64,
    /// Frames it holds.
    pub frames: u64,
}

/// C-ordered frames of DM files (a single file or a stack), each file's frames at its offset,
/// as a data source of `shape` (frames of `shape`'s signal size, one after the other).
///
/// # Errors
/// As [`FramedSource::open`]: a file that cannot be opened, is shorter than its frames say
/// ([`Error::Truncated`] naming it), or a `sync_offset` out of range.
pub fn open_dm_frames(
    files: Vec<DmFrames>,
    dtype: DType,
    shape: DatasetShape,
    sync_offset: i64,
) -> Result<FramedSource> {
    let spec = FramedSpec {
        format: "DM".into(),
        files: files
            .into_iter()
            .map(|f| FramedFile {
                path: f.path,
                file_header: f.offset,
                frames: FrameCount::Exactly(f.frames),
            })
            .collect(),
        frame_header: 0,
        frame_footer: 0,
        encoding: Encoding::Plain(dtype),
        check: None,
    };
    FramedSource::open(spec, shape, sync_offset)
}
