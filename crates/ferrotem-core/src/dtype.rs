//! Element types of datasets and of the data handed to UDFs, with byte order.
//!
//! The textual form follows numpy's `dtype.str` (`"<u2"`, `">f4"`, `"|u1"`), so the Python layer
//! can pass `np.dtype(x).str` straight through and Rust users can write the same strings.

use crate::error::{Error, Result};
use std::fmt;

/// The numeric kind and width of one element, independent of byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarKind {
    /// `u1`
    U8,
    /// `u2`
    U16,
    /// `u4`
    U32,
    /// `u8`
    U64,
    /// `i1`
    I8,
    /// `i2`
    I16,
    /// `i4`
    I32,
    /// `i8`
    I64,
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `c8`: two `f4`
    C64,
    /// `c16`: two `f8`
    C128,
}

/// All kinds, in a stable order (for tests and tables).
pub const ALL_KINDS: [ScalarKind; 12] = [
    ScalarKind::U8,
    ScalarKind::U16,
    ScalarKind::U32,
    ScalarKind::U64,
    ScalarKind::I8,
    ScalarKind::I16,
    ScalarKind::I32,
    ScalarKind::I64,
    ScalarKind::F32,
    ScalarKind::F64,
    ScalarKind::C64,
    ScalarKind::C128,
];

impl ScalarKind {
    /// Bytes per element.
    #[must_use]
    pub fn itemsize(self) -> usize {
        match self {
            ScalarKind::U8 | ScalarKind::I8 => 1,
            ScalarKind::U16 | ScalarKind::I16 => 2,
            ScalarKind::U32 | ScalarKind::I32 | ScalarKind::F32 => 4,
            ScalarKind::U64 | ScalarKind::I64 | ScalarKind::F64 | ScalarKind::C64 => 8,
            ScalarKind::C128 => 16,
        }
    }

    /// Bytes of one scalar component (the width that byte swapping works on).
    #[must_use]
    pub fn component_size(self) -> usize {
        match self {
            ScalarKind::C64 => 4,
            ScalarKind::C128 => 8,
            other => other.itemsize(),
        }
    }

    /// numpy's kind character.
    #[must_use]
    pub fn kind_char(self) -> char {
        match self {
            ScalarKind::U8 | ScalarKind::U16 | ScalarKind::U32 | ScalarKind::U64 => 'u',
            ScalarKind::I8 | ScalarKind::I16 | ScalarKind::I32 | ScalarKind::I64 => 'i',
            ScalarKind::F32 | ScalarKind::F64 => 'f',
            ScalarKind::C64 | ScalarKind::C128 => 'c',
        }
    }

    /// True for the floating point and complex kinds.
    #[must_use]
    pub fn is_inexact(self) -> bool {
        matches!(self.kind_char(), 'f' | 'c')
    }

    fn from_parts(kind: char, size: usize) -> Option<Self> {
        Some(match (kind, size) {
            ('u', 1) => ScalarKind::U8,
            ('u', 2) => ScalarKind::U16,
            ('u', 4) => ScalarKind::U32,
            ('u', 8) => ScalarKind::U64,
            ('i', 1) => ScalarKind::I8,
            ('i', 2) => ScalarKind::I16,
            ('i', 4) => ScalarKind::I32,
            ('i', 8) => ScalarKind::I64,
            ('f', 4) => ScalarKind::F32,
            ('f', 8) => ScalarKind::F64,
            ('c', 8) => ScalarKind::C64,
            ('c', 16) => ScalarKind::C128,
            _ => return None,
        })
    }
}

/// Byte order of stored elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first.
    Little,
    /// Most significant byte first (some detectors, e.g. Merlin, write this).
    Big,
}

impl ByteOrder {
    /// The order of the machine running this code.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "little") {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
}

/// An element type: kind plus byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DType {
    /// Numeric kind and width.
    pub kind: ScalarKind,
    /// Byte order in storage.
    pub order: ByteOrder,
}

impl DType {
    /// A native-order dtype of the given kind.
    #[must_use]
    pub fn native(kind: ScalarKind) -> Self {
        DType {
            kind,
            order: ByteOrder::NATIVE,
        }
    }

    /// Parses numpy's `dtype.str` form (`"<u2"`, `">f4"`, `"|u1"`, `"=i4"`, `"u2"`).
    ///
    /// `param` names the parameter in the error message.
    ///
    /// # Errors
    /// [`Error::InvalidType`] (`param`) if `text` is not one of these forms of a numeric dtype.
    pub fn parse(text: &str, param: &str) -> Result<Self> {
        let bad = || {
            Error::type_(
                param,
                format!("{text:?}"),
                "a numeric dtype such as '<u2', '>u2', 'float32' (u1..u8, i1..i8, f4, f8, c8, c16)",
            )
        };
        let mut chars = text.chars();
        let first = chars.next().ok_or_else(bad)?;
        let (order, rest) = match first {
            '<' => (Some(ByteOrder::Little), chars.as_str()),
            '>' => (Some(ByteOrder::Big), chars.as_str()),
            '|' | '=' => (None, chars.as_str()),
            _ => (None, text),
        };
        let mut rest_chars = rest.chars();
        let kind = rest_chars.next().ok_or_else(bad)?;
        let size: usize = rest_chars.as_str().parse().map_err(|_| bad())?;
        let kind = ScalarKind::from_parts(kind, size).ok_or_else(bad)?;
        // One-byte types have no byte order; everything else defaults to native.
        let order = order.unwrap_or(ByteOrder::NATIVE);
        Ok(DType { kind, order })
    }

    /// Bytes per element.
    #[must_use]
    pub fn itemsize(self) -> usize {
        self.kind.itemsize()
    }

    /// True when elements must be byte-swapped to be read on this machine.
    #[must_use]
    pub fn needs_swap(self) -> bool {
        self.kind.component_size() > 1 && self.order != ByteOrder::NATIVE
    }

    /// numpy's `dtype.str` for this type.
    #[must_use]
    pub fn to_numpy_str(self) -> String {
        let order = if self.kind.itemsize() == 1 {
            '|'
        } else if self.order == ByteOrder::Little {
            '<'
        } else {
            '>'
        };
        format!("{order}{}{}", self.kind.kind_char(), self.kind.itemsize())
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_numpy_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_strings() {
        let d = DType::parse(">u2", "dtype").unwrap();
        assert_eq!(d.kind, ScalarKind::U16);
        assert_eq!(d.order, ByteOrder::Big);
        assert!(d.needs_swap() == cfg!(target_endian = "little"));
        assert_eq!(DType::parse("|u1", "dtype").unwrap().to_numpy_str(), "|u1");
        assert_eq!(DType::parse("<c8", "dtype").unwrap().kind, ScalarKind::C64);
        for k in ALL_KINDS {
            let s = DType::native(k).to_numpy_str();
            assert_eq!(DType::parse(&s, "dtype").unwrap(), DType::native(k));
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "<", "x4", "<u3", "f2", "<f", "U10", "O"] {
            let err = DType::parse(bad, "dtype").unwrap_err();
            assert!(err.to_string().starts_with("dtype:"), "{err}");
        }
    }
}
