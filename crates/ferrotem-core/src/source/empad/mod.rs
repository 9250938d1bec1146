//! EMPAD detector files: an `.xml` describing the acquisition and the `.raw` it names, a
//! description on the [framed source](super::framed).
//!
//! The `.raw` holds one record per frame: 130 rows of 128 little-endian `f32` pixels, of which
//! the last two rows are a footer (metadata, not pixels): frames are 128 × 128, read in place
//! when the file is mapped, the footers skipped. The `.xml` names the raw file (`<raw_file
//! filename=…/>`; only its base name counts, the file lies beside the `.xml`) and the scan: for
//! `<type>scan</type>` (or no type) the `scan_resolution_x`/`_y` of a `scan_parameters` element
//! of mode `acquire` — or of mode `search`, when only that one fits the raw file's size, as some
//! acquisitions record — and for `<type>series</type>` a `<count>` of frames.

pub mod xml;

use super::framed::{Encoding, FrameCount, FramedFile, FramedSource, FramedSpec};
use super::IoMode;
use crate::dtype::{ByteOrder, DType, ScalarKind};
use crate::error::{Error, Result};
use crate::shape::DatasetShape;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Frame shape: 128 × 128 pixels.
pub const FRAME_SHAPE: (usize, usize) = (128, 128);
/// Rows stored per frame: the frame's 128 and a footer of 2.
pub const STORED_ROWS: usize = 130;
/// Bytes of each frame's footer (two rows of 128 `f32`).
pub const FOOTER_BYTES: u64 = 2 * 128 * 4;
/// Bytes of one frame record in the `.raw`.
pub const RECORD_BYTES: u64 = (STORED_ROWS * FRAME_SHAPE.1 * 4) as u64;
/// Largest `.xml` read.
const MAX_XML_BYTES: u64 = 16 * 1024 * 1024;

/// The scan an EMPAD `.xml` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmpadScan {
    /// A 2-D scan: `(y, x)` of the `acquire` and of the `search` scan parameters, where given.
    Scan {
        /// The `acquire` mode's resolution, `(y, x)`.
        acquire: Option<(usize, usize)>,
        /// The `search` mode's resolution, `(y, x)`.
        search: Option<(usize, usize)>,
    },
    /// A series of this many frames.
    Series(usize),
}

/// What an EMPAD `.xml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmpadXml {
    /// The raw file's name as written (only its base name is used).
    pub raw_filename: String,
    /// The scan.
    pub scan: EmpadScan,
}

/// The positive integer text of element `name` in `parent`.
fn positive_child(
    parent: &xml::Element,
    name: &str,
    within: &str,
) -> std::result::Result<usize, String> {
    let e = parent
        .child(name)
        .ok_or_else(|| format!("{within} has no <{name}>"))?;
    e.text
        .parse::<usize>()
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            format!(
                "<{name}> of {within} is {:?}, expected a positive integer",
                e.text.chars().take(40).collect::<String>()
            )
        })
}

/// Parses the text of an EMPAD `.xml`.
///
/// # Errors
/// A message: not XML, no `<raw_file filename=…>`, an unknown `<type>`, a scan without a
/// positive `scan_resolution_x`/`_y` (in a mode named `acquire` or `search`), a series without
/// a positive `<count>`.
pub fn parse_empad_xml(text: &str) -> std::result::Result<EmpadXml, String> {
    let root = xml::parse(text).map_err(|e| format!("not a well-formed XML file: {e}"))?;
    let raw_filename = root
        .child("raw_file")
        .and_then(|e| e.attribute("filename"))
        .filter(|f| !f.trim().is_empty())
        .ok_or("no <raw_file filename=\"…\"> names the raw file")?
        .to_owned();
    let kind = root.child("type").map_or("scan", |t| t.text.as_str());
    let scan = match kind {
        "scan" => {
            let mode = |name: &str| -> std::result::Result<Option<(usize, usize)>, String> {
                let Some(p) = root
                    .children_named("scan_parameters")
                    .find(|e| e.attribute("mode") == Some(name))
                else {
                    return Ok(None);
                };
                let within = format!("<scan_parameters mode=\"{name}\">");
                let x = positive_child(p, "scan_resolution_x", &within)?;
                let y = positive_child(p, "scan_resolution_y", &within)?;
                Ok(Some((y, x)))
            };
            let (acquire, search) = (mode("acquire")?, mode("search")?);
            if acquire.is_none() && search.is_none() {
                return Err(
                    "no <scan_parameters mode=\"acquire\"> (or mode=\"search\") gives the scan"
                        .into(),
                );
            }
            EmpadScan::Scan { acquire, search }
        }
        "series" => EmpadScan::Series(positive_child(&root, "count", "the series")?),
        other => {
            return Err(format!(
                "<type> is {:?}, expected \"scan\" or \"series\"",
                other.chars().take(40).collect::<String>()
            ))
        }
    };
    Ok(EmpadXml { raw_filename, scan })
}

/// Bytes of `frames` records, if that is a number.
fn bytes_for(nav: &[usize]) -> Option<u64> {
    nav.iter()
        .try_fold(RECORD_BYTES, |acc, &n| acc.checked_mul(n as u64))
}

impl EmpadXml {
    /// The raw file's path: its base name, beside the `.xml` at `xml_path`.
    #[must_use]
    pub fn raw_path(&self, xml_path: &Path) -> PathBuf {
        let name = self
            .raw_filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&self.raw_filename);
        xml_path.parent().unwrap_or(Path::new("")).join(name)
    }

    /// The scan shape that fits a raw file of `raw_len` bytes, and the mode it comes from
    /// (`"acquire"`, `"search"` or `"series"`): the `acquire` scan where its size fits, else the
    /// `search` scan where that fits.
    ///
    /// # Errors
    /// A message giving the raw file's size and what each mode would need.
    pub fn nav_shape_for(
        &self,
        raw_len: u64,
    ) -> std::result::Result<(Vec<usize>, &'static str), String> {
        let candidates: Vec<(Vec<usize>, &'static str)> = match &self.scan {
            EmpadScan::Scan { acquire, search } => [(acquire, "acquire"), (search, "search")]
                .into_iter()
                .filter_map(|(s, m)| s.map(|(y, x)| (vec![y, x], m)))
                .collect(),
            EmpadScan::Series(n) => vec![(vec![*n], "series")],
        };
        if let Some(fit) = candidates
            .iter()
            .find(|(nav, _)| bytes_for(nav) == Some(raw_len))
        {
            return Ok(fit.clone());
        }
        let needs: Vec<String> = candidates
            .iter()
            .map(|(nav, mode)| {
                let n = bytes_for(nav).map_or_else(|| "too many".to_owned(), |b| b.to_string());
                format!("{n} bytes for the {mode} scan {nav:?}")
            })
            .collect();
        Err(format!(
            "the raw file has {raw_len} bytes, expected {} ({RECORD_BYTES} bytes a frame)",
            needs.join(" or ")
        ))
    }
}

/// Reads and parses the EMPAD `.xml` at `path`.
///
/// # Errors
/// [`Error::Io`] if it cannot be read; [`Error::InvalidParameter`] (`path`) for a directory;
/// [`Error::Corrupt`] naming the file if it is not UTF-8 or does not parse.
pub fn read_empad_xml(path: &Path) -> Result<EmpadXml> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::param(
            "path",
            path.display(),
            "a file, not a directory",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_XML_BYTES).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    let corrupt = |detail: String| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| corrupt(format!("not an EMPAD .xml file: not UTF-8 text ({e})")))?;
    parse_empad_xml(text).map_err(|e| corrupt(format!("not an EMPAD .xml file: {e}")))
}

/// An EMPAD acquisition read from its `.xml`: the raw file and the scan that fits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmpadAcquisition {
    /// What the `.xml` says.
    pub xml: EmpadXml,
    /// The raw file, beside the `.xml`.
    pub raw_path: PathBuf,
    /// The scan shape that fits the raw file's size.
    pub nav_shape: Vec<usize>,
    /// Where the scan shape comes from: `"acquire"`, `"search"` or `"series"`.
    pub mode: &'static str,
}

impl EmpadAcquisition {
    /// Reads the `.xml` at `xml_path`, finds the raw file it names and the scan that fits it.
    ///
    /// # Errors
    /// As [`read_empad_xml`]; [`Error::Io`] (not found) naming the raw file and the `.xml` if the
    /// raw file is missing; [`Error::Truncated`] if the raw file is shorter than every scan of the
    /// `.xml` needs, [`Error::Corrupt`] if its size fits none.
    pub fn from_xml(xml_path: &Path) -> Result<Self> {
        let xml = read_empad_xml(xml_path)?;
        let raw_path = xml.raw_path(xml_path);
        let meta = std::fs::metadata(&raw_path).map_err(|e| {
            let detail = format!(
                "the raw file named by {} cannot be opened: {e}",
                xml_path.display()
            );
            Error::io(&raw_path, std::io::Error::new(e.kind(), detail))
        })?;
        if meta.is_dir() {
            return Err(Error::param(
                "path",
                raw_path.display(),
                format!("a raw file ({} names a directory)", xml_path.display()),
            ));
        }
        let len = meta.len();
        let (nav_shape, mode) = xml.nav_shape_for(len).map_err(|detail| {
            let detail = format!("{detail}, as {} says", xml_path.display());
            let smallest = match &xml.scan {
                EmpadScan::Scan { acquire, search } => [acquire, search]
                    .into_iter()
                    .filter_map(|s| s.and_then(|(y, x)| bytes_for(&[y, x])))
                    .min(),
                EmpadScan::Series(n) => bytes_for(&[*n]),
            };
            match smallest {
                Some(needed) if len < needed => Error::Truncated {
                    path: raw_path.clone(),
                    needed,
                    actual: len,
                    context: detail,
                },
                _ => Error::Corrupt {
                    path: raw_path.clone(),
                    detail,
                },
            }
        })?;
        Ok(EmpadAcquisition {
            xml,
            raw_path,
            nav_shape,
            mode,
        })
    }

    /// Frames in the raw file.
    #[must_use]
    pub fn frame_count(&self) -> u64 {
        self.nav_shape.iter().map(|&n| n as u64).product()
    }
}

/// The framed description of the EMPAD raw file at `path`: `frames` records where known
/// (from the `.xml`), else as many as the file holds.
#[must_use]
pub fn empad_spec(path: PathBuf, frames: Option<u64>) -> FramedSpec {
    FramedSpec {
        format: "EMPAD".into(),
        files: vec![FramedFile {
            path,
            file_header: 0,
            frames: frames.map_or(FrameCount::AsMany, FrameCount::Exactly),
        }],
        frame_header: 0,
        frame_footer: FOOTER_BYTES,
        encoding: Encoding::Plain(DType {
            kind: ScalarKind::F32,
            order: ByteOrder::Little,
        }),
        check: None,
    }
}

/// Opens the EMPAD raw file at `path` as a data source of `shape` (`frames` as
/// [`empad_spec`]).
///
/// # Errors
/// As [`FramedSource::open_with`].
pub fn open_empad(
    path: &Path,
    frames: Option<u64>,
    shape: DatasetShape,
    sync_offset: i64,
) -> Result<FramedSource> {
    FramedSource::open_with(
        empad_spec(path.to_path_buf(), frames),
        shape,
        sync_offset,
        IoMode::from_env(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCAN: &str = r#"<?xml version="1.0"?>
        <root>
          <raw_file filename="C:\data\scan_x4_y3.raw"/>
          <scan_parameters mode="search">
            <scan_resolution_x>2</scan_resolution_x><scan_resolution_y>2</scan_resolution_y>
          </scan_parameters>
          <scan_parameters mode="acquire">
            <scan_resolution_x>4</scan_resolution_x><scan_resolution_y>3</scan_resolution_y>
          </scan_parameters>
        </root>"#;

    #[test]
    fn scans_choose_the_mode_that_fits_the_raw_size() {
        let x = parse_empad_xml(SCAN).unwrap();
        assert_eq!(
            x.scan,
            EmpadScan::Scan {
                acquire: Some((3, 4)),
                search: Some((2, 2))
            }
        );
        assert_eq!(
            x.raw_path(Path::new("/d/a.xml")),
            PathBuf::from("/d/scan_x4_y3.raw")
        );
        assert_eq!(
            x.nav_shape_for(12 * RECORD_BYTES).unwrap(),
            (vec![3, 4], "acquire")
        );
        assert_eq!(
            x.nav_shape_for(4 * RECORD_BYTES).unwrap(),
            (vec![2, 2], "search")
        );
        let err = x.nav_shape_for(5 * RECORD_BYTES).unwrap_err();
        assert!(
            err.contains("acquire scan [3, 4]") && err.contains("search"),
            "{err}"
        );
    }

    #[test]
    fn series_and_bad_documents() {
        let series = "<r><type>series</type><count>7</count><raw_file filename='s.raw'/></r>";
        let x = parse_empad_xml(series).unwrap();
        assert_eq!(
            x.nav_shape_for(7 * RECORD_BYTES).unwrap(),
            (vec![7], "series")
        );
        for (doc, needle) in [
            ("<r><count>1</count></r>", "raw_file"),
            (
                "<r><raw_file filename='a'/><type>movie</type></r>",
                "\"movie\"",
            ),
            ("<r><raw_file filename='a'/></r>", "scan_parameters"),
            (
                "<r><raw_file filename='a'/><scan_parameters mode='acquire'>\
                 <scan_resolution_x>0</scan_resolution_x></scan_parameters></r>",
                "positive",
            ),
            (
                "<r><raw_file filename='a'/><type>series</type></r>",
                "<count>",
            ),
            ("<r>", "well-formed"),
        ] {
            let err = parse_empad_xml(doc).unwrap_err();
            assert!(err.contains(needle), "{doc}: {err}");
        }
    }
}
