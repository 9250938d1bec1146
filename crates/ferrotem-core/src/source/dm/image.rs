//! The images of a DM file (`ImageList`), what their tags say, and how their data is laid out.
//!
//! Each entry of the root group's `ImageList` is an image: `ImageData` holds its `DataType`
//! (Gatan's numbering, see [`dm_dtype`]), its `Dimensions` (a list, fastest-varying axis first)
//! and its `Data` array (where the pixels are); `ImageTags` / `Meta Data` says what it is
//! (`Format`: `Image`, `Diffraction image`, `Spectrum image`, …) and, for newer 4-D files,
//! whether the data is stored in C order (`Data Order Swapped`). Files usually begin the list
//! with a small RGB thumbnail of the display.
//!
//! Layout: DM's dimensions list the fastest axis first, so a C-ordered dataset has the reversed
//! list as its shape. 2-D images and 3-D stacks are C-ordered. 4-D STEM data, unless tagged
//! otherwise, and 3-D spectrum images are stored *transposed*: all scan positions of the first
//! detector pixel, then all of the second, … — the navigation axes are the first dimensions in
//! the list, the signal axes the last (LiberTEM calls this the hybrid C/F order and refuses it
//! unless `force_c_order`).

use super::tags::{DmTags, Tag, TagGroup, TagValue};
use crate::dtype::{ByteOrder, DType, ScalarKind};

/// One image of the `ImageList`.
#[derive(Debug, Clone, PartialEq)]
pub struct DmImage {
    /// Position in the `ImageList` (0-based; LiberTEM's `dataset_index`).
    pub index: usize,
    /// Gatan's data type number, if the image has one.
    pub data_type: Option<u64>,
    /// Dimensions, fastest-varying first.
    pub dims: Vec<u64>,
    /// File offset of the pixel data, if the image has a data array.
    pub offset: Option<u64>,
    /// Bytes of the pixel data.
    pub bytes: u64,
    /// `ImageTags/Meta Data/Format`, if present.
    pub format: Option<String>,
    /// `ImageTags/Meta Data/Data Order Swapped`, if present (true: C order).
    pub data_order_swapped: Option<bool>,
    /// The image's name (`Name`), if present.
    pub name: Option<String>,
}

/// Gatan's name for a data type number (for messages).
#[must_use]
pub fn dm_type_name(code: u64) -> &'static str {
    match code {
        1 => "int16",
        2 => "float32",
        3 => "complex64",
        4 => "obsolete",
        5 => "packed complex",
        6 => "uint8",
        7 => "int32",
        8 => "RGB",
        9 => "int8",
        10 => "uint16",
        11 => "uint32",
        12 => "float64",
        13 => "complex128",
        14 => "binary",
        23 => "RGBA (RGB colour)",
        _ => "unknown",
    }
}

/// The element type of Gatan's data type `code` in the file's byte order; `None` for types
/// ferrotem does not read (RGB, packed complex, binary, unknown numbers).
#[must_use]
pub fn dm_dtype(code: u64, little_endian: bool) -> Option<DType> {
    let kind = match code {
        1 => ScalarKind::I16,
        2 => ScalarKind::F32,
        3 => ScalarKind::C64,
        6 => ScalarKind::U8,
        7 => ScalarKind::I32,
        9 => ScalarKind::I8,
        10 => ScalarKind::U16,
        11 => ScalarKind::U32,
        12 => ScalarKind::F64,
        13 => ScalarKind::C128,
        _ => return None,
    };
    let order = if little_endian {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
    let dtype = DType { kind, order };
    Some(if kind == ScalarKind::U8 || kind == ScalarKind::I8 {
        DType::native(kind)
    } else {
        dtype
    })
}

/// Whether `code` is one of the colour types thumbnails are stored in.
#[must_use]
pub fn is_rgb(code: u64) -> bool {
    code == 8 || code == 23
}

impl DmImage {
    /// Whether this looks like the display thumbnail: an RGB 2-D image.
    #[must_use]
    pub fn is_thumbnail(&self) -> bool {
        self.data_type.is_some_and(is_rgb) && self.dims.len() == 2
    }

    /// Whether the format tag says spectrum image.
    #[must_use]
    pub fn is_spectrum_image(&self) -> bool {
        self.format
            .as_deref()
            .is_some_and(|f| f.trim().eq_ignore_ascii_case("spectrum image"))
    }

    /// Number of signal axes: 1 for spectrum images, else 2 (1 for 1-D data).
    #[must_use]
    pub fn sig_dims(&self) -> usize {
        if self.is_spectrum_image() || self.dims.len() < 2 {
            1
        } else {
            2
        }
    }

    /// Whether the data is stored in C order (the reversed dimensions are its shape), as the
    /// tags say: `Data Order Swapped` where present, else C order for 2-D images and 3-D stacks
    /// and transposed for 4-D data and 3-D spectrum images.
    #[must_use]
    pub fn c_order(&self) -> bool {
        if let Some(swapped) = self.data_order_swapped {
            return swapped;
        }
        match self.dims.len() {
            0..=2 => true,
            3 => !self.is_spectrum_image(),
            _ => false,
        }
    }

    /// The navigation and signal shapes (C order, slowest axis first) of the data read as
    /// `c_order` says: reversed dimensions split after the navigation axes, or for transposed
    /// data, the first dimensions (reversed) as navigation and the last (reversed) as signal.
    /// 2-D images get a navigation shape of `(1,)`.
    #[must_use]
    pub fn nav_sig(&self, c_order: bool) -> (Vec<usize>, Vec<usize>) {
        let dims: Vec<usize> = self
            .dims
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect();
        let sig_dims = self.sig_dims().min(dims.len());
        let nav_dims = dims.len() - sig_dims;
        let (mut nav, mut sig) = if c_order {
            let reversed: Vec<usize> = dims.iter().rev().copied().collect();
            (reversed[..nav_dims].to_vec(), reversed[nav_dims..].to_vec())
        } else {
            (
                dims[..nav_dims].iter().rev().copied().collect(),
                dims[nav_dims..].iter().rev().copied().collect(),
            )
        };
        if nav.is_empty() {
            nav.push(1);
        }
        if sig.is_empty() {
            sig.push(1);
        }
        (nav, sig)
    }

    /// Number of elements the dimensions describe; `None` if that overflows.
    #[must_use]
    pub fn element_count(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }
}

fn text(group: &TagGroup, label: &str, little_endian: bool) -> Option<String> {
    group.value(label)?.as_text(little_endian)
}

/// The images of the file's `ImageList`, in order (none if it has no list).
#[must_use]
pub fn images(tags: &DmTags) -> Vec<DmImage> {
    let Some(list) = tags.root.group("ImageList") else {
        return Vec::new();
    };
    let le = tags.little_endian;
    list.entries
        .iter()
        .filter_map(|e| match &e.tag {
            Tag::Group(g) => Some(g),
            Tag::Data(_) => None,
        })
        .enumerate()
        .map(|(index, image)| {
            let data = image.group("ImageData");
            let data_type = data
                .and_then(|d| d.value("DataType"))
                .and_then(TagValue::as_scalar)
                .and_then(super::tags::Scalar::as_u64);
            let dims = data
                .and_then(|d| d.group("Dimensions"))
                .map(|g| {
                    g.entries
                        .iter()
                        .filter_map(|e| match &e.tag {
                            Tag::Data(v) => v.as_scalar()?.as_u64(),
                            Tag::Group(_) => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let (offset, bytes) = match data.and_then(|d| d.value("Data")) {
                Some(TagValue::Array(a)) => (Some(a.offset), a.bytes),
                _ => (None, 0),
            };
            let meta = image.path(&["ImageTags", "Meta Data"]);
            DmImage {
                index,
                data_type,
                dims,
                offset,
                bytes,
                format: meta.and_then(|m| text(m, "Format", le)),
                data_order_swapped: meta
                    .and_then(|m| m.value("Data Order Swapped"))
                    .and_then(TagValue::as_scalar)
                    .and_then(super::tags::Scalar::as_bool),
                name: text(image, "Name", le),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dims: &[u64], format: Option<&str>, swapped: Option<bool>) -> DmImage {
        DmImage {
            index: 1,
            data_type: Some(1),
            dims: dims.to_vec(),
            offset: Some(0),
            bytes: 0,
            format: format.map(str::to_owned),
            data_order_swapped: swapped,
            name: None,
        }
    }

    #[test]
    fn layouts_follow_the_tags() {
        // A 4-D file without the tag is transposed: the first dims are the scan.
        let im = image(&[5, 4, 3, 2], None, None);
        assert!(!im.c_order());
        assert_eq!(im.nav_sig(false), (vec![4, 5], vec![2, 3]));
        assert_eq!(im.nav_sig(true), (vec![2, 3], vec![4, 5]));
        // Tagged as C order.
        assert!(image(&[5, 4, 3, 2], None, Some(true)).c_order());
        // A 3-D stack is C order; a 3-D spectrum image is transposed with one signal axis.
        let stack = image(&[5, 4, 3], Some("Image"), None);
        assert!(stack.c_order());
        assert_eq!(stack.nav_sig(true), (vec![3], vec![4, 5]));
        let si = image(&[5, 4, 100], Some("Spectrum image"), None);
        assert!(!si.c_order());
        assert_eq!(si.nav_sig(false), (vec![4, 5], vec![100]));
        // A 2-D image gets a navigation axis of 1.
        assert_eq!(
            image(&[7, 6], None, None).nav_sig(true),
            (vec![1], vec![6, 7])
        );
    }

    #[test]
    fn dtypes_and_refusals() {
        assert_eq!(dm_dtype(1, true).unwrap().to_numpy_str(), "<i2");
        assert_eq!(dm_dtype(12, false).unwrap().to_numpy_str(), ">f8");
        assert_eq!(dm_dtype(6, false).unwrap().kind, ScalarKind::U8);
        assert!(dm_dtype(23, true).is_none());
        assert!(dm_dtype(8, true).is_none());
        assert_eq!(dm_type_name(23), "RGBA (RGB colour)");
    }
}
