//! The tag tree of a Gatan Digital Micrograph file (DM3 and DM4).
//!
//! Layout, as far as this parser needs it:
//!
//! - A header: the version (3 or 4, a big-endian `u32`), the length of the root tag group (a
//!   `u32` in DM3, a `u64` in DM4) and the byte order of the data (a `u32`: 1 little-endian, 0
//!   big-endian).
//! - A tag group: two flag bytes (sorted, open) and the number of entries (`u32` / `u64`).
//! - An entry: a kind byte (20 a group, 21 a data tag), a label (a big-endian `u16` length and
//!   its bytes; empty for the numbered entries of lists such as `ImageList`), in DM4 a `u64`
//!   giving the entry's byte size, then the group, or for a data tag the mark `%%%%`, the number
//!   of type words, the type words (`u32` / `u64`) and the value.
//! - Type words: a simple type code (2 `i16` … 12 `u64`), 18 a string with its byte length, 15 a
//!   struct (name length, field count, then name length and type of each field) or 20 an array
//!   (its element type, itself type words, then the element count).
//!
//! Lengths, counts and type words are big-endian; values (and the image data) are in the byte
//! order of the header. The parser reads from any [`Input`]; every count read from the file is
//! checked against the bytes that are left before it is used, so a corrupt file is an error
//! saying where, never a panic or a huge allocation.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Deepest nesting of tag groups accepted (real files nest about ten deep).
pub const MAX_DEPTH: usize = 64;
/// Most type words one data tag may have (real tags have at most a few dozen).
const MAX_TYPE_WORDS: u64 = 4096;
/// Largest array whose bytes are kept as a value (longer ones, the image data among them, are
/// described by their offset and length only).
const MAX_INLINE_ARRAY_BYTES: u64 = 64 * 1024;
/// Bytes read from the input at a time.
const WINDOW: usize = 64 * 1024;

/// Random access to the bytes being parsed.
pub trait Input {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset` (the caller keeps `offset + buf.len() <= len()`).
    ///
    /// # Errors
    /// The operating system's error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Input for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let src = self
            .get(start..start + buf.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file with its length taken once.
#[derive(Debug)]
pub struct FileInput {
    file: File,
    len: u64,
}

impl FileInput {
    /// `file`, of `len` bytes.
    #[must_use]
    pub fn new(file: File, len: u64) -> Self {
        FileInput { file, len }
    }
}

impl Input for FileInput {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

/// What went wrong while parsing, and where.
#[derive(Debug)]
pub enum ParseError {
    /// The bytes end before the tag tree does.
    Truncated {
        /// Bytes the tree needs at least.
        needed: u64,
        /// What was being read.
        context: String,
    },
    /// The bytes do not follow the format.
    Corrupt(String),
    /// Reading failed.
    Io(std::io::Error),
}

type Parse<T> = std::result::Result<T, ParseError>;

/// A simple value of a data tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// A signed integer (codes 2, 3, 9, 11).
    Int(i64),
    /// An unsigned integer (codes 4, 5, 10, 12).
    UInt(u64),
    /// A floating-point number (codes 6, 7).
    Float(f64),
    /// A boolean (code 8).
    Bool(bool),
}

impl Scalar {
    /// The value as an unsigned integer, if it is a non-negative integer (or a boolean).
    #[must_use]
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Scalar::Int(v) => u64::try_from(v).ok(),
            Scalar::UInt(v) => Some(v),
            Scalar::Bool(b) => Some(u64::from(b)),
            Scalar::Float(_) => None,
        }
    }

    /// The value as a boolean: booleans, and integers (non-zero is true).
    #[must_use]
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(b),
            Scalar::Int(v) => Some(v != 0),
            Scalar::UInt(v) => Some(v != 0),
            Scalar::Float(_) => None,
        }
    }
}

/// The type of a data tag's value, as its type words describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagType {
    /// A simple value of this type code (2 … 12).
    Simple(u8),
    /// A string of this many bytes (code 18).
    String(u64),
    /// A struct of simple fields (code 15).
    Struct(Vec<u8>),
    /// An array (code 20) of `count` elements of `element`.
    Array {
        /// The element type.
        element: Box<TagType>,
        /// Number of elements.
        count: u64,
    },
}

/// Bytes of a simple value of type `code`, `None` for a code that is not a simple type.
#[must_use]
pub fn simple_size(code: u64) -> Option<u64> {
    match code {
        8..=10 => Some(1),
        2 | 4 => Some(2),
        3 | 5 | 6 => Some(4),
        7 | 11 | 12 => Some(8),
        _ => None,
    }
}

impl TagType {
    /// Bytes of a value of this type; `None` if that overflows.
    #[must_use]
    pub fn byte_size(&self) -> Option<u64> {
        match self {
            TagType::Simple(code) => simple_size(u64::from(*code)),
            TagType::String(len) => Some(*len),
            TagType::Struct(fields) => fields
                .iter()
                .try_fold(0u64, |acc, &f| acc.checked_add(simple_size(u64::from(f))?)),
            TagType::Array { element, count } => element.byte_size()?.checked_mul(*count),
        }
    }
}

/// An array value: where its bytes are, and the bytes themselves if it is short.
#[derive(Debug, Clone, PartialEq)]
pub struct TagArray {
    /// The element type.
    pub element: TagType,
    /// Number of elements.
    pub count: u64,
    /// File offset of the first element.
    pub offset: u64,
    /// Bytes of all elements.
    pub bytes: u64,
    /// The elements' bytes, for arrays of at most 64 KiB.
    pub inline: Option<Vec<u8>>,
}

/// A data tag's value.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// A simple value.
    Scalar(Scalar),
    /// A struct's fields.
    Struct(Vec<Scalar>),
    /// A string (code 18), its bytes as Latin-1.
    String(String),
    /// An array.
    Array(TagArray),
}

impl TagValue {
    /// The value as text: a string, or an array of 16-bit characters (how DM stores most text)
    /// or of bytes; `None` for other values.
    #[must_use]
    pub fn as_text(&self, little_endian: bool) -> Option<String> {
        match self {
            TagValue::String(s) => Some(s.clone()),
            TagValue::Array(a) => {
                let bytes = a.inline.as_ref()?;
                match a.element {
                    TagType::Simple(4) => {
                        let units: Vec<u16> = bytes
                            .chunks_exact(2)
                            .map(|c| {
                                let pair = [c[0], c[1]];
                                if little_endian {
                                    u16::from_le_bytes(pair)
                                } else {
                                    u16::from_be_bytes(pair)
                                }
                            })
                            .collect();
                        Some(String::from_utf16_lossy(&units))
                    }
                    TagType::Simple(8..=10) => Some(bytes.iter().map(|&b| char::from(b)).collect()),
                    _ => None,
                }
            }
            TagValue::Scalar(_) | TagValue::Struct(_) => None,
        }
    }

    /// The value if it is a simple one.
    #[must_use]
    pub fn as_scalar(&self) -> Option<Scalar> {
        match self {
            TagValue::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

/// A tag: a group of entries or a data tag.
#[derive(Debug, Clone, PartialEq)]
pub enum Tag {
    /// A nested group.
    Group(TagGroup),
    /// A value.
    Data(TagValue),
}

/// An entry of a group: a label (empty for numbered list entries) and its tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagEntry {
    /// The label, as Latin-1 text.
    pub label: String,
    /// The tag.
    pub tag: Tag,
}

/// A tag group: its entries in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagGroup {
    /// The entries.
    pub entries: Vec<TagEntry>,
}

impl TagGroup {
    /// The first entry labelled `label`.
    #[must_use]
    pub fn get(&self, label: &str) -> Option<&Tag> {
        self.entries
            .iter()
            .find(|e| e.label == label)
            .map(|e| &e.tag)
    }

    /// The first group labelled `label`.
    #[must_use]
    pub fn group(&self, label: &str) -> Option<&TagGroup> {
        match self.get(label)? {
            Tag::Group(g) => Some(g),
            Tag::Data(_) => None,
        }
    }

    /// The first data tag labelled `label`.
    #[must_use]
    pub fn value(&self, label: &str) -> Option<&TagValue> {
        match self.get(label)? {
            Tag::Data(v) => Some(v),
            Tag::Group(_) => None,
        }
    }

    /// The group at a path of labels.
    #[must_use]
    pub fn path(&self, labels: &[&str]) -> Option<&TagGroup> {
        labels.iter().try_fold(self, |g, label| g.group(label))
    }
}

/// A parsed file: its version, byte order, and root tag group.
#[derive(Debug, Clone, PartialEq)]
pub struct DmTags {
    /// 3 or 4.
    pub version: u32,
    /// Whether values and image data are little-endian.
    pub little_endian: bool,
    /// The root group.
    pub root: TagGroup,
}

/// Reads through an [`Input`] with a window of buffered bytes.
struct Cursor<'a, I: Input + ?Sized> {
    input: &'a I,
    len: u64,
    pos: u64,
    window: Vec<u8>,
    window_start: u64,
}

impl<'a, I: Input + ?Sized> Cursor<'a, I> {
    fn new(input: &'a I) -> Self {
        Cursor {
            len: input.len(),
            input,
            pos: 0,
            window: Vec::new(),
            window_start: 0,
        }
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// The error for needing `n` more bytes than are left.
    fn short(&self, n: u64, context: &str) -> ParseError {
        ParseError::Truncated {
            needed: self.pos.saturating_add(n),
            context: format!("{context} at byte {}", self.pos),
        }
    }

    /// Makes sure `n` more bytes exist.
    fn need(&self, n: u64, context: &str) -> Parse<()> {
        if self.remaining() < n {
            return Err(self.short(n, context));
        }
        Ok(())
    }

    /// The next `n` bytes (`n <= WINDOW`), advancing past them.
    fn take(&mut self, n: usize, context: &str) -> Parse<&[u8]> {
        self.need(n as u64, context)?;
        let in_window = self.pos >= self.window_start
            && self.pos + n as u64 <= self.window_start + self.window.len() as u64;
        if !in_window {
            let len = usize::try_from(self.remaining().min(WINDOW as u64)).unwrap_or(WINDOW);
            self.window.resize(len.max(n), 0);
            self.input
                .read_at(self.pos, &mut self.window)
                .map_err(ParseError::Io)?;
            self.window_start = self.pos;
        }
        let at = usize::try_from(self.pos - self.window_start).unwrap_or(0);
        self.pos += n as u64;
        Ok(&self.window[at..at + n])
    }

    fn skip(&mut self, n: u64, context: &str) -> Parse<()> {
        self.need(n, context)?;
        self.pos += n;
        Ok(())
    }

    fn u8(&mut self, context: &str) -> Parse<u8> {
        Ok(self.take(1, context)?[0])
    }

    fn be<const N: usize>(&mut self, context: &str) -> Parse<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, context)?);
        Ok(a)
    }

    fn u16_be(&mut self, context: &str) -> Parse<u16> {
        Ok(u16::from_be_bytes(self.be(context)?))
    }

    fn u32_be(&mut self, context: &str) -> Parse<u32> {
        Ok(u32::from_be_bytes(self.be(context)?))
    }

    fn u64_be(&mut self, context: &str) -> Parse<u64> {
        Ok(u64::from_be_bytes(self.be(context)?))
    }
}

/// The parser's state: the cursor and the file's version and byte order.
struct Parser<'a, I: Input + ?Sized> {
    cur: Cursor<'a, I>,
    dm4: bool,
    little_endian: bool,
}

/// Parses the tag tree from `input`.
///
/// # Errors
/// [`ParseError::Corrupt`] for bytes that are not a DM3/DM4 tag tree (saying what and at which
/// byte), [`ParseError::Truncated`] if they end before the tree does, [`ParseError::Io`] if
/// reading fails.
pub fn parse_tags<I: Input + ?Sized>(input: &I) -> Parse<DmTags> {
    let mut cur = Cursor::new(input);
    let version = cur.u32_be("the version number")?;
    let dm4 = match version {
        3 => false,
        4 => true,
        other => {
            return Err(ParseError::Corrupt(format!(
                "not a Digital Micrograph file: the version number is {other} (bytes {:02x?}), \
                 expected 3 (DM3) or 4 (DM4)",
                other.to_be_bytes()
            )))
        }
    };
    if dm4 {
        cur.u64_be("the root length")?;
    } else {
        cur.u32_be("the root length")?;
    }
    let order = cur.u32_be("the byte order")?;
    let little_endian = match order {
        1 => true,
        0 => false,
        other => {
            return Err(ParseError::Corrupt(format!(
                "the byte order flag is {other}, expected 1 (little-endian) or 0 (big-endian)"
            )))
        }
    };
    let mut parser = Parser {
        cur,
        dm4,
        little_endian,
    };
    let root = parser.group(0, "the root group")?;
    Ok(DmTags {
        version,
        little_endian,
        root,
    })
}

impl<I: Input + ?Sized> Parser<'_, I> {
    /// A length or count word: `u32` in DM3, `u64` in DM4.
    fn word(&mut self, context: &str) -> Parse<u64> {
        if self.dm4 {
            self.cur.u64_be(context)
        } else {
            self.cur.u32_be(context).map(u64::from)
        }
    }

    fn word_bytes(&self) -> u64 {
        if self.dm4 {
            8
        } else {
            4
        }
    }

    fn corrupt(&self, what: &str) -> ParseError {
        ParseError::Corrupt(format!("{what} (at byte {})", self.cur.pos))
    }

    fn group(&mut self, depth: usize, name: &str) -> Parse<TagGroup> {
        if depth > MAX_DEPTH {
            return Err(self.corrupt(&format!(
                "tag groups nest deeper than {MAX_DEPTH} levels at {name}"
            )));
        }
        self.cur.skip(2, "a tag group's flags")?;
        let count = self.word("a tag group's entry count")?;
        // Each entry takes at least its kind byte and label length.
        if count > self.cur.remaining() / 3 {
            return Err(self.cur.short(
                count.saturating_mul(3),
                &format!("{count} entries of the group {name}"),
            ));
        }
        let mut entries = Vec::new();
        for i in 0..count {
            let kind = self.cur.u8("a tag's kind")?;
            let label_len = self.cur.u16_be("a tag's label length")?;
            let label: String = self
                .cur
                .take(usize::from(label_len), "a tag's label")?
                .iter()
                .map(|&b| char::from(b))
                .collect();
            let shown = if label.is_empty() {
                format!("{name}.{}", i + 1)
            } else {
                format!("{name}.{label}")
            };
            if self.dm4 {
                self.word("a tag's byte size")?;
            }
            let tag = match kind {
                20 => Tag::Group(self.group(depth + 1, &shown)?),
                21 => Tag::Data(self.data(&shown)?),
                other => {
                    return Err(self.corrupt(&format!(
                        "tag {shown} has kind {other}, expected 20 (group) or 21 (data)"
                    )))
                }
            };
            entries.push(TagEntry { label, tag });
        }
        Ok(TagGroup { entries })
    }

    fn data(&mut self, name: &str) -> Parse<TagValue> {
        let mark = self.cur.be::<4>("a data tag's %%%% mark")?;
        if &mark != b"%%%%" {
            return Err(self.corrupt(&format!(
                "data tag {name} lacks its %%%% mark (found {mark:02x?})"
            )));
        }
        let n = self.word("a data tag's type word count")?;
        if n == 0 || n > MAX_TYPE_WORDS {
            return Err(self.corrupt(&format!(
                "data tag {name} declares {n} type words, expected 1 ..= {MAX_TYPE_WORDS}"
            )));
        }
        self.cur
            .need(n * self.word_bytes(), "a data tag's type words")?;
        let mut words = Vec::new();
        for _ in 0..n {
            words.push(self.word("a type word")?);
        }
        let mut at = 0;
        let ty = self.tag_type(&words, &mut at, 0, name)?;
        if at != words.len() {
            return Err(self.corrupt(&format!(
                "data tag {name} has {} type words, its type {ty:?} uses {at}",
                words.len()
            )));
        }
        self.value(&ty, name)
    }

    /// Parses the type starting at `words[*at]`, advancing `at` past it.
    fn tag_type(&self, words: &[u64], at: &mut usize, depth: usize, name: &str) -> Parse<TagType> {
        let mut next = |what: &str| -> Parse<u64> {
            let w = words.get(*at).copied().ok_or_else(|| {
                self.corrupt(&format!(
                    "data tag {name}'s type words end before its {what}"
                ))
            })?;
            *at += 1;
            Ok(w)
        };
        let code = next("type code")?;
        match code {
            2..=12 => Ok(TagType::Simple(u8::try_from(code).unwrap_or(0))),
            18 => Ok(TagType::String(next("string length")?)),
            15 => {
                next("struct name length")?;
                let fields = next("struct field count")?;
                let mut types = Vec::new();
                for _ in 0..fields {
                    next("field name length")?;
                    let t = next("field type")?;
                    if simple_size(t).is_none() {
                        return Err(self.corrupt(&format!(
                            "data tag {name} has a struct field of type {t}, expected a simple \
                             type (2 ..= 12)"
                        )));
                    }
                    types.push(u8::try_from(t).unwrap_or(0));
                }
                Ok(TagType::Struct(types))
            }
            20 => {
                if depth >= 4 {
                    return Err(self.corrupt(&format!("data tag {name} nests arrays too deep")));
                }
                let element = self.tag_type(words, at, depth + 1, name)?;
                let count = words.get(*at).copied().ok_or_else(|| {
                    self.corrupt(&format!(
                        "data tag {name}'s type words end before its length"
                    ))
                })?;
                *at += 1;
                Ok(TagType::Array {
                    element: Box::new(element),
                    count,
                })
            }
            other => Err(self.corrupt(&format!(
                "data tag {name} has type code {other}, expected 2 ..= 12, 15, 18 or 20"
            ))),
        }
    }

    fn scalar(&mut self, code: u8) -> Parse<Scalar> {
        let le = self.little_endian;
        macro_rules! num {
            ($t:ty) => {{
                let b = self
                    .cur
                    .be::<{ std::mem::size_of::<$t>() }>("a tag value")?;
                if le {
                    <$t>::from_le_bytes(b)
                } else {
                    <$t>::from_be_bytes(b)
                }
            }};
        }
        Ok(match code {
            2 => Scalar::Int(i64::from(num!(i16))),
            3 => Scalar::Int(i64::from(num!(i32))),
            4 => Scalar::UInt(u64::from(num!(u16))),
            5 => Scalar::UInt(u64::from(num!(u32))),
            6 => Scalar::Float(f64::from(num!(f32))),
            7 => Scalar::Float(num!(f64)),
            8 => Scalar::Bool(self.cur.u8("a tag value")? != 0),
            9 => Scalar::Int(i64::from(num!(i8))),
            10 => Scalar::UInt(u64::from(self.cur.u8("a tag value")?)),
            11 => Scalar::Int(num!(i64)),
            _ => Scalar::UInt(num!(u64)),
        })
    }

    fn value(&mut self, ty: &TagType, name: &str) -> Parse<TagValue> {
        let size = ty
            .byte_size()
            .ok_or_else(|| self.corrupt(&format!("data tag {name}'s size overflows 64 bits")))?;
        self.cur
            .need(size, &format!("the value of data tag {name}"))?;
        match ty {
            TagType::Simple(code) => Ok(TagValue::Scalar(self.scalar(*code)?)),
            TagType::Struct(fields) => {
                let mut values = Vec::with_capacity(fields.len());
                for &f in fields {
                    values.push(self.scalar(f)?);
                }
                Ok(TagValue::Struct(values))
            }
            TagType::String(len) => {
                let text = if *len <= MAX_INLINE_ARRAY_BYTES {
                    let n = usize::try_from(*len).unwrap_or(0);
                    let mut s = String::new();
                    let mut left = n;
                    while left > 0 {
                        let step = left.min(WINDOW);
                        s.extend(
                            self.cur
                                .take(step, "a string")?
                                .iter()
                                .map(|&b| char::from(b)),
                        );
                        left -= step;
                    }
                    s
                } else {
                    self.cur.skip(*len, "a string")?;
                    String::new()
                };
                Ok(TagValue::String(text))
            }
            TagType::Array { element, count } => {
                let offset = self.cur.pos;
                let inline = if size <= MAX_INLINE_ARRAY_BYTES {
                    let n = usize::try_from(size).unwrap_or(0);
                    Some(self.cur.take(n, "an array")?.to_vec())
                } else {
                    self.cur
                        .skip(size, &format!("the array of data tag {name}"))?;
                    None
                };
                Ok(TagValue::Array(TagArray {
                    element: (**element).clone(),
                    count: *count,
                    offset,
                    bytes: size,
                    inline,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DM3 file with one group holding one data tag of `value` bytes and `type_words`.
    fn dm3(type_words: &[u32], value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(3u32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(1u32.to_be_bytes());
        b.extend([0, 0]);
        b.extend(1u32.to_be_bytes());
        b.push(21);
        b.extend(1u16.to_be_bytes());
        b.push(b'x');
        b.extend(b"%%%%");
        b.extend((type_words.len() as u32).to_be_bytes());
        for w in type_words {
            b.extend(w.to_be_bytes());
        }
        b.extend(value);
        b
    }

    #[test]
    fn reads_a_scalar_and_a_text_array() {
        let t = parse_tags(dm3(&[3], &(-5i32).to_le_bytes()).as_slice()).unwrap();
        assert_eq!(
            t.root.value("x").unwrap().as_scalar(),
            Some(Scalar::Int(-5))
        );
        let text: Vec<u8> = "Hi".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let t = parse_tags(dm3(&[20, 4, 2], &text).as_slice()).unwrap();
        assert_eq!(
            t.root.value("x").unwrap().as_text(true).as_deref(),
            Some("Hi")
        );
    }

    #[test]
    fn a_struct_is_read_field_by_field() {
        let mut v = Vec::new();
        v.extend(1.5f32.to_le_bytes());
        v.extend(7u16.to_le_bytes());
        let t = parse_tags(dm3(&[15, 0, 2, 0, 6, 0, 4], &v).as_slice()).unwrap();
        assert_eq!(
            t.root.value("x"),
            Some(&TagValue::Struct(vec![Scalar::Float(1.5), Scalar::UInt(7)]))
        );
    }

    #[test]
    fn a_cut_value_is_truncated_and_a_bad_code_corrupt() {
        assert!(matches!(
            parse_tags(dm3(&[7], &[0; 4]).as_slice()),
            Err(ParseError::Truncated { .. })
        ));
        let err = parse_tags(dm3(&[99], &[0; 4]).as_slice()).unwrap_err();
        let ParseError::Corrupt(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("type code 99"), "{msg}");
        // A huge array count is refused before anything is allocated.
        assert!(matches!(
            parse_tags(dm3(&[20, 2, u32::MAX], &[]).as_slice()),
            Err(ParseError::Truncated { .. })
        ));
    }
}
